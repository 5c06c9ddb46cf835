package dev.compress.quantize;

import dev.compress.calibrate.TensorRange;
import dev.compress.graph.Clamp;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Decides what a QDQ rewrite quantizes, on a graph whose Relu and Clip nodes were already folded
 * (see {@link #foldClamps}).
 *
 * <p>The placement follows what ONNX Runtime's QDQ fusions expect: every input and the output of Conv / Gemm /
 * MatMul / Add / Mul / Concat / pooling / Sigmoid get a QuantizeLinear-DequantizeLinear pair, so ONNX Runtime sees
 * {@code DQ -> op -> Q} and swaps in QLinearConv, QGemm, QLinearMatMul, QLinearAdd and friends. The op lists follow
 * ONNX Runtime 1.29's {@code qdq_selector_action_transformer.cc}: an op it has no integer kernel for (Clip, Erf,
 * LayerNorm pieces) would only be dequantized again. HardSigmoid is rewritten before planning
 * ({@link HardSigmoidDecomposition}). Graph outputs stay float (QGemm and MatMulIntegerToFloat can produce float
 * directly), which keeps logits exact to the last layer.
 */
final class QuantizationPlan {
    /** Ops with weights: weight quantized per output channel, activations per tensor. */
    static final Set<String> WEIGHTED_OPS = Set.of("Conv", "ConvTranspose", "Gemm", "MatMul");
    /** Elementwise ops with integer kernels in ONNX Runtime (QLinearAdd, QLinearMul). */
    static final Set<String> ELEMENTWISE_OPS = Set.of("Add", "Mul");
    /**
     * Ops on one quantized input with their own integer kernel (QLinearGlobalAveragePool, QLinearAveragePool,
     * QLinearSigmoid, QLinearLeakyRelu); the output gets its own calibrated range. ONNX Runtime also fuses Softmax,
     * not planned: 8-bit attention probabilities are a transformer accuracy question not measured yet.
     */
    static final Set<String> UNARY_OPS = Set.of("GlobalAveragePool", "AveragePool", "Sigmoid", "LeakyRelu");
    /** Concat of activations (QLinearConcat): every input is quantized, the output gets its own range. */
    static final Set<String> VARIADIC_OPS = Set.of("Concat");
    /**
     * Ops that only move or select values: the output keeps the input's scale and zero point, which lets ONNX
     * Runtime drop the DQ/Q around them and run them on 8-bit data.
     */
    static final Set<String> PASS_THROUGH_OPS =
            Set.of("MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Gather");

    /** Multiplication or division of a quantized tensor by a positive constant: folded into a scale. */
    static final Set<String> SCALING_OPS = Set.of("Mul", "Div");

    /** Ops with subgraphs, whose bodies are left in float. */
    static final Set<String> CONTROL_FLOW_OPS = Set.of("If", "Loop", "Scan");

    /** Activation tensors to calibrate and quantize, in graph order. */
    final Set<String> activations = new LinkedHashSet<>();
    /** Pass-through outputs that reuse the parameters of another tensor (output -> input). */
    final Map<String, String> sharedParams = new LinkedHashMap<>();
    /**
     * Outputs of a Mul or Div by a positive constant of a quantized tensor: the node is dropped and the output is
     * its input's 8-bit tensor dequantized with the scale times the factor, which is exact.
     */
    final Map<String, Scaled> scaled = new LinkedHashMap<>();
    /**
     * Inputs of a quantized Concat that take its output's parameters (input -> Concat output): each is written by a
     * quantized op for the Concat alone, and with the same scale and zero point everywhere QLinearConcat only copies
     * bytes instead of requantizing every input (SqueezeNet's fire modules, ShuffleNet's blocks).
     */
    final Map<String, String> concatShared = new LinkedHashMap<>();
    /** Scalar constants read by quantized Add and Mul nodes, stored as exact 8-bit values. */
    final Set<String> constants = new LinkedHashSet<>();
    /** Nodes whose weight (input 1) is quantized per channel. */
    final Set<Node> weightedNodes = new LinkedHashSet<>();
    /** Nodes whose inputs are quantized, so ONNX Runtime can run them in integer arithmetic. */
    final List<Node> quantizedNodes = new ArrayList<>();
    /** Nodes left in float, with the reason. */
    final Map<Node, String> floatNodes = new LinkedHashMap<>();

    /**
     * Removes each Relu, each Clip with constant bounds around 0 (ReLU6 is Clip(0, 6)), and each Max or Min of a
     * one-value constant around 0 (tf2onnx writes Keras' {@code tf.maximum(x, -0.4)} so: openWakeWord's embedding
     * model has 19), that directly follows a weighted, elementwise or unary integer op, letting that op write its
     * output. Only for uint8 asymmetric activations: their range is the calibrated range of the clamp's output
     * intersected with its bounds ({@link FoldedClamp#within}), widened to 0, so the codes 0 and 255 sit at or inside
     * the bounds and QuantizeLinear's saturation computes the clamp; ONNX Runtime then fuses one integer kernel
     * instead of leaving a float clamp between two Q/DQ pairs. A symmetric range ([-t, t], int8 or uint8) saturates
     * at -t, not at a lower bound of 0, so nothing is folded there, nor a clamp whose bounds exclude 0 (the range
     * always holds 0).
     *
     * <p>The clamp only exists where the output gets a QuantizeLinear with those bounds: call {@link #restoreClamps}
     * once the parameters are known, to put back the ones it does not make exact.
     *
     * @return the removed nodes, their bounds and the tensor their producer wrote before
     */
    static List<FoldedClamp> foldClamps(Graph graph, Function<Node, String> excluded) {
        List<FoldedClamp> folded = new ArrayList<>();
        Set<String> graphOutputs = outputNames(graph);
        Graph.Index index = graph.index();
        List<Node> nodes = graph.nodes();
        Map<String, String> renamed = new LinkedHashMap<>();
        Set<Node> removed = new HashSet<>();
        for (Node node : nodes) {
            Clamp clamp = Clamp.of(graph, node).orElse(null);
            if (clamp == null || !(clamp.min() <= 0 && clamp.max() >= 0) || excluded.apply(node) != null) {
                continue;
            }
            String input = clamp.input();
            Node producer = index.producer(input).orElse(null);
            if (producer == null
                    || excluded.apply(producer) != null
                    || !(WEIGHTED_OPS.contains(producer.opType()) || ELEMENTWISE_OPS.contains(producer.opType())
                            || UNARY_OPS.contains(producer.opType()))
                    || producer.outputs().size() != 1
                    || index.consumers(input).size() != 1
                    || graphOutputs.contains(input)) {
                continue;
            }
            renamed.put(input, node.output(0));
            removed.add(node);
            folded.add(new FoldedClamp(node, input, clamp.min(), clamp.max()));
        }
        if (removed.isEmpty()) {
            return folded;
        }
        List<Node> rewritten = new ArrayList<>();
        for (Node node : nodes) {
            if (removed.contains(node)) {
                continue;
            }
            node.outputs().replaceAll(output -> renamed.getOrDefault(output, output));
            rewritten.add(node);
        }
        nodes.clear();
        nodes.addAll(rewritten);
        return folded;
    }

    /**
     * A Relu, Clip, Max or Min removed by {@link #foldClamps}; its producer now writes the node's output instead of
     * {@code input}, whose quantization must clamp to [{@code min}, {@code max}].
     */
    record FoldedClamp(Node node, String input, float min, float max) {
        String output() {
            return node.output(0);
        }

        /** {@code range} clamped to the bounds: calibration methods other than MinMax may reach beyond them. */
        TensorRange within(TensorRange range) {
            return new TensorRange(range.tensor(), range.method(), Math.max(min, Math.min(max, range.min())),
                    Math.max(min, Math.min(max, range.max())));
        }
    }

    /** The calibrated range of {@code range}'s tensor, within the bounds of the folded node that wrote it, if any. */
    static TensorRange withinFoldedBounds(List<FoldedClamp> folded, TensorRange range) {
        for (FoldedClamp fold : folded) {
            if (fold.output().equals(range.tensor())) {
                return fold.within(range);
            }
        }
        return range;
    }

    /**
     * Puts back the folded nodes whose output the plan does not quantize (its consumers stay float, or it is a graph
     * output), or quantizes with parameters that do not saturate at their bounds (e.g. a range calibrated as all
     * zeros gets scale 1): without that clamp the Relu or Clip would be lost.
     *
     * @return the names of the nodes that stay folded, for the report
     */
    List<String> restoreClamps(Graph graph, List<FoldedClamp> folded, Map<String, QuantParams> params) {
        List<String> kept = new ArrayList<>();
        Set<String> bounds = new HashSet<>();
        for (FoldedClamp fold : folded) {
            String output = fold.output();
            String reason;
            if (!activations.contains(output)) {
                reason = "its output is not quantized";
            } else if (!params.get(output).saturatesAt(fold.min(), fold.max())) {
                reason = "the quantization range of its output does not clamp at its bounds";
            } else {
                kept.add(fold.node().describe());
                fold.node().inputs().stream().filter(name -> !name.equals(fold.input())).forEach(bounds::add);
                continue;
            }
            List<Node> nodes = graph.nodes();
            for (int i = 0; i < nodes.size(); i++) {
                Node producer = nodes.get(i);
                int slot = producer.outputs().indexOf(output);
                if (slot < 0) {
                    continue;
                }
                producer.setOutput(slot, fold.input());
                nodes.add(i + 1, fold.node());
                floatNodes.put(fold.node(), fold.node().opType() + " kept: " + reason);
                break;
            }
        }
        // a bound that only folded clamps read would be left behind as an unused initializer
        Graph.Index index = graph.index();
        bounds.removeAll(outputNames(graph));
        graph.declaredInputs().forEach(input -> bounds.remove(input.name()));
        bounds.removeIf(name -> name.isEmpty() || !index.consumers(name).isEmpty());
        bounds.forEach(graph.initializers()::remove);
        return kept;
    }

    /**
     * Plans the rewrite.
     *
     * @param notFloat tensors ONNX Runtime reported as non-float, which the graph's own type records missed
     */
    static QuantizationPlan of(Graph graph, Set<String> excluded, Set<String> notFloat) {
        return of(graph, byName(excluded), Set.of(), notFloat, Map.of());
    }

    /** Excludes the nodes named in {@code names}, with the reason "excluded". */
    static Function<Node, String> byName(Set<String> names) {
        return node -> names.contains(node.name()) ? "excluded" : null;
    }

    /**
     * Plans the rewrite, keeping some tensors in float.
     *
     * @param excluded a node's reason to stay float as the caller asked, or null (see {@link #byName})
     * @param opTypes the op types to quantize; empty for all that can be
     * @param keepFloat tensors that must not be quantized, with the reason (e.g. an attention mask whose calibrated
     *     range, down to -3.4e38, leaves no resolution for anything else); nodes reading them stay float
     */
    static QuantizationPlan of(Graph graph, Function<Node, String> excluded, Set<String> opTypes,
            Set<String> notFloat, Map<String, String> keepFloat) {
        QuantizationPlan plan = new QuantizationPlan();
        Set<String> graphOutputs = outputNames(graph);
        Set<String> floatTensors = floatTensors(graph);
        floatTensors.removeAll(notFloat);
        Graph.Index index = graph.index();
        for (Node node : graph.nodes()) {
            String op = node.opType();
            String exclusion = excluded.apply(node);
            if (exclusion != null) {
                plan.floatNodes.put(node, exclusion);
                continue;
            }
            if (!opTypes.isEmpty() && !opTypes.contains(op)) {
                plan.floatNodes.put(node, "op type not selected");
                continue;
            }
            if (!node.domain().isEmpty() && !node.domain().equals("ai.onnx")) {
                plan.floatNodes.put(node, "custom domain " + node.domain());
                continue;
            }
            List<String> inputs = new ArrayList<>();
            boolean ok;
            boolean weighted = false;
            double scaling = 0;
            String constantInput = null;
            String reason = "op not quantized";
            if (WEIGHTED_OPS.contains(op)) {
                String weightProblem = weightProblem(graph, node);
                if (weightProblem == null) {
                    inputs.add(node.input(0));
                    weighted = true;
                    ok = true;
                } else if (op.equals("MatMul") && node.inputs().size() == 2
                        && !isInitializer(graph, node.input(1))) {
                    inputs.add(node.input(0));
                    inputs.add(node.input(1)); // activation x activation, e.g. attention scores
                    ok = true;
                } else {
                    ok = false;
                    reason = weightProblem;
                }
            } else if ((ELEMENTWISE_OPS.contains(op) || SCALING_OPS.contains(op)) && node.inputs().size() == 2
                    && !(isInitializer(graph, node.input(0)) && isInitializer(graph, node.input(1)))) {
                int constant = isInitializer(graph, node.input(0)) ? 0 : isInitializer(graph, node.input(1)) ? 1 : -1;
                if (constant < 0) {
                    // between float producers it would only add a quantize-dequantize round trip
                    ok = ELEMENTWISE_OPS.contains(op) && node.inputs().stream().anyMatch(plan.activations::contains);
                    inputs.addAll(node.inputs());
                    reason = ELEMENTWISE_OPS.contains(op) ? "no input is quantized" : "op not quantized";
                } else {
                    String activation = node.input(1 - constant);
                    inputs.add(activation);
                    double factor = scalingFactor(graph, node, constant);
                    if (factor > 0 && plan.activations.contains(activation)
                            && !index.consumers(node.output(0)).isEmpty()
                            && !keepFloat.containsKey(node.output(0))) {
                        scaling = factor;
                        ok = true;
                    } else {
                        boolean isScalar = scalar(graph, node.input(constant)) != null;
                        ok = ELEMENTWISE_OPS.contains(op) && isScalar && plan.activations.contains(activation);
                        reason = isScalar ? "input is not quantized" : "an input is a constant that is not a scalar";
                        if (ok) {
                            constantInput = node.input(constant);
                        }
                    }
                }
            } else if (VARIADIC_OPS.contains(op)) {
                ok = node.inputs().size() > 0
                        && node.inputs().stream().noneMatch(t -> t.isEmpty() || isInitializer(graph, t));
                inputs.addAll(node.inputs());
                reason = "an input is a constant";
            } else if (UNARY_OPS.contains(op) || PASS_THROUGH_OPS.contains(op)) {
                ok = plan.activations.contains(node.input(0));
                inputs.add(node.input(0));
                reason = "input is not quantized";
            } else {
                ok = false;
                if (CONTROL_FLOW_OPS.contains(op)) {
                    // ONNX Runtime returns no tensor of a subgraph, so nothing inside one can be calibrated
                    reason = "subgraph left in float: static calibration sees only the main graph's tensors"
                            + " (--dynamic quantizes the MatMul/Gemm weights inside subgraphs)";
                }
            }
            String kept = inputs.stream().filter(keepFloat::containsKey).findFirst().orElse(null);
            if (ok && kept != null) {
                ok = false;
                reason = "input " + kept + " " + keepFloat.get(kept);
            }
            // the first reason to give, whatever else the op lacks
            if (inputs.stream().anyMatch(t -> !floatTensors.contains(t))) {
                ok = false;
                reason = "input is not float";
            }
            String output = node.outputs().size() > 0 ? node.output(0) : "";
            boolean passThrough = PASS_THROUGH_OPS.contains(op);
            if (ok && (passThrough || scaling > 0) && graphOutputs.contains(output)) {
                ok = false;
                reason = "output is a graph output";
            }
            if (!ok) {
                plan.floatNodes.put(node, reason);
                continue;
            }
            plan.activations.addAll(inputs);
            plan.quantizedNodes.add(node);
            if (constantInput != null) {
                plan.constants.add(constantInput);
            }
            if (weighted) {
                plan.weightedNodes.add(node);
            }
            if (!graphOutputs.contains(output) && !index.consumers(output).isEmpty()
                    && !keepFloat.containsKey(output)) {
                plan.activations.add(output);
                if (passThrough) {
                    plan.sharedParams.put(output, node.input(0));
                } else if (scaling > 0) {
                    plan.scaled.put(output, new Scaled(inputs.get(0), (float) scaling));
                }
            }
        }
        Set<Node> quantized = new HashSet<>(plan.quantizedNodes);
        for (Node concat : plan.quantizedNodes) {
            String output = concat.outputs().isEmpty() ? "" : concat.output(0);
            if (!concat.is("Concat") || !plan.activations.contains(output) || plan.sharedParams.containsKey(output)) {
                continue;
            }
            for (String input : concat.inputs()) {
                Node producer = index.producer(input).orElse(null);
                if (producer != null && quantized.contains(producer) && ownParams(plan, input)
                        && index.consumers(input).size() == 1 && !graphOutputs.contains(input)) {
                    plan.concatShared.put(input, output);
                }
            }
        }
        // QGemm and MatMulIntegerToFloat write float themselves: where only float ops read the output, a Q -> DQ
        // pair would cost time and round the values for nothing (ConvNeXt's bias Adds and GELUs). So for attention
        // scores (activation x activation) read by a float Softmax: a Q -> DQ pair there makes ONNX Runtime fuse
        // QLinearSoftmax, 3.6x the float Softmax's time in a ViT (docs/benchmarks.md)
        for (Node node : plan.quantizedNodes) {
            String output = node.output(0);
            if ((node.is("MatMul") || node.is("Gemm"))
                    && index.consumers(output).stream().noneMatch(quantized::contains)) {
                plan.activations.remove(output);
            }
        }
        return plan;
    }

    /** Whether {@code output} is quantized with parameters from its own range. */
    private static boolean ownParams(QuantizationPlan plan, String output) {
        return plan.activations.contains(output) && !plan.sharedParams.containsKey(output) && !plan.scaled.containsKey(output)
                && !plan.concatShared.containsKey(output);
    }

    /** A tensor whose 8-bit form is that of {@code source} with the scale multiplied by {@code factor}. */
    record Scaled(String source, float factor) {}

    /**
     * The positive factor a Mul or Div multiplies its activation by, when {@code constant} is the index of a finite
     * scalar that makes it one (a divisor must be input 1); 0 otherwise.
     */
    private static double scalingFactor(Graph graph, Node node, int constant) {
        Float value = scalar(graph, node.input(constant));
        if (value == null || !(value > 0) || Float.isInfinite(value)) {
            return 0;
        }
        if (node.is("Mul")) {
            return value;
        }
        return node.is("Div") && constant == 1 ? 1.0 / value : 0;
    }

    /** The value of a float initializer holding one element, or null. */
    private static Float scalar(Graph graph, String name) {
        Tensor t = graph.initializer(name).orElse(null);
        return t != null && t.isFloat() && t.elementCount() == 1 ? t.floats()[0] : null;
    }

    /** Why {@code node}'s weight cannot be quantized per channel, or null if it can. */
    private static String weightProblem(Graph graph, Node node) {
        Tensor weight = graph.initializer(node.input(1)).orElse(null);
        if (weight == null) {
            return "weight is not an initializer";
        }
        if (!weight.isFloat()) {
            return "weight is " + weight.dataType()
                    + (weight.dataType() == DataType.FLOAT16
                    ? " (fp16 models are not quantized: convert to fp32 first)" : "");
        }
        int rank = weight.rank();
        boolean conv = node.opType().startsWith("Conv");
        if (conv ? rank < 3 : rank != 2) {
            return "weight has rank " + rank;
        }
        String bias = node.input(2);
        if (!bias.isEmpty() && graph.initializer(bias).isEmpty()) {
            return "bias is not an initializer";
        }
        return null;
    }

    private static boolean isInitializer(Graph graph, String tensor) {
        return graph.initializer(tensor).isPresent();
    }

    private static Set<String> outputNames(Graph graph) {
        Set<String> names = new HashSet<>();
        for (ValueInfo output : graph.outputs()) {
            names.add(output.name());
        }
        return names;
    }

    /**
     * Tensors known or assumed to be float: float graph inputs, float initializers, and node outputs (ONNX exporters
     * rarely record intermediate types; ops that make integers, like Shape, are excluded by name). The guess is
     * checked against ONNX Runtime's output types before calibration (see {@code Quantizer}).
     */
    private static Set<String> floatTensors(Graph graph) {
        Set<String> floats = new HashSet<>();
        for (ValueInfo input : graph.declaredInputs()) {
            if (input.elementType() == DataType.FLOAT) {
                floats.add(input.name());
            }
        }
        for (Tensor t : graph.initializers().values()) {
            if (t.isFloat()) {
                floats.add(t.name());
            }
        }
        Set<String> integerOps = Set.of("Shape", "Size", "ArgMax", "ArgMin", "NonZero", "TopK", "Cast",
                "ConstantOfShape", "Constant", "Equal", "Greater", "Less", "Not", "And", "Or");
        for (Node node : graph.nodes()) {
            if (!integerOps.contains(node.opType())) {
                floats.addAll(node.outputs());
            }
        }
        for (ValueInfo info : graph.valueInfos()) {
            if (info.elementType() != DataType.FLOAT) {
                floats.remove(info.name());
            } else {
                floats.add(info.name());
            }
        }
        return floats;
    }
}
