package dev.compress.prepare;

import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import java.util.List;
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
        Set<String> graphOutputs = graph.outputs().stream().map(ValueInfo::name).collect(Collectors.toSet());
        List<Node> nodes = graph.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            Node node = nodes.get(i);
            boolean identity = node.is("Identity");
            if (!identity && !node.is("Dropout")) {
                continue;
            }
            if (!identity) {
                String reason = dropoutKept(graph, node, graphOutputs);
                if (reason != null) {
                    left.add(GraphPreparation.left(node, reason));
                    continue;
                }
            }
            if (!bypass(graph, node, graphOutputs, left)) {
                continue;
            }
            i--;
            if (identity) {
                identities++;
            } else {
                dropouts++;
            }
        }
    }

    /**
     * Removes {@code node}, whose first output equals its first input: its readers read the input instead, or, when
     * it writes a graph output, the input's producer writes that output. False, with the reason in {@code left},
     * when neither can be done.
     */
    static boolean bypass(Graph graph, Node node, Set<String> graphOutputs, List<PreparationReport.Left> left) {
        String in = node.input(0);
        String out = node.output(0);
        if (!graphOutputs.contains(out)) {
            graph.nodes().remove(node);
            graph.replaceUses(out, in);
        } else if (graph.producer(in).isPresent() && !graphOutputs.contains(in)) {
            graph.nodes().remove(node);
            renameProducer(graph, in, out);
        } else {
            left.add(GraphPreparation.left(node, "writes graph output '" + out + "' and its input '" + in
                    + "' is a graph input, an initializer or another graph output"));
            return false;
        }
        return true;
    }

    // The producer of `in` writes `out` instead, and every other reader of `in` reads `out`.
    private static void renameProducer(Graph graph, String in, String out) {
        Node producer = graph.producer(in).orElseThrow();
        producer.setOutput(producer.outputs().indexOf(in), out);
        graph.replaceUses(in, out);
    }

    /** Whether the Dropout's ratio (input from opset 12, attribute before) is a constant 0. */
    private static boolean zeroRatio(Graph graph, Node node) {
        if (node.inputs().size() < 2 || node.input(1).isEmpty()) {
            return node.inputs().size() == 1 && node.floatAttribute("ratio", 0.5f) == 0;
        }
        Tensor ratio = constant(graph, node.input(1));
        return ratio != null && ratio.elementCount() == 1 && ratio.value(0) == 0;
    }

    /**
     * The value of an initializer (not overridable as a graph input) or of a Constant node: this pass runs before
     * constant folding makes Constant nodes initializers, and torch writes a Dropout's operands as Constant nodes.
     */
    private static Tensor constant(Graph graph, String name) {
        if (GraphPreparation.isGraphInput(graph, name)) {
            return null;
        }
        return graph.initializer(name).or(() -> graph.producer(name).filter(p -> p.is("Constant"))
                .flatMap(Graph::constantValue)).orElse(null);
    }

    /** Why a Dropout must stay, or null when it is an identity at inference. */
    private static String dropoutKept(Graph graph, Node node, Set<String> graphOutputs) {
        if (node.outputs().size() > 1 && !node.output(1).isEmpty()
                && (graphOutputs.contains(node.output(1)) || !graph.consumers(node.output(1)).isEmpty())) {
            return "its mask output is read";
        }
        // a ratio of 0 drops nothing, in training mode too (torchvision's Swin exports its attention dropouts so)
        if (zeroRatio(graph, node)) {
            return null;
        }
        if (node.intAttribute("is_test", 1) == 0) {
            return "is_test is 0 (training mode)";
        }
        String trainingMode = node.input(2);
        if (trainingMode.isEmpty()) {
            return null;
        }
        // opset 12+: training_mode must be a constant false
        Tensor value = constant(graph, trainingMode);
        boolean constantFalse = value != null && value.elementCount() == 1
                && value.dataType() == DataType.BOOL
                && value.value(0) == 0;
        return constantFalse ? null : "training_mode is not a constant false";
    }
}
