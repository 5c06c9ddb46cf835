package dev.compress.prune;

import dev.compress.CompressException;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** The prunable layers of a model and the names users give them. */
final class Layers {
    private Layers() {}

    /** Conv, Gemm and MatMul nodes with a float initializer weight, in graph order. */
    static List<Layer> find(OnnxModel model) {
        Graph graph = model.graph();
        List<Layer> layers = new ArrayList<>();
        for (Node node : graph.nodes()) {
            if (node.inputs().size() > 1) {
                Layer layer = Layer.of(node, graph.initializers().get(node.input(1)));
                if (layer != null) {
                    layers.add(layer);
                }
            }
        }
        return layers;
    }

    /**
     * Why the Conv, Gemm and MatMul nodes of a model without prunable layers are not layers, as " (...)" to append to
     * the message, or "" when it has none: weights of another type (fp16), or no constant weight at all (Constant
     * nodes are initializers by then).
     */
    static String whyNone(OnnxModel model) {
        Graph graph = model.graph();
        Map<String, Integer> reasons = new LinkedHashMap<>();
        for (Node node : graph.nodes()) {
            if (!List.of("Conv", "Gemm", "MatMul").contains(node.opType()) || node.inputs().size() < 2) {
                continue;
            }
            Tensor weight = graph.initializers().get(node.input(1));
            String reason = weight != null ? "have " + weight.dataType() + " weights"
                    + (weight.dataType() == DataType.FLOAT16 ? ": convert the model to fp32 first" : "")
                    : "multiply two activations (no constant weight)";
            reasons.merge(reason, 1, Integer::sum);
        }
        StringBuilder text = new StringBuilder();
        reasons.forEach((reason, count) -> text.append(text.length() == 0 ? " (" : "; ").append(count).append(' ')
                .append(reason));
        return text.length() == 0 ? "" : text.append(')').toString();
    }

    /**
     * {@code names} (node or weight names) mapped to their layers, in the order given.
     *
     * @throws CompressException BAD_INPUT for a name that is no prunable layer, listing the ones there are
     */
    static <V> Map<Layer, V> resolve(OnnxModel model, List<Layer> layers, Map<String, V> byName, String what) {
        Map<Layer, V> resolved = new LinkedHashMap<>();
        for (Map.Entry<String, V> entry : byName.entrySet()) {
            Layer layer = layers.stream()
                    .filter(l -> l.node().name().equals(entry.getKey()) || l.weight().equals(entry.getKey()))
                    .findFirst()
                    .orElseThrow(() -> CompressException.badInput(model.source().orElse(null), what + " names '"
                            + entry.getKey() + "', which is not a prunable layer of this model (layers: "
                            + describe(layers) + ")"));
            resolved.put(layer, entry.getValue());
        }
        return resolved;
    }

    /**
     * Fails if a tensor pruning rewrites is read by any node other than {@code layer}'s: changing it would change
     * those nodes too.
     */
    static void checkNotShared(OnnxModel model, Graph.Index index, Node owner, String tensor, String fix) {
        List<Node> readers = index.consumers(tensor);
        if (readers.size() > 1) {
            throw CompressException.badInput(model.source().orElse(null), "tensor '" + tensor + "' is shared by "
                    + readers.size() + " nodes (" + readers.stream().map(Node::describe)
                    .collect(Collectors.joining(", ")) + "); pruning it for " + owner.describe()
                    + " would change the others too" + fix);
        }
    }

    static String describe(List<Layer> layers) {
        if (layers.isEmpty()) {
            return "none";
        }
        return layers.stream().map(l -> l.name() + " (" + l.weight() + ")").collect(Collectors.joining(", "));
    }
}
