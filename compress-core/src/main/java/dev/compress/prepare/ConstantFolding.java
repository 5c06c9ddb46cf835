package dev.compress.prepare;

import dev.compress.CompressException;
import dev.compress.graph.Graph;
import dev.compress.graph.Nodes;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensors;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.runtime.ConstantEvaluator;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Replaces computations whose result does not depend on the model's inputs by initializers: Constant nodes, nodes of
 * a safe op set whose inputs are all initializers, and Shape nodes (or single dimensions gathered from them) whose
 * input has a static shape. Values are computed by ONNX Runtime's own kernels, so they are what the unfolded model
 * would compute.
 */
final class ConstantFolding {
    /** Results larger than this stay computed at run time, so folding never adds more than 4 MB (float) a value. */
    static final long MAX_FOLDED_ELEMENTS = 1L << 20;

    /**
     * Deterministic arithmetic, shape and indexing ops; no randomness, no control flow, and no DequantizeLinear, so the
     * weights of a quantized model stay quantized.
     */
    private static final Set<String> SAFE = Set.of("Identity", "Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten",
            "Concat", "Gather", "Shape", "Size", "Slice", "Transpose", "Add", "Sub", "Mul", "Div", "Neg", "Sqrt",
            "Reciprocal", "ConstantOfShape", "Range", "Equal", "Where", "Floor", "Ceil");

    private final OnnxModel model;
    private final Graph graph;
    /** What the last round left: earlier rounds' entries may have been folded since. */
    private final List<PreparationReport.Left> left = new ArrayList<>();
    private int constants;
    private int shapes;

    private ConstantFolding(OnnxModel model) {
        this.model = model;
        this.graph = model.graph();
    }

    /** Folds what it can in {@code model}'s graph; returns {constants folded, shapes folded}. */
    static int[] apply(OnnxModel model, List<PreparationReport.Left> left) {
        ConstantFolding folding = new ConstantFolding(model);
        folding.constants += folding.graph.promoteConstants().size();
        folding.foldSafeOps();
        // a folded shape can make a Reshape target constant, which gives the shapes after it: repeat until stable
        int before;
        do {
            before = folding.shapes;
            folding.left.clear();
            folding.foldShapes();
            folding.foldSafeOps();
        } while (folding.shapes > before);
        left.addAll(folding.left);
        return new int[] {folding.constants, folding.shapes};
    }

    /** Initializers whose value cannot change at run time (not also declared as overridable graph inputs). */
    private boolean isConstant(String tensor) {
        return graph.initializers().containsKey(tensor) && !GraphPreparation.isGraphInput(graph, tensor);
    }

    private void replaceByInitializer(NodeProto node, TensorProto value) {
        graph.nodes().remove(node);
        graph.putInitializer(value);
    }

    private void foldShapes() {
        // a graph output stays a node's output: folding it would make it an initializer
        List<NodeProto> shapeNodes = graph.nodes().stream()
                .filter(n -> GraphPreparation.isOp(n, "Shape") && !isConstant(n.getInput(0))
                        && !GraphPreparation.isGraphOutput(graph, n.getOutput(0)))
                .toList();
        if (shapeNodes.isEmpty()) {
            return;
        }
        Map<String, Dim[]> known = staticShapes(shapeNodes.stream().map(n -> n.getInput(0)).toList());
        Graph.Index index = graph.index();
        for (NodeProto shape : shapeNodes) {
            Dim[] dims = known.get(shape.getInput(0));
            if (dims == null) {
                left.add(GraphPreparation.left(shape, "no shape is known for '" + shape.getInput(0) + "'"));
                continue;
            }
            int rank = dims.length;
            int start = clamp(Nodes.intAttribute(shape, "start", 0), rank);
            int end = clamp(Nodes.intAttribute(shape, "end", rank), rank);
            Dim[] sliced = Arrays.copyOfRange(dims, start, Math.max(start, end));
            String output = shape.getOutput(0);
            if (Arrays.stream(sliced).allMatch(Dim::isStatic)) {
                replaceByInitializer(shape, Tensors.int64s(output, new long[] {sliced.length}, values(sliced)));
                shapes++;
                continue;
            }
            // a symbolic dimension (the batch) stays computed; single static dimensions gathered from it fold
            int readers = 0;
            for (NodeProto reader : index.consumers(output)) {
                long[] picked = gatheredIndices(reader, output);
                Dim[] gathered = picked == null ? null : pick(sliced, picked);
                if (gathered == null || !Arrays.stream(gathered).allMatch(Dim::isStatic)
                        || GraphPreparation.isGraphOutput(graph, reader.getOutput(0))) {
                    readers++;
                    continue;
                }
                TensorProto indices = graph.initializer(reader.getInput(1)).orElseThrow();
                replaceByInitializer(reader, Tensors.int64s(reader.getOutput(0), Tensors.dims(indices),
                        values(gathered)));
                shapes++;
            }
            if (readers > 0) {
                Dim symbolic = Arrays.stream(sliced).filter(d -> !d.isStatic()).findFirst().orElseThrow();
                left.add(GraphPreparation.left(shape, "a dimension of '" + shape.getInput(0) + "' is "
                        + (symbolic.name().isEmpty() ? "unknown" : "symbolic ('" + symbolic.name() + "')")));
            }
        }
    }

    private static int clamp(long axis, int rank) {
        return (int) Math.max(0, Math.min(rank, axis < 0 ? axis + rank : axis));
    }

    /** The constant indices a Gather on axis 0 takes from {@code data}, or null. */
    private long[] gatheredIndices(NodeProto reader, String data) {
        if (!GraphPreparation.isOp(reader, "Gather") || !reader.getInput(0).equals(data)
                || Nodes.intAttribute(reader, "axis", 0) != 0 || !isConstant(Nodes.input(reader, 1))) {
            return null;
        }
        TensorProto indices = graph.initializer(reader.getInput(1)).orElseThrow();
        return switch (indices.getDataType()) {
            case TensorProto.DataType.INT64_VALUE -> longs(indices);
            case TensorProto.DataType.INT32_VALUE -> Arrays.stream(ints(indices)).asLongStream().toArray();
            default -> null;
        };
    }

    private static Dim[] pick(Dim[] dims, long[] indices) {
        Dim[] picked = new Dim[indices.length];
        for (int i = 0; i < indices.length; i++) {
            long k = indices[i] < 0 ? indices[i] + dims.length : indices[i];
            if (k < 0 || k >= dims.length) {
                return null;
            }
            picked[i] = dims[(int) k];
        }
        return picked;
    }

    private static long[] values(Dim[] dims) {
        return Arrays.stream(dims).mapToLong(Dim::value).toArray();
    }

    private static long[] longs(TensorProto tensor) {
        if (!tensor.hasRawData()) {
            return tensor.getInt64DataList().stream().mapToLong(Long::longValue).toArray();
        }
        long[] values = new long[(int) Tensors.elementCount(tensor)];
        tensor.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(values);
        return values;
    }

    private static int[] ints(TensorProto tensor) {
        if (!tensor.hasRawData()) {
            return tensor.getInt32DataList().stream().mapToInt(Integer::intValue).toArray();
        }
        int[] values = new int[(int) Tensors.elementCount(tensor)];
        ByteBuffer data = tensor.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        data.asIntBuffer().get(values);
        return values;
    }

    /** One dimension: a value, or -1 with the symbol ("" when unnamed). */
    private record Dim(long value, String name) {
        boolean isStatic() {
            return value >= 0;
        }
    }

    /**
     * Shapes of {@code tensors} as the model records them (inputs, value infos), else as ONNX Runtime infers them;
     * tensors whose rank is not known are absent.
     */
    private Map<String, Dim[]> staticShapes(List<String> tensors) {
        Map<String, Dim[]> shapes = new HashMap<>();
        Set<String> unknown = new LinkedHashSet<>();
        for (String tensor : tensors) {
            ValueInfoProto info = graph.valueInfo(tensor).orElse(null);
            if (info != null && info.getType().getTensorType().hasShape()) {
                TensorShapeProto shape = info.getType().getTensorType().getShape();
                shapes.put(tensor, shape.getDimList().stream().map(d -> d.hasDimValue()
                        ? new Dim(d.getDimValue(), "") : new Dim(-1, d.getDimParam())).toArray(Dim[]::new));
            } else {
                unknown.add(tensor);
            }
        }
        if (unknown.isEmpty()) {
            return shapes;
        }
        try (OrtModel probe = OrtModel.open(model.withExtraOutputs(unknown),
                RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE))) {
            Map<String, long[]> inferred = probe.outputShapes();
            Map<String, String[]> names = probe.outputDimensionNames();
            for (String tensor : unknown) {
                long[] dims = inferred.get(tensor);
                // ONNX Runtime reports an unknown rank as rank 0: only a real rank is trusted
                if (dims == null || dims.length == 0) {
                    continue;
                }
                Dim[] shape = new Dim[dims.length];
                for (int d = 0; d < dims.length; d++) {
                    shape[d] = new Dim(dims[d], dims[d] >= 0 ? "" : names.get(tensor)[d]);
                }
                shapes.put(tensor, shape);
            }
        } catch (CompressException e) {
            // ONNX Runtime cannot load the model (custom ops): those shapes stay unknown and are reported
        }
        return shapes;
    }

    private void foldSafeOps() {
        Set<String> constant = new HashSet<>();
        graph.initializers().keySet().stream().filter(this::isConstant).forEach(constant::add);
        Set<String> graphOutputs = new HashSet<>();
        graph.outputs().forEach(o -> graphOutputs.add(o.getName()));
        List<NodeProto> candidates = new ArrayList<>();
        for (NodeProto node : graph.nodes()) {
            boolean foldable = (node.getDomain().isEmpty() || node.getDomain().equals("ai.onnx"))
                    && SAFE.contains(node.getOpType())
                    && node.getInputCount() > 0
                    && node.getInputList().stream().allMatch(in -> in.isEmpty() || constant.contains(in))
                    && node.getOutputList().stream().noneMatch(graphOutputs::contains);
            if (foldable) {
                candidates.add(node);
                constant.addAll(node.getOutputList());
            }
        }
        if (candidates.isEmpty()) {
            return;
        }
        Map<String, TensorProto> values;
        try {
            values = ConstantEvaluator.evaluate(evaluationModel(candidates));
        } catch (CompressException e) {
            // the unprepared model would fail the same way when run
            throw CompressException.badInput(model.source().orElse(null), e.getMessage(), e);
        }
        Set<String> folded = new HashSet<>(graph.initializers().keySet());
        Set<NodeProto> removed = Collections.newSetFromMap(new IdentityHashMap<>());
        for (NodeProto node : candidates) {
            String reason = null;
            for (String output : node.getOutputList()) {
                TensorProto value = values.get(output);
                if (value == null) {
                    reason = "its result is not a numeric tensor";
                } else if (Tensors.elementCount(value) > MAX_FOLDED_ELEMENTS) {
                    reason = "its result has " + Tensors.elementCount(value) + " elements, over the "
                            + MAX_FOLDED_ELEMENTS + " folded at most";
                }
            }
            if (!node.getInputList().stream().allMatch(in -> in.isEmpty() || folded.contains(in))) {
                continue; // an input stayed computed: so does this node
            }
            if (reason != null) {
                left.add(GraphPreparation.left(node, reason));
                continue;
            }
            removed.add(node);
            for (String output : node.getOutputList()) {
                graph.putInitializer(values.get(output));
                folded.add(output);
            }
            constants++;
        }
        graph.nodes().removeIf(removed::contains);
    }

    /** The candidates alone, reading the initializers they need and returning every value they compute. */
    private ModelProto evaluationModel(List<NodeProto> candidates) {
        GraphProto.Builder body = GraphProto.newBuilder().setName("constants").addAllNode(candidates);
        Set<String> added = new HashSet<>();
        for (NodeProto node : candidates) {
            for (String in : node.getInputList()) {
                TensorProto init = graph.initializers().get(in);
                if (init != null && added.add(in)) {
                    body.addInitializer(init);
                }
            }
            node.getOutputList().forEach(out -> body.addOutput(ValueInfoProto.newBuilder().setName(out)));
        }
        // candidates are all default-domain ops: custom domains are not imported, so ONNX Runtime needs no custom ops
        return ModelProto.newBuilder().setIrVersion(model.irVersion()).setGraph(body)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(OnnxModel.DEFAULT_DOMAIN)
                        .setVersion(model.opset(OnnxModel.DEFAULT_DOMAIN)))
                .build();
    }
}
