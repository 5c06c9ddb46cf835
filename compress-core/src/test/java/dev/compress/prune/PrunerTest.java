package dev.compress.prune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class PrunerTest {
    @TempDir
    Path dir;

    static OnnxModel fp32(String name) {
        return OnnxModel.load(TestData.model(name + "-fp32.onnx"));
    }

    private static double zeros(OnnxModel model, String weight) {
        float[] w = model.graph().initializers().get(weight).floats();
        int zeros = 0;
        for (float v : w) {
            zeros += v == 0f ? 1 : 0;
        }
        return (double) zeros / w.length;
    }

    @ParameterizedTest
    @CsvSource({"cnn,0.3", "cnn,0.7", "resnet,0.5", "resnet,0.9"})
    void everyLayerReachesTheRequestedSparsity(String name, double sparsity) {
        PruneResult result = Pruner.builder().setModel(fp32(name)).setSparsity(sparsity).build().prune();
        for (PruneReport.LayerResult layer : result.report().layers()) {
            assertThat(zeros(result.model(), layer.weight())).as(layer.node()).isCloseTo(sparsity, within(0.005));
            assertThat(layer.sparsity()).isCloseTo(sparsity, within(0.005));
        }
        assertThat(result.report().sparsity()).isCloseTo(sparsity, within(0.005));
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.3, 0.6, 0.9})
    void globalSparsityIsReachedOverallWithOneThreshold(double sparsity) {
        OnnxModel model = fp32("resnet");
        PruneResult result = Pruner.builder().setModel(model).setSparsity(sparsity)
                .optScope(Pruner.Scope.GLOBAL).build().prune();
        long zeros = 0;
        long total = 0;
        float largestPruned = 0;
        float smallestKept = Float.MAX_VALUE;
        for (PruneReport.LayerResult layer : result.report().layers()) {
            float[] before = model.graph().initializers().get(layer.weight()).floats();
            float[] after = result.model().graph().initializers().get(layer.weight()).floats();
            for (int i = 0; i < before.length; i++) {
                if (after[i] == 0f) {
                    zeros++;
                    largestPruned = Math.max(largestPruned, Math.abs(before[i]));
                } else {
                    smallestKept = Math.min(smallestKept, Math.abs(before[i]));
                }
            }
            total += before.length;
        }
        assertThat((double) zeros / total).isCloseTo(sparsity, within(0.005));
        assertThat(largestPruned).isLessThanOrEqualTo(smallestKept);
        // one threshold: layers end up with different sparsities
        assertThat(result.report().layers().stream().mapToDouble(PruneReport.LayerResult::sparsity).distinct()
                .count()).isGreaterThan(1);
    }

    @Test
    void overridesAndExclusionsApplyPerLayer() {
        PruneResult result = Pruner.builder().setModel(fp32("cnn")).setSparsity(0.5)
                .optExclude(List.of("/conv1/Conv"))
                .optLayerSparsity(Map.of("fc2.weight", 0.1, "/fc1/Gemm", 0.8))
                .build().prune();
        Map<String, Double> expected = Map.of("conv1.weight", 0.0, "conv2.weight", 0.5, "fc1.weight", 0.8,
                "fc2.weight", 0.1);
        expected.forEach((weight, s) -> assertThat(zeros(result.model(), weight)).as(weight)
                .isCloseTo(s, within(0.005)));
        assertThat(result.report().layers().get(0).excluded()).isTrue();
        assertThat(result.masks().tensors()).extracting(PruneMasks.Entry::weight)
                .containsExactly("conv2.weight", "fc1.weight", "fc2.weight");
    }

    @Test
    void globalScopeWithOverridesPrunesTheRestToOneThreshold() {
        PruneResult result = Pruner.builder().setModel(fp32("cnn")).setSparsity(0.6).optScope(Pruner.Scope.GLOBAL)
                .optLayerSparsity(Map.of("/conv1/Conv", 0.2)).build().prune();
        assertThat(zeros(result.model(), "conv1.weight")).isCloseTo(0.2, within(0.005));
        long pooledZeros = 0;
        long pooled = 0;
        for (PruneReport.LayerResult layer : result.report().layers().subList(1, 4)) {
            pooledZeros += layer.pruned();
            pooled += layer.elements();
        }
        assertThat((double) pooledZeros / pooled).isCloseTo(0.6, within(0.005));
    }

    /** Masks from one checkpoint zero exactly the same weights of another (e.g. fine-tuned) checkpoint. */
    @Test
    void unstructuredMasksReapplyToAnotherCheckpoint() {
        OnnxModel model = fp32("cnn");
        PruneResult result = Pruner.builder().setModel(model).setSparsity(0.5).build().prune();
        Path file = dir.resolve("cnn.masks.json");
        result.masks().write(file);

        OnnxModel tuned = model.copy();
        Random random = new Random(3);
        for (String weight : List.of("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")) {
            Tensor t = tuned.graph().initializers().get(weight);
            float[] w = t.floats();
            for (int i = 0; i < w.length; i++) {
                w[i] += (float) random.nextGaussian() * 0.05f;
            }
            tuned.graph().putInitializer(Tensor.floats(weight, t.dims(), w));
        }
        PruneResult again = Pruner.builder().setModel(tuned).optMasks(PruneMasks.read(file), file).build().prune();
        for (PruneMasks.Entry entry : result.masks().tensors()) {
            float[] w = again.model().graph().initializers().get(entry.weight()).floats();
            boolean[] mask = entry.prunedElements();
            for (int i = 0; i < w.length; i++) {
                assertThat(w[i] == 0f).as("%s[%d]", entry.weight(), i).isEqualTo(mask[i]);
            }
        }
        assertThat(again.report().scope()).isEqualTo("masks");
        assertThat(again.report().prunedElements()).isEqualTo(result.report().prunedElements());
    }

    @Test
    void concatAndBatchNormAreShrunkConsistently() {
        OnnxModel model = TinyModels.concatResidual();
        PruneResult result = Pruner.builder().setModel(model).setSparsity(0.25).optStructured(true).build().prune();
        Map<String, List<Integer>> removed = new java.util.HashMap<>();
        result.masks().tensors().forEach(e -> removed.put(e.node(), e.removedChannels()));
        // convA (0..3) and convB (4..7 after Concat) are tied channel by channel to convD through the Add
        List<Integer> expectedD = new java.util.ArrayList<>(removed.get("convA"));
        removed.get("convB").forEach(c -> expectedD.add(c + 4));
        assertThat(removed.get("convD")).containsExactlyElementsOf(expectedD).hasSize(2);
        assertThat(removed.get("convE")).hasSize(1);
        assertThat(removed.get("fc")).isEmpty();
        Graph graph = result.model().graph();
        assertThat(graph.initializers().get("bn_scale").dims()[0])
                .isEqualTo(4 - removed.get("convA").size());
        assertThat(graph.initializers().get("we").dims()).containsExactly(5, 6, 3, 3);
        assertThat(graph.initializers().get("wf").dims()).containsExactly(10, 5);

        // the shrunk model computes what the dense one does with those channels zeroed
        OnnxModel zeroed = model.copy();
        for (PruneMasks.Entry e : result.masks().tensors()) {
            Node node = zeroed.graph().nodes().stream().filter(n -> n.name().equals(e.node())).findFirst()
                    .orElseThrow();
            zeroRows(zeroed.graph(), e.weight(), e.removedChannels());
            zeroRows(zeroed.graph(), node.input(2), e.removedChannels());
        }
        float[] x = new float[5 * 3 * 8 * 8];
        Random random = new Random(11);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        Batch batch = new Batch(Map.of("x", HostTensor.ofFloats(new long[] {5, 3, 8, 8}, x)), new int[5],
                java.util.Collections.nCopies(5, Path.of("random")));
        try (OrtModel a = OrtModel.open(result.model(), RuntimeOptions.defaults());
                OrtModel b = OrtModel.open(zeroed, RuntimeOptions.defaults())) {
            float[] ya = a.run(batch).get("y").values();
            float[] yb = b.run(batch).get("y").values();
            assertThat(ya).hasSize(50);
            for (int i = 0; i < ya.length; i++) {
                assertThat(ya[i]).isCloseTo(yb[i], within(1e-4f));
            }
        }
    }

    private static void zeroRows(Graph graph, String name, List<Integer> rows) {
        Tensor t = graph.initializers().get(name);
        float[] w = t.floats();
        int per = (int) (w.length / t.dim(0));
        for (int r : rows) {
            java.util.Arrays.fill(w, r * per, (r + 1) * per, 0f);
        }
        graph.putInitializer(Tensor.floats(name, t.dims(), w));
    }

    @ParameterizedTest
    @ValueSource(doubles = {1.0, -0.1, 1.5, Double.NaN})
    void sparsityOutsideZeroToOneIsRefused(double sparsity) {
        assertThatThrownBy(() -> Pruner.builder().setSparsity(sparsity))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("sparsity must be in [0, 1), got " + sparsity);
        assertThatThrownBy(() -> Pruner.builder().optLayerSparsity(Map.of("/conv1/Conv", sparsity)))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("sparsity of /conv1/Conv must be in [0, 1)");
    }

    @Test
    void unknownLayerInOverridesOrExclusionsIsRefused() {
        OnnxModel model = fp32("cnn");
        assertThatThrownBy(() -> Pruner.builder().setModel(model).setSparsity(0.5)
                .optLayerSparsity(Map.of("/conv9/Conv", 0.2)).build().prune())
                .isInstanceOf(CompressException.class)
                .hasMessageStartingWith(model.source().orElseThrow() + ": a layer sparsity override names "
                        + "'/conv9/Conv', which is not a prunable layer of this model (layers: /conv1/Conv "
                        + "(conv1.weight), /conv2/Conv");
        assertThatThrownBy(() -> Pruner.builder().setModel(model).setSparsity(0.5)
                .optExclude(List.of("/Relu")).build().prune())
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("--exclude names '/Relu', which is not a prunable layer");
    }

    @Test
    void weightSharedByTwoNodesIsRefused() {
        for (boolean structured : new boolean[] {false, true}) {
            assertThatThrownBy(() -> Pruner.builder().setModel(TinyModels.sharedWeight()).setSparsity(0.5)
                    .optStructured(structured).build().prune())
                    .isInstanceOf(CompressException.class)
                    .hasMessageContaining("tensor 'w' is shared by 2 nodes (fc1, fc2)");
        }
    }

    @Test
    void masksOfAnotherModelAreRefused() {
        Path file = dir.resolve("cnn.masks.json");
        Pruner.builder().setModel(fp32("cnn")).setSparsity(0.5).build().prune().masks().write(file);
        assertThatThrownBy(() -> Pruner.builder().setModel(fp32("resnet")).optMasks(PruneMasks.read(file), file)
                .build().prune())
                .isInstanceOf(CompressException.class)
                .hasMessage(file + ": was made for another model: it prunes 'conv1.weight', which is not a "
                        + "prunable weight of " + TestData.model("resnet-fp32.onnx"));
    }
}
