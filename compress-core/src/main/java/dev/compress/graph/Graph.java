package dev.compress.graph;

import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A graph, mutable, shared by all passes: nodes in topological order, initializers by name, graph inputs, outputs
 * and value infos. Values are named; {@link #value} tells what produces and reads one. The main graph of a model and
 * the bodies of If/Loop/Scan nodes ({@link Node#subgraphs()}) are both graphs.
 *
 * <p>Lookups ({@link #producer}, {@link #consumers}, {@link #value}) are computed from the current nodes on each
 * call, so they are always right after a rewrite; callers in hot loops take an {@link #index()} snapshot instead.
 */
public final class Graph {
    /** The graph as read, without the parts kept below (name, doc string, sparse initializers, annotations). */
    private final GraphProto rest;
    private final List<Node> nodes;
    private final Map<String, Tensor> initializers = new LinkedHashMap<>();
    private final List<ValueInfo> inputs;
    private final List<ValueInfo> outputs;
    private final List<ValueInfo> valueInfos;
    private final Set<String> reservedNames = new HashSet<>();

    Graph(GraphProto proto) {
        this.rest = proto.toBuilder()
                .clearNode().clearInitializer().clearInput().clearOutput().clearValueInfo()
                .build();
        this.nodes = new ArrayList<>(proto.getNodeCount());
        for (NodeProto node : proto.getNodeList()) {
            nodes.add(new Node(node));
        }
        for (TensorProto t : proto.getInitializerList()) {
            initializers.put(t.getName(), new Tensor(t));
        }
        this.inputs = wrap(proto.getInputList());
        this.outputs = wrap(proto.getOutputList());
        this.valueInfos = wrap(proto.getValueInfoList());
    }

    private static List<ValueInfo> wrap(List<ValueInfoProto> infos) {
        List<ValueInfo> wrapped = new ArrayList<>(infos.size());
        infos.forEach(info -> wrapped.add(new ValueInfo(info)));
        return wrapped;
    }

    /** An empty graph called {@code name}, to be filled in. */
    public static Graph named(String name) {
        return new Graph(GraphProto.newBuilder().setName(name).build());
    }

    public String name() {
        return rest.getName();
    }

    /** The nodes in topological order; live, so passes edit it in place. */
    public List<Node> nodes() {
        return nodes;
    }

    /** Initializers by name, in file order; live. */
    public Map<String, Tensor> initializers() {
        return initializers;
    }

    /** Declared graph inputs, including initializers that older exporters also list as inputs; live. */
    public List<ValueInfo> declaredInputs() {
        return inputs;
    }

    /** The inputs a caller must feed: declared inputs that are not initializers. */
    public List<ValueInfo> inputs() {
        List<ValueInfo> fed = new ArrayList<>();
        for (ValueInfo input : inputs) {
            if (!initializers.containsKey(input.name())) {
                fed.add(input);
            }
        }
        return fed;
    }

    /** Graph outputs; live. */
    public List<ValueInfo> outputs() {
        return outputs;
    }

    /** The names of the graph outputs. */
    public Set<String> outputNames() {
        Set<String> names = new HashSet<>();
        outputs.forEach(o -> names.add(o.name()));
        return names;
    }

    /** Value infos (shapes of intermediate values, when the exporter recorded them); live. */
    public List<ValueInfo> valueInfos() {
        return valueInfos;
    }

    /** The type and shape recorded for {@code value} as an input, output or value info. */
    public Optional<ValueInfo> valueInfo(String value) {
        for (List<ValueInfo> list : List.of(inputs, outputs, valueInfos)) {
            for (ValueInfo info : list) {
                if (info.name().equals(value)) {
                    return Optional.of(info);
                }
            }
        }
        return Optional.empty();
    }

    public Optional<Tensor> initializer(String name) {
        return Optional.ofNullable(initializers.get(name));
    }

    /** Adds or replaces an initializer under its own name. */
    public void putInitializer(Tensor tensor) {
        initializers.put(tensor.name(), tensor);
    }

    /** What produces and reads {@code name} now (see {@link Index#value}). */
    public Value value(String name) {
        return index().value(name);
    }

    /**
     * Makes every node read {@code replacement} where it read {@code value}, also in If/Loop/Scan bodies that read
     * it from this graph (a body that declares its own value of that name is left alone). Graph outputs keep their
     * names.
     */
    public void replaceUses(String value, String replacement) {
        replaceUses(Map.of(value, replacement));
    }

    /** As {@link #replaceUses(String, String)} for every key of {@code renames} at once. */
    public void replaceUses(Map<String, String> renames) {
        if (!renames.isEmpty()) {
            nodes.forEach(node -> renameReads(node, renames));
        }
    }

    private static void renameReads(Node node, Map<String, String> renames) {
        node.inputs().replaceAll(read -> renames.getOrDefault(read, read));
        for (Graph body : node.subgraphs()) {
            Map<String, String> visible = new HashMap<>(renames);
            visible.keySet().removeIf(body::defines);
            if (visible.isEmpty()) {
                continue;
            }
            body.nodes.forEach(inner -> renameReads(inner, visible));
            // an outer value can be a body output directly
            body.outputs.replaceAll(o -> visible.containsKey(o.name()) ? o.withName(visible.get(o.name())) : o);
        }
    }

    /** Whether this graph defines {@code value} itself (input, initializer or node output). */
    public boolean defines(String value) {
        if (initializers.containsKey(value) || inputs.stream().anyMatch(i -> i.name().equals(value))) {
            return true;
        }
        return nodes.stream().anyMatch(n -> n.outputs().contains(value));
    }

    /**
     * Turns Constant nodes of this graph into initializers of the same name, so later stages see one kind of
     * weight: exporters (TensorFlow, some PyTorch paths) put weights in Constant nodes. Constants that are graph
     * outputs, sparse, or string-valued stay nodes. Subgraph constants are left alone (they belong to their body).
     *
     * @return the names of the promoted tensors, in graph order
     */
    public List<String> promoteConstants() {
        Set<String> graphOutputs = outputNames();
        List<String> promoted = new ArrayList<>();
        List<Node> kept = new ArrayList<>(nodes.size());
        for (Node node : nodes) {
            Tensor value = node.is("Constant")
                    && node.outputs().size() == 1
                    && !graphOutputs.contains(node.output(0))
                    && !initializers.containsKey(node.output(0))
                    ? constantValue(node).orElse(null)
                    : null;
            if (value == null) {
                kept.add(node);
                continue;
            }
            initializers.put(node.output(0), value.withName(node.output(0)));
            promoted.add(node.output(0));
        }
        nodes.clear();
        nodes.addAll(kept);
        return promoted;
    }

    /**
     * The value of a Constant node as a tensor: its {@code value} attribute, or a tensor built from
     * {@code value_float(s)} / {@code value_int(s)}; empty for sparse and string constants.
     */
    public static Optional<Tensor> constantValue(Node constant) {
        for (Attribute attr : constant.attributes()) {
            Tensor tensor = switch (attr.name()) {
                case "value" -> attr.tensor().dataType() == DataType.STRING ? null : attr.tensor();
                case "value_float" -> Tensor.floats("", new long[0], new float[] {attr.f()});
                case "value_floats" -> Tensor.floats("", new long[] {attr.floats().length}, attr.floats());
                case "value_int" -> Tensor.int64s("", new long[0], new long[] {attr.i()});
                case "value_ints" -> Tensor.int64s("", new long[] {attr.ints().length}, attr.ints());
                default -> null;
            };
            if (tensor != null) {
                return Optional.of(tensor);
            }
        }
        return Optional.empty();
    }

    /**
     * Removes Identity nodes of this graph that copy an initializer, and lets their readers read the initializer:
     * torch 1.13 stores equal initializers (e.g. the zero biases of freshly made layers) once and routes the other
     * uses through Identity nodes, so those layers would not see their bias or weight as an initializer. Identities
     * that write a graph output or are read from a subgraph stay.
     *
     * @return the number of Identity nodes removed
     */
    public int bypassInitializerIdentities() {
        Set<String> graphOutputs = outputNames();
        Index index = index();
        Map<String, String> source = new HashMap<>();
        for (Node node : nodes) {
            if (node.is("Identity")
                    && node.inputs().size() == 1 && node.outputs().size() == 1
                    && initializers.containsKey(node.input(0))
                    && !initializers.containsKey(node.output(0))
                    && !graphOutputs.contains(node.output(0))
                    && index.consumers(node.output(0)).stream()
                            .allMatch(reader -> reader.inputs().contains(node.output(0))
                                    && !readsInSubgraph(reader, node.output(0)))) {
                source.put(node.output(0), node.input(0));
            }
        }
        if (source.isEmpty()) {
            return 0;
        }
        nodes.removeIf(node -> node.is("Identity") && node.outputs().size() == 1
                && source.containsKey(node.output(0)));
        replaceUses(source);
        valueInfos.removeIf(info -> source.containsKey(info.name()));
        return source.size();
    }

    private static boolean readsInSubgraph(Node node, String value) {
        Set<String> read = new HashSet<>();
        node.subgraphs().forEach(body -> Index.collectSubgraphReads(body, read));
        return read.contains(value);
    }

    /**
     * Removes the initializers among {@code names} that nothing reads any more (see {@link Value#isRead}, bodies
     * included), and their declarations as graph inputs: a rewrite's replaced weights.
     */
    public void removeUnreadInitializers(Collection<String> names) {
        Index index = index();
        for (String name : names) {
            if (!index.value(name).isRead()) {
                initializers.remove(name);
                inputs.removeIf(input -> input.name().equals(name));
            }
        }
    }

    /** The node whose output is {@code value}, if a node produces it (not for inputs and initializers). */
    public Optional<Node> producer(String value) {
        return index().producer(value);
    }

    /** Nodes reading {@code value}, including nodes whose subgraphs read it. */
    public List<Node> consumers(String value) {
        return index().consumers(value);
    }

    /** A snapshot of producer/consumer lookups for the current nodes. */
    public Index index() {
        return new Index(this);
    }

    /**
     * A value or node name not yet used in this graph nor in its If/Loop/Scan bodies, derived from {@code base};
     * it is reserved, so two calls never return the same name.
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
        addNames(used);
        return used;
    }

    // names in If/Loop/Scan bodies count too: a body may not redefine a name of an enclosing graph
    private void addNames(Set<String> used) {
        initializers.keySet().forEach(used::add);
        inputs.forEach(i -> used.add(i.name()));
        outputs.forEach(o -> used.add(o.name()));
        for (Node node : nodes) {
            used.add(node.name());
            used.addAll(node.inputs());
            used.addAll(node.outputs());
            node.subgraphs().forEach(body -> body.addNames(used));
        }
    }

    /** A deep copy. */
    public Graph copy() {
        return new Graph(toProto());
    }

    GraphProto toProto() {
        GraphProto.Builder builder = rest.toBuilder();
        nodes.forEach(n -> builder.addNode(n.toProto()));
        initializers.values().forEach(t -> builder.addInitializer(t.proto()));
        inputs.forEach(i -> builder.addInput(i.proto()));
        outputs.forEach(o -> builder.addOutput(o.proto()));
        valueInfos.forEach(v -> builder.addValueInfo(v.proto()));
        return builder.build();
    }

    /**
     * A value of a graph as the graph stands when asked: what produces it (a node, or nothing for inputs and
     * initializers) and which nodes read it.
     */
    public record Value(String name, Optional<Node> producer, List<Node> consumers, Optional<Tensor> initializer,
            boolean isGraphOutput) {
        /** Whether a node (or a body under one) or the graph's outputs read the value. */
        public boolean isRead() {
            return !consumers.isEmpty() || isGraphOutput;
        }
    }

    /** Producer and consumer maps of the graph's nodes when the index was taken. */
    public static final class Index {
        private final Graph graph;
        private final Map<String, Node> producers = new HashMap<>();
        private final Map<String, List<Node>> consumers = new HashMap<>();
        private final Set<String> outputs;

        Index(Graph graph) {
            this.graph = graph;
            this.outputs = graph.outputNames();
            for (Node node : graph.nodes) {
                for (String output : node.outputs()) {
                    if (!output.isEmpty()) {
                        producers.put(output, node);
                    }
                }
                Set<String> read = new HashSet<>(node.inputs());
                node.subgraphs().forEach(body -> collectSubgraphReads(body, read));
                read.remove("");
                for (String input : read) {
                    consumers.computeIfAbsent(input, k -> new ArrayList<>()).add(node);
                }
            }
        }

        // Subgraphs (If/Loop/Scan bodies) may read outer values by name without declaring them, in a node or as
        // a body output.
        private static void collectSubgraphReads(Graph body, Set<String> read) {
            body.outputs.forEach(output -> read.add(output.name()));
            for (Node node : body.nodes) {
                read.addAll(node.inputs());
                node.subgraphs().forEach(inner -> collectSubgraphReads(inner, read));
            }
        }

        public Optional<Node> producer(String value) {
            return Optional.ofNullable(producers.get(value));
        }

        public List<Node> consumers(String value) {
            return consumers.getOrDefault(value, List.of());
        }

        public Value value(String name) {
            return new Value(name, producer(name), consumers(name), graph.initializer(name),
                    outputs.contains(name));
        }
    }
}
