package dev.compress.prune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.ImageDataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Structured pruning of the shipped ResNet: a smaller graph that ONNX Runtime runs, residual channels kept tied. */
class StructuredPruningTest {
    @TempDir
    Path dir;

    static OnnxModel resnet() {
        return OnnxModel.load(TestData.model("resnet-fp32.onnx"));
    }

    static Dataset heldout(OnnxModel model) {
        return ImageDataset.builder()
                .setRoot(TestData.fashionMnist().resolve("heldout"))
                .setInputName(ModelInputs.imageInput(model).name())
                .setPreprocessing(ModelInputs.imagePreprocessing(model, Preprocessing.Overrides.NONE))
                .build();
    }

    static PruneResult structured(OnnxModel model, double sparsity) {
        return Pruner.builder().setModel(model).setSparsity(sparsity).optStructured(true).build().prune();
    }

    private static int[] removed(PruneResult result, String node) {
        return result.masks().tensors().stream().filter(e -> e.node().equals(node)).findFirst().orElseThrow()
                .removedChannels().stream().mapToInt(Integer::intValue).toArray();
    }

    @Test
    void quarterOfChannelsMakesTheFileSmallerAndTheModelStillRuns() throws IOException {
        OnnxModel model = resnet();
        PruneResult result = structured(model, 0.25);
        Path out = dir.resolve("resnet-pruned.onnx");
        result.model().save(out);
        long before = Files.size(model.source().orElseThrow());
        long after = Files.size(out);
        assertThat((double) after).isLessThanOrEqualTo(0.80 * before);

        EvalReport report = Evaluator.builder().setModel(out).setData(heldout(model))
                .optBaseline(model.source().orElseThrow()).build().evaluate();
        assertThat(report.samples()).isEqualTo(2000);
        assertThat(report.baseline().top1().fraction()).isEqualTo(0.923);
        // without fine-tuning this small ResNet does not survive losing a quarter of every layer (top-1 falls to
        // chance, as torch computes for the same channels: docs/pruning.md); what it must do is run
        // every free group lost a quarter of its channels; the classifier kept its 10 outputs
        for (PruneReport.LayerResult layer : result.report().layers()) {
            long expected = layer.op().equals("Gemm") ? 0 : layer.channels() / 4;
            assertThat(layer.removedChannels()).as(layer.node()).isEqualTo(expected);
        }
    }

    @Test
    void tenPercentOfChannelsKeepsTheModelUseful() {
        OnnxModel model = resnet();
        EvalReport report = Evaluator.builder().setModel(structured(model, 0.10).model()).setData(heldout(model))
                .build().evaluate();
        // measured: 0.713 (torch gives the same for the dense model with these channels zeroed)
        assertThat(report.top1().fraction()).isBetween(0.65, 0.80);
    }

    /** Removed channels replaced by their mean on the calibration images, folded into the next layers' biases. */
    @Test
    void meanCompensationRecoversMuchOfTheAccuracy() {
        OnnxModel model = resnet();
        Dataset calib = ImageDataset.builder()
                .setRoot(TestData.fashionMnist().resolve("calib"))
                .setInputName(ModelInputs.imageInput(model).name())
                .setPreprocessing(ModelInputs.imagePreprocessing(model, Preprocessing.Overrides.NONE))
                .build();
        PruneResult plain = structured(model, 0.10);
        PruneResult compensated = Pruner.builder().setModel(model).setSparsity(0.10).optStructured(true)
                .optCalibrationData(calib).build().prune();
        // the same channels go; only biases differ
        assertThat(compensated.masks()).isEqualTo(plain.masks());
        assertThat(compensated.report().compensation()).isEqualTo("channel means on 500 samples");
        double top1 = Evaluator.builder().setModel(compensated.model()).setData(heldout(model)).build().evaluate()
                .top1().fraction();
        // measured 0.87 (0.713 without compensation, see tenPercentOfChannelsKeepsTheModelUseful)
        assertThat(top1).isGreaterThan(0.84);
    }

    @Test
    void residualBlocksArePrunedConsistently() {
        PruneResult result = structured(resnet(), 0.25);
        // layer1 adds its conv2 output to the stem output; layers 2 and 3 add conv2 to a 1x1 shortcut conv
        assertThat(removed(result, "/stem/stem.0/Conv")).isEqualTo(removed(result, "/layer1/conv2/Conv"))
                .hasSize(8);
        assertThat(removed(result, "/layer2/conv2/Conv"))
                .isEqualTo(removed(result, "/layer2/shortcut/shortcut.0/Conv")).hasSize(16);
        assertThat(removed(result, "/layer3/conv2/Conv"))
                .isEqualTo(removed(result, "/layer3/shortcut/shortcut.0/Conv")).hasSize(32);
        // untied convolutions chose on their own
        assertThat(removed(result, "/layer1/conv1/Conv")).hasSize(8);
    }

    /**
     * Removing channels must compute exactly what the dense model computes with those channels zeroed (weights and
     * bias): the fixtures have BatchNorm folded, so a zeroed channel stays zero through Relu and the residual Add.
     */
    @Test
    void shrunkModelEqualsDenseModelWithTheChannelsZeroed() {
        OnnxModel model = resnet();
        PruneResult result = structured(model, 0.25);
        OnnxModel zeroed = model.copy();
        Graph graph = zeroed.graph();
        for (PruneMasks.Entry entry : result.masks().tensors()) {
            Node node = graph.nodes().stream().filter(n -> n.name().equals(entry.node())).findFirst()
                    .orElseThrow();
            float[] w = graph.initializers().get(entry.weight()).floats();
            long[] dims = graph.initializers().get(entry.weight()).dims();
            int perChannel = (int) (w.length / dims[0]);
            assertThat(entry.axis()).isZero();
            float[] b = graph.initializers().get(node.input(2)).floats();
            for (int c : entry.removedChannels()) {
                java.util.Arrays.fill(w, c * perChannel, (c + 1) * perChannel, 0f);
                b[c] = 0f;
            }
            graph.putInitializer(Tensor.floats(entry.weight(), dims, w));
            graph.putInitializer(Tensor.floats(node.input(2), new long[] {b.length}, b));
        }
        Batch batch = heldout(model).batches(64).next();
        try (OrtModel shrunk = OrtModel.open(result.model(), RuntimeOptions.defaults());
                OrtModel dense = OrtModel.open(zeroed, RuntimeOptions.defaults())) {
            float[] a = shrunk.run(batch).get("logits").values();
            float[] b = dense.run(batch).get("logits").values();
            assertThat(a).hasSize(64 * 10);
            for (int i = 0; i < a.length; i++) {
                assertThat(a[i]).as("logit %d", i).isCloseTo(b[i], org.assertj.core.data.Offset.offset(1e-3f));
            }
        }
    }

    @Test
    void masksReappliedGiveTheSameModel() throws IOException {
        OnnxModel model = resnet();
        PruneResult first = structured(model, 0.25);
        Path masksFile = dir.resolve("masks.json");
        first.masks().write(masksFile);
        PruneResult again = Pruner.builder().setModel(resnet()).optMasks(PruneMasks.read(masksFile), masksFile)
                .build().prune();
        assertThat(again.model().graph().initializers().values())
                .containsExactlyElementsOf(first.model().graph().initializers().values());
        assertThat(again.report().prunedElements()).isEqualTo(first.report().prunedElements());
    }

    @Test
    void masksBreakingAResidualTieAreRefused() throws IOException {
        PruneResult result = structured(resnet(), 0.25);
        List<PruneMasks.Entry> entries = new ArrayList<>();
        for (PruneMasks.Entry e : result.masks().tensors()) {
            // the stem keeps its channels, its residual partner loses them
            entries.add(e.node().equals("/stem/stem.0/Conv")
                    ? new PruneMasks.Entry(e.node(), e.weight(), e.shape(), 0, null, null, e.axis(), List.of(),
                            e.layer()) : e);
        }
        Path file = dir.resolve("broken.json");
        new PruneMasks(PruneMasks.FORMAT, 1, "structured", "x", entries).write(file);
        assertThatThrownBy(() -> Pruner.builder().setModel(resnet()).optMasks(PruneMasks.read(file), file).build()
                .prune())
                .isInstanceOf(CompressException.class)
                .hasMessageStartingWith(file + ": removes channel")
                .hasMessageContaining("ties to it");
    }

    @Test
    void excludedLayerKeepsItsChannelsAndItsResidualPartnersToo() {
        PruneResult result = Pruner.builder().setModel(resnet()).setSparsity(0.25).optStructured(true)
                .optExclude(List.of("/stem/stem.0/Conv")).build().prune();
        assertThat(removed(result, "/stem/stem.0/Conv")).isEmpty();
        assertThat(removed(result, "/layer1/conv2/Conv")).isEmpty();
        assertThat(removed(result, "/layer1/conv1/Conv")).hasSize(8);
        Map<String, PruneReport.LayerResult> byNode = new java.util.HashMap<>();
        result.report().layers().forEach(l -> byNode.put(l.node(), l));
        assertThat(byNode.get("/stem/stem.0/Conv").excluded()).isTrue();
    }
}
