package dev.compress.quantize;

import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Gives a quantized Conv that reads a model input (an image model's stem, 3 channels) a multiple of 4 input channels:
 * a Pad appends zero-point channels to its 8-bit input and its int8 weights get zero filters for them, so it computes
 * exactly what it did.
 *
 * <p>Why: ONNX Runtime's x86 kernels for 8-bit Conv with symmetric int8 weights (MLAS ConvSym, for AVX2, AVX-VNNI and
 * AVX-512) take only input channel counts that are a multiple of 4; any other falls back to im2col and a GEMM of depth
 * 27, which ran the 3-channel stems of EfficientNet-B0, MobileNetV3 and RegNet at twice fp32's kernel time (about 260
 * against 136 µs at 224x224). Padded, the stem takes about 110 µs and the Pad about 20 (docs/benchmarks.md). On ARM64
 * the same kernels need 64 input channels, so there the stem does a third more multiply-adds for nothing.
 *
 * <p>Only Convs fed by a model input are padded: their input is small (a few channels), so the extra pass is cheap,
 * where padding a deep activation would cost a copy of it.
 */
final class InputChannelPadding {
    /** Channel count multiple the kernels take. */
    static final int MULTIPLE = 4;
    /** Pad takes its pads as an input from opset 11. */
    static final long MIN_OPSET = 11;

    private InputChannelPadding() {}

    /**
     * Pads the Convs of {@code graph}, after its QDQ rewrite, whose input is a DequantizeLinear of a QuantizeLinear of
     * a graph input and whose weight is an int8 initializer read by it alone; returns their names.
     */
    static List<String> apply(Graph graph) {
        Set<String> fed = graph.inputs().stream().map(input -> input.name()).collect(Collectors.toSet());
        Set<String> declared = graph.declaredInputs().stream().map(input -> input.name()).collect(Collectors.toSet());
        Graph.Index index = graph.index();
        List<Node> nodes = new ArrayList<>();
        List<String> padded = new ArrayList<>();
        Set<Node> replaced = new HashSet<>();
        for (Node node : graph.nodes()) {
            Optional<Tensor> weight = paddable(graph, index, node, fed, declared);
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

    /** The int8 weight of {@code conv} when it is one to pad. */
    private static Optional<Tensor> paddable(Graph graph, Graph.Index index, Node conv, Set<String> fed,
            Set<String> declared) {
        if (!conv.is("Conv") || !conv.inDefaultDomain() || conv.intAttribute("group", 1) != 1
                || conv.inputs().size() < 2) {
            return Optional.empty();
        }
        Optional<Node> quantize = dequantizer(index, conv.input(0)).flatMap(dq -> index.producer(dq.input(0)))
                .filter(q -> q.is("QuantizeLinear") && q.inDefaultDomain() && fed.contains(q.input(0)));
        Optional<Node> weightDequantizer = dequantizer(index, conv.input(1))
                .filter(dq -> index.value(dq.output(0)).consumers().size() == 1);
        if (quantize.isEmpty() || weightDequantizer.isEmpty()) {
            return Optional.empty();
        }
        String name = weightDequantizer.get().input(0);
        // a weight a caller can override, or one another node reads, stays as it is
        if (declared.contains(name) || index.value(name).consumers().size() != 1) {
            return Optional.empty();
        }
        return graph.initializer(name)
                .filter(w -> w.dataType() == DataType.INT8 && w.rank() >= 3 && w.dim(1) % MULTIPLE != 0);
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
        int extra = (int) (MULTIPLE - dims[1] % MULTIPLE);
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
        // zero filters for the new channels: [M, C, k...] -> [M, C + extra, k...]
        long kernel = weight.elementCount() / (dims[0] * dims[1]);
        byte[] values = weight.bytes();
        byte[] wider = new byte[(int) (dims[0] * (dims[1] + extra) * kernel)];
        int filter = (int) (dims[1] * kernel);
        for (int m = 0; m < dims[0]; m++) {
            System.arraycopy(values, m * filter, wider, (int) (m * (dims[1] + extra) * kernel), filter);
        }
        long[] widerDims = dims.clone();
        widerDims[1] += extra;
        graph.putInitializer(Tensor.int8s(weight.name(), widerDims, wider));
        return List.of(pad, padDequantize);
    }
}
