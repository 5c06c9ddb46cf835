package dev.compress.convert;

import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;

/**
 * One run of {@link OpsetConversion} over a graph: walks every default-domain node (subgraphs included) from its
 * version at the source opset to its version at the target, step by step, and is what {@link Adapters} rewrite
 * nodes through. Nothing is written into the graph here (adapters rewrite copies of its nodes); the caller commits
 * {@link #initializers()} and the returned nodes only when every node converted.
 */
final class Conversion {
    /** Why a node cannot be converted; becomes one BAD_INPUT line. */
    static final class Unconvertible extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Unconvertible(String message) {
            super(message, null, false, false);
        }
    }

    private final Graph graph;
    private final long from;
    private final long to;
    private final Map<String, Integer> ranks;
    private final Graph.Index index;
    private final Map<String, Tensor> initializers = new LinkedHashMap<>();
    private final Map<List<String>, Integer> rewritten = new LinkedHashMap<>();
    private final Map<String, Integer> unchanged = new TreeMap<>();
    private final Set<String> upsampling = new HashSet<>();
    private List<Node> before;
    private List<Node> after;
    private String detail;

    Conversion(Graph graph, long from, long to, Map<String, Integer> ranks) {
        this.graph = graph;
        this.from = from;
        this.to = to;
        this.ranks = ranks;
        this.index = graph.index();
    }

    /** {@code nodes} converted, in order, with the helper nodes adapters add around them. */
    List<Node> nodes(List<Node> nodes) {
        List<Node> converted = new ArrayList<>(nodes.size());
        for (Node node : nodes) {
            before = new ArrayList<>();
            after = new ArrayList<>();
            Node result = node(withConvertedSubgraphs(node.copy()));
            converted.addAll(before);
            converted.add(result);
            converted.addAll(after);
        }
        return converted;
    }

    private Node withConvertedSubgraphs(Node node) {
        for (Graph body : node.subgraphs()) {
            // a body is converted like the main graph; the helper lists belong to the node that owns the body
            List<Node> outerBefore = before;
            List<Node> outerAfter = after;
            List<Node> nodes = nodes(body.nodes());
            before = outerBefore;
            after = outerAfter;
            body.nodes().clear();
            body.nodes().addAll(nodes);
        }
        return node;
    }

    private Node node(Node node) {
        if (!node.inDefaultDomain()) {
            return node; // other domains have their own opsets
        }
        String original = node.opType();
        if (!OperatorVersions.known(original)) {
            throw unconvertible(original, node, "not an operator of the default ONNX domain (up to opset "
                    + OperatorVersions.MAX_OPSET + ")");
        }
        OptionalInt start = OperatorVersions.at(original, from);
        if (start.isEmpty()) {
            throw unconvertible(original, node, "the operator does not exist yet at opset " + from);
        }
        boolean adapted = false;
        int version = start.getAsInt();
        if (Adapters.DEPRECATED.contains(original + "-" + version)) {
            // the op's last version only says it is deprecated: models of that opset still use its older meaning
            node = adapt(original, node, original, version);
            adapted = true;
        }
        for (OptionalInt next = OperatorVersions.next(node.opType(), version, to); next.isPresent();
                next = OperatorVersions.next(node.opType(), version, to)) {
            version = next.getAsInt();
            String op = node.opType();
            if (OperatorVersions.compatible(op, version)) {
                continue;
            }
            node = adapt(original, node, op, version);
            adapted = true;
        }
        if (!adapted) {
            unchanged.merge(original, 1, Integer::sum);
        }
        return node;
    }

    private Node adapt(String original, Node node, String op, int version) {
        Adapters.Adapter adapter = Adapters.find(op, version);
        if (adapter == null) {
            throw unconvertible(original, node,
                    op + " changed meaning at opset " + version + " and there is no adapter");
        }
        Node rewritten;
        detail = null;
        try {
            rewritten = adapter.rewrite().apply(node, this);
        } catch (Unconvertible e) {
            throw unconvertible(original, node, e.getMessage());
        }
        this.rewritten.merge(List.of(op, detail == null ? adapter.name() : adapter.name() + ": " + detail), 1,
                Integer::sum);
        return rewritten;
    }

    private Unconvertible unconvertible(String op, Node node, String why) {
        return new Unconvertible("cannot convert " + op + " (opset " + from + ") to opset " + to + ": "
                + why + " (node " + node.describe() + ")");
    }

    /** Stops the conversion of the current node; {@code why} is said to the user. */
    static Unconvertible fail(String why) {
        return new Unconvertible(why);
    }

    /** Says in the report which of its ways the adapter took for this node. */
    void detail(String detail) {
        this.detail = detail;
    }

    /** Adds a helper node that runs before the node being converted. */
    void before(Node node) {
        before.add(node);
    }

    /** Adds a helper node that runs after the node being converted. */
    void after(Node node) {
        after.add(node);
    }

    /** A new tensor or node name derived from {@code base}. */
    String uniqueName(String base) {
        return graph.uniqueName(base);
    }

    /** Adds a constant under a new name derived from {@code base} and returns that name. */
    String constant(String base, Tensor value) {
        String name = graph.uniqueName(base);
        initializers.put(name, value.withName(name));
        return name;
    }

    /**
     * {@code tensor} (of rank {@code rank}) with {@code count} axes of size 1 appended: a reshaped copy of a constant,
     * else an Unsqueeze in the target opset's form.
     */
    String withTrailingAxes(String tensor, int rank, int count, String base) {
        long[] axes = new long[count];
        for (int i = 0; i < count; i++) {
            axes[i] = rank + i;
        }
        Tensor value = graph.initializers().containsKey(tensor) ? graph.initializers().get(tensor)
                : initializers.get(tensor);
        if (value != null && value.rank() == rank) {
            long[] dims = Arrays.copyOf(value.dims(), rank + count);
            Arrays.fill(dims, rank, rank + count, 1);
            return constant(base, Tensor.of("", value.dataType(), dims, value.data()));
        }
        String output = uniqueName(base);
        Node unsqueeze = Node.of("Unsqueeze", uniqueName(base + "_unsqueeze"), List.of(tensor), List.of(output));
        if (to >= 13) {
            unsqueeze.inputs().add(constant(base + "_axes", Tensor.int64s("", new long[] {count}, axes)));
        } else {
            unsqueeze.set(Attribute.of("axes", axes));
        }
        before(unsqueeze);
        return output;
    }

    /** The rank of {@code tensor} if the model records it, ONNX Runtime inferred it or it follows from the graph. */
    OptionalInt rank(String tensor) {
        Integer rank = ranks.get(tensor);
        return rank == null ? OptionalInt.empty() : OptionalInt.of(rank);
    }

    /** The element type the model records for {@code tensor}, or FLOAT when it records none. */
    DataType elementType(String tensor) {
        Tensor initializer = graph.initializers().get(tensor);
        if (initializer != null) {
            return initializer.dataType();
        }
        return graph.valueInfo(tensor).filter(ValueInfo::isTensor).map(ValueInfo::elementType)
                .filter(t -> t != DataType.UNDEFINED)
                .orElse(DataType.FLOAT);
    }

    /** The values of a float tensor that is an initializer or a Constant's output, or null. */
    float[] constantFloats(String tensor) {
        Tensor value = graph.initializers().get(tensor);
        if (value == null) {
            value = initializers.get(tensor);
        }
        if (value == null) {
            value = index.producer(tensor).filter(p -> p.opType().equals("Constant"))
                    .flatMap(Graph::constantValue).orElse(null);
        }
        return value != null && value.isFloat() ? value.floats() : null;
    }

    /** Records that the Resize writing {@code output} enlarges every axis (it was an Upsample). */
    void upsampling(String output) {
        upsampling.add(output);
    }

    boolean isUpsampling(String output) {
        return upsampling.contains(output);
    }

    /** Whether a node or a graph output reads {@code tensor}. */
    boolean used(String tensor) {
        return index.value(tensor).isRead();
    }

    /** The constants adapters added, by name. */
    Map<String, Tensor> initializers() {
        return initializers;
    }

    OpsetConversionReport report(String model) {
        List<OpsetConversionReport.Rewrite> rewrites = new ArrayList<>();
        rewritten.forEach((key, count) -> rewrites.add(new OpsetConversionReport.Rewrite(key.get(0), key.get(1),
                count)));
        return new OpsetConversionReport(model, from, to, rewrites, unchanged);
    }
}
