package dev.compress.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Batch;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.Pipeline;
import dev.compress.prepare.GraphPreparation;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Cross-layer equalization and bias correction on the shipped models, through ONNX Runtime. */
class DataFreeQuantizationTest {
    @TempDir
    Path dir;

    private static OnnxModel prepared(String name) {
        return Pipeline.of(new GraphPreparation()).run(QuantizerTest.fp32(name), PassContext.silent()).model();
    }

    /** The equalized fp32 model computes what the original does, and each pair's channel ranges end up equal. */
    @ParameterizedTest
    @ValueSource(strings = {"resnet", "families/mbv3", "families/effnet"})
    void equalizationKeepsTheFunctionAndEqualizesRanges(String name) {
        OnnxModel fp32 = prepared(name);
        OnnxModel equalized = fp32.copy();
        QuantizationReport.Equalization report = CrossLayerEqualization.apply(equalized.graph());
        assertThat(report.pairs()).isNotEmpty();
        double error = TestGraphs.relativeError(fp32, equalized,
                QuantizerTest.images(fp32, "heldout").batches(100), RuntimeOptions.defaults());
        assertThat(error).isLessThanOrEqualTo(1e-4);

        Graph graph = equalized.graph();
        Node first = graph.nodes().stream().filter(n -> report.pairs().get(0).startsWith(n.describe() + " -> "))
                .findFirst().orElseThrow();
        Node second = graph.nodes().stream().filter(n -> report.pairs().get(0).endsWith("-> " + n.describe()))
                .findFirst().orElseThrow();
        float[] w1 = graph.initializer(first.input(1)).orElseThrow().floats();
        float[] w2 = graph.initializer(second.input(1)).orElseThrow().floats();
        long[] dims2 = graph.initializer(second.input(1)).orElseThrow().dims();
        int channels = (int) graph.initializer(first.input(1)).orElseThrow().dim(0);
        assertThat(second.intAttribute("group", 1)).isEqualTo(1); // the layout read below
        double[] r1 = new double[channels];
        double[] r2 = new double[channels];
        for (int i = 0; i < w1.length; i++) {
            r1[i / (w1.length / channels)] = Math.max(r1[i / (w1.length / channels)], Math.abs(w1[i]));
        }
        int kernel = (int) (w2.length / (dims2[0] * dims2[1]));
        for (int i = 0; i < w2.length; i++) {
            int c = (i / kernel) % channels;
            r2[c] = Math.max(r2[c], Math.abs(w2[i]));
        }
        for (int c = 0; c < channels; c++) {
            if (r1[c] > 0 && r2[c] > 0) {
                assertThat(r1[c] / r2[c]).as("channel %d", c).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-3));
            }
        }
    }

    /** ReLU6 would need a bound per channel after scaling: such pairs are reported, and their weights kept. */
    @Test
    void reluSixPairsAreLeftAloneWithAReason() {
        OnnxModel fp32 = prepared("families/mbv2");
        OnnxModel equalized = fp32.copy();
        QuantizationReport.Equalization report = CrossLayerEqualization.apply(equalized.graph());
        assertThat(report.skipped()).isNotEmpty();
        assertThat(report.skipped().values()).allMatch(reason -> reason.contains("not positively homogeneous"));
        assertThat(report.skipped().values()).anyMatch(reason -> reason.contains("ReLU6"));
        for (String pair : report.skipped().keySet()) {
            Node first = equalized.graph().nodes().stream().filter(n -> pair.startsWith(n.describe() + " -> "))
                    .findFirst().orElseThrow();
            assertThat(equalized.graph().initializer(first.input(1)).orElseThrow())
                    .isEqualTo(fp32.graph().initializer(first.input(1)).orElseThrow());
        }
    }

    /**
     * With corrected biases the quantized layers' outputs are, on average over held-out images, closer to fp32's:
     * per channel, the mean of (INT8 - fp32) over the images, summed in squares over the layers whose output is not a
     * folded clamp (there the INT8 graph holds the unclamped value).
     */
    @Test
    void biasCorrectionShrinksTheMeanOutputErrorOfCorrectedLayers() {
        OnnxModel fp32 = QuantizerTest.fp32("families/mbv2");
        QuantizationResult plain = quantize(fp32, false);
        QuantizationResult corrected = quantize(fp32, true);
        assertThat(plain.report().biasCorrection()).isNull();
        assertThat(corrected.report().biasCorrection().samples()).isEqualTo(500);
        assertThat(corrected.report().biasCorrection().layers()).isNotEmpty();

        OnnxModel reference = corrected.model().copy(); // names only: which tensors the corrected Convs write
        List<String> tensors = new ArrayList<>();
        OnnxModel prepared = prepared("families/mbv2");
        for (Node node : reference.graph().nodes()) {
            if (node.is("Conv") && corrected.report().biasCorrection().layers().containsKey(node.describe())
                    && prepared.graph().producer(node.output(0)).filter(p -> p.is("Conv")).isPresent()) {
                tensors.add(node.output(0));
            }
        }
        assertThat(tensors).hasSizeGreaterThan(3);
        double before = meanErrorSquares(prepared, plain.model(), tensors);
        double after = meanErrorSquares(prepared, corrected.model(), tensors);
        assertThat(after).isLessThan(0.5 * before);
    }

    /** MobileNetV2-style fixture with both on: within 0.3 points of fp32 top-1 on the 2,000 held-out images. */
    @Test
    void bothKeepTheDepthwiseFixtureAccurate() {
        OnnxModel fp32 = QuantizerTest.fp32("families/mbv2");
        QuantizationResult result = Quantizer.builder().setModel(fp32)
                .setCalibrationData(QuantizerTest.images(fp32, "calib")).optEqualize(true).optBiasCorrection(true)
                .build().quantize();
        Path int8 = dir.resolve("mbv2-int8.onnx");
        result.model().save(int8);
        EvalReport report = Evaluator.builder().setModel(int8).optBaseline(fp32.source().orElseThrow())
                .setData(QuantizerTest.images(fp32, "heldout")).build().evaluate();
        assertThat(report.baseline().dropPoints()).isLessThanOrEqualTo(0.3);
        assertThat(report.baseline().agreement().fraction()).isGreaterThanOrEqualTo(0.98);
    }

    /** Same inputs, same bytes, whatever the batch size bias correction measures with. */
    @Test
    void biasCorrectionIsDeterministic() {
        OnnxModel fp32 = QuantizerTest.fp32("families/mbv3");
        byte[] a = Quantizer.builder().setModel(fp32).setCalibrationData(QuantizerTest.images(fp32, "calib"))
                .optBiasCorrection(true).optEqualize(true).optBatchSize(32).build().quantize().model().toBytes();
        byte[] b = Quantizer.builder().setModel(fp32).setCalibrationData(QuantizerTest.images(fp32, "calib"))
                .optBiasCorrection(true).optEqualize(true).optBatchSize(7).build().quantize().model().toBytes();
        assertThat(a).isEqualTo(b);
    }

    private static QuantizationResult quantize(OnnxModel fp32, boolean biasCorrection) {
        return Quantizer.builder().setModel(fp32).setCalibrationData(QuantizerTest.images(fp32, "calib"))
                .optBiasCorrection(biasCorrection).build().quantize();
    }

    /** Sum over {@code tensors} and channels of the squared mean (over held-out images and positions) of b - a. */
    private static double meanErrorSquares(OnnxModel a, OnnxModel b, List<String> tensors) {
        Map<String, double[]> sums = new LinkedHashMap<>();
        long samples = 0;
        RuntimeOptions options = RuntimeOptions.defaults();
        try (OrtModel first = OrtModel.open(a.withExtraOutputs(tensors), options);
                OrtModel second = OrtModel.open(b.withExtraOutputs(tensors), options)) {
            for (Iterator<Batch> batches = QuantizerTest.images(a, "heldout").batches(100); batches.hasNext(); ) {
                Batch batch = batches.next();
                Map<String, OrtModel.FloatOutput> x = first.run(batch, new java.util.HashSet<>(tensors));
                Map<String, OrtModel.FloatOutput> y = second.run(batch, new java.util.HashSet<>(tensors));
                for (String tensor : tensors) {
                    long[] shape = x.get(tensor).shape();
                    int channels = (int) shape[1];
                    int positions = (int) (x.get(tensor).values().length / (shape[0] * channels));
                    double[] sum = sums.computeIfAbsent(tensor, t -> new double[channels]);
                    float[] xv = x.get(tensor).values();
                    float[] yv = y.get(tensor).values();
                    for (int i = 0; i < xv.length; i++) {
                        sum[(i / positions) % channels] += ((double) yv[i] - xv[i]) / positions;
                    }
                }
                samples += batch.size();
            }
        }
        double total = 0;
        for (double[] sum : sums.values()) {
            for (double s : sum) {
                total += (s / samples) * (s / samples);
            }
        }
        return total;
    }
}
