package dev.compress.graph;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Ranks of a graph's tensors, carried forward from the graph inputs, initializers and recorded shapes through the
 * ops whose output rank follows from their inputs' ranks and attributes, without ONNX Runtime: models before opset 7
 * (whose Add-6 or BatchNormalization-6 it has no kernel for) need ranks to convert their legacy broadcasting, and
 * graph rewrites need them to shape the weights they write.
 */
public final class RankPropagation {
    /** Outputs of the rank of the first input. */
    private static final Set<String> SAME_AS_FIRST = Set.of("Abs", "AveragePool", "BatchNormalization", "Cast",
            "Ceil", "Clip", "Concat", "Conv", "ConvTranspose", "Dropout", "Elu", "Exp", "Floor", "GlobalAveragePool",
            "GlobalLpPool", "GlobalMaxPool", "HardSigmoid", "Hardmax", "Identity", "InstanceNormalization",
            "LRN", "LeakyRelu", "Log", "LogSoftmax", "LpNormalization", "LpPool", "MaxPool", "Neg", "Not", "PRelu",
            "Pad", "Reciprocal", "Relu", "Selu", "Sigmoid", "Softmax", "Softplus", "Softsign", "Split", "Sqrt",
            "Tanh", "ThresholdedRelu", "Tile", "Transpose", "Upsample");
    /** Binary ops that broadcast B onto A before opset 7 (their output has A's rank then). */
    private static final Set<String> LEGACY_BROADCAST = Set.of("Add", "Sub", "Mul", "Div", "Pow", "And", "Or",
            "Xor", "Equal", "Greater", "Less");
    private static final Set<String> VARIADIC = Set.of("Sum", "Max", "Min", "Mean");

    private RankPropagation() {}

    /** The ranks this finds, by tensor name (the main graph of {@code graph} only). */
    public static Map<String, Integer> ranks(Graph graph) {
        Map<String, Integer> ranks = new HashMap<>();
        graph.initializers().forEach((name, tensor) -> ranks.put(name, tensor.rank()));
        graph.inputs().forEach(input -> recorded(input, ranks));
        graph.valueInfos().forEach(info -> recorded(info, ranks));
        for (Node node : graph.nodes()) {
            Integer rank = rank(graph, node, ranks);
            if (rank != null) {
                node.outputs().stream().filter(out -> !out.isEmpty()).forEach(out -> ranks.putIfAbsent(out, rank));
            }
        }
        return ranks;
    }

    private static void recorded(ValueInfo info, Map<String, Integer> ranks) {
        if (info.isTensor()) {
            info.shape().ifPresent(shape -> ranks.put(info.name(), shape.size()));
        }
    }

    /** How many axes an {@code axes} attribute (older opsets) or constant second input lists, or null. */
    private static Integer axesCount(Graph graph, Node node) {
        long[] axes = node.attribute("axes").map(Attribute::ints).orElse(null);
        if (axes != null) {
            return axes.length;
        }
        return node.inputs().size() < 2 || node.input(1).isEmpty() ? null
                : graph.initializer(node.input(1)).map(t -> (int) t.elementCount()).orElse(null);
    }

    /** The rank of {@code node}'s outputs, or null when it does not follow here. */
    private static Integer rank(Graph graph, Node node, Map<String, Integer> ranks) {
        if (!node.inDefaultDomain() || node.inputs().isEmpty() && !node.is("Constant")) {
            return null;
        }
        String op = node.opType();
        Integer first = node.inputs().isEmpty() ? null : ranks.get(node.input(0));
        if (op.equals("Constant")) {
            return node.attribute("value").filter(Attribute::hasTensor).map(a -> a.tensor().rank()).orElse(null);
        }
        if (SAME_AS_FIRST.contains(op)) {
            return first;
        }
        if (LEGACY_BROADCAST.contains(op) || VARIADIC.contains(op)) {
            if (node.intAttribute("broadcast", 0) != 0) {
                return first;
            }
            Integer max = null;
            for (String input : node.inputs()) {
                Integer r = ranks.get(input);
                if (r == null) {
                    return null;
                }
                max = max == null ? r : Math.max(max, r);
            }
            return max;
        }
        switch (op) {
            case "Gemm", "Flatten" -> {
                return 2;
            }
            case "Shape" -> {
                return 1;
            }
            case "MatMul" -> {
                Integer second = ranks.get(node.input(1));
                return first != null && second != null && first >= 2 && second >= 2 ? Math.max(first, second) : null;
            }
            case "Reshape" -> {
                long[] shape = node.attribute("shape").map(Attribute::ints).orElse(null); // before opset 5
                if (shape != null) {
                    return shape.length;
                }
                return node.inputs().size() < 2 ? null
                        : graph.initializer(node.input(1)).map(t -> (int) t.elementCount()).orElse(null);
            }
            case "Squeeze", "Unsqueeze" -> {
                Integer axes = axesCount(graph, node);
                if (first == null || axes == null) {
                    return null;
                }
                return op.equals("Squeeze") ? first - axes : first + axes;
            }
            case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare" -> {
                if (first == null || node.intAttribute("keepdims", 1) != 0) {
                    return first;
                }
                Integer axes = axesCount(graph, node);
                boolean all = axes == null && (node.inputs().size() < 2 || node.input(1).isEmpty());
                return all ? Integer.valueOf(0) : axes == null ? null : first - axes;
            }
            case "Gather" -> {
                Integer indices = ranks.get(node.input(1));
                return first == null || indices == null ? null : first - 1 + indices;
            }
            default -> {
                return null;
            }
        }
    }
}
