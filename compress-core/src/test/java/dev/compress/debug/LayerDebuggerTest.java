package dev.compress.debug;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.compress.CompressException;
import dev.compress.data.Dataset;
import dev.compress.data.ImageDataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.Quantizer;
import dev.compress.testing.TestData;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Layer-wise SQNR of the INT8 ResNet fixture (quantized by the project's Quantizer) against its fp32 source. */
class LayerDebuggerTest {
    private static OnnxModel fp32;
    private static OnnxModel int8;
    private static LayerReport report;

    @TempDir
    Path dir;

    static Dataset images(OnnxModel model, String folder) {
        return ImageDataset.builder()
                .setRoot(TestData.fashionMnist().resolve(folder))
                .setInputName(ModelInputs.imageInput(model).name())
                .setPreprocessing(ModelInputs.imagePreprocessing(model, Preprocessing.Overrides.NONE))
                .build();
    }

    static OnnxModel quantize(List<String> excluded) {
        return Quantizer.builder().setModel(fp32).setCalibrationData(images(fp32, "calib")).optExclude(excluded)
                .build().quantize().model();
    }

    /** Measured on the held-out images, not on the calibration images the ranges came from. */
    static LayerReport debug(OnnxModel quantized) {
        return LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(quantized)
                .setData(images(fp32, "heldout")).optBatchSize(100).build().run();
    }

    @BeforeAll
    static void quantizeResNet() {
        fp32 = OnnxModel.load(TestData.model("resnet-fp32.onnx"));
        int8 = quantize(List.of());
        report = debug(int8);
    }

    @Test
    void ranksEveryConvAndAddWorstFirst() {
        assertThat(report.samples()).isEqualTo(2000);
        Set<String> ops = report.layers().stream().map(LayerReport.Layer::opType).collect(Collectors.toSet());
        assertThat(ops).contains("Conv", "Add");
        long convs = fp32.graph().nodes().stream().filter(n -> n.opType().equals("Conv")).count();
        assertThat(report.layers().stream().filter(l -> l.opType().equals("Conv"))).hasSize((int) convs);
        List<Double> sqnr = report.layers().stream().map(LayerReport.Layer::sqnrDb).toList();
        assertThat(sqnr).doesNotContainNull().isSorted();
        // 8-bit: tens of dB, not exact and not broken
        assertThat(sqnr.get(0)).isBetween(15.0, 45.0);
        assertThat(report.output().sqnrDb()).isBetween(25.0, 60.0);
        // a folded ReLU: the fp32 ReLU output is compared with what the Conv writes in the INT8 model
        LayerReport.Layer stem = report.layers().stream().filter(l -> l.node().equals("/stem/stem.0/Conv"))
                .findFirst().orElseThrow();
        assertThat(fp32.graph().producer(stem.tensor()).orElseThrow().opType()).isEqualTo("Relu");
        assertThat(stem.int8Tensor()).isNotEqualTo(stem.tensor());
        assertThat(stem.excludable()).isTrue();
        // its own QDQ step is judged after the ReLU the QDQ pair applies: rounding noise, not the clipped negatives
        assertThat(stem.ownSqnrDb()).isBetween(25.0, 60.0);
        // a tensor's own rounding noise is part of what it accumulated, so its own SQNR is the higher one
        assertThat(report.layers()).filteredOn(l -> l.ownSqnrDb() != null).isNotEmpty()
                .allMatch(l -> l.ownSqnrDb() >= l.sqnrDb());
    }

    /**
     * What {@code --exclude} changes: only the layer's weight rounding. Its input and output keep their QDQ pairs, so
     * its own SQNR stays, its accumulated SQNR rises a little (28.03 -> 28.11 dB for the worst layer) and the output
     * SQNR moves by a fraction of a dB, either way (docs/scoring.md has every layer's figure).
     */
    @Test
    void excludingTheWorstRankedLayerRemovesOnlyItsWeightRounding() {
        String worst = report.suggestions(1).get(0);
        LayerReport excluded = debug(quantize(List.of(worst)));
        LayerReport.Layer before = layer(report, worst);
        LayerReport.Layer after = layer(excluded, worst);
        assertThat(after.excludable()).isFalse();
        assertThat(after.ownSqnrDb()).isCloseTo(before.ownSqnrDb(), within(0.05));
        assertThat(after.sqnrDb()).isGreaterThan(before.sqnrDb() + 0.02);
        assertThat(excluded.output().sqnrDb()).isCloseTo(report.output().sqnrDb(), within(0.5));
    }

    /**
     * The must-show of issue 5: ranked by what each exclusion really gains, excluding the top layer raises the output
     * SQNR measurably (held-out images; docs/scoring.md has the figures), and the ranking is the same each time.
     */
    @Test
    void excludingTheTopSensitivityLayerRaisesOutputSqnr() {
        LayerReport ranked = LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(int8)
                .setData(images(fp32, "heldout")).optBatchSize(100).optSensitivity(images(fp32, "calib")).build()
                .run();
        LayerReport.Sensitivity sensitivity = ranked.sensitivity();
        long weighted = fp32.graph().nodes().stream()
                .filter(n -> n.opType().equals("Conv") || n.opType().equals("Gemm")).count();
        assertThat(sensitivity.layers()).hasSize((int) weighted);
        // same settings and ranges as the INT8 model: the re-quantized baseline is that model
        assertThat(sensitivity.baselineSqnrDb()).isCloseTo(ranked.output().sqnrDb(), within(0.01));
        List<Double> gains = sensitivity.layers().stream().map(LayerReport.Gain::gainDb).toList();
        assertThat(gains).doesNotContainNull().isSortedAccordingTo(java.util.Comparator.reverseOrder());
        LayerReport.Gain best = ranked.bestExclusion().orElseThrow();
        assertThat(best.gainDb()).isGreaterThan(0.1);
        // checked independently: quantized with that exclusion by the Quantizer, measured by the debugger
        LayerReport excluded = debug(quantize(List.of(best.node())));
        assertThat(excluded.output().sqnrDb()).isGreaterThan(report.output().sqnrDb() + 0.1)
                .isCloseTo(best.outputSqnrDb(), within(0.01));
        assertThat(LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(int8)
                .setData(images(fp32, "heldout")).optBatchSize(100).optSensitivity(images(fp32, "calib")).build()
                .run().toJson()).isEqualTo(ranked.toJson());
    }

    @Test
    void sensitivityNeedsAModelWrittenByQuantize() {
        OnnxModel bare = int8.copy();
        bare.metadata().remove("compress.quantization");
        assertThatThrownBy(() -> LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(bare)
                .setData(images(fp32, "calib")).optSensitivity(images(fp32, "calib")).build().run())
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("has no compress.quantization metadata");
    }

    private static LayerReport.Layer layer(LayerReport report, String node) {
        return report.layers().stream().filter(l -> l.node().equals(node)).findFirst().orElseThrow();
    }

    @Test
    void suggestedNamesAreAcceptedByQuantizeExclude() {
        List<String> suggestions = report.suggestions(100);
        Set<String> fp32Nodes = fp32.graph().nodes().stream().map(Node::name).collect(Collectors.toSet());
        assertThat(suggestions).isNotEmpty().allMatch(fp32Nodes::contains);
        // the quantizer takes every one of them and leaves those nodes without INT8 weights
        OnnxModel allFloat = quantize(suggestions);
        LayerReport none = debug(allFloat);
        assertThat(none.suggestions(100)).isEmpty();
    }

    @Test
    void chartIsAPngAndTheSameBytesEachTime() throws IOException {
        Path a = dir.resolve("a.png");
        Path b = dir.resolve("b.png");
        report.writeChart(a, 30);
        report.writeChart(b, 30);
        assertThat(Files.readAllBytes(a)).isEqualTo(Files.readAllBytes(b));
        BufferedImage image = ImageIO.read(a.toFile());
        assertThat(image.getWidth()).isEqualTo(1000);
        assertThat(image.getHeight()).isEqualTo(620);
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("a.png", "b.png");
        }
    }

    @Test
    void jsonIsStable() {
        assertThat(debug(int8).toJson()).isEqualTo(report.toJson());
        assertThat(report.toJson()).contains("\"excludable\" : true").contains("\"sqnrDb\"");
    }

    @Test
    void fp32AgainstItselfIsExact() {
        LayerReport exact = LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(fp32)
                .setData(images(fp32, "calib")).build().run();
        assertThat(exact.output().sqnrDb()).isNull();
        assertThat(exact.layers()).allMatch(l -> l.sqnrDb() == null && l.maxAbsError() == 0);
        assertThat(exact.suggestions(10)).isEmpty();
    }

    @Test
    void unrelatedModelIsBadInput() {
        OnnxModel cnn = OnnxModel.load(TestData.model("cnn-fp32.onnx"));
        assertThatThrownBy(() -> LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(cnn)
                .setData(images(fp32, "calib")).build().run())
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("must be a QDQ rewrite of it");
    }
}
