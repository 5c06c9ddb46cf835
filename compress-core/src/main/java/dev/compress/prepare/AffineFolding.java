package dev.compress.prepare;

import dev.compress.graph.Attribute;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Folds a per-output-channel affine op into the layer that alone feeds it, in float32 arithmetic, as ONNX Runtime's
 * Conv-BN and Conv-Mul fusions do for float inference:
 * <ul>
 *   <li>an inference BatchNormalization after a Conv, ConvTranspose or Gemm: with {@code s = gamma / sqrt(var + eps)}
 *       per output channel, {@code W' = W * s} and {@code b' = (b - mean) * s + beta} (or {@code beta - mean * s}
 *       without a bias);
 *   <li>a Mul by a constant that varies at most along the output channels (ConvNeXt's layer scale
 *       {@code gamma[C, 1, 1]}, a scalar) after a Conv, ConvTranspose, Gemm or MatMul with a constant weight:
 *       {@code W' = W * s}, {@code b' = b * s};
 *   <li>then an Add of such a constant {@code t} after a Conv, ConvTranspose or Gemm: {@code b' = b + t}
 *       (PP-LCNetV3's learnable affine blocks, {@code s · conv(x) + t} with scalars, in PP-OCRv4 det and rec);
 *   <li>an Add of a constant varying at most along the input channels before a Conv that pads nothing
 *       ({@link #foldShift});
 *   <li>and a Mul by such a constant before a Conv ({@link #foldInputScale}).
 * </ul>
 * The last two also fold through one Transpose between them and the Conv (a LayerNorm's affine computed channels-last,
 * then transposed back, as the ConvNeXt-style fixture does before each pointwise Conv).
 * Why: once quantized, such a Mul sat between an 8-bit Conv output and the next 8-bit op as a DequantizeLinear, a
 * float Mul and a QuantizeLinear over the whole map (ONNX Runtime has no integer kernel for a Mul by a non-scalar
 * constant), and such an Add as a QLinearAdd; the ConvNeXt-style fixture's INT8 model at batch 32 went from 1.04 to
 * 0.94 of fp32 time without its layer scales.
 */
public final class AffineFolding {
    private static final Set<String> FOLDABLE_INTO = Set.of("Conv", "ConvTranspose", "Gemm");

    private AffineFolding() {}

    /** Folds the BatchNormalization nodes it can in {@code graph}; returns how many went. */
    static int batchNorms(Graph graph, List<PreparationReport.Left> left) {
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

    /**
     * Folds the Muls by, then the Adds of, a per-channel constant that directly follow a layer with a constant weight
     * (an Add only into a layer with a bias input: not MatMul), until none is left; returns how many went. One that
     * does not fit is not reported: most Muls and Adds are not such scales or shifts.
     */
    static int channelAffines(Graph graph) {
        int folded = 0;
        // a shift before a scale (conv(x) + t, then · s) folds on the second round
        for (int round = -1; round != 0; folded += round) {
            round = 0;
            for (String op : List.of("Mul", "Add")) {
                // one lookup index for the many Muls and Adds that are no such scale; taken again after each fold
                Graph.Index index = graph.index();
                for (Node node : List.copyOf(graph.nodes())) {
                    if (node.is(op) && node.inDefaultDomain() && node.inputs().size() == 2
                            && (foldAffine(graph, index, node) || node.is("Add") && foldShift(graph, index, node)
                                    || node.is("Mul") && foldInputScale(graph, index, node))) {
                        round++;
                        index = graph.index();
                    }
                }
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
                || (bias != null && !isBiasOf(graph.initializers().get(biasName), channels))) {
            return "the channel counts of " + layer.describe() + " and its parameters do not match";
        }
        float[][] affine = affine(bn, params, bias);
        rescale(graph, layer, channelOf, affine[0], affine[1], bn.output(0));
        graph.nodes().remove(bn);
        return null;
    }

    /**
     * The scale {@code s = gamma / sqrt(var + eps)} and shift {@code (b - mean)·s + beta} per channel that an
     * inference BatchNormalization applies after a layer with bias {@code b} (none: 0), in float32 as ONNX Runtime
     * folds it.
     *
     * @param params gamma, beta, mean, var
     */
    public static float[][] affine(Node bn, float[][] params, float[] bias) {
        float eps = bn.attribute("epsilon").map(Attribute::f).orElse(1e-5f);
        float[] gamma = params[0];
        float[] beta = params[1];
        float[] mean = params[2];
        float[] var = params[3];
        int channels = gamma.length;
        float[] scale = new float[channels];
        float[] shift = new float[channels];
        for (int c = 0; c < channels; c++) {
            scale[c] = gamma[c] / (float) Math.sqrt(var[c] + eps);
            shift[c] = bias == null ? beta[c] - mean[c] * scale[c] : (bias[c] - mean[c]) * scale[c] + beta[c];
        }
        return new float[][] {scale, shift};
    }

    /**
     * Folds {@code node} (a Mul or an Add) when one input is a float constant varying at most along the output channels
     * of the layer that alone writes the other. The cheap checks come first: most Muls and Adds fail them, and the
     * weights are only read for a fold.
     */
    private static boolean foldAffine(Graph graph, Graph.Index index, Node node) {
        int constant = floatConstant(graph, node.input(1)) != null ? 1
                : floatConstant(graph, node.input(0)) != null ? 0 : -1;
        if (constant < 0) {
            return false;
        }
        boolean scales = node.is("Mul");
        String x = node.input(1 - constant);
        Node layer = index.producer(x).orElse(null);
        if (layer == null || !layer.inDefaultDomain() || layer.outputs().size() != 1
                || !(FOLDABLE_INTO.contains(layer.opType())
                        || scales && layer.is("MatMul") && layer.inputs().size() == 2)
                || index.consumers(x).size() != 1 || index.value(x).isGraphOutput()) {
            return false;
        }
        Tensor weight = floatConstant(graph, layer.input(1));
        String biasName = layer.input(2);
        Tensor bias = biasName.isEmpty() ? null : floatConstant(graph, biasName);
        // an added constant goes into Gemm's C, which Gemm multiplies by beta
        if (weight == null || (!biasName.isEmpty() && bias == null)
                || !scales && layer.is("Gemm") && layer.attribute("beta").map(Attribute::f).orElse(1f) != 1f) {
            return false;
        }
        long[] dims = weight.dims();
        boolean conv = layer.opType().startsWith("Conv");
        int channels = (int) (conv ? (dims.length < 3 ? -1 : layer.is("Conv") ? dims[0]
                : dims[1] * layer.intAttribute("group", 1))
                : dims.length != 2 ? -1 : layer.is("Gemm") && layer.intAttribute("transB", 0) != 0 ? dims[0] : dims[1]);
        float[] perChannel = channels <= 0 || bias != null && !isBiasOf(bias, channels) ? null
                : perChannel(graph.initializers().get(node.input(constant)), channels,
                        conv ? dims.length : layer.is("Gemm") ? 2 : 1, conv ? dims.length - 2 : 0);
        int[] channelOf = perChannel == null ? null : channelIndex(layer, dims, channels);
        if (channelOf == null) {
            return false;
        }
        float[] oldBias = bias == null ? null : bias.floats();
        float[] newBias = oldBias == null && scales ? null : new float[channels];
        for (int c = 0; newBias != null && c < channels; c++) {
            float b = oldBias == null ? 0 : oldBias[c];
            newBias[c] = scales ? b * perChannel[c] : b + perChannel[c];
        }
        rescale(graph, layer, channelOf, scales ? perChannel : null, newBias, node.output(0));
        graph.nodes().remove(node);
        return true;
    }

    /**
     * Folds an Add of a float constant {@code t} varying at most along the channels into the bias of the Conv that
     * alone reads its output, when that Conv pads nothing: {@code conv(x + t) = conv(x) + sum W * t}, so
     * {@code b'[o] = b[o] + sum over the input channels c of o's group and the kernel of W[o, c, k] * t[c]}. With
     * padding the sum would differ at the borders, where the Conv reads zeros instead of t. PP-LCNetV3's learnable
     * affine blocks after each hard-swish ({@code s * hswish(x) + t}, then a pointwise Conv) in PP-OCRv4 det and rec:
     * the scale goes into a DequantizeLinear's scale when quantized, the shift was a QLinearAdd over the whole map.
     */
    private static boolean foldShift(Graph graph, Graph.Index index, Node add) {
        int constant = constantInput(graph, add);
        ConvReader reader = constant < 0 ? null : convReader(graph, index, add.output(0));
        if (reader == null || pads(reader.conv())) {
            return false;
        }
        Node conv = reader.conv();
        String biasName = conv.inputs().size() > 2 ? conv.input(2) : "";
        Tensor bias = biasName.isEmpty() ? null : floatConstant(graph, biasName);
        if (!biasName.isEmpty() && bias == null) {
            return false;
        }
        long[] dims = reader.weight().dims();
        int outputs = (int) dims[0];
        int perGroupIn = (int) dims[1];
        int group = (int) conv.intAttribute("group", 1);
        float[] shift = outputs % group != 0 || bias != null && !isBiasOf(bias, outputs) ? null
                : reader.perInputChannel(graph.initializers().get(add.input(constant)));
        if (shift == null) {
            return false;
        }
        Tensor weight = reader.weight();
        float[] w = weight.floats();
        int kernel = w.length / (outputs * perGroupIn);
        float[] newBias = new float[outputs];
        for (int o = 0; o < outputs; o++) {
            double sum = bias == null ? 0 : bias.floats()[o];
            int firstInput = o / (outputs / group) * perGroupIn;
            for (int c = 0; c < perGroupIn; c++) {
                for (int k = 0; k < kernel; k++) {
                    sum += (double) w[(o * perGroupIn + c) * kernel + k] * shift[firstInput + c];
                }
            }
            newBias[o] = (float) sum;
        }
        String newName = bias != null ? owned(graph, biasName) : graph.uniqueName(conv.output(0) + "_bias");
        graph.putInitializer(Tensor.floats(newName, new long[] {outputs}, newBias));
        if (conv.inputs().size() > 2) {
            conv.setInput(2, newName);
        } else {
            conv.inputs().add(newName);
        }
        reader.first().setInput(0, add.input(1 - constant));
        graph.nodes().remove(add);
        return true;
    }

    /**
     * Folds a Mul by a float constant {@code s} varying along the channels into the weight of the Conv that
     * alone reads its output: {@code conv(x * s) = conv'(x)} with {@code W'[o, c, k] = W[o, c, k] * s[c]} for input
     * channel c (of o's group). Exact with padding too: the Conv's zeros stay zeros. A LayerNorm's scale before a
     * pointwise Conv, which ONNX Runtime runs as a float Mul between a DequantizeLinear and a QuantizeLinear.
     */
    private static boolean foldInputScale(Graph graph, Graph.Index index, Node mul) {
        int constant = constantInput(graph, mul);
        // a scalar is left alone: quantized, it goes into a DequantizeLinear's scale anyway, and it may end a
        // pattern ONNX Runtime fuses (GELU's final * 0.5)
        ConvReader reader = constant < 0 || graph.initializers().get(mul.input(constant)).elementCount() < 2 ? null
                : convReader(graph, index, mul.output(0));
        if (reader == null) {
            return false;
        }
        Node conv = reader.conv();
        long[] dims = reader.weight().dims();
        int outputs = (int) dims[0];
        int perGroupIn = (int) dims[1];
        int group = (int) conv.intAttribute("group", 1);
        float[] scale = outputs % group != 0 ? null
                : reader.perInputChannel(graph.initializers().get(mul.input(constant)));
        if (scale == null) {
            return false;
        }
        float[] w = reader.weight().floats();
        int kernel = w.length / (outputs * perGroupIn);
        float[] scaled = new float[w.length];
        for (int o = 0; o < outputs; o++) {
            int firstInput = o / (outputs / group) * perGroupIn;
            for (int c = 0; c < perGroupIn; c++) {
                for (int k = 0; k < kernel; k++) {
                    int i = (o * perGroupIn + c) * kernel + k;
                    scaled[i] = w[i] * scale[firstInput + c];
                }
            }
        }
        String weightName = owned(graph, conv.input(1));
        graph.putInitializer(Tensor.floats(weightName, dims, scaled));
        conv.setInput(1, weightName);
        reader.first().setInput(0, mul.input(1 - constant));
        graph.nodes().remove(mul);
        return true;
    }

    /** Which input of {@code node} is a float constant (1 if both are), or -1. */
    private static int constantInput(Graph graph, Node node) {
        return floatConstant(graph, node.input(1)) != null ? 1 : floatConstant(graph, node.input(0)) != null ? 0 : -1;
    }

    /**
     * The Conv (with a float weight) that alone reads a value, directly or through a Transpose that only it reads.
     *
     * @param first the node that reads the value: the Transpose, or the Conv itself
     * @param channelAxis the axis of the value that becomes the Conv's input channel axis
     */
    private record ConvReader(Node first, Node conv, Tensor weight, int channelAxis) {
        /** A constant's value per input channel of the Conv, or null when it varies along another axis. */
        float[] perInputChannel(Tensor constant) {
            int rank = weight.rank();
            return perChannel(constant, (int) (weight.dim(1) * conv.intAttribute("group", 1)), rank,
                    rank - 1 - channelAxis);
        }
    }

    private static ConvReader convReader(Graph graph, Graph.Index index, String value) {
        List<Node> readers = index.value(value).isGraphOutput() ? List.of() : index.consumers(value);
        Node first = readers.size() == 1 ? readers.get(0) : null;
        if (first == null) {
            return null;
        }
        Node conv = first;
        String convInput = value;
        long[] perm = null;
        if (first.is("Transpose") && first.inDefaultDomain()) {
            convInput = first.output(0);
            List<Node> next = index.value(convInput).isGraphOutput() ? List.of() : index.consumers(convInput);
            if (next.size() != 1 || first.attribute("perm").isEmpty()) {
                return null;
            }
            conv = next.get(0);
            perm = first.attribute("perm").get().ints();
        }
        Tensor weight = conv.is("Conv") && conv.inDefaultDomain() && conv.inputs().size() >= 2
                && conv.input(0).equals(convInput) && !conv.input(1).equals(convInput)
                ? floatConstant(graph, conv.input(1)) : null;
        if (weight == null || weight.rank() < 3 || perm != null && perm.length != weight.rank()) {
            return null;
        }
        return new ConvReader(first, conv, weight, perm == null ? 1 : (int) perm[1]);
    }

    /** Whether {@code conv} reads anything beyond its input's borders (explicit pads, or SAME auto-padding). */
    private static boolean pads(Node conv) {
        String autoPad = conv.attribute("auto_pad").map(Attribute::s).orElse("NOTSET");
        boolean padded = conv.attribute("pads").map(a -> Arrays.stream(a.ints()).anyMatch(p -> p != 0)).orElse(false);
        return padded || !(autoPad.equals("NOTSET") || autoPad.equals("VALID"));
    }

    /**
     * The scale of each output channel that {@code scale} multiplies a layer output by, or null when it varies along
     * another axis or would broadcast the output to more dimensions. {@code maxRank} is the output rank where the
     * layer fixes it (Conv: that of its weight; Gemm: 2) or the least it can be (MatMul: 1); {@code fromEnd} is the
     * channel axis counted from the last (Conv: the spatial rank; Gemm and MatMul: 0).
     */
    private static float[] perChannel(Tensor scale, int channels, int maxRank, int fromEnd) {
        if (!perChannelShape(scale, channels, fromEnd) || scale.dims().length > maxRank) {
            return null;
        }
        float[] values = scale.floats();
        float[] perChannel = new float[channels];
        for (int c = 0; c < channels; c++) {
            perChannel[c] = values.length == 1 ? values[0] : values[c];
            if (!Float.isFinite(perChannel[c])) {
                return null;
            }
        }
        return perChannel;
    }

    /**
     * Whether {@code tensor} is 1 along every axis but, possibly, the one {@code fromEnd} axes before the last, which
     * then holds {@code channels}: it broadcasts along the output channels alone.
     */
    private static boolean perChannelShape(Tensor tensor, int channels, int fromEnd) {
        long[] dims = tensor.dims();
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] != 1 && !(dims.length - 1 - i == fromEnd && dims[i] == channels)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether {@code bias} holds one value per output channel along its last axis: a Gemm's C may also be a scalar or
     * vary along the rows ([C, 1]), which a per-channel fold would get wrong.
     */
    private static boolean isBiasOf(Tensor bias, int channels) {
        return bias.elementCount() == channels && perChannelShape(bias, channels, 0);
    }

    /**
     * Multiplies {@code layer}'s weight by {@code scale} per output channel (null: leaves it), gives it {@code bias}
     * (null: keeps having none) and makes it write {@code output}, the folded node's.
     */
    private static void rescale(Graph graph, Node layer, int[] channelOf, float[] scale, float[] bias, String output) {
        if (scale != null) {
            float[] weight = graph.initializers().get(layer.input(1)).floats();
            long[] dims = graph.initializers().get(layer.input(1)).dims();
            float[] newWeight = new float[weight.length];
            for (int i = 0; i < weight.length; i++) {
                newWeight[i] = weight[i] * scale[channelOf[i]];
            }
            String weightName = owned(graph, layer.input(1));
            graph.putInitializer(Tensor.floats(weightName, dims, newWeight));
            layer.setInput(1, weightName);
        }
        if (bias != null) {
            String biasName = layer.inputs().size() > 2 && !layer.input(2).isEmpty()
                    ? owned(graph, layer.input(2)) : graph.uniqueName(layer.output(0) + "_bias");
            graph.putInitializer(Tensor.floats(biasName, new long[] {bias.length}, bias));
            if (layer.inputs().size() > 2) {
                layer.setInput(2, biasName);
            } else {
                layer.inputs().add(biasName);
            }
        }
        layer.setOutput(0, output);
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
        Tensor tensor = floatConstant(graph, name);
        return tensor == null ? null : tensor.floats();
    }

    /** A float initializer that cannot be overridden at run time (not a graph input), or null; not decoded. */
    private static Tensor floatConstant(Graph graph, String name) {
        Tensor tensor = name.isEmpty() ? null : graph.initializers().get(name);
        return tensor == null || !tensor.isFloat() || GraphPreparation.isGraphInput(graph, name) ? null : tensor;
    }

    /** {@code name} when only the folded layer reads it, else a new name so other readers keep the old values. */
    private static String owned(Graph graph, String name) {
        return graph.consumers(name).size() == 1 ? name : graph.uniqueName(name + "_bn");
    }
}
