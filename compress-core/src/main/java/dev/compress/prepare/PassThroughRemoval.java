package dev.compress.prepare;

import dev.compress.graph.Graph;
import dev.compress.graph.Nodes;
import dev.compress.graph.Tensors;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Removes Identity nodes and inference-mode Dropout nodes of the main graph: their readers read the input instead.
 * Graph output names never change: when the removed node writes one, its input's producer is renamed to write it.
 */
final class PassThroughRemoval {
    private int identities;
    private int dropouts;

    private PassThroughRemoval() {}

    /** Removes them from {@code graph}; returns {identity, dropout} counts. */
    static int[] apply(Graph graph, List<PreparationReport.Left> left) {
        PassThroughRemoval removal = new PassThroughRemoval();
        removal.run(graph, left);
        return new int[] {removal.identities, removal.dropouts};
    }

    private void run(Graph graph, List<PreparationReport.Left> left) {
        Set<String> graphOutputs = graph.outputs().stream().map(ValueInfoProto::getName).collect(Collectors.toSet());
        List<NodeProto> nodes = graph.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            NodeProto node = nodes.get(i);
            boolean identity = GraphPreparation.isOp(node, "Identity");
            if (!identity && !GraphPreparation.isOp(node, "Dropout")) {
                continue;
            }
            if (!identity) {
                String reason = dropoutKept(graph, node, graphOutputs);
                if (reason != null) {
                    left.add(GraphPreparation.left(node, reason));
                    continue;
                }
            }
            String in = node.getInput(0);
            String out = node.getOutput(0);
            if (!graphOutputs.contains(out)) {
                nodes.remove(i--);
                Uses.rename(graph, Map.of(out, in));
            } else if (graph.producer(in).isPresent() && !graphOutputs.contains(in)) {
                nodes.remove(i--);
                renameProducer(graph, in, out);
            } else {
                left.add(GraphPreparation.left(node, "writes graph output '" + out + "' and its input '" + in
                        + "' is a graph input, an initializer or another graph output"));
                continue;
            }
            if (identity) {
                identities++;
            } else {
                dropouts++;
            }
        }
    }

    // The producer of `in` writes `out` instead, and every other reader of `in` reads `out`.
    private static void renameProducer(Graph graph, String in, String out) {
        NodeProto producer = graph.producer(in).orElseThrow();
        graph.nodes().set(graph.nodes().indexOf(producer),
                producer.toBuilder().setOutput(producer.getOutputList().indexOf(in), out).build());
        Uses.rename(graph, Map.of(in, out));
    }

    /** Why a Dropout must stay, or null when it is an identity at inference. */
    private static String dropoutKept(Graph graph, NodeProto node, Set<String> graphOutputs) {
        if (node.getOutputCount() > 1 && !node.getOutput(1).isEmpty()
                && (graphOutputs.contains(node.getOutput(1)) || !graph.consumers(node.getOutput(1)).isEmpty())) {
            return "its mask output is read";
        }
        if (Nodes.intAttribute(node, "is_test", 1) == 0) {
            return "is_test is 0 (training mode)";
        }
        String trainingMode = Nodes.input(node, 2);
        if (trainingMode.isEmpty()) {
            return null;
        }
        // opset 12+: training_mode must be a constant false
        TensorProto value = graph.initializer(trainingMode).orElse(null);
        boolean constantFalse = value != null && Tensors.elementCount(value) == 1
                && !GraphPreparation.isGraphInput(graph, trainingMode)
                && value.getDataType() == TensorProto.DataType.BOOL_VALUE
                && (value.hasRawData() ? value.getRawData().byteAt(0) == 0 : value.getInt32Data(0) == 0);
        return constantFalse ? null : "training_mode is not a constant false";
    }
}
