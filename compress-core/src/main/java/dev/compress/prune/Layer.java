package dev.compress.prune;

import dev.compress.graph.Nodes;
import dev.compress.graph.Tensors;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;

/**
 * A prunable layer: a Conv, Gemm or MatMul node whose weight is a float initializer read by this node alone.
 *
 * @param node the node
 * @param weight the weight initializer's name
 * @param dims the weight's shape
 * @param outAxis the weight axis of output channels / neurons (0 for Conv and Gemm with transB=1, 1 for MatMul and
 *     Gemm with transB=0)
 */
record Layer(NodeProto node, String weight, long[] dims, int outAxis) {
    String name() {
        return Nodes.describe(node);
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

    /** The layer of {@code node} if it is prunable: an op with a float initializer weight of the right rank. */
    static Layer of(NodeProto node, TensorProto weight) {
        if (weight == null || !Tensors.isFloat(weight)) {
            return null;
        }
        long[] dims = Tensors.dims(weight);
        return switch (node.getOpType()) {
            case "Conv" -> dims.length >= 3 ? new Layer(node, weight.getName(), dims, 0) : null;
            case "Gemm" -> dims.length == 2
                    ? new Layer(node, weight.getName(), dims, Nodes.intAttribute(node, "transB", 0) == 1 ? 0 : 1)
                    : null;
            case "MatMul" -> dims.length == 2 ? new Layer(node, weight.getName(), dims, 1) : null;
            default -> null;
        };
    }
}
