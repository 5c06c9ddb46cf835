package dev.compress.inspect;

import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.inspect.ModelSummary.Dim;
import dev.compress.inspect.ModelSummary.ParameterStats;
import dev.compress.inspect.ModelSummary.ValueSummary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Describes an ONNX model without running it: format versions, inputs and outputs, an op histogram and the
 * parameter count and size by element type.
 *
 * <p>Parameters are the initializers plus the tensors held by {@code Constant} nodes, in the main graph and in
 * subgraphs (If/Loop/Scan bodies); the op histogram counts subgraph nodes too.
 */
public final class ModelInspector {
    private ModelInspector() {}

    /** Loads {@code file} and describes it; see {@link OnnxModel#load} for the errors. */
    public static ModelSummary inspect(Path file) {
        return inspect(OnnxModel.load(file));
    }

    /** Describes {@code model}; the model is not changed. */
    public static ModelSummary inspect(OnnxModel model) {
        Counts counts = new Counts();
        counts.add(model.graph());

        List<ValueSummary> inputs = new ArrayList<>();
        for (ValueInfo input : model.graph().inputs()) {
            inputs.add(describe(input));
        }
        List<ValueSummary> outputs = new ArrayList<>();
        for (ValueInfo output : model.graph().outputs()) {
            outputs.add(describe(output));
        }

        String file = model.source().map(Path::toString).orElse(null);
        Long fileBytes = model.source().map(ModelInspector::sizeOrNull).orElse(null);
        return new ModelSummary(
                file,
                fileBytes,
                model.graph().name(),
                model.irVersion(),
                model.producerName(),
                model.producerVersion(),
                opsetNames(model.opsets()),
                inputs,
                outputs,
                counts.nodes,
                sortedHistogram(counts.ops),
                counts.parameterTotal(),
                counts.byteTotal(),
                counts.sortedParameters(),
                new LinkedHashMap<>(model.metadata()));
    }

    /**
     * The main graph's nodes in order, e.g. to find names for {@code compress quantize --exclude}; unnamed nodes are
     * listed under {@code ""}.
     */
    public static List<NodeSummary> nodes(OnnxModel model) {
        List<NodeSummary> nodes = new ArrayList<>();
        for (Node node : model.graph().nodes()) {
            nodes.add(new NodeSummary(node.name(), node.qualifiedOpType(), node.inputs(), node.outputs()));
        }
        return nodes;
    }

    /** One node: name, op type ({@code domain:OpType} outside the default domain), input and output tensors. */
    public record NodeSummary(String name, String op, List<String> inputs, List<String> outputs) {
        public NodeSummary {
            inputs = List.copyOf(inputs);
            outputs = List.copyOf(outputs);
        }

        /** E.g. {@code /conv1/Conv  Conv  input, w, b -> x}. */
        @Override
        public String toString() {
            return (name.isEmpty() ? "(unnamed)" : name) + "  " + op + "  " + String.join(", ", inputs) + " -> "
                    + String.join(", ", outputs);
        }
    }

    private static Long sizeOrNull(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return null;
        }
    }

    private static Map<String, Long> opsetNames(Map<String, Long> opsets) {
        Map<String, Long> named = new LinkedHashMap<>();
        opsets.forEach((domain, version) -> named.put(domain.isEmpty() ? "ai.onnx" : domain, version));
        return named;
    }

    /** Op type to count, by count descending, then name. */
    static Map<String, Integer> sortedHistogram(Map<String, Integer> ops) {
        Map<String, Integer> sorted = new LinkedHashMap<>();
        ops.entrySet().stream()
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed()
                        .thenComparing(Map.Entry.comparingByKey()))
                .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    /** Name, element type and shape of a graph input, output or value info. */
    public static ValueSummary describe(ValueInfo info) {
        String type = switch (info.kind()) {
            case "tensor" -> info.elementType().name();
            case "sparse_tensor" -> "sparse " + info.elementType().name();
            case "sequence", "map", "optional" -> info.kind();
            default -> "unknown";
        };
        List<Dim> dims = info.shape().map(shape -> shape.stream()
                .map(d -> d.isKnown() ? Dim.of(d.value()) : d.param().isEmpty() ? Dim.unknown() : Dim.named(d.param()))
                .toList()).orElse(null);
        return new ValueSummary(info.name(), type, dims);
    }

    /** Accumulates nodes, ops and parameter tensors over a graph and its subgraphs. */
    private static final class Counts {
        int nodes;
        final Map<String, Integer> ops = new HashMap<>();
        final Map<String, long[]> parameters = new HashMap<>(); // type -> {tensors, elements, bytes}

        void add(Graph graph) {
            for (Tensor t : graph.initializers().values()) {
                addTensor(t.dataType(), t.elementCount(), t.byteSize());
            }
            for (Node node : graph.nodes()) {
                nodes++;
                ops.merge(node.qualifiedOpType(), 1, Integer::sum);
                if (node.is("Constant")) {
                    node.attributes().forEach(this::addConstant);
                }
                node.subgraphs().forEach(this::add);
            }
        }

        private void addConstant(Attribute attr) {
            switch (attr.name()) {
                case "value" -> {
                    if (attr.hasTensor()) {
                        Tensor t = attr.tensor();
                        addTensor(t.dataType(), t.elementCount(), t.byteSize());
                    }
                }
                case "value_float" -> addTensor(DataType.FLOAT, 1, 4);
                case "value_floats" -> addTensor(DataType.FLOAT, attr.floats().length, 4L * attr.floats().length);
                case "value_int" -> addTensor(DataType.INT64, 1, 8);
                case "value_ints" -> addTensor(DataType.INT64, attr.ints().length, 8L * attr.ints().length);
                default -> { } // strings and sparse constants are not parameters
            }
        }

        private void addTensor(DataType dataType, long elements, long bytes) {
            long[] stats = parameters.computeIfAbsent(dataType.name(), k -> new long[3]);
            stats[0]++;
            stats[1] += elements;
            stats[2] += bytes;
        }

        long parameterTotal() {
            return parameters.values().stream().mapToLong(s -> s[1]).sum();
        }

        long byteTotal() {
            return parameters.values().stream().mapToLong(s -> s[2]).sum();
        }

        Map<String, ParameterStats> sortedParameters() {
            Map<String, ParameterStats> sorted = new LinkedHashMap<>();
            parameters.entrySet().stream()
                    .sorted(Comparator.<Map.Entry<String, long[]>>comparingLong(e -> -e.getValue()[2])
                            .thenComparing(Map.Entry.comparingByKey()))
                    .forEach(e -> sorted.put(e.getKey(),
                            new ParameterStats(e.getValue()[0], e.getValue()[1], e.getValue()[2])));
            return sorted;
        }
    }
}
