package dev.compress.prepare;

import dev.compress.CompressException;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.runtime.ConstantEvaluator;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
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

    private void replaceByInitializer(Node node, Tensor value) {
        graph.nodes().remove(node);
        graph.putInitializer(value);
    }

    private void foldShapes() {
        // a graph output stays a node's output: folding it would make it an initializer
        List<Node> shapeNodes = graph.nodes().stream()
                .filter(n -> n.is("Shape") && !isConstant(n.input(0))
                        && !GraphPreparation.isGraphOutput(graph, n.output(0)))
                .toList();
        if (shapeNodes.isEmpty()) {
            return;
        }
        Map<String, Dim[]> known = staticShapes(shapeNodes.stream().map(n -> n.input(0)).toList());
        Graph.Index index = graph.index();
        for (Node shape : shapeNodes) {
            Dim[] dims = known.get(shape.input(0));
            if (dims == null) {
                left.add(GraphPreparation.left(shape, "no shape is known for '" + shape.input(0) + "'"));
                continue;
            }
            int rank = dims.length;
            int start = clamp(shape.intAttribute("start", 0), rank);
            int end = clamp(shape.intAttribute("end", rank), rank);
            Dim[] sliced = Arrays.copyOfRange(dims, start, Math.max(start, end));
            String output = shape.output(0);
            if (Arrays.stream(sliced).allMatch(Dim::isStatic)) {
                replaceByInitializer(shape, Tensor.int64s(output, new long[] {sliced.length}, values(sliced)));
                shapes++;
                continue;
            }
            // a symbolic dimension (the batch) stays computed; single static dimensions gathered from it fold
            int readers = 0;
            for (Node reader : index.consumers(output)) {
                long[] picked = gatheredIndices(reader, output);
                Dim[] gathered = picked == null ? null : pick(sliced, picked);
                if (gathered == null || !Arrays.stream(gathered).allMatch(Dim::isStatic)
                        || GraphPreparation.isGraphOutput(graph, reader.output(0))) {
                    readers++;
                    continue;
                }
                Tensor indices = graph.initializer(reader.input(1)).orElseThrow();
                replaceByInitializer(reader, Tensor.int64s(reader.output(0), indices.dims(),
                        values(gathered)));
                shapes++;
            }
            if (readers > 0) {
                Dim symbolic = Arrays.stream(sliced).filter(d -> !d.isStatic()).findFirst().orElseThrow();
                left.add(GraphPreparation.left(shape, "a dimension of '" + shape.input(0) + "' is "
                        + (symbolic.name().isEmpty() ? "unknown" : "symbolic ('" + symbolic.name() + "')")));
            }
        }
    }

    private static int clamp(long axis, int rank) {
        return (int) Math.max(0, Math.min(rank, axis < 0 ? axis + rank : axis));
    }

    /** The constant indices a Gather on axis 0 takes from {@code data}, or null. */
    private long[] gatheredIndices(Node reader, String data) {
        if (!reader.is("Gather") || !reader.input(0).equals(data)
                || reader.intAttribute("axis", 0) != 0 || !isConstant(reader.input(1))) {
            return null;
        }
        Tensor indices = graph.initializer(reader.input(1)).orElseThrow();
        return switch (indices.dataType()) {
            case INT64 -> indices.longs();
            case INT32 -> Arrays.stream(indices.ints()).asLongStream().toArray();
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
            ValueInfo info = graph.valueInfo(tensor).orElse(null);
            if (info != null && info.isTensor() && info.shape().isPresent()) {
                shapes.put(tensor, info.shape().get().stream().map(d -> new Dim(d.value(), d.param()))
                        .toArray(Dim[]::new));
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
        graph.outputs().forEach(o -> graphOutputs.add(o.name()));
        List<Node> candidates = new ArrayList<>();
        for (Node node : graph.nodes()) {
            boolean foldable = node.inDefaultDomain()
                    && SAFE.contains(node.opType())
                    && node.inputs().size() > 0
                    && node.inputs().stream().allMatch(in -> in.isEmpty() || constant.contains(in))
                    && node.outputs().stream().noneMatch(graphOutputs::contains);
            if (foldable) {
                candidates.add(node);
                constant.addAll(node.outputs());
            }
        }
        if (candidates.isEmpty()) {
            return;
        }
        Map<String, Tensor> values;
        try {
            values = ConstantEvaluator.evaluate(evaluationModel(candidates));
        } catch (CompressException e) {
            // the unprepared model would fail the same way when run
            throw CompressException.badInput(model.source().orElse(null), e.getMessage(), e);
        }
        Set<String> folded = new HashSet<>(graph.initializers().keySet());
        Set<Node> removed = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Node node : candidates) {
            String reason = null;
            for (String output : node.outputs()) {
                Tensor value = values.get(output);
                if (value == null) {
                    reason = "its result is not a numeric tensor";
                } else if (value.elementCount() > MAX_FOLDED_ELEMENTS) {
                    reason = "its result has " + value.elementCount() + " elements, over the "
                            + MAX_FOLDED_ELEMENTS + " folded at most";
                }
            }
            if (!node.inputs().stream().allMatch(in -> in.isEmpty() || folded.contains(in))) {
                continue; // an input stayed computed: so does this node
            }
            if (reason != null) {
                left.add(GraphPreparation.left(node, reason));
                continue;
            }
            removed.add(node);
            for (String output : node.outputs()) {
                graph.putInitializer(values.get(output));
                folded.add(output);
            }
            constants++;
        }
        graph.nodes().removeIf(removed::contains);
    }

    /** The candidates alone, reading the initializers they need and returning every value they compute. */
    private OnnxModel evaluationModel(List<Node> candidates) {
        Graph body = Graph.named("constants");
        body.nodes().addAll(candidates);
        for (Node node : candidates) {
            for (String in : node.inputs()) {
                graph.initializer(in).ifPresent(body::putInitializer);
            }
            node.outputs().forEach(out -> body.outputs().add(ValueInfo.named(out)));
        }
        // candidates are all default-domain ops: custom domains are not imported, so ONNX Runtime needs no custom ops
        return OnnxModel.of(model.irVersion(),
                Map.of(OnnxModel.DEFAULT_DOMAIN, model.opset(OnnxModel.DEFAULT_DOMAIN)), body);
    }
}
