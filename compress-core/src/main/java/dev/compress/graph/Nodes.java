package dev.compress.graph;

import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import java.util.List;
import java.util.Optional;

/** Building nodes and reading their attributes. */
public final class Nodes {
    private Nodes() {}

    /** A node in the default domain. */
    public static NodeProto.Builder node(String opType, String name, List<String> inputs, List<String> outputs) {
        return NodeProto.newBuilder().setOpType(opType).setName(name).addAllInput(inputs).addAllOutput(outputs);
    }

    public static AttributeProto intAttribute(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    public static Optional<AttributeProto> attribute(NodeProto node, String name) {
        for (AttributeProto attr : node.getAttributeList()) {
            if (attr.getName().equals(name)) {
                return Optional.of(attr);
            }
        }
        return Optional.empty();
    }

    public static long intAttribute(NodeProto node, String name, long fallback) {
        return attribute(node, name).map(AttributeProto::getI).orElse(fallback);
    }

    /** The node's input at {@code index}, or "" when absent (ONNX marks skipped optional inputs with ""). */
    public static String input(NodeProto node, int index) {
        return index < node.getInputCount() ? node.getInput(index) : "";
    }

    /** A name for messages: the node's name, or its op type and first output when unnamed. */
    public static String describe(NodeProto node) {
        String output = node.getOutputCount() > 0 ? node.getOutput(0) : "?";
        return node.getName().isEmpty() ? node.getOpType() + "(->" + output + ")" : node.getName();
    }
}
