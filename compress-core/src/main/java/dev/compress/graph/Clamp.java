package dev.compress.graph;

import java.util.Optional;
import java.util.Set;

/**
 * A node that only clamps its {@code input} to [{@code min}, {@code max}] (a bound may be infinite): a Relu, a Clip
 * with constant bounds, or a Max or Min of the tensor and a one-value float constant (tf2onnx writes Keras'
 * {@code tf.maximum(x, -0.4)} so). Quantization folds such a node into the range of the op before it; the layer
 * ranking applies it where it compares that op's value before and after its quantize-dequantize pair.
 */
public record Clamp(String input, float min, float max) {
    /** Ops whose output has their first input's rank. */
    private static final Set<String> RANK_KEEPING_OPS =
            Set.of("Relu", "LeakyRelu", "Sigmoid", "Clip", "Max", "Min", "BatchNormalization", "MaxPool",
                    "AveragePool", "GlobalAveragePool");

    /**
     * What {@code node} (of the default domain) clamps, if it is such a node. Clip takes its bounds as inputs from
     * opset 11 and as attributes before; a missing bound is infinite. The constant of a Max or Min must not have more
     * dimensions than the tensor is known to have, else broadcasting would change the output's shape.
     */
    public static Optional<Clamp> of(Graph graph, Node node) {
        if (!node.inDefaultDomain() || node.outputs().size() != 1 || node.inputs().isEmpty()) {
            return Optional.empty();
        }
        switch (node.opType()) {
            case "Relu":
                return Optional.of(new Clamp(node.input(0), 0f, Float.POSITIVE_INFINITY));
            case "Clip":
                float[] bounds = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY};
                for (int i = 0; i < 2; i++) {
                    String name = i + 1 < node.inputs().size() ? node.input(i + 1) : "";
                    var attribute = node.attribute(i == 0 ? "min" : "max");
                    if (!name.isEmpty()) {
                        Tensor bound = constant(graph, name).orElse(null);
                        if (bound == null || !bound.isFloat() || bound.elementCount() != 1) {
                            return Optional.empty();
                        }
                        bounds[i] = bound.floats()[0];
                    } else if (attribute.isPresent()) {
                        bounds[i] = attribute.get().f();
                    }
                }
                return Optional.of(new Clamp(node.input(0), bounds[0], bounds[1]));
            case "Max", "Min":
                if (node.inputs().size() != 2) {
                    return Optional.empty();
                }
                for (int i = 0; i < 2; i++) {
                    Tensor bound = constant(graph, node.input(i)).orElse(null);
                    String input = node.input(1 - i);
                    if (bound == null || !bound.isFloat() || bound.elementCount() != 1
                            || constant(graph, input).isPresent()
                            || knownRank(graph, input, 8) < bound.rank()) {
                        continue;
                    }
                    float value = bound.floats()[0];
                    return Optional.of(node.is("Max") ? new Clamp(input, value, Float.POSITIVE_INFINITY)
                            : new Clamp(input, Float.NEGATIVE_INFINITY, value));
                }
                return Optional.empty();
            default:
                return Optional.empty();
        }
    }

    /**
     * The value of an initializer, or of a Constant node's output (torch writes Clip's bounds so; quantization
     * promotes them to initializers first, the layer ranking reads the model as exported).
     */
    private static Optional<Tensor> constant(Graph graph, String name) {
        Optional<Tensor> initializer = graph.initializer(name);
        return initializer.isPresent() ? initializer
                : graph.producer(name).filter(p -> p.is("Constant")).flatMap(Graph::constantValue);
    }

    /** {@code value} within the bounds. */
    public float apply(float value) {
        return Math.max(min, Math.min(max, value));
    }

    /**
     * The rank of {@code value} where the graph says it (a declared shape, a Conv or ConvTranspose with an
     * initializer weight, or an op in {@link #RANK_KEEPING_OPS} before one of those, up to {@code depth} ops back),
     * else -1. Exporters such as tf2onnx write no shapes for intermediate values.
     */
    private static int knownRank(Graph graph, String value, int depth) {
        var shape = graph.valueInfo(value).flatMap(ValueInfo::shape);
        if (shape.isPresent()) {
            return shape.get().size();
        }
        Node producer = graph.producer(value).orElse(null);
        if (producer == null || depth == 0 || !producer.inDefaultDomain()) {
            return -1;
        }
        if (producer.is("Conv") || producer.is("ConvTranspose")) {
            return graph.initializer(producer.input(1)).map(Tensor::rank).orElse(-1);
        }
        return RANK_KEEPING_OPS.contains(producer.opType()) ? knownRank(graph, producer.input(0), depth - 1) : -1;
    }
}
