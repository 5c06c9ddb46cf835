package dev.compress.quantize;

import dev.compress.graph.Attribute;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.RankPropagation;
import dev.compress.graph.Tensor;
import dev.compress.prepare.AffineFolding;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Rewrites two ops ONNX Runtime has no integer kernel for into ops it runs in 8 bits, with the same float result up
 * to rounding:
 * <ul>
 *   <li>a BatchNormalization that follows no layer it could fold into (DenseNet's pre-activation
 *       {@code Concat → BatchNormalization → Relu → Conv}, 62 in densenet121) becomes a depthwise Conv with 1x1
 *       kernels, weight {@code s = gamma / sqrt(var + eps)} and bias {@code beta - mean·s}: a QLinearConv, whose
 *       output range then absorbs the Relu after it. Left float, each was a dequantize, BatchNormalization, Relu,
 *       quantize round trip over the whole growing concatenation.</li>
 *   <li>a ReduceMean over all spatial axes of a feature map of rank 4 or more (torch's {@code x.mean([2, 3])}, the
 *       last pooling of ShuffleNetV2 and MNASNet) becomes GlobalAveragePool, followed by a Flatten when it dropped
 *       the axes: QLinearGlobalAveragePool instead of a dequantized map.</li>
 * </ul>
 * Each rewrite's first node keeps the original's name, so {@code --exclude} by that name still keeps it float.
 * Runs on every static quantization and calibration, so a calibration table describes the graph quantize rewrites.
 */
final class IntegerForms {
    private IntegerForms() {}

    /** Whether {@link #rewrite} would change {@code graph}. */
    static boolean appliesTo(Graph graph) {
        if (graph.nodes().stream().noneMatch(IntegerForms::candidate)) {
            return false; // most graphs: no ranks to work out
        }
        Map<String, Integer> ranks = RankPropagation.ranks(graph);
        return graph.nodes().stream().anyMatch(node -> replacement(graph, node, ranks, false) != null);
    }

    /** Rewrites {@code graph}; returns how many nodes it rewrote. */
    static int rewrite(Graph graph) {
        if (graph.nodes().stream().noneMatch(IntegerForms::candidate)) {
            return 0;
        }
        Map<String, Integer> ranks = RankPropagation.ranks(graph);
        List<Node> rewritten = new ArrayList<>();
        Set<String> replaced = new HashSet<>();
        int count = 0;
        for (Node node : graph.nodes()) {
            List<Node> replacement = replacement(graph, node, ranks, true);
            if (replacement == null) {
                rewritten.add(node);
            } else {
                rewritten.addAll(replacement);
                replaced.addAll(node.inputs().subList(1, node.inputs().size()));
                count++;
            }
        }
        if (count == 0) {
            return 0;
        }
        graph.nodes().clear();
        graph.nodes().addAll(rewritten);
        graph.removeUnreadInitializers(replaced); // the normalizations' statistics, ReduceMean's axes
        return count;
    }

    private static boolean candidate(Node node) {
        return node.inDefaultDomain() && (node.is("BatchNormalization") || node.is("ReduceMean"));
    }

    /** The nodes that replace {@code node}, or null; written into the graph only when {@code write}. */
    private static List<Node> replacement(Graph graph, Node node, Map<String, Integer> ranks, boolean write) {
        Integer rank = candidate(node) ? ranks.get(node.input(0)) : null;
        if (rank == null || rank < 3) {
            return null;
        }
        // over a sequence ([N, T, D]) a mean along the last axis is a LayerNorm's, not a pooling
        return node.is("BatchNormalization") ? batchNormConv(graph, node, rank, write)
                : rank >= 4 ? globalPool(graph, node, rank, write) : null;
    }

    /** The depthwise 1x1 Conv computing an inference BatchNormalization with constant parameters, or null. */
    private static List<Node> batchNormConv(Graph graph, Node bn, int rank, boolean write) {
        if (bn.inputs().size() != 5 || bn.intAttribute("training_mode", 0) != 0
                || bn.intAttribute("spatial", 1) != 1
                || bn.outputs().stream().skip(1).anyMatch(out -> !out.isEmpty())) {
            return null;
        }
        float[][] params = new float[4][];
        for (int i = 0; i < 4; i++) {
            Optional<Tensor> param = constant(graph, bn.input(i + 1));
            if (param.isEmpty() || !param.get().isFloat() || param.get().rank() != 1) {
                return null;
            }
            params[i] = param.get().floats();
        }
        int channels = params[0].length;
        if (Arrays.stream(params).anyMatch(p -> p.length != channels)) {
            return null;
        }
        if (!write) {
            return List.of();
        }
        float[][] affine = AffineFolding.affine(bn, params, null);
        long[] dims = new long[rank];
        Arrays.fill(dims, 1);
        dims[0] = channels;
        String name = bn.name().isEmpty() ? bn.output(0) : bn.name();
        String weight = graph.uniqueName(name + "_scale");
        String bias = graph.uniqueName(name + "_shift");
        graph.putInitializer(Tensor.floats(weight, dims, affine[0]));
        graph.putInitializer(Tensor.floats(bias, new long[] {channels}, affine[1]));
        long[] kernel = new long[rank - 2];
        Arrays.fill(kernel, 1);
        return List.of(Node.of("Conv", bn.name(), List.of(bn.input(0), weight, bias), List.of(bn.output(0)))
                .set(Attribute.of("group", channels)).set(Attribute.of("kernel_shape", kernel)));
    }

    /** GlobalAveragePool (and a Flatten when the axes are dropped) for a mean over every spatial axis, or null. */
    private static List<Node> globalPool(Graph graph, Node mean, int rank, boolean write) {
        long[] axes = mean.attribute("axes").map(Attribute::ints).orElse(null);
        if (axes == null && mean.inputs().size() > 1 && !mean.input(1).isEmpty()) { // opset 18: an input
            axes = constant(graph, mean.input(1)).map(Tensor::longs).orElse(null);
        }
        if (axes == null) {
            return null;
        }
        long[] normalized = Arrays.stream(axes).map(a -> a < 0 ? a + rank : a).sorted().toArray();
        long[] spatial = java.util.stream.LongStream.range(2, rank).toArray();
        if (!Arrays.equals(normalized, spatial)) {
            return null;
        }
        if (!write) {
            return List.of();
        }
        if (mean.intAttribute("keepdims", 1) != 0) {
            return List.of(Node.of("GlobalAveragePool", mean.name(), List.of(mean.input(0)), mean.outputs()));
        }
        String name = mean.name().isEmpty() ? mean.output(0) : mean.name();
        String pooled = graph.uniqueName(name + "_pooled");
        return List.of(Node.of("GlobalAveragePool", mean.name(), List.of(mean.input(0)), List.of(pooled)),
                Node.of("Flatten", graph.uniqueName(name + "_flatten"), List.of(pooled), mean.outputs())
                        .set(Attribute.of("axis", 1)));
    }

    /** An initializer that is not also a graph input (which a caller could override). */
    private static Optional<Tensor> constant(Graph graph, String name) {
        boolean input = graph.declaredInputs().stream().anyMatch(i -> i.name().equals(name));
        return input ? Optional.empty() : graph.initializer(name);
    }
}
