package dev.compress.quantize;

import dev.compress.graph.Attribute;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Applies a {@link QuantizationPlan}: inserts QuantizeLinear/DequantizeLinear pairs on activations, replaces float
 * weights with int8 per-channel weights behind a DequantizeLinear, and biases with int32 ones.
 */
final class QdqRewriter {
    private final Graph graph;
    private final QuantizationPlan plan;
    private final Map<String, QuantParams> params;
    private final boolean perChannel;
    private final List<Node> rewritten = new ArrayList<>();
    /** Activation tensor -> its dequantized replacement. */
    private final Map<String, String> dequantized = new HashMap<>();
    private final Map<String, String> quantizedWeights = new HashMap<>();
    private final Map<String, float[]> weightScales = new HashMap<>();
    /** Activation tensor -> its QuantizeLinear output. */
    private final Map<String, String> quantizedActivations = new HashMap<>();
    /** Scalar constant -> its exact 8-bit form, dequantized. */
    private final Map<String, String> dequantizedConstants = new HashMap<>();
    /** Activation tensor and axis -> a per-axis DequantizeLinear output for float Conv/Gemm (see below). */
    private final Map<String, String> perAxisDequantized = new HashMap<>();

    private QdqRewriter(Graph graph, QuantizationPlan plan, Map<String, QuantParams> params, boolean perChannel) {
        this.graph = graph;
        this.plan = plan;
        this.params = params;
        this.perChannel = perChannel;
    }

    /**
     * Rewrites {@code graph} in place.
     *
     * @param params scale and zero point of every activation in the plan
     * @param perChannel false for opsets before 13, whose DequantizeLinear has no axis
     */
    static void rewrite(Graph graph, QuantizationPlan plan, Map<String, QuantParams> params, boolean perChannel) {
        new QdqRewriter(graph, plan, params, perChannel).run();
    }

    private void run() {
        for (String tensor : plan.activations) {
            dequantized.put(tensor, graph.uniqueName(tensor + "_dequantized"));
        }
        for (ValueInfo input : graph.declaredInputs()) {
            if (plan.activations.contains(input.name())) {
                emitQdq(input.name());
            }
        }
        Set<String> replacedInitializers = new HashSet<>();
        Set<Node> quantizedNodes = new HashSet<>(plan.quantizedNodes);
        for (Node node : graph.nodes()) {
            if (!node.outputs().isEmpty() && plan.scaled.containsKey(node.output(0))) {
                emitScaledDequantizer(node.output(0));
                replacedInitializers.addAll(node.inputs()); // the factor; the source is read by its Q
                continue;
            }
            // decided on the node as the plan saw it, then written into it (it stays the plan's node)
            List<String> inputs = new ArrayList<>(node.inputs());
            for (int i = 0; i < inputs.size(); i++) {
                String replacement = dequantized.get(inputs.get(i));
                if (replacement != null && i == 0 && keepsFloatWeight(node)) {
                    replacement = perAxisDequantized(node);
                }
                if (replacement != null && node.is("Shape")) {
                    // a shape needs no values: read the 8-bit tensor, or ONNX Runtime dequantizes all of it for
                    // nothing (shufflenet's channel shuffles read 73 shapes)
                    replacement = quantizedActivations.get(inputs.get(i));
                }
                if (replacement == null && plan.constants.contains(inputs.get(i)) && quantizedNodes.contains(node)) {
                    replacement = dequantizedConstant(inputs.get(i), params.get(node.input(1 - i)).type());
                    replacedInitializers.add(inputs.get(i));
                }
                if (replacement != null) {
                    inputs.set(i, replacement);
                }
            }
            if (plan.weightedNodes.contains(node)) {
                replacedInitializers.add(node.input(1));
                inputs.set(1, quantizeWeight(node));
                String bias = node.input(2);
                if (!bias.isEmpty() && canQuantizeBias(node)) {
                    replacedInitializers.add(bias);
                    inputs.set(2, quantizeBias(node));
                }
            }
            node.inputs().clear();
            node.inputs().addAll(inputs);
            rewritten.add(node);
            for (String output : node.outputs()) {
                if (plan.activations.contains(output)) {
                    emitQdq(output);
                }
            }
        }
        graph.nodes().clear();
        graph.nodes().addAll(rewritten);
        removeUnusedDequantizers();
        graph.removeUnreadInitializers(replacedInitializers);
    }

    /** Drops an activation's DequantizeLinear that nothing reads (only per-axis ones, see below, or Shapes). */
    private void removeUnusedDequantizers() {
        Graph.Index index = graph.index();
        Set<String> unused = new HashSet<>();
        for (String output : dequantized.values()) {
            if (index.consumers(output).isEmpty()) {
                unused.add(output);
            }
        }
        graph.outputs().forEach(o -> unused.remove(o.name()));
        graph.nodes().removeIf(n -> n.opType().equals("DequantizeLinear") && unused.contains(n.output(0)));
    }

    private void emitQdq(String tensor) {
        QuantParams p = params.get(tensor);
        String scale = graph.uniqueName(tensor + "_scale");
        String zeroPoint = graph.uniqueName(tensor + "_zero_point");
        graph.putInitializer(Tensor.floats(scale, new long[0], new float[] {p.scale()}));
        putZeroPoint(zeroPoint, new long[0], p);
        String quantized = graph.uniqueName(tensor + "_quantized");
        quantizedActivations.put(tensor, quantized);
        rewritten.add(Node.of("QuantizeLinear", graph.uniqueName(tensor + "_QuantizeLinear"),
                List.of(tensor, scale, zeroPoint), List.of(quantized)));
        rewritten.add(Node.of("DequantizeLinear", graph.uniqueName(tensor + "_DequantizeLinear"),
                List.of(quantized, scale, zeroPoint), List.of(dequantized.get(tensor))));
    }

    /**
     * The output of a dropped Mul or Div by a positive constant: its input's 8-bit tensor, dequantized with the scale
     * times the factor (exact, see {@link QuantizationPlan#scaled}).
     */
    private void emitScaledDequantizer(String tensor) {
        QuantizationPlan.Scaled scaled = plan.scaled.get(tensor);
        QuantParams p = params.get(tensor);
        String scale = graph.uniqueName(tensor + "_scale");
        String zeroPoint = graph.uniqueName(tensor + "_zero_point");
        graph.putInitializer(Tensor.floats(scale, new long[0], new float[] {p.scale()}));
        putZeroPoint(zeroPoint, new long[0], p);
        String quantized = quantizedActivations.get(scaled.source());
        quantizedActivations.put(tensor, quantized);
        rewritten.add(Node.of("DequantizeLinear", graph.uniqueName(tensor + "_DequantizeLinear"),
                List.of(quantized, scale, zeroPoint), List.of(dequantized.get(tensor))));
    }

    /**
     * A scalar constant of a quantized Add or Mul as an exact 8-bit value: the scale maps its magnitude to the
     * extreme code of {@code type}, so the integer kernel sees exactly the float constant.
     */
    private String dequantizedConstant(String name, ActivationType type) {
        String existing = dequantizedConstants.get(name);
        if (existing != null) {
            return existing;
        }
        float value = graph.initializer(name).orElseThrow().floats()[0];
        boolean uint8 = type == ActivationType.UINT8;
        int max = uint8 ? 255 : QuantParams.INT8_MAX;
        float scale = value == 0 ? 1f : Math.abs(value) / max;
        // uint8 holds a negative constant as code 0 below a zero point of 255
        int zeroPoint = uint8 && value < 0 ? 255 : 0;
        int code = value == 0 ? zeroPoint : uint8 ? (value > 0 ? 255 : 0) : (value > 0 ? max : -max);
        String quantized = graph.uniqueName(name + "_quantized");
        String scaleName = graph.uniqueName(name + "_scale");
        String zeroPointName = graph.uniqueName(name + "_zero_point");
        QuantParams p = new QuantParams(scale, zeroPoint, type);
        graph.putInitializer(Tensor.floats(scaleName, new long[0], new float[] {scale}));
        putZeroPoint(zeroPointName, new long[0], p);
        graph.putInitializer(uint8
                ? Tensor.uint8s(quantized, new long[0], new byte[] {(byte) code})
                : Tensor.int8s(quantized, new long[0], new byte[] {(byte) code}));
        String output = graph.uniqueName(name + "_dequantized");
        rewritten.add(Node.of("DequantizeLinear", graph.uniqueName(name + "_DequantizeLinear"),
                List.of(quantized, scaleName, zeroPointName), List.of(output)));
        dequantizedConstants.put(name, output);
        return output;
    }

    private void putZeroPoint(String name, long[] dims, QuantParams p) {
        byte[] zp = new byte[dims.length == 0 ? 1 : (int) dims[0]];
        Arrays.fill(zp, (byte) p.zeroPoint());
        graph.putInitializer(p.type() == ActivationType.UINT8
                ? Tensor.uint8s(name, dims, zp) : Tensor.int8s(name, dims, zp));
    }

    /**
     * Whether {@code node} is a Conv, ConvTranspose or Gemm left in float (excluded, or its op type not selected)
     * whose float weight is an initializer. ONNX Runtime (1.20 and later, optimization level BASIC and up: its
     * WeightBiasQuantization pass) quantizes such a weight itself, per tensor, when the input comes from a
     * DequantizeLinear with a scalar scale, undoing the exclusion with a coarser weight than ours (docs/scoring.md).
     */
    private boolean keepsFloatWeight(Node node) {
        String op = node.opType();
        if (!perChannel || plan.weightedNodes.contains(node)
                || !(op.equals("Conv") || op.equals("ConvTranspose") || op.equals("Gemm"))) {
            return false;
        }
        Tensor weight = graph.initializer(node.input(1)).orElse(null);
        return weight != null && weight.isFloat() && weight.rank() >= 2;
    }

    /**
     * A DequantizeLinear of {@code node}'s input 0 with the per-tensor scale and zero point repeated along the
     * input's channel axis: the same values, but not the scalar-scale pattern ONNX Runtime's WeightBiasQuantization
     * looks for, so the node really runs with its float weight.
     */
    private String perAxisDequantized(Node node) {
        Tensor weight = graph.initializer(node.input(1)).orElseThrow();
        String op = node.opType();
        int axis = op.equals("Gemm") && node.intAttribute("transA", 0) == 1 ? 0 : 1;
        long channels = switch (op) {
            case "Conv" -> weight.dim(1) * node.intAttribute("group", 1);
            case "ConvTranspose" -> weight.dim(0);
            default -> weight.dim(node.intAttribute("transB", 0) == 1 ? 1 : 0); // Gemm: K
        };
        String tensor = node.input(0);
        String key = tensor + "@" + axis + "x" + channels;
        String existing = perAxisDequantized.get(key);
        if (existing != null) {
            return existing;
        }
        QuantParams p = params.get(tensor);
        int n = (int) channels;
        float[] scales = new float[n];
        Arrays.fill(scales, p.scale());
        String scale = graph.uniqueName(tensor + "_axis_scale");
        String zeroPoint = graph.uniqueName(tensor + "_axis_zero_point");
        long[] dims = {n};
        graph.putInitializer(Tensor.floats(scale, dims, scales));
        putZeroPoint(zeroPoint, dims, p);
        String output = graph.uniqueName(tensor + "_dequantized_axis");
        rewritten.add(Node.of("DequantizeLinear", graph.uniqueName(tensor + "_DequantizeLinear_axis"),
                        List.of(quantizedActivations.get(tensor), scale, zeroPoint), List.of(output))
                .set(Attribute.of("axis", axis)));
        perAxisDequantized.put(key, output);
        return output;
    }

    private int channelAxis(Node node) {
        return channelAxis(node, perChannel);
    }

    /** Output-channel axis of the weight, or -1 to quantize it per tensor. */
    static int channelAxis(Node node, boolean perChannel) {
        if (!perChannel) {
            return -1;
        }
        return switch (node.opType()) {
            case "Conv" -> 0;
            // ConvTranspose weights are [C_in, C_out/group, ...]: per output channel only without groups
            case "ConvTranspose" -> node.intAttribute("group", 1) == 1 ? 1 : -1;
            case "Gemm" -> node.intAttribute("transB", 0) == 1 ? 0 : 1;
            default -> 1; // MatMul: [K, N]
        };
    }

    private String quantizeWeight(Node node) {
        String name = node.input(1);
        int axis = channelAxis(node);
        String key = name + "@" + axis;
        String existing = quantizedWeights.get(key);
        if (existing != null) {
            return existing;
        }
        Tensor weight = graph.initializer(name).orElseThrow();
        long[] dims = weight.dims();
        QuantizedWeight q = QuantizedWeight.of(weight, axis);
        float[] scales = q.scales();
        byte[] quantized = q.codes();
        int channels = scales.length;
        long[] paramDims = axis < 0 ? new long[0] : new long[] {channels};
        String quantizedName = graph.uniqueName(name + "_quantized");
        String scaleName = graph.uniqueName(name + "_scale");
        String zeroPointName = graph.uniqueName(name + "_zero_point");
        graph.putInitializer(Tensor.int8s(quantizedName, dims, quantized));
        graph.putInitializer(Tensor.floats(scaleName, paramDims, scales));
        graph.putInitializer(Tensor.int8s(zeroPointName, paramDims, new byte[channels]));
        String output = graph.uniqueName(name + "_dequantized");
        Node dq = Node.of("DequantizeLinear", graph.uniqueName(name + "_DequantizeLinear"),
                List.of(quantizedName, scaleName, zeroPointName), List.of(output));
        if (axis >= 0) {
            dq.set(Attribute.of("axis", axis));
        }
        rewritten.add(dq);
        quantizedWeights.put(key, output);
        weightScales.put(output, scales);
        return output;
    }

    /** A bias is stored as int32 when it is one value per output channel and the input is quantized. */
    private boolean canQuantizeBias(Node node) {
        Tensor bias = graph.initializer(node.input(2)).orElse(null);
        if (bias == null || !bias.isFloat() || bias.rank() != 1
                || !plan.activations.contains(node.input(0))) {
            return false;
        }
        Tensor weight = graph.initializer(node.input(1)).orElseThrow();
        int axis = channelAxis(node);
        long channels = switch (node.opType()) {
            case "ConvTranspose" -> weight.dim(1) * node.intAttribute("group", 1);
            case "Gemm" -> weight.dim(node.intAttribute("transB", 0) == 1 ? 0 : 1);
            default -> weight.dim(0);
        };
        return bias.dim(0) == channels && (axis < 0 || weight.dim(axis) == channels);
    }

    private String quantizeBias(Node node) {
        Tensor bias = graph.initializer(node.input(2)).orElseThrow();
        float[] values = bias.floats();
        float inputScale = params.get(node.input(0)).scale();
        float[] weightScale = weightScales.get(quantizedWeights.get(node.input(1) + "@" + channelAxis(node)));
        boolean perAxis = weightScale.length > 1;
        float[] scales = new float[perAxis ? values.length : 1];
        int[] quantized = new int[values.length];
        for (int c = 0; c < values.length; c++) {
            float scale = inputScale * weightScale[perAxis ? c : 0];
            scales[perAxis ? c : 0] = scale;
            quantized[c] = QuantParams.quantizeBias(values[c], scale);
        }
        String name = bias.name();
        long[] paramDims = perAxis ? new long[] {values.length} : new long[0];
        String quantizedName = graph.uniqueName(name + "_quantized");
        String scaleName = graph.uniqueName(name + "_scale");
        String zeroPointName = graph.uniqueName(name + "_zero_point");
        graph.putInitializer(Tensor.int32s(quantizedName, new long[] {values.length}, quantized));
        graph.putInitializer(Tensor.floats(scaleName, paramDims, scales));
        graph.putInitializer(Tensor.int32s(zeroPointName, paramDims, new int[scales.length]));
        String output = graph.uniqueName(name + "_dequantized");
        Node dq = Node.of("DequantizeLinear", graph.uniqueName(name + "_DequantizeLinear"),
                List.of(quantizedName, scaleName, zeroPointName), List.of(output));
        if (perAxis) {
            dq.set(Attribute.of("axis", 0));
        }
        rewritten.add(dq);
        return output;
    }

    /**
     * A weight as it is stored: int8 codes in [-127, 127], symmetric, one scale per channel along {@code axis} (or
     * one for all when {@code axis} is -1).
     */
    record QuantizedWeight(byte[] codes, float[] scales, int inner) {
        static QuantizedWeight of(Tensor weight, int axis) {
            return of(weight, axis, QuantParams.INT8_MAX);
        }

        /** With codes in [-max, max] ({@code max} 64 for dynamic quantization's 7-bit weights). */
        static QuantizedWeight of(Tensor weight, int axis, int max) {
            long[] dims = weight.dims();
            float[] values = weight.floats();
            int channels = axis < 0 ? 1 : (int) dims[axis];
            int inner = 1; // elements between consecutive channel indices
            for (int d = axis + 1; d < dims.length && axis >= 0; d++) {
                inner *= (int) dims[d];
            }
            double[] absMax = new double[channels];
            for (int i = 0; i < values.length; i++) {
                int c = (i / inner) % channels;
                absMax[c] = Math.max(absMax[c], Math.abs(values[i]));
            }
            float[] scales = new float[channels];
            for (int c = 0; c < channels; c++) {
                scales[c] = QuantParams.weightScale(absMax[c], max);
            }
            byte[] quantized = new byte[values.length];
            for (int i = 0; i < values.length; i++) {
                quantized[i] = QuantParams.quantizeWeight(values[i], scales[(i / inner) % channels], max);
            }
            return new QuantizedWeight(quantized, scales, inner);
        }

        /** Element {@code i} as DequantizeLinear computes it. */
        float dequantized(int i) {
            return codes[i] * scales[(i / inner) % scales.length];
        }
    }
}
