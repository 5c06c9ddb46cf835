package dev.compress.prepare;

import dev.compress.graph.Graph;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Pointing the readers of tensors at other tensors, in the main graph and in the If/Loop/Scan bodies under it. */
final class Uses {
    private Uses() {}

    /** Every read of a key of {@code renames} becomes a read of its value; graph outputs are left as they are. */
    static void rename(Graph graph, Map<String, String> renames) {
        if (renames.isEmpty()) {
            return;
        }
        List<NodeProto> nodes = graph.nodes();
        nodes.replaceAll(node -> rename(node, renames));
    }

    private static NodeProto rename(NodeProto node, Map<String, String> renames) {
        NodeProto.Builder builder = null;
        for (int i = 0; i < node.getInputCount(); i++) {
            String to = renames.get(node.getInput(i));
            if (to != null) {
                builder = builder == null ? node.toBuilder() : builder;
                builder.setInput(i, to);
            }
        }
        for (int a = 0; a < node.getAttributeCount(); a++) {
            AttributeProto attr = node.getAttribute(a);
            if (!attr.hasG() && attr.getGraphsCount() == 0) {
                continue;
            }
            AttributeProto.Builder renamed = attr.toBuilder();
            if (attr.hasG()) {
                renamed.setG(renameInBody(attr.getG(), renames));
            }
            for (int g = 0; g < attr.getGraphsCount(); g++) {
                renamed.setGraphs(g, renameInBody(attr.getGraphs(g), renames));
            }
            builder = builder == null ? node.toBuilder() : builder;
            builder.setAttribute(a, renamed);
        }
        return builder == null ? node : builder.build();
    }

    // A body reads outer tensors by name unless it defines the same name itself (input, initializer, node output).
    private static GraphProto renameInBody(GraphProto body, Map<String, String> renames) {
        Map<String, String> visible = new HashMap<>(renames);
        Set<String> local = new java.util.HashSet<>();
        body.getInputList().stream().map(ValueInfoProto::getName).forEach(local::add);
        body.getInitializerList().stream().map(TensorProto::getName).forEach(local::add);
        body.getNodeList().forEach(n -> local.addAll(n.getOutputList()));
        visible.keySet().removeAll(local);
        if (visible.isEmpty()) {
            return body;
        }
        GraphProto.Builder builder = body.toBuilder();
        for (int i = 0; i < body.getNodeCount(); i++) {
            builder.setNode(i, rename(body.getNode(i), visible));
        }
        // an outer tensor can be a body output directly
        for (int i = 0; i < body.getOutputCount(); i++) {
            String to = visible.get(body.getOutput(i).getName());
            if (to != null) {
                builder.setOutput(i, body.getOutput(i).toBuilder().setName(to));
            }
        }
        return builder.build();
    }
}
