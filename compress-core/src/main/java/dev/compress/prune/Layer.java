package dev.compress.prune;

import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;

/**
 * A prunable layer: a Conv, Gemm or MatMul node whose weight is a float initializer read by this node alone.
 *
 * @param node the node
 * @param weight the weight initializer's name
 * @param dims the weight's shape
 * @param outAxis the weight axis of output channels / neurons (0 for Conv and Gemm with transB=1, 1 for MatMul and
 *     Gemm with transB=0)
 * @param graph the graph holding the weight: the main graph, or an If/Loop/Scan body (or one enclosing the node's)
 */
record Layer(Node node, String weight, long[] dims, int outAxis, Graph graph) {
    String name() {
        return node.describe();
    }

    /** The weight axis of input channels / features: the other of the first two axes. */
    int inAxis() {
        return 1 - outAxis;
    }

    long elements() {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    /**
     * The layer of {@code node} if it is prunable: an op with a float initializer weight of the right rank, held by
     * {@code graph}.
     */
    static Layer of(Node node, Tensor weight, Graph graph) {
        if (weight == null || !weight.isFloat()) {
            return null;
        }
        long[] dims = weight.dims();
        return switch (node.opType()) {
            case "Conv" -> dims.length >= 3 ? new Layer(node, weight.name(), dims, 0, graph) : null;
            case "Gemm" -> dims.length == 2
                    ? new Layer(node, weight.name(), dims, node.intAttribute("transB", 0) == 1 ? 0 : 1, graph)
                    : null;
            case "MatMul" -> dims.length == 2 ? new Layer(node, weight.name(), dims, 1, graph) : null;
            default -> null;
        };
    }
}
