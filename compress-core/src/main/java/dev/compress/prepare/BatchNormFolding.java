package dev.compress.prepare;

import dev.compress.graph.Attribute;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Folds an inference BatchNormalization into the Conv, ConvTranspose or Gemm that alone feeds it, as ONNX Runtime's
 * Conv-BN fusion does and in the same float32 arithmetic: with {@code s = gamma / sqrt(var + eps)} per output
 * channel, {@code W' = W * s} and {@code b' = (b - mean) * s + beta} (or {@code beta - mean * s} without a bias).
 */
final class BatchNormFolding {
    private static final Set<String> FOLDABLE_INTO = Set.of("Conv", "ConvTranspose", "Gemm");

    private BatchNormFolding() {}

    /** Folds what it can in {@code graph}; returns how many BatchNormalization nodes went. */
    static int apply(Graph graph, List<PreparationReport.Left> left) {
        int folded = 0;
        for (Node bn : List.copyOf(graph.nodes())) {
            if (!bn.is("BatchNormalization")) {
                continue;
            }
            String reason = fold(graph, bn);
            if (reason == null) {
                folded++;
            } else {
                left.add(GraphPreparation.left(bn, reason));
            }
        }
        return folded;
    }

    /** Folds {@code bn}, or says why not. */
    private static String fold(Graph graph, Node bn) {
        String x = bn.input(0);
        Node layer = graph.producer(x).orElse(null);
        if (layer == null || !FOLDABLE_INTO.stream().anyMatch(op -> layer.is(op))) {
            return "its input is not the output of a Conv, ConvTranspose or Gemm";
        }
        if (graph.consumers(x).size() != 1 || GraphPreparation.isGraphOutput(graph, x)) {
            return "the output of " + layer.describe() + " has other readers";
        }
        if (bn.intAttribute("training_mode", 0) != 0 || bn.intAttribute("spatial", 1) != 1
                || bn.outputs().stream().skip(1).anyMatch(out -> !out.isEmpty())) {
            return "it is in training mode or not spatial";
        }
        float[][] params = new float[4][];
        for (int i = 0; i < 4; i++) {
            params[i] = floats(graph, bn.input(i + 1));
        }
        float[] weight = floats(graph, layer.input(1));
        String biasName = layer.input(2);
        float[] bias = biasName.isEmpty() ? null : floats(graph, biasName);
        if (weight == null || (!biasName.isEmpty() && bias == null)
                || Arrays.stream(params).anyMatch(p -> p == null)) {
            return "its parameters or the weights of " + layer.describe() + " are not float initializers";
        }
        int channels = params[0].length;
        long[] dims = graph.initializers().get(layer.input(1)).dims();
        int[] channelOf = channelIndex(layer, dims, channels);
        if (channelOf == null || Arrays.stream(params).anyMatch(p -> p.length != channels)
                || (bias != null && bias.length != channels)) {
            return "the channel counts of " + layer.describe() + " and its parameters do not match";
        }
        float eps = bn.attribute("epsilon").map(Attribute::f).orElse(1e-5f);
        float[] gamma = params[0];
        float[] beta = params[1];
        float[] mean = params[2];
        float[] var = params[3];
        float[] scale = new float[channels];
        float[] newBias = new float[channels];
        for (int c = 0; c < channels; c++) {
            scale[c] = gamma[c] / (float) Math.sqrt(var[c] + eps);
            newBias[c] = bias == null ? beta[c] - mean[c] * scale[c] : (bias[c] - mean[c]) * scale[c] + beta[c];
        }
        float[] newWeight = new float[weight.length];
        for (int i = 0; i < weight.length; i++) {
            newWeight[i] = weight[i] * scale[channelOf[i]];
        }
        String weightName = owned(graph, layer.input(1));
        String newBiasName = biasName.isEmpty() ? graph.uniqueName(x + "_bias") : owned(graph, biasName);
        graph.putInitializer(Tensor.floats(weightName, dims, newWeight));
        graph.putInitializer(Tensor.floats(newBiasName, new long[] {channels}, newBias));
        layer.setInput(1, weightName).setOutput(0, bn.output(0));
        if (layer.inputs().size() > 2) {
            layer.setInput(2, newBiasName);
        } else {
            layer.inputs().add(newBiasName);
        }
        graph.nodes().remove(bn);
        return null;
    }

    /** The output channel of each weight element, or null when the weight layout does not fit. */
    private static int[] channelIndex(Node layer, long[] dims, int channels) {
        int n = (int) Arrays.stream(dims).reduce(1, (a, b) -> a * b);
        int[] channel = new int[n];
        switch (layer.opType()) {
            case "Conv" -> {
                // [M, C/group, k...]
                if (dims.length < 3 || dims[0] != channels) {
                    return null;
                }
                int perChannel = n / channels;
                for (int i = 0; i < n; i++) {
                    channel[i] = i / perChannel;
                }
            }
            case "ConvTranspose" -> {
                // [C, M/group, k...]: output channel = group * M/group + j
                long group = layer.intAttribute("group", 1);
                if (dims.length < 3 || dims[1] * group != channels || dims[0] % group != 0) {
                    return null;
                }
                int perGroupOut = (int) dims[1];
                int inPerGroup = (int) (dims[0] / group);
                int kernel = n / (int) (dims[0] * dims[1]);
                for (int i = 0; i < n; i++) {
                    int in = i / (perGroupOut * kernel);
                    channel[i] = (in / inPerGroup) * perGroupOut + (i / kernel) % perGroupOut;
                }
            }
            default -> {
                // Gemm: Y = alpha * A * B + beta * C; beta would scale the new bias, so only beta = 1 folds
                boolean transB = layer.intAttribute("transB", 0) != 0;
                float gemmBeta = layer.attribute("beta").map(Attribute::f).orElse(1f);
                if (dims.length != 2 || dims[transB ? 0 : 1] != channels || gemmBeta != 1f) {
                    return null;
                }
                for (int i = 0; i < n; i++) {
                    channel[i] = transB ? i / (int) dims[1] : i % channels;
                }
            }
        }
        return channel;
    }

    /** The values of a float initializer that cannot be overridden at run time, or null. */
    private static float[] floats(Graph graph, String name) {
        Tensor tensor = name.isEmpty() ? null : graph.initializers().get(name);
        return tensor == null || !tensor.isFloat() || GraphPreparation.isGraphInput(graph, name)
                ? null : tensor.floats();
    }

    /** {@code name} when only the folded layer reads it, else a new name so other readers keep the old values. */
    private static String owned(Graph graph, String name) {
        return graph.consumers(name).size() == 1 ? name : graph.uniqueName(name + "_bn");
    }
}
