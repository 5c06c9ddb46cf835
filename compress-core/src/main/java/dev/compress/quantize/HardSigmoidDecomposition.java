package dev.compress.quantize;

import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Rewrites HardSigmoid, which ONNX Runtime has no integer kernel for, into ops a quantized model runs in 8 bits:
 * {@code HardSigmoid(x) = α · clip(x + β/α, 0, 1/α)}. The Add becomes QLinearAdd (or, after a Conv only it reads,
 * part of the Conv's bias), the Clip folds into the quantization range of the Add's output
 * ({@link QuantizationPlan#foldClamps}), and the positive factor α into the scale of the DequantizeLinear that
 * follows ({@link QuantizationPlan#scaled}). MobileNetV3's hard-swish, exported before opset 14 as
 * {@code x · HardSigmoid(x)}, and its squeeze-excite gates then stay integer; left float, every one of them was a
 * dequantize–HardSigmoid–quantize round trip over a whole feature map.
 *
 * <p>The float result is the same up to rounding. The first node of each rewrite keeps the HardSigmoid's name, so
 * {@code --exclude} by that name still keeps it float. Runs on every static quantization and calibration, so a
 * calibration table describes the graph quantize rewrites.
 */
final class HardSigmoidDecomposition {
    /** Clip takes its bounds as inputs from opset 11. */
    private static final long MIN_OPSET = 11;

    private HardSigmoidDecomposition() {}

    /** Whether {@link #rewrite} would change {@code graph}. */
    static boolean appliesTo(Graph graph, long opset) {
        return opset >= MIN_OPSET && graph.nodes().stream().anyMatch(HardSigmoidDecomposition::applies);
    }

    /** Rewrites every HardSigmoid of the default domain in {@code graph}; returns how many. */
    static int rewrite(Graph graph, long opset) {
        if (!appliesTo(graph, opset)) {
            return 0;
        }
        List<Node> rewritten = new ArrayList<>();
        int count = 0;
        for (Node node : graph.nodes()) {
            if (!applies(node)) {
                rewritten.add(node);
                continue;
            }
            float alpha = node.floatAttribute("alpha", 0.2f);
            float beta = node.floatAttribute("beta", 0.5f);
            float shift = beta / alpha;
            String name = node.name();
            String clipInput;
            String clipName = name;
            if (foldIntoBias(graph, node.input(0), shift)) {
                clipInput = node.input(0);
            } else {
                String constant = graph.uniqueName(name + "_shift");
                graph.putInitializer(Tensor.floats(constant, new long[0], new float[] {shift}));
                clipInput = graph.uniqueName(name + "_shifted");
                rewritten.add(Node.of("Add", name, List.of(node.input(0), constant), List.of(clipInput)));
                clipName = graph.uniqueName(name + "_clip");
            }
            String low = graph.uniqueName(name + "_min");
            String high = graph.uniqueName(name + "_max");
            graph.putInitializer(Tensor.floats(low, new long[0], new float[] {0f}));
            graph.putInitializer(Tensor.floats(high, new long[0], new float[] {1f / alpha}));
            String clipped = graph.uniqueName(name + "_clipped");
            rewritten.add(Node.of("Clip", clipName, List.of(clipInput, low, high), List.of(clipped)));
            String factor = graph.uniqueName(name + "_alpha");
            graph.putInitializer(Tensor.floats(factor, new long[0], new float[] {alpha}));
            rewritten.add(Node.of("Mul", graph.uniqueName(name + "_scale"), List.of(clipped, factor),
                    List.of(node.output(0))));
            count++;
        }
        graph.nodes().clear();
        graph.nodes().addAll(rewritten);
        return count;
    }

    private static boolean applies(Node node) {
        return node.is("HardSigmoid") && node.inDefaultDomain() && node.outputs().size() == 1
                && node.floatAttribute("alpha", 0.2f) > 0;
    }

    /**
     * Adds {@code shift} to the bias of the Conv that writes {@code value}, when nothing else reads {@code value}:
     * a squeeze-excite gate's Conv then computes {@code x + β/α} itself.
     */
    private static boolean foldIntoBias(Graph graph, String value, float shift) {
        Graph.Value v = graph.value(value);
        Node conv = v.producer().orElse(null);
        if (conv == null || !conv.is("Conv") || !conv.inDefaultDomain() || v.consumers().size() != 1
                || v.isGraphOutput()) {
            return false;
        }
        Tensor weight = graph.initializer(conv.input(1)).orElse(null);
        if (weight == null || !weight.isFloat() || weight.rank() < 3) {
            return false;
        }
        int channels = (int) weight.dim(0);
        float[] bias;
        String biasName = conv.input(2);
        if (biasName.isEmpty()) {
            bias = new float[channels];
        } else {
            Tensor existing = graph.initializer(biasName).orElse(null);
            if (existing == null || !existing.isFloat() || existing.elementCount() != channels) {
                return false;
            }
            bias = existing.floats();
        }
        for (int c = 0; c < channels; c++) {
            bias[c] += shift;
        }
        // a new initializer: the old bias may be shared with other Convs (deduplicated initializers)
        String shifted = graph.uniqueName(conv.name() + "_bias_shifted");
        graph.putInitializer(Tensor.floats(shifted, new long[] {channels}, bias));
        while (conv.inputs().size() < 3) {
            conv.inputs().add("");
        }
        conv.inputs().set(2, shifted);
        if (!biasName.isEmpty()) {
            graph.removeUnreadInitializers(List.of(biasName));
        }
        return true;
    }
}
