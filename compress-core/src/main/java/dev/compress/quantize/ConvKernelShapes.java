package dev.compress.quantize;

import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.IntUnaryOperator;
import java.util.stream.Collectors;

/**
 * Gives quantized Convs, after the QDQ rewrite, shapes that ONNX Runtime's fast 8-bit kernels take, without changing
 * what they compute (the added weights are zeros).
 *
 * <ul>
 *   <li><b>Input channels padded to a multiple of 4</b> ({@link #padInputChannels}) for a Conv fed by a model input
 *       (an image model's stem, 3 channels): a Pad appends zero-point channels to its 8-bit input and its weight
 *       gets zero filters for them. ONNX Runtime's x86 kernels for 8-bit Conv with symmetric int8 weights (MLAS
 *       ConvSym: AVX2, AVX-VNNI, AVX-512) take only channel counts that are a multiple of 4; any other falls back to
 *       im2col and a GEMM of depth 27, which ran the 3-channel stems of EfficientNet-B0, MobileNetV3 and RegNet at
 *       twice fp32's kernel time (about 260 against 136 µs at 224x224); padded, about 110 µs and 20 for the Pad.
 *       Only model inputs are padded: they are small, where padding a deep activation would copy it. On ARM64 those
 *       kernels need 64 input channels, so there the stem does a third more multiply-adds for nothing.
 *   <li><b>Grouped Convs with few groups made dense</b> ({@link #expandGroups}): a Conv with 2 to
 *       {@value #MAX_EXPANDED_GROUPS} groups of several channels gets a block-diagonal weight and one group. ONNX
 *       Runtime runs a grouped 8-bit Conv group by group with small GEMMs, as slowly as fp32 (RegNetY-400MF's
 *       6-group Conv 358 µs); dense, it does the group count times the multiply-adds in one fast kernel: 106-137 µs
 *       for 6 groups, 600 to 369 µs for three 13-group ones, the same time at 26 groups, 1.6 times slower at 55
 *       (docs/benchmarks.md). Groups of at most {@value #NARROW_GROUP} channels are made dense at any count: each
 *       group's GEMM is then too narrow for any kernel. The weight grows by the group count.
 * </ul>
 */
final class ConvKernelShapes {
    /** Input channel count multiple the x86 kernels take. */
    static final int CHANNEL_MULTIPLE = 4;
    /**
     * Output channels the x86 kernels need: at least 16 (their filter pack) and a multiple of 8 (AVX2 and AVX-VNNI;
     * AVX-512 takes 4). A Conv with others does not take them padded either, so it is left alone.
     */
    static final int MIN_OUTPUT_CHANNELS = 16;
    static final int OUTPUT_CHANNEL_MULTIPLE = 8;
    /** Pad takes its pads as an input from opset 11. */
    static final long PAD_MIN_OPSET = 11;
    /** Most groups a Conv is made dense at: 13 measured faster dense, 26 no faster. */
    static final int MAX_EXPANDED_GROUPS = 16;
    /**
     * Groups this narrow (input channels per group) are made dense at any group count: ResNeXt-50 32x4d's 32 groups of
     * 4 at 56x56 took 2.1 ms a Conv grouped, 0.63 ms dense with 32 times the multiply-adds; 32 groups of 8 at 28x28
     * ran no faster dense (docs/benchmarks.md).
     */
    static final int NARROW_GROUP = 4;
    /** Largest dense weight a narrow-group Conv gets (elements): a wide layer would grow by megabytes. */
    static final long MAX_DENSE_ELEMENTS = 1L << 20;

    private ConvKernelShapes() {}

    /**
     * Pads the Convs of {@code graph} whose input is a DequantizeLinear of a QuantizeLinear of a graph input and
     * whose int8 weight ({@link #ownWeight}) has an input channel count that is no multiple of 4 and output channels
     * the kernels take; returns their names.
     */
    static List<String> padInputChannels(Graph graph) {
        Set<String> fed = graph.inputs().stream().map(input -> input.name()).collect(Collectors.toSet());
        Graph.Index index = graph.index();
        List<Node> nodes = new ArrayList<>();
        List<String> padded = new ArrayList<>();
        Set<Node> replaced = new HashSet<>();
        for (Node node : graph.nodes()) {
            Optional<Tensor> weight = ownWeight(graph, index, node)
                    .filter(w -> w.dim(1) % CHANNEL_MULTIPLE != 0 && w.dim(0) >= MIN_OUTPUT_CHANNELS
                            && w.dim(0) % OUTPUT_CHANNEL_MULTIPLE == 0 && node.intAttribute("group", 1) == 1
                            && readsQuantizedInput(index, node, fed));
            if (weight.isPresent()) {
                replaced.add(index.producer(node.input(0)).orElseThrow());
                nodes.addAll(pad(graph, index, node, weight.get()));
                padded.add(node.name());
            }
            nodes.add(node);
        }
        graph.nodes().clear();
        graph.nodes().addAll(nodes);
        // an input's DequantizeLinear that only the padded Conv read
        Graph.Index after = graph.index();
        graph.nodes().removeIf(n -> replaced.contains(n) && !after.value(n.output(0)).isRead());
        return padded;
    }

    /**
     * Makes the Convs of {@code graph} with their own int8 weight ({@link #ownWeight}) and groups of more than one
     * input channel dense when they have 2 to {@value #MAX_EXPANDED_GROUPS} groups, or groups of at most
     * {@value #NARROW_GROUP} input channels and a dense weight of at most {@value #MAX_DENSE_ELEMENTS} elements;
     * returns their names.
     */
    static List<String> expandGroups(Graph graph) {
        Graph.Index index = graph.index();
        List<String> expanded = new ArrayList<>();
        for (Node conv : graph.nodes()) {
            long groups = conv.intAttribute("group", 1);
            Optional<Tensor> weight = ownWeight(graph, index, conv)
                    .filter(w -> groups > 1 && w.dim(1) > 1 && w.dim(0) % groups == 0
                            && (groups <= MAX_EXPANDED_GROUPS || w.dim(1) <= NARROW_GROUP
                                    && w.elementCount() * groups <= MAX_DENSE_ELEMENTS));
            if (weight.isPresent()) {
                graph.putInitializer(blockDiagonal(weight.get(), (int) groups));
                conv.set(Attribute.of("group", 1));
                expanded.add(conv.name());
            }
        }
        return expanded;
    }

    /**
     * The int8 initializer weight of a default-domain Conv behind a DequantizeLinear that only the Conv reads, when
     * no other node reads it and no caller can override it (it is no graph input).
     */
    private static Optional<Tensor> ownWeight(Graph graph, Graph.Index index, Node conv) {
        if (!conv.is("Conv") || !conv.inDefaultDomain() || conv.inputs().size() < 2) {
            return Optional.empty();
        }
        Optional<String> name = dequantizer(index, conv.input(1))
                .filter(dq -> index.value(dq.output(0)).consumers().size() == 1).map(dq -> dq.input(0))
                .filter(w -> index.value(w).consumers().size() == 1
                        && graph.declaredInputs().stream().noneMatch(input -> input.name().equals(w)));
        return name.flatMap(graph::initializer).filter(w -> w.dataType() == DataType.INT8 && w.rank() >= 3);
    }

    /** Whether {@code conv} reads a DequantizeLinear of a QuantizeLinear of one of the graph inputs {@code fed}. */
    private static boolean readsQuantizedInput(Graph.Index index, Node conv, Set<String> fed) {
        return dequantizer(index, conv.input(0)).flatMap(dq -> index.producer(dq.input(0)))
                .filter(q -> q.is("QuantizeLinear") && q.inDefaultDomain() && fed.contains(q.input(0))).isPresent();
    }

    private static Optional<Node> dequantizer(Graph.Index index, String value) {
        return index.producer(value).filter(n -> n.is("DequantizeLinear") && n.inDefaultDomain());
    }

    /**
     * Pads the weight in place and points {@code conv} at a padded copy of its input; returns the Pad and
     * DequantizeLinear to run before it.
     */
    private static List<Node> pad(Graph graph, Graph.Index index, Node conv, Tensor weight) {
        Node dequantize = index.producer(conv.input(0)).orElseThrow();
        long[] dims = weight.dims();
        int extra = (int) (CHANNEL_MULTIPLE - dims[1] % CHANNEL_MULTIPLE);
        // the 8-bit input: zero-point values along the channel axis, which dequantize to 0
        long[] pads = new long[2 * dims.length];
        pads[dims.length + 1] = extra;
        String padsName = graph.uniqueName(conv.name() + "_channel_pads");
        graph.putInitializer(Tensor.int64s(padsName, new long[] {pads.length}, pads));
        List<String> padInputs = new ArrayList<>(List.of(dequantize.input(0), padsName));
        if (dequantize.inputs().size() > 2) {
            padInputs.add(dequantize.input(2));
        }
        String paddedInput = graph.uniqueName(dequantize.input(0) + "_channels_padded");
        Node pad = Node.of("Pad", graph.uniqueName(conv.name() + "_channel_pad"), padInputs, List.of(paddedInput));
        List<String> dequantizeInputs = new ArrayList<>(dequantize.inputs());
        dequantizeInputs.set(0, paddedInput);
        String dequantized = graph.uniqueName(paddedInput + "_dequantized");
        Node padDequantize = Node.of("DequantizeLinear", graph.uniqueName(dequantize.name() + "_channels_padded"),
                dequantizeInputs, List.of(dequantized));
        dequantize.attributes().forEach(padDequantize::set);
        conv.setInput(0, dequantized);
        graph.putInitializer(widened(weight, (int) (dims[1] + extra), m -> 0));
        return List.of(pad, padDequantize);
    }

    /** The grouped weight [M, C/g, k...] as a dense one [M, C, k...] that is zero outside each group's block. */
    private static Tensor blockDiagonal(Tensor weight, int groups) {
        long perGroup = weight.dim(0) / groups;
        long channels = weight.dim(1);
        return widened(weight, (int) (channels * groups), m -> (int) (m / perGroup * channels));
    }

    /**
     * {@code weight} [M, c, k...] with c made {@code channels}: filter m's c channels at channel {@code first(m)},
     * zeros elsewhere.
     */
    private static Tensor widened(Tensor weight, int channels, IntUnaryOperator first) {
        long[] dims = weight.dims();
        int kernel = (int) (weight.elementCount() / (dims[0] * dims[1]));
        int filter = (int) dims[1] * kernel;
        byte[] values = weight.bytes();
        byte[] wider = new byte[(int) dims[0] * channels * kernel];
        for (int m = 0; m < dims[0]; m++) {
            System.arraycopy(values, m * filter, wider, (m * channels + first.applyAsInt(m)) * kernel, filter);
        }
        long[] widerDims = dims.clone();
        widerDims[1] = channels;
        return Tensor.int8s(weight.name(), widerDims, wider);
    }
}
