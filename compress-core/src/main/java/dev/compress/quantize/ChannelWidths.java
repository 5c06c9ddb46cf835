package dev.compress.quantize;

import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Widens channel counts that ONNX Runtime's fast 8-bit Conv kernels (MLAS's symmetric kernels, x86: AVX2, AVX-VNNI,
 * AVX-512) do not take, with zero filters, so that they run there instead of in a generic loop:
 * <ul>
 *   <li>a quantized depthwise Conv's channels to a multiple of {@value #DEPTHWISE_CHANNELS} (its kernel takes no
 *       other count): MobileNetV3's expansions (72, 88, 120, 184, 200 channels), ShuffleNetV2's branches (24, 58,
 *       116, 232) and PP-OCR's mobile classifier (8 to 200); EfficientNet's and MobileNetV2's already fit;
 *   <li>a quantized dense Conv's filters to at least {@value ConvKernelShapes#MIN_OUTPUT_CHANNELS} and a multiple of
 *       {@value ConvKernelShapes#OUTPUT_CHANNEL_MULTIPLE} (the dense kernel's filter pack): the squeezes of
 *       squeeze-excite blocks (EfficientNet's 4 to 28, RegNet's 8 to 52, PP-OCR's 2 to 60).
 * </ul>
 *
 * <p>The channels are those of a <i>channel space</i>: the tensors joined by ops that keep channel c in channel c
 * (activations, elementwise ops with a scalar or with another tensor of the space, pooling, depthwise Convs), bounded
 * by dense Convs that write it (they get zero filters and zero biases, so the new channels are 0) and dense Convs that
 * read it (they get zero weights for the new channels, so they compute the same). A squeeze-excite gate is in the
 * space of what it multiplies: its last Conv writes the space. Every activation of zeros is a constant there, which
 * the multiplies that follow bring back to 0, and the readers ignore those channels anyway. A space that reaches
 * anything else (a graph input or output, a Reshape, Concat, Gemm, a constant that is not a scalar, a weight another
 * node shares) is left as it is.
 *
 * <p>Runs on the float graph after calibration and bias correction and before the QDQ rewrite, so the ranges are
 * those of the model as given (the zero channels would add zeros to histograms) and the int8 weights are made from
 * the widened ones. Activations keep their names and get more channels; {@code LayerDebugger} compares their leading
 * channels with the source's. At 224, batch 1, INT8/fp32: mobilenet_v3_large 0.78 to 0.71, shufflenet_v2_x1_0 0.68 to
 * 0.59; the EfficientNet-style fixture at batch 32 1.25 to 1.20 (docs/benchmarks.md).
 */
final class ChannelWidths {
    /** The channel multiple of MLAS's symmetric depthwise kernel on x86 (ARM64: 8, which 16 satisfies). */
    static final int DEPTHWISE_CHANNELS = 16;
    private static final Set<String> ELEMENTWISE = Set.of("Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish",
            "LeakyRelu", "Tanh", "Gelu", "Add", "Sub", "Mul", "Div");
    private static final Set<String> POOLING = Set.of("GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool");

    private ChannelWidths() {}

    /** A channel space: its tensors, the Convs that write it, read it, and the depthwise Convs in it. */
    private record Space(Set<String> tensors, Set<Node> writers, Set<Node> readers, Set<Node> depthwise) {}

    /**
     * Widens the spaces of the depthwise Convs, then of the dense Convs, among {@code quantized} whose channel counts
     * the fast kernels do not take; returns one line per space, e.g. {@code "/features.4/conv/Conv: 72 -> 80
     * channels"}.
     */
    static List<String> widen(Graph graph, Set<Node> quantized) {
        List<String> widened = new ArrayList<>();
        Set<Node> seen = new HashSet<>();
        for (Node conv : List.copyOf(graph.nodes())) {
            long channels = depthwiseChannels(graph, conv);
            if (channels > 0 && channels % DEPTHWISE_CHANNELS != 0 && quantized.contains(conv)
                    && !seen.contains(conv)) {
                widen(graph, quantized, conv, conv.input(0), channels, roundUp(channels, DEPTHWISE_CHANNELS), seen,
                        widened);
            }
        }
        for (Node conv : List.copyOf(graph.nodes())) {
            long filters = denseFilters(graph, conv);
            if (filters > 0 && (filters < ConvKernelShapes.MIN_OUTPUT_CHANNELS
                    || filters % ConvKernelShapes.OUTPUT_CHANNEL_MULTIPLE != 0) && quantized.contains(conv)) {
                widen(graph, quantized, conv, conv.output(0), filters, Math.max(ConvKernelShapes.MIN_OUTPUT_CHANNELS,
                        roundUp(filters, ConvKernelShapes.OUTPUT_CHANNEL_MULTIPLE)), seen, widened);
            }
        }
        return widened;
    }

    private static int roundUp(long channels, int multiple) {
        return (int) ((channels + multiple - 1) / multiple * multiple);
    }

    /** Widens the space of {@code tensor} (of {@code conv}) from {@code channels} to {@code wider}, if it can. */
    private static void widen(Graph graph, Set<Node> quantized, Node conv, String tensor, long channels, int wider,
            Set<Node> seen, List<String> widened) {
        Space space = space(graph, tensor, channels);
        if (space == null) {
            seen.add(conv);
            return;
        }
        seen.addAll(space.depthwise());
        // a float depthwise Conv keeps its own float kernel, and float writers their float output: widening would
        // only add work
        if (!quantized.containsAll(space.depthwise()) || !quantized.containsAll(space.writers())) {
            return;
        }
        for (Node writer : space.writers()) {
            padInput(graph, writer, 1, 0, wider);
            padInput(graph, writer, 2, 0, wider);
        }
        for (Node reader : space.readers()) {
            padInput(graph, reader, 1, 1, wider);
        }
        for (Node depthwise : space.depthwise()) {
            padInput(graph, depthwise, 1, 0, wider);
            padInput(graph, depthwise, 2, 0, wider);
            depthwise.set(Attribute.of("group", wider));
        }
        // their recorded shapes are out of date; ONNX Runtime infers them again
        graph.valueInfos().removeIf(info -> space.tensors().contains(info.name()));
        widened.add(conv.describe() + ": " + channels + " -> " + wider + " channels");
    }

    /** The channel count of a depthwise Conv (one input channel per group, as many groups as filters), else 0. */
    private static long depthwiseChannels(Graph graph, Node conv) {
        if (!conv.is("Conv") || !conv.inDefaultDomain() || conv.inputs().size() < 2) {
            return 0;
        }
        long groups = conv.intAttribute("group", 1);
        return graph.initializer(conv.input(1))
                .filter(w -> groups > 1 && w.rank() >= 3 && w.dim(1) == 1 && w.dim(0) == groups)
                .map(w -> groups).orElse(0L);
    }

    /** The filter count of a Conv with one group and a float initializer weight, else 0. */
    private static long denseFilters(Graph graph, Node conv) {
        long filters = conv.is("Conv") && conv.inputs().size() >= 2
                ? graph.initializer(conv.input(1)).map(w -> w.rank() >= 3 ? w.dim(0) : 0L).orElse(0L) : 0;
        return filters > 0 && denseConv(graph, conv, 0, filters) ? filters : 0;
    }

    /** A Conv with one group and a float initializer weight of {@code channels} on {@code axis}. */
    private static boolean denseConv(Graph graph, Node conv, int axis, long channels) {
        return conv.is("Conv") && conv.inDefaultDomain() && conv.inputs().size() >= 2
                && conv.intAttribute("group", 1) == 1 && graph.initializer(conv.input(1))
                        .filter(w -> w.dataType() == DataType.FLOAT && w.rank() >= 3 && w.dim(axis) == channels)
                        .isPresent();
    }

    /** The channel space of {@code start}, or null when it reaches something it cannot widen. */
    private static Space space(Graph graph, String start, long channels) {
        Graph.Index index = graph.index();
        Space space = new Space(new LinkedHashSet<>(), new LinkedHashSet<>(), new LinkedHashSet<>(),
                new LinkedHashSet<>());
        Deque<String> todo = new ArrayDeque<>(List.of(start));
        while (!todo.isEmpty()) {
            String tensor = todo.pop();
            if (!space.tensors().add(tensor)) {
                continue;
            }
            Graph.Value value = index.value(tensor);
            if (value.isGraphOutput() || value.producer().isEmpty()) {
                return null; // a graph input, output or initializer: its width is not ours to change
            }
            Node producer = value.producer().get();
            if (denseConv(graph, producer, 0, channels)) {
                space.writers().add(producer);
            } else if (!follow(graph, producer, tensor, channels, space, todo, true)) {
                return null;
            }
            for (Node consumer : value.consumers()) {
                if (denseConv(graph, consumer, 1, channels) && consumer.input(0).equals(tensor)
                        && !consumer.inputs().subList(1, consumer.inputs().size()).contains(tensor)) {
                    space.readers().add(consumer);
                } else if (!follow(graph, consumer, tensor, channels, space, todo, false)) {
                    return null;
                }
            }
        }
        // every weight and bias must be the node's own: widening a shared one would change another node
        for (Set<Node> nodes : List.of(space.writers(), space.readers(), space.depthwise())) {
            for (Node node : nodes) {
                for (String input : node.inputs().subList(1, node.inputs().size())) {
                    if (!input.isEmpty() && (index.consumers(input).size() != 1
                            || graph.initializer(input).map(t -> t.dataType() != DataType.FLOAT).orElse(true))) {
                        return null;
                    }
                }
            }
        }
        return space;
    }

    /**
     * Adds to the space what {@code node}, a producer ({@code upstream}) or consumer of {@code tensor}, joins to it;
     * false when the node is of no kind that keeps channels apart.
     */
    private static boolean follow(Graph graph, Node node, String tensor, long channels, Space space,
            Deque<String> todo, boolean upstream) {
        if (!node.inDefaultDomain() || node.outputs().size() != 1) {
            return false;
        }
        if (depthwiseChannels(graph, node) == channels) {
            if (!upstream && !node.input(0).equals(tensor)) {
                return false;
            }
            space.depthwise().add(node);
            todo.push(upstream ? node.input(0) : node.output(0));
            return true;
        }
        if (POOLING.contains(node.opType())) {
            todo.push(upstream ? node.input(0) : node.output(0));
            return true;
        }
        if (!ELEMENTWISE.contains(node.opType())) {
            return false;
        }
        for (int i = 0; i < node.inputs().size(); i++) {
            String input = node.input(i);
            if (input.isEmpty() || (!upstream && input.equals(tensor))) {
                continue;
            }
            boolean constant = graph.initializer(input).isPresent();
            if (constant && graph.initializer(input).orElseThrow().elementCount() == 1) {
                continue; // a scalar (Clip's bounds among them) treats every channel alike
            }
            if (constant || (node.is("Clip") && i > 0) || (node.is("Div") && i > 0)) {
                // a constant that varies along some axis, a Clip bound computed at run time, or a divisor whose new
                // channels would be 0: x / 0 is no value the readers' zero weights can cancel (0 * inf is NaN)
                return false;
            }
            todo.push(input); // the other operand of an elementwise op: the same channels (a gate, a residual)
        }
        if (!upstream) {
            todo.push(node.output(0));
        }
        return true;
    }

    /** Pads input {@code slot} of {@code node} (a float initializer, if it has one) with zeros along {@code axis}. */
    private static void padInput(Graph graph, Node node, int slot, int axis, int size) {
        if (slot >= node.inputs().size() || node.input(slot).isEmpty()) {
            return;
        }
        Tensor tensor = graph.initializer(node.input(slot)).orElseThrow();
        graph.putInitializer(padded(tensor, axis, size));
    }

    /** {@code tensor} with dimension {@code axis} (0 or 1) made {@code size}, the new entries 0. */
    static Tensor padded(Tensor tensor, int axis, int size) {
        long[] dims = tensor.dims();
        int outer = 1;
        for (int d = 0; d < axis; d++) {
            outer *= (int) dims[d];
        }
        int inner = (int) (tensor.elementCount() / outer / dims[axis]);
        float[] values = tensor.floats();
        float[] wider = new float[outer * size * inner];
        int block = (int) dims[axis] * inner;
        for (int o = 0; o < outer; o++) {
            System.arraycopy(values, o * block, wider, o * size * inner, block);
        }
        long[] widerDims = dims.clone();
        widerDims[axis] = size;
        return Tensor.floats(tensor.name(), widerDims, wider);
    }
}
