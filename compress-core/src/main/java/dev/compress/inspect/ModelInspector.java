package dev.compress.inspect;

import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensors;
import dev.compress.inspect.ModelSummary.Dim;
import dev.compress.inspect.ModelSummary.ParameterStats;
import dev.compress.inspect.ModelSummary.ValueSummary;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorProto.DataType;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
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
        GraphProto graph = model.toProto().getGraph();
        Counts counts = new Counts();
        counts.add(graph);

        List<ValueSummary> inputs = new ArrayList<>();
        for (ValueInfoProto input : model.graph().inputs()) {
            inputs.add(describe(input));
        }
        List<ValueSummary> outputs = new ArrayList<>();
        for (ValueInfoProto output : model.graph().outputs()) {
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
        for (NodeProto node : model.graph().nodes()) {
            String op = node.getDomain().isEmpty() || node.getDomain().equals("ai.onnx")
                    ? node.getOpType() : node.getDomain() + ":" + node.getOpType();
            nodes.add(new NodeSummary(node.getName(), op, node.getInputList(), node.getOutputList()));
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
    public static ValueSummary describe(ValueInfoProto info) {
        TypeProto type = info.getType();
        return switch (type.getValueCase()) {
            case TENSOR_TYPE -> new ValueSummary(info.getName(),
                    Tensors.typeName(type.getTensorType().getElemType()),
                    type.getTensorType().hasShape() ? dims(type.getTensorType().getShape()) : null);
            case SPARSE_TENSOR_TYPE -> new ValueSummary(info.getName(),
                    "sparse " + Tensors.typeName(type.getSparseTensorType().getElemType()),
                    type.getSparseTensorType().hasShape() ? dims(type.getSparseTensorType().getShape()) : null);
            case SEQUENCE_TYPE -> new ValueSummary(info.getName(), "sequence", null);
            case MAP_TYPE -> new ValueSummary(info.getName(), "map", null);
            case OPTIONAL_TYPE -> new ValueSummary(info.getName(), "optional", null);
            default -> new ValueSummary(info.getName(), "unknown", null);
        };
    }

    private static List<Dim> dims(TensorShapeProto shape) {
        List<Dim> dims = new ArrayList<>();
        for (TensorShapeProto.Dimension d : shape.getDimList()) {
            dims.add(switch (d.getValueCase()) {
                case DIM_VALUE -> Dim.of(d.getDimValue());
                case DIM_PARAM -> Dim.named(d.getDimParam());
                default -> Dim.unknown();
            });
        }
        return dims;
    }

    /** Accumulates nodes, ops and parameter tensors over a graph and its subgraphs. */
    private static final class Counts {
        int nodes;
        final Map<String, Integer> ops = new HashMap<>();
        final Map<String, long[]> parameters = new HashMap<>(); // type -> {tensors, elements, bytes}

        void add(GraphProto graph) {
            for (TensorProto t : graph.getInitializerList()) {
                addTensor(t.getDataType(), Tensors.elementCount(t), Tensors.byteSize(t));
            }
            for (NodeProto node : graph.getNodeList()) {
                nodes++;
                String op = node.getDomain().isEmpty() || node.getDomain().equals("ai.onnx")
                        ? node.getOpType() : node.getDomain() + ":" + node.getOpType();
                ops.merge(op, 1, Integer::sum);
                boolean constant = node.getOpType().equals("Constant")
                        && (node.getDomain().isEmpty() || node.getDomain().equals("ai.onnx"));
                for (AttributeProto attr : node.getAttributeList()) {
                    if (constant) {
                        addConstant(attr);
                    }
                    if (attr.hasG()) {
                        add(attr.getG());
                    }
                    for (GraphProto g : attr.getGraphsList()) {
                        add(g);
                    }
                }
            }
        }

        private void addConstant(AttributeProto attr) {
            switch (attr.getName()) {
                case "value" -> {
                    if (attr.hasT()) {
                        TensorProto t = attr.getT();
                        addTensor(t.getDataType(), Tensors.elementCount(t), Tensors.byteSize(t));
                    }
                }
                case "value_float" -> addTensor(DataType.FLOAT_VALUE, 1, 4);
                case "value_floats" -> addTensor(DataType.FLOAT_VALUE, attr.getFloatsCount(),
                        4L * attr.getFloatsCount());
                case "value_int" -> addTensor(DataType.INT64_VALUE, 1, 8);
                case "value_ints" -> addTensor(DataType.INT64_VALUE, attr.getIntsCount(), 8L * attr.getIntsCount());
                default -> { } // strings and sparse constants are not parameters
            }
        }

        private void addTensor(int dataType, long elements, long bytes) {
            long[] stats = parameters.computeIfAbsent(Tensors.typeName(dataType), k -> new long[3]);
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
