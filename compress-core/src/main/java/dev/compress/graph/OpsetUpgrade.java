package dev.compress.graph;

import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Moves an opset 11 or 12 model to opset 13, where DequantizeLinear has a per-channel {@code axis}. Only ops whose
 * meaning did not change between those opsets (new element types aside) are accepted; the four whose attributes
 * became inputs at 13 (Unsqueeze, Squeeze, ReduceSum axes; Split sizes) are rewritten. Anything else, subgraphs
 * included, leaves the model as it is, with the reason.
 */
public final class OpsetUpgrade {
    static final long TARGET = 13;
    /** Same meaning at opsets 11, 12 and 13 (checked against the ONNX operator changelog). */
    private static final Set<String> UNCHANGED = Set.of(
            "Abs", "Add", "And", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Clip", "Concat", "Constant",
            "ConstantOfShape", "Conv", "ConvTranspose", "Div", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor",
            "Gather", "GatherElements", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "Identity",
            "LeakyRelu", "Less", "Log", "MatMul", "Max", "MaxPool", "Min", "Mul", "Neg", "Not", "Or", "Pad", "Pow",
            "Range", "Reciprocal", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "Relu", "Reshape", "Shape",
            "Sigmoid", "Sign", "Slice", "Sqrt", "Sub", "Sum", "Tanh", "Tile", "Transpose", "Where");
    /** Attribute that became an int64 input at opset 13, by op. */
    private static final java.util.Map<String, String> ATTRIBUTE_TO_INPUT = java.util.Map.of(
            "Unsqueeze", "axes", "Squeeze", "axes", "ReduceSum", "axes", "Split", "split");

    private OpsetUpgrade() {}

    /**
     * Upgrades {@code model} in place to opset 13 if it is at 11 or 12 and every node allows it.
     *
     * @return empty when upgraded, else why not (the model is then unchanged)
     */
    public static Optional<String> to13(OnnxModel model, Map<String, Integer> ranks) {
        long opset = model.opset(OnnxModel.DEFAULT_DOMAIN);
        if (opset < 11 || opset >= TARGET) {
            return Optional.of("opset " + opset + " is not 11 or 12");
        }
        Graph graph = model.graph();
        for (NodeProto node : graph.nodes()) {
            Optional<String> problem = problem(node, ranks);
            if (problem.isPresent()) {
                return problem;
            }
        }
        List<NodeProto> rewritten = new ArrayList<>(graph.nodes().size());
        for (NodeProto node : graph.nodes()) {
            String attribute = isDefault(node) ? ATTRIBUTE_TO_INPUT.get(node.getOpType()) : null;
            AttributeProto values = attribute == null ? null : Nodes.attribute(node, attribute).orElse(null);
            if (values == null) {
                rewritten.add(node);
                continue;
            }
            String input = graph.uniqueName(node.getName().isEmpty() ? node.getOutput(0) + "_" + attribute
                    : node.getName() + "_" + attribute);
            long[] ints = values.getIntsList().stream().mapToLong(Long::longValue).toArray();
            graph.putInitializer(Tensors.int64s(input, new long[] {ints.length}, ints));
            NodeProto.Builder builder = node.toBuilder().clearAttribute();
            node.getAttributeList().stream().filter(a -> !a.getName().equals(attribute))
                    .forEach(builder::addAttribute);
            builder.addInput(input); // these ops have one input before 13; the former attribute becomes the second

            rewritten.add(builder.build());
        }
        graph.nodes().clear();
        graph.nodes().addAll(rewritten);
        model.setOpset(OnnxModel.DEFAULT_DOMAIN, TARGET);
        model.raiseIrVersion(7); // opset 13 needs IR version 7
        return Optional.empty();
    }

    private static boolean isDefault(NodeProto node) {
        return node.getDomain().isEmpty() || node.getDomain().equals("ai.onnx");
    }

    /** Tensors whose rank {@link #to13} needs: inputs of Softmax/LogSoftmax with an axis other than -1. */
    public static Set<String> tensorsNeedingRank(Graph graph) {
        Set<String> tensors = new java.util.LinkedHashSet<>();
        for (NodeProto node : graph.nodes()) {
            if (isDefault(node) && (node.getOpType().equals("Softmax") || node.getOpType().equals("LogSoftmax"))
                    && Nodes.intAttribute(node, "axis", 1) != -1) {
                tensors.add(node.getInput(0));
            }
        }
        return tensors;
    }

    private static Optional<String> problem(NodeProto node, Map<String, Integer> ranks) {
        if (!isDefault(node)) {
            return Optional.empty(); // other domains do not follow the default opset
        }
        String op = node.getOpType();
        for (AttributeProto attr : node.getAttributeList()) {
            if (attr.hasG() || attr.getGraphsCount() > 0) {
                return Optional.of(Nodes.describe(node) + " has a subgraph");
            }
        }
        if (op.equals("Softmax") || op.equals("LogSoftmax")) {
            // before 13 these flatten to 2-D from `axis` (default 1); only the last axis means the same at 13
            long axis = Nodes.intAttribute(node, "axis", 1);
            Integer rank = ranks.get(node.getInput(0));
            return axis == -1 || rank != null && axis == rank - 1 ? Optional.empty()
                    : Optional.of(Nodes.describe(node) + ": " + op + " over axis " + axis + " of a rank-"
                            + (rank == null ? "?" : rank) + " tensor changed meaning at opset 13");
        }
        if (UNCHANGED.contains(op) || ATTRIBUTE_TO_INPUT.containsKey(op)) {
            return Optional.empty();
        }
        return Optional.of(Nodes.describe(node) + ": " + op + " is not known to keep its meaning at opset 13");
    }
}
