package dev.compress.quantize;

import dev.compress.Progress;
import dev.compress.calibrate.SampleSelection;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Empirical bias correction (as NNCF's and AIMET's): rounding a layer's weights to 8 bits shifts the mean of its
 * output channels by {@code E[(W_q - W) x]}, an error that does not average out downstream; depthwise layers, with
 * few weights per channel, shift most. The shift is measured per output channel on the calibration samples, with the
 * fp32 model's activations as inputs, and subtracted from the bias before the bias is quantized.
 *
 * <p>One ONNX Runtime pass: a copy of the fp32 model gets, for every corrected layer, the same layer applied to its
 * fp32 input with the weight error {@code W_q - W} as weight (no bias), averaged over positions by
 * GlobalAveragePool. Per-sample channel means are summed in sample order in double, so memory is one vector per layer
 * whatever the number of samples, and the result is the same for any batch size.
 */
final class BiasCorrection {
    private record Target(Node node, String probeOutput, int channels) {}

    private BiasCorrection() {}

    /**
     * Corrects the biases of the Convs and Gemms {@code plan} quantizes, in {@code graph} (the graph being rewritten,
     * before its QDQ rewrite); {@code fp32} is the float model that graph was copied from.
     */
    static QuantizationReport.BiasCorrected apply(OnnxModel fp32, Graph graph, QuantizationPlan plan, boolean perChannel, Dataset data,
            int batchSize, int samples, Progress progress) {
        OnnxModel probe = fp32.copy();
        Graph probeGraph = probe.graph();
        List<Target> targets = new ArrayList<>();
        for (Node node : plan.weightedNodes) {
            int channels = channels(graph, node);
            if (channels == 0 || !probeGraph.defines(node.input(0))) {
                continue;
            }
            Tensor weight = graph.initializer(node.input(1)).orElseThrow();
            QdqRewriter.QuantizedWeight q =
                    QdqRewriter.QuantizedWeight.of(weight, QdqRewriter.channelAxis(node, perChannel));
            float[] w = weight.floats();
            float[] error = new float[w.length];
            for (int i = 0; i < w.length; i++) {
                error[i] = q.dequantized(i) - w[i];
            }
            String errorName = probeGraph.uniqueName(node.name() + "_weight_error");
            probeGraph.putInitializer(Tensor.floats(errorName, weight.dims(), error));
            Node shifted = node.copy().setName(probeGraph.uniqueName(node.name() + "_error"));
            shifted.inputs().clear();
            shifted.inputs().addAll(List.of(node.input(0), errorName));
            if (node.is("Gemm")) { // C is required before opset 11: a zero adds nothing
                String zero = probeGraph.uniqueName(node.name() + "_no_bias");
                probeGraph.putInitializer(Tensor.floats(zero, new long[] {1}, new float[] {0}));
                shifted.inputs().add(zero);
            }
            String output = probeGraph.uniqueName(node.name() + "_output_error");
            shifted.setOutput(0, output);
            probeGraph.nodes().add(shifted);
            if (node.is("Conv")) {
                String pooled = probeGraph.uniqueName(output + "_mean");
                probeGraph.nodes().add(Node.of("GlobalAveragePool", probeGraph.uniqueName(output + "_pool"),
                        List.of(output), List.of(pooled)));
                output = pooled;
            }
            probeGraph.outputs().add(ValueInfo.named(output));
            targets.add(new Target(node, output, channels));
        }
        if (targets.isEmpty()) {
            return new QuantizationReport.BiasCorrected(0, Map.of());
        }
        Map<String, double[]> sums = new LinkedHashMap<>();
        targets.forEach(t -> sums.put(t.probeOutput, new double[t.channels]));
        long[] rows = new long[targets.size()];
        long seen = 0;
        progress.start("bias correction", samples);
        try (OrtModel session = OrtModel.open(probe, RuntimeOptions.defaults())) {
            Iterator<Batch> batches = new SampleSelection(data, batchSize, samples);
            while (batches.hasNext()) {
                Batch batch = batches.next();
                Map<String, OrtModel.FloatOutput> outputs = session.run(batch, sums.keySet());
                for (int t = 0; t < targets.size(); t++) {
                    double[] sum = sums.get(targets.get(t).probeOutput);
                    float[] values = outputs.get(targets.get(t).probeOutput).values();
                    int n = values.length / sum.length;
                    for (int r = 0; r < n; r++) {
                        for (int c = 0; c < sum.length; c++) {
                            sum[c] += values[r * sum.length + c];
                        }
                    }
                    rows[t] += n;
                }
                seen += batch.size();
                progress.advance(batch.size());
            }
        } finally {
            progress.finish();
        }
        Map<String, Float> layers = new TreeMap<>();
        for (int t = 0; t < targets.size(); t++) {
            Target target = targets.get(t);
            double[] sum = sums.get(target.probeOutput);
            float[] bias = bias(graph, target.node, target.channels);
            float largest = 0;
            for (int c = 0; c < target.channels; c++) {
                float shift = (float) (sum[c] / rows[t]);
                bias[c] -= shift;
                largest = Math.max(largest, Math.abs(shift));
            }
            setBias(graph, target.node, bias);
            layers.put(target.node.describe(), largest);
        }
        return new QuantizationReport.BiasCorrected(seen, layers);
    }

    /**
     * The output channels of a layer whose bias can take the correction: a Conv with a float weight, or a Gemm with
     * untransposed A, a 2-D float weight and beta 1, whose bias is absent or one float per channel; else 0.
     */
    private static int channels(Graph graph, Node node) {
        Tensor weight = graph.initializer(node.input(1)).orElse(null);
        if (weight == null || !weight.isFloat()) {
            return 0;
        }
        long channels;
        if (node.is("Conv") && weight.rank() >= 3) {
            channels = weight.dim(0);
        } else if (node.is("Gemm") && weight.rank() == 2 && node.intAttribute("transA", 0) == 0
                && node.floatAttribute("beta", 1f) == 1f) {
            channels = weight.dim(node.intAttribute("transB", 0) == 1 ? 0 : 1);
        } else {
            return 0;
        }
        String biasName = node.input(2);
        if (!biasName.isEmpty()) {
            Tensor bias = graph.initializer(biasName).orElse(null);
            if (bias == null || !bias.isFloat() || bias.rank() != 1 || bias.dim(0) != channels) {
                return 0;
            }
        }
        return (int) channels;
    }

    private static float[] bias(Graph graph, Node node, int channels) {
        String name = node.input(2);
        return name.isEmpty() ? new float[channels] : graph.initializer(name).orElseThrow().floats();
    }

    /** A new initializer: the old bias may be shared with other layers (deduplicated initializers). */
    private static void setBias(Graph graph, Node node, float[] bias) {
        String old = node.input(2);
        String name = graph.uniqueName(node.name() + "_bias_corrected");
        graph.putInitializer(Tensor.floats(name, new long[] {bias.length}, bias));
        while (node.inputs().size() < 3) {
            node.inputs().add("");
        }
        node.inputs().set(2, name);
        if (!old.isEmpty()) {
            graph.removeUnreadInitializers(List.of(old));
        }
    }
}
