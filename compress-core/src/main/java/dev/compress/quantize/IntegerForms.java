package dev.compress.quantize;

import dev.compress.CompressException;
import dev.compress.graph.Attribute;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.RankPropagation;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.prepare.AffineFolding;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Rewrites ops ONNX Runtime has no (fast) integer kernel for into ops it runs in 8 bits, with the same float result
 * up to rounding:
 * <ul>
 *   <li>a BatchNormalization that follows no layer it could fold into (DenseNet's pre-activation
 *       {@code Concat → BatchNormalization → Relu → Conv}, 62 in densenet121) becomes a depthwise Conv with 1x1
 *       kernels, weight {@code s = gamma / sqrt(var + eps)} and bias {@code beta - mean·s}: a QLinearConv, whose
 *       output range then absorbs the Relu after it. Left float, each was a dequantize, BatchNormalization, Relu,
 *       quantize round trip over the whole growing concatenation.</li>
 *   <li>a ReduceMean over all spatial axes of a feature map of rank 4 or more (torch's {@code x.mean([2, 3])}, the
 *       last pooling of ShuffleNetV2 and MNASNet) becomes GlobalAveragePool, followed by a Flatten when it dropped
 *       the axes: QLinearGlobalAveragePool instead of a dequantized map.</li>
 *   <li>an AveragePool whose every window is divided by the kernel's size (no padding, or padding counted) becomes a
 *       depthwise Conv with weights 1/size, which 8 bits hold exactly (127 at scale 1/(127·size)): ONNX Runtime's
 *       QLinearAveragePool took 518 µs for densenet121's first 2x2 transition pool and 199 µs for the zoo crnn's 7x1
 *       pool, the depthwise QLinearConv 34 µs for the latter. It needs the channel count, from recorded shapes or
 *       ONNX Runtime's inference.</li>
 * </ul>
 * Each rewrite's first node keeps the original's name, so {@code --exclude} by that name still keeps it float.
 * Runs on every static quantization and calibration, so a calibration table describes the graph quantize rewrites.
 */
final class IntegerForms {
    private IntegerForms() {}

    /** Whether {@link #rewrite} may change {@code graph} (an AveragePool whose channel count is unknown may stay). */
    static boolean appliesTo(Graph graph) {
        if (graph.nodes().stream().noneMatch(IntegerForms::candidate)) {
            return false; // most graphs: no ranks to work out
        }
        Map<String, Integer> ranks = RankPropagation.ranks(graph);
        return graph.nodes().stream().anyMatch(node -> replacement(graph, node, ranks, Map.of(), false) != null);
    }

    /** Rewrites {@code model}'s graph; returns how many nodes it rewrote. */
    static int rewrite(OnnxModel model) {
        Graph graph = model.graph();
        if (graph.nodes().stream().noneMatch(IntegerForms::candidate)) {
            return 0;
        }
        Map<String, Integer> ranks = RankPropagation.ranks(graph);
        Map<String, Long> channels = poolChannels(model, ranks);
        List<Node> rewritten = new ArrayList<>();
        Set<String> replaced = new HashSet<>();
        int count = 0;
        for (Node node : graph.nodes()) {
            List<Node> replacement = replacement(graph, node, ranks, channels, true);
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
        return node.inDefaultDomain()
                && (node.is("BatchNormalization") || node.is("ReduceMean") || node.is("AveragePool"));
    }

    /**
     * The nodes that replace {@code node}, or null; written into the graph only when {@code write} (without it, an
     * AveragePool is taken whatever its channel count).
     *
     * @param channels the channel count of each AveragePool's input where known
     */
    private static List<Node> replacement(Graph graph, Node node, Map<String, Integer> ranks,
            Map<String, Long> channels, boolean write) {
        Integer rank = candidate(node) ? ranks.get(node.input(0)) : null;
        if (rank == null || rank < 3) {
            return null;
        }
        if (node.is("AveragePool")) {
            return poolConv(graph, node, rank, channels.get(node.input(0)), write);
        }
        // over a sequence ([N, T, D]) a mean along the last axis is a LayerNorm's, not a pooling
        return node.is("BatchNormalization") ? batchNormConv(graph, node, rank, write)
                : rank >= 4 ? globalPool(graph, node, rank, write) : null;
    }

    /** Whether every window of {@code pool} is divided by the kernel's size: no padding, or padding counted. */
    private static boolean dividesByKernelSize(Node pool, int rank) {
        long[] kernel = pool.attribute("kernel_shape").map(Attribute::ints).orElse(null);
        String autoPad = pool.attribute("auto_pad").map(Attribute::s).orElse("NOTSET");
        long[] pads = pool.attribute("pads").map(Attribute::ints).orElse(new long[0]);
        long[] dilations = pool.attribute("dilations").map(Attribute::ints).orElse(new long[0]);
        return kernel != null && kernel.length == rank - 2 && pool.outputs().size() == 1
                && autoPad.equals("NOTSET") && pool.intAttribute("ceil_mode", 0) == 0
                && Arrays.stream(dilations).allMatch(d -> d == 1)
                && (Arrays.stream(pads).allMatch(p -> p == 0) || pool.intAttribute("count_include_pad", 0) == 1);
    }

    /** The depthwise Conv with weights 1/size computing {@code pool}, or null. */
    private static List<Node> poolConv(Graph graph, Node pool, int rank, Long channels, boolean write) {
        if (!dividesByKernelSize(pool, rank)) {
            return null;
        }
        if (!write) {
            return List.of();
        }
        if (channels == null) {
            return null;
        }
        long[] kernel = pool.attribute("kernel_shape").orElseThrow().ints();
        long[] dims = new long[rank];
        dims[0] = channels;
        dims[1] = 1;
        System.arraycopy(kernel, 0, dims, 2, kernel.length);
        long size = Arrays.stream(kernel).reduce(1, Math::multiplyExact);
        float[] weights = new float[Math.toIntExact(channels * size)];
        Arrays.fill(weights, 1f / size);
        String name = pool.name().isEmpty() ? pool.output(0) : pool.name();
        String weight = graph.uniqueName(name + "_mean");
        graph.putInitializer(Tensor.floats(weight, dims, weights));
        Node conv = Node.of("Conv", pool.name(), List.of(pool.input(0), weight), pool.outputs())
                .set(Attribute.of("group", channels)).set(Attribute.of("kernel_shape", kernel));
        for (String copied : List.of("strides", "pads")) {
            pool.attribute(copied).ifPresent(conv::set);
        }
        return List.of(conv);
    }

    /**
     * The static channel count (axis 1) of each AveragePool input that could be rewritten: recorded, else as ONNX
     * Runtime infers it (a model it cannot load has none).
     */
    private static Map<String, Long> poolChannels(OnnxModel model, Map<String, Integer> ranks) {
        Graph graph = model.graph();
        Map<String, Long> channels = new HashMap<>();
        Set<String> unknown = new LinkedHashSet<>();
        for (Node pool : graph.nodes()) {
            Integer rank = ranks.get(pool.input(0));
            if (!pool.is("AveragePool") || rank == null || rank < 3 || !dividesByKernelSize(pool, rank)) {
                continue;
            }
            Optional<ValueInfo.Dim> dim = graph.valueInfo(pool.input(0)).flatMap(ValueInfo::shape)
                    .filter(shape -> shape.size() > 1).map(shape -> shape.get(1));
            if (dim.isPresent() && dim.get().isKnown()) {
                channels.put(pool.input(0), dim.get().value());
            } else {
                unknown.add(pool.input(0));
            }
        }
        if (unknown.isEmpty()) {
            return channels;
        }
        try (OrtModel probe = OrtModel.open(model.withExtraOutputs(unknown),
                RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE))) {
            Map<String, long[]> shapes = probe.outputShapes();
            for (String tensor : unknown) {
                long[] shape = shapes.get(tensor);
                if (shape != null && shape.length > 1 && shape[1] > 0) {
                    channels.put(tensor, shape[1]);
                }
            }
        } catch (CompressException e) {
            // custom ops ONNX Runtime cannot load: those pools stay
        }
        return channels;
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
