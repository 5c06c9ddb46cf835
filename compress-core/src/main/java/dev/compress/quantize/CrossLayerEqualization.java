package dev.compress.quantize;

import dev.compress.graph.Clamp;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization", as AIMET and NNCF apply it): for two Convs
 * in a row, with nothing or a Relu between them, output channel i of the first is divided by {@code s_i} (weights and
 * bias) and input channel i of the second multiplied by {@code s_i}. A Relu commutes with a positive factor, so the
 * model computes the same function; with {@code s_i = sqrt(r1_i * r2_i) / r2_i} (r = largest weight magnitude of the
 * channel in each layer) both layers end with equal channel ranges. That matters for per-tensor activations after a
 * depthwise Conv, whose channels differ by orders of magnitude: one scale has to serve them all. Chains (expand,
 * depthwise, project) are equalized pair by pair, repeated until the factors settle.
 *
 * <p>A Clip between the Convs (ReLU6) is left alone, and reported: {@code clip(x / s, 0, 6) != clip(x, 0, 6) / s}, so
 * the bound would have to become 6/s_i per channel, which Clip cannot hold; the per-channel Min that could would stay
 * float and undo the Clip folding ({@link QuantizationPlan#foldClamps}). High-bias absorption is not done: without the
 * BatchNorm statistics (folded by then) it needs data.
 */
final class CrossLayerEqualization {
    /** Rounds over all pairs at most; the factors of a chain settle in a few. */
    private static final int MAX_ROUNDS = 32;
    /** A round whose every factor is within this of 1 ends the iteration. */
    private static final double SETTLED = 1e-6;

    private record Pair(Node first, Node second, String between) {
        String describe() {
            return first.describe() + " -> " + (between.isEmpty() ? "" : between + " -> ") + second.describe();
        }
    }

    private CrossLayerEqualization() {}

    /** Equalizes every pair in {@code graph} in place; says what it did and which pairs it left alone. */
    static QuantizationReport.Equalization apply(Graph graph) {
        List<Pair> pairs = new ArrayList<>();
        Map<String, String> skipped = new LinkedHashMap<>();
        Graph.Index index = graph.index();
        for (Node first : graph.nodes()) {
            if (!isConv(graph, first)) {
                continue;
            }
            String value = first.output(0);
            Node next = soleReader(graph, index, value);
            String between = "";
            if (next != null && !next.is("Conv")) {
                Clamp clamp = Clamp.of(graph, next).orElse(null);
                Node after = soleReader(graph, index, next.output(0));
                if (after == null || !isConv(graph, after)) {
                    continue;
                }
                if (next.is("LeakyRelu") && next.inDefaultDomain()) {
                    between = "LeakyRelu";
                } else if (clamp == null || clamp.min() != 0f || clamp.max() != Float.POSITIVE_INFINITY) {
                    skipped.put(first.describe() + " -> " + next.describe() + " -> " + after.describe(),
                            next.opType() + " between them is not positively homogeneous"
                                    + (clamp != null && clamp.min() == 0f ? " (ReLU6: its bound would differ per"
                                            + " channel)" : ""));
                    continue;
                } else {
                    between = next.opType();
                }
                next = after;
            }
            if (next == null || !isConv(graph, next)) {
                continue;
            }
            String reason = unfit(graph, first, next);
            if (reason != null) {
                skipped.put(new Pair(first, next, between).describe(), reason);
            } else {
                pairs.add(new Pair(first, next, between));
            }
        }
        if (pairs.isEmpty()) {
            return new QuantizationReport.Equalization(List.of(), skipped);
        }
        // weights and biases in double while the factors are applied round after round, written back once
        Map<String, double[]> values = new LinkedHashMap<>();
        for (Pair pair : pairs) {
            for (Node conv : List.of(pair.first, pair.second)) {
                own(graph, conv, 1);
                values.computeIfAbsent(conv.input(1), name -> toDouble(graph.initializer(name).orElseThrow()));
            }
            if (!pair.first.input(2).isEmpty()) {
                own(graph, pair.first, 2);
                values.computeIfAbsent(pair.first.input(2), name -> toDouble(graph.initializer(name).orElseThrow()));
            }
        }
        for (int round = 0; round < MAX_ROUNDS; round++) {
            double change = 0;
            for (Pair pair : pairs) {
                change = Math.max(change, equalize(graph, pair, values));
            }
            if (change < SETTLED) {
                break;
            }
        }
        values.forEach((name, data) -> {
            Tensor old = graph.initializer(name).orElseThrow();
            float[] floats = new float[data.length];
            for (int i = 0; i < data.length; i++) {
                floats[i] = (float) data[i];
            }
            graph.putInitializer(Tensor.floats(name, old.dims(), floats));
        });
        return new QuantizationReport.Equalization(pairs.stream().map(Pair::describe).toList(), skipped);
    }

    /** One equalization step of a pair; returns the largest |s_i - 1|. */
    private static double equalize(Graph graph, Pair pair, Map<String, double[]> values) {
        long[] firstDims = graph.initializer(pair.first.input(1)).orElseThrow().dims();
        long[] secondDims = graph.initializer(pair.second.input(1)).orElseThrow().dims();
        double[] w1 = values.get(pair.first.input(1));
        double[] w2 = values.get(pair.second.input(1));
        double[] bias = pair.first.input(2).isEmpty() ? null : values.get(pair.first.input(2));
        int channels = (int) firstDims[0];
        int perOut1 = w1.length / channels;
        int outs2 = (int) secondDims[0];
        int ins2 = (int) secondDims[1]; // input channels per group
        int kernel2 = w2.length / (outs2 * ins2);
        int group2 = channels / ins2;
        int outsPerGroup2 = outs2 / group2;
        double[] r1 = new double[channels];
        double[] r2 = new double[channels];
        for (int i = 0; i < w1.length; i++) {
            r1[i / perOut1] = Math.max(r1[i / perOut1], Math.abs(w1[i]));
        }
        for (int i = 0; i < w2.length; i++) {
            int out = i / (ins2 * kernel2);
            int in = (out / outsPerGroup2) * ins2 + (i / kernel2) % ins2;
            r2[in] = Math.max(r2[in], Math.abs(w2[i]));
        }
        double[] s = new double[channels];
        double change = 0;
        for (int c = 0; c < channels; c++) {
            s[c] = r1[c] > 0 && r2[c] > 0 ? Math.sqrt(r1[c] * r2[c]) / r2[c] : 1;
            change = Math.max(change, Math.abs(s[c] - 1));
        }
        for (int i = 0; i < w1.length; i++) {
            w1[i] /= s[i / perOut1];
        }
        if (bias != null) {
            for (int c = 0; c < channels; c++) {
                bias[c] /= s[c];
            }
        }
        for (int i = 0; i < w2.length; i++) {
            int out = i / (ins2 * kernel2);
            w2[i] *= s[(out / outsPerGroup2) * ins2 + (i / kernel2) % ins2];
        }
        return change;
    }

    /** A Conv of the default domain with a float initializer weight of rank 3 or more that no graph input overrides. */
    private static boolean isConv(Graph graph, Node node) {
        if (!node.is("Conv") || !node.inDefaultDomain() || node.outputs().size() != 1) {
            return false;
        }
        Tensor weight = graph.initializer(node.input(1)).orElse(null);
        return weight != null && weight.isFloat() && weight.rank() >= 3 && !overridable(graph, node.input(1));
    }

    /** Why the pair cannot be equalized, or null. */
    private static String unfit(Graph graph, Node first, Node second) {
        long[] firstDims = graph.initializer(first.input(1)).orElseThrow().dims();
        long[] secondDims = graph.initializer(second.input(1)).orElseThrow().dims();
        long group = second.intAttribute("group", 1);
        if (secondDims[1] * group != firstDims[0] || secondDims[0] % group != 0) {
            return "the channel counts do not match";
        }
        String biasName = first.input(2);
        if (!biasName.isEmpty()) {
            Tensor bias = graph.initializer(biasName).orElse(null);
            if (bias == null || !bias.isFloat() || bias.elementCount() != firstDims[0] || overridable(graph, biasName)) {
                return "the bias of " + first.describe() + " is not a float initializer of one value per channel";
            }
        }
        return null;
    }

    /** The one node reading {@code value}, or null when it is a graph output or read by none or several. */
    private static Node soleReader(Graph graph, Graph.Index index, String value) {
        List<Node> readers = index.consumers(value);
        boolean output = graph.outputs().stream().anyMatch(o -> o.name().equals(value));
        return readers.size() == 1 && !output ? readers.get(0) : null;
    }

    private static boolean overridable(Graph graph, String name) {
        return graph.declaredInputs().stream().anyMatch(input -> input.name().equals(name));
    }

    /** Gives input {@code slot} of {@code node} an initializer of its own when other nodes share it. */
    private static void own(Graph graph, Node node, int slot) {
        String name = node.input(slot);
        if (graph.consumers(name).size() > 1) {
            String copy = graph.uniqueName(name + "_equalized");
            graph.putInitializer(graph.initializer(name).orElseThrow().withName(copy));
            node.setInput(slot, copy);
        }
    }

    private static double[] toDouble(Tensor tensor) {
        float[] floats = tensor.floats();
        double[] data = new double[floats.length];
        for (int i = 0; i < floats.length; i++) {
            data[i] = floats[i];
        }
        return data;
    }
}
