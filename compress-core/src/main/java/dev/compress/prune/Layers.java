package dev.compress.prune;

import dev.compress.CompressException;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** The prunable layers of a model and the names users give them. */
final class Layers {
    private Layers() {}

    /** Conv, Gemm and MatMul nodes of the main graph with a float initializer weight, in graph order. */
    static List<Layer> find(OnnxModel model) {
        List<Layer> layers = new ArrayList<>();
        collect(model.graph(), List.of(), false, layers);
        return layers;
    }

    /**
     * As {@link #find}, and those of If/Loop/Scan bodies (silero VAD's Convs sit in If branches), each body's
     * Constant nodes promoted to initializers first; a body layer's weight may be an enclosing graph's initializer.
     * In graph order, a node's bodies right after it.
     */
    static List<Layer> findWithBodies(OnnxModel model) {
        List<Layer> layers = new ArrayList<>();
        collect(model.graph(), List.of(), true, layers);
        return layers;
    }

    /** @param enclosing the graphs around {@code graph}, innermost last */
    private static void collect(Graph graph, List<Graph> enclosing, boolean bodies, List<Layer> layers) {
        for (Node node : graph.nodes()) {
            if (node.inputs().size() > 1) {
                Graph holder = holder(graph, enclosing, node.input(1));
                Layer layer = holder == null ? null
                        : Layer.of(node, holder.initializers().get(node.input(1)), holder);
                if (layer != null) {
                    layers.add(layer);
                }
            }
            if (bodies) {
                List<Graph> scopes = new ArrayList<>(enclosing);
                scopes.add(graph);
                for (Graph body : node.subgraphs()) {
                    body.promoteConstants();
                    collect(body, scopes, true, layers);
                }
            }
        }
    }

    /** The graph whose initializer {@code name} is as {@code graph} sees it, or null. */
    private static Graph holder(Graph graph, List<Graph> enclosing, String name) {
        if (graph.initializers().containsKey(name)) {
            return graph;
        }
        if (graph.defines(name) || enclosing.isEmpty()) {
            return null;
        }
        return holder(enclosing.get(enclosing.size() - 1), enclosing.subList(0, enclosing.size() - 1), name);
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

    /**
     * Fails if two of {@code layers} read one weight: an enclosing graph's initializer read in two If branches is one
     * reader for that graph's index (the If), yet pruning it for one layer would change the other too.
     */
    static void checkDistinctWeights(OnnxModel model, Collection<Layer> layers) {
        Map<Graph, Map<String, Layer>> seen = new java.util.IdentityHashMap<>();
        for (Layer layer : layers) {
            Layer other = seen.computeIfAbsent(layer.graph(), g -> new LinkedHashMap<>()).putIfAbsent(layer.weight(),
                    layer);
            if (other != null) {
                throw CompressException.badInput(model.source().orElse(null), "tensor '" + layer.weight() + "' is"
                        + " shared by " + other.name() + " and " + layer.name() + "; pruning it for one would change"
                        + " the other too; exclude one (--exclude " + layer.name() + ") or untie the weight");
            }
        }
    }

    static String describe(List<Layer> layers) {
        if (layers.isEmpty()) {
            return "none";
        }
        return layers.stream().map(l -> l.name() + " (" + l.weight() + ")").collect(Collectors.joining(", "));
    }
}
