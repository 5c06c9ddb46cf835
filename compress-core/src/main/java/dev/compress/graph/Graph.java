package dev.compress.graph;

import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The main graph of a model, mutable, shared by all stages: nodes in topological order, initializers by name, graph
 * inputs, outputs and value infos.
 *
 * <p>Lookups ({@link #producer}, {@link #consumers}) are computed from the current nodes on each call, so they are
 * always right after a rewrite; callers in hot loops take an {@link #index()} snapshot instead.
 */
public final class Graph {
    private final GraphProto rest;
    private final List<NodeProto> nodes;
    private final Map<String, TensorProto> initializers = new LinkedHashMap<>();
    private final List<ValueInfoProto> inputs;
    private final List<ValueInfoProto> outputs;
    private final List<ValueInfoProto> valueInfos;
    private final Set<String> reservedNames = new HashSet<>();

    Graph(GraphProto proto) {
        this.rest = proto.toBuilder()
                .clearNode().clearInitializer().clearInput().clearOutput().clearValueInfo()
                .build();
        this.nodes = new ArrayList<>(proto.getNodeList());
        for (TensorProto t : proto.getInitializerList()) {
            initializers.put(t.getName(), t);
        }
        this.inputs = new ArrayList<>(proto.getInputList());
        this.outputs = new ArrayList<>(proto.getOutputList());
        this.valueInfos = new ArrayList<>(proto.getValueInfoList());
    }

    public String name() {
        return rest.getName();
    }

    /** The nodes in topological order; live, so stages edit it in place. */
    public List<NodeProto> nodes() {
        return nodes;
    }

    /** Initializers by name, in file order; live. */
    public Map<String, TensorProto> initializers() {
        return initializers;
    }

    /** Declared graph inputs, including initializers that older exporters also list as inputs; live. */
    public List<ValueInfoProto> declaredInputs() {
        return inputs;
    }

    /** The inputs a caller must feed: declared inputs that are not initializers. */
    public List<ValueInfoProto> inputs() {
        List<ValueInfoProto> fed = new ArrayList<>();
        for (ValueInfoProto input : inputs) {
            if (!initializers.containsKey(input.getName())) {
                fed.add(input);
            }
        }
        return fed;
    }

    /** Graph outputs; live. */
    public List<ValueInfoProto> outputs() {
        return outputs;
    }

    /** Value infos (shapes of intermediate tensors, when the exporter recorded them); live. */
    public List<ValueInfoProto> valueInfos() {
        return valueInfos;
    }

    /** The type and shape recorded for {@code tensor} as an input, output or value info. */
    public Optional<ValueInfoProto> valueInfo(String tensor) {
        for (List<ValueInfoProto> list : List.of(inputs, outputs, valueInfos)) {
            for (ValueInfoProto info : list) {
                if (info.getName().equals(tensor)) {
                    return Optional.of(info);
                }
            }
        }
        return Optional.empty();
    }

    public Optional<TensorProto> initializer(String name) {
        return Optional.ofNullable(initializers.get(name));
    }

    /** Adds or replaces an initializer under its own name. */
    public void putInitializer(TensorProto tensor) {
        initializers.put(tensor.getName(), tensor);
    }

    /**
     * Turns Constant nodes of the main graph into initializers of the same name, so later stages see one kind of
     * weight: exporters (TensorFlow, some PyTorch paths) put weights in Constant nodes. Constants that are graph
     * outputs, sparse, or string-valued stay nodes. Subgraph constants are left alone (they belong to their body).
     *
     * @return the names of the promoted tensors, in graph order
     */
    public List<String> promoteConstants() {
        Set<String> graphOutputs = new HashSet<>();
        outputs.forEach(o -> graphOutputs.add(o.getName()));
        List<String> promoted = new ArrayList<>();
        List<NodeProto> kept = new ArrayList<>(nodes.size());
        for (NodeProto node : nodes) {
            TensorProto value = node.getOpType().equals("Constant")
                    && (node.getDomain().isEmpty() || node.getDomain().equals("ai.onnx"))
                    && node.getOutputCount() == 1
                    && !graphOutputs.contains(node.getOutput(0))
                    && !initializers.containsKey(node.getOutput(0))
                    ? Tensors.constantValue(node).orElse(null)
                    : null;
            if (value == null) {
                kept.add(node);
                continue;
            }
            initializers.put(node.getOutput(0), value.toBuilder().setName(node.getOutput(0)).build());
            promoted.add(node.getOutput(0));
        }
        nodes.clear();
        nodes.addAll(kept);
        return promoted;
    }

    /**
     * Removes Identity nodes of the main graph that copy an initializer, and lets their readers read the initializer:
     * torch 1.13 stores equal initializers (e.g. the zero biases of freshly made layers) once and routes the other
     * uses through Identity nodes, so those layers would not see their bias or weight as an initializer. Identities
     * that write a graph output or are read from a subgraph stay.
     *
     * @return the number of Identity nodes removed
     */
    public int bypassInitializerIdentities() {
        Set<String> graphOutputs = new HashSet<>();
        outputs.forEach(o -> graphOutputs.add(o.getName()));
        Index index = index();
        Map<String, String> source = new HashMap<>();
        for (NodeProto node : nodes) {
            if (node.getOpType().equals("Identity")
                    && (node.getDomain().isEmpty() || node.getDomain().equals("ai.onnx"))
                    && node.getInputCount() == 1 && node.getOutputCount() == 1
                    && initializers.containsKey(node.getInput(0))
                    && !initializers.containsKey(node.getOutput(0))
                    && !graphOutputs.contains(node.getOutput(0))
                    && index.consumers(node.getOutput(0)).stream()
                            .allMatch(reader -> reader.getInputList().contains(node.getOutput(0))
                                    && !readsInSubgraph(reader, node.getOutput(0)))) {
                source.put(node.getOutput(0), node.getInput(0));
            }
        }
        if (source.isEmpty()) {
            return 0;
        }
        List<NodeProto> kept = new ArrayList<>(nodes.size());
        for (NodeProto node : nodes) {
            if (node.getOpType().equals("Identity") && node.getOutputCount() == 1
                    && source.containsKey(node.getOutput(0))) {
                continue;
            }
            NodeProto.Builder builder = node.toBuilder();
            for (int i = 0; i < builder.getInputCount(); i++) {
                builder.setInput(i, source.getOrDefault(builder.getInput(i), builder.getInput(i)));
            }
            kept.add(builder.build());
        }
        nodes.clear();
        nodes.addAll(kept);
        valueInfos.removeIf(info -> source.containsKey(info.getName()));
        return source.size();
    }

    private static boolean readsInSubgraph(NodeProto node, String tensor) {
        Set<String> read = new HashSet<>();
        for (AttributeProto attr : node.getAttributeList()) {
            if (attr.hasG()) {
                Index.collectSubgraphInputs(attr.getG(), read);
            }
            for (GraphProto g : attr.getGraphsList()) {
                Index.collectSubgraphInputs(g, read);
            }
        }
        return read.contains(tensor);
    }

    /** The node whose output is {@code tensor}, if a node produces it (not for inputs and initializers). */
    public Optional<NodeProto> producer(String tensor) {
        return index().producer(tensor);
    }

    /** Nodes reading {@code tensor}, including nodes whose subgraphs read it. */
    public List<NodeProto> consumers(String tensor) {
        return index().consumers(tensor);
    }

    /** A snapshot of producer/consumer lookups for the current nodes. */
    public Index index() {
        return new Index(nodes);
    }

    /**
     * A tensor or node name not yet used in this graph, derived from {@code base}; it is reserved, so two calls
     * never return the same name.
     */
    public String uniqueName(String base) {
        Set<String> used = usedNames();
        String candidate = base;
        for (int i = 1; used.contains(candidate); i++) {
            candidate = base + "_" + i;
        }
        reservedNames.add(candidate);
        return candidate;
    }

    private Set<String> usedNames() {
        Set<String> used = new HashSet<>(reservedNames);
        used.addAll(initializers.keySet());
        for (ValueInfoProto info : inputs) {
            used.add(info.getName());
        }
        for (ValueInfoProto info : outputs) {
            used.add(info.getName());
        }
        for (NodeProto node : nodes) {
            used.add(node.getName());
            used.addAll(node.getInputList());
            used.addAll(node.getOutputList());
        }
        return used;
    }

    GraphProto toProto() {
        return rest.toBuilder()
                .addAllNode(nodes)
                .addAllInitializer(initializers.values())
                .addAllInput(inputs)
                .addAllOutput(outputs)
                .addAllValueInfo(valueInfos)
                .build();
    }

    /** Producer and consumer maps of a fixed list of nodes. */
    public static final class Index {
        private final Map<String, NodeProto> producers = new HashMap<>();
        private final Map<String, List<NodeProto>> consumers = new HashMap<>();

        Index(List<NodeProto> nodes) {
            for (NodeProto node : nodes) {
                for (String output : node.getOutputList()) {
                    if (!output.isEmpty()) {
                        producers.put(output, node);
                    }
                }
                Set<String> read = new HashSet<>(node.getInputList());
                for (AttributeProto attr : node.getAttributeList()) {
                    if (attr.hasG()) {
                        collectSubgraphInputs(attr.getG(), read);
                    }
                    for (GraphProto g : attr.getGraphsList()) {
                        collectSubgraphInputs(g, read);
                    }
                }
                read.remove("");
                for (String input : read) {
                    consumers.computeIfAbsent(input, k -> new ArrayList<>()).add(node);
                }
            }
        }

        // Subgraphs (If/Loop/Scan bodies) may read outer tensors by name without declaring them, in a node or as
        // a body output.
        private static void collectSubgraphInputs(GraphProto graph, Set<String> read) {
            graph.getOutputList().forEach(output -> read.add(output.getName()));
            for (NodeProto node : graph.getNodeList()) {
                read.addAll(node.getInputList());
                for (AttributeProto attr : node.getAttributeList()) {
                    if (attr.hasG()) {
                        collectSubgraphInputs(attr.getG(), read);
                    }
                    for (GraphProto g : attr.getGraphsList()) {
                        collectSubgraphInputs(g, read);
                    }
                }
            }
        }

        public Optional<NodeProto> producer(String tensor) {
            return Optional.ofNullable(producers.get(tensor));
        }

        public List<NodeProto> consumers(String tensor) {
            return consumers.getOrDefault(tensor, List.of());
        }
    }
}
