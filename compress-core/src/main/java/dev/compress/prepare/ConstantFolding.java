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
 * input has a static shape, recorded, inferred by ONNX Runtime or, where inference loses it, seen in runs
 * ({@link ShapeProbe}). Values are computed by ONNX Runtime's own kernels, so they are what the unfolded model
 * would compute. In If/Loop/Scan bodies, Constant nodes and safe ops over constants (the body's or an enclosing
 * graph's) fold too: silero VAD v5 reorders its LSTM gates there, with Slice and Concat of main-graph weights.
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
            "Reciprocal", "ConstantOfShape", "Range", "Equal", "Where", "Floor", "Ceil", "Mod", "Abs", "Max", "Min",
            "Not", "And", "Or", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Expand", "Tile", "Pad",
            "ScatterND");

    private final OnnxModel model;
    private final Graph graph;
    /** The folding of the enclosing graph, whose constants a body may read; null for the main graph. */
    private final ConstantFolding parent;
    /** What the last round left: earlier rounds' entries may have been folded since. */
    private final List<PreparationReport.Left> left = new ArrayList<>();
    /** Shapes inference cannot follow, by running the model (main graph only). */
    private final ShapeProbe probe = new ShapeProbe();
    private int constants;
    private int shapes;
    private int reshapeTargets;
    private int dead;

    private ConstantFolding(OnnxModel model, Graph graph, ConstantFolding parent) {
        this.model = model;
        this.graph = graph;
        this.parent = parent;
    }

    /**
     * Folds what it can in {@code model}'s graph; returns {constants folded, shapes folded, Reshape targets folded,
     * nodes left unread}.
     */
    static int[] apply(OnnxModel model, List<PreparationReport.Left> left) {
        ConstantFolding folding = new ConstantFolding(model, model.graph(), null);
        folding.constants += folding.graph.promoteConstants().size();
        folding.foldSafeOps();
        // a folded shape can make a Reshape target constant, which gives the shapes after it: repeat until stable
        int before;
        do {
            before = folding.shapes + folding.reshapeTargets;
            folding.left.clear();
            folding.foldShapes();
            folding.foldSafeOps();
            folding.foldReshapeTargets();
            // the Shape chains a folded target no longer reads go now, so that the next round does not report them
            folding.dead += GraphPreparation.removeDeadNodes(folding.graph);
        } while (folding.shapes + folding.reshapeTargets > before);
        folding.foldBodies();
        left.addAll(folding.left);
        return new int[] {folding.constants, folding.shapes, folding.reshapeTargets, folding.dead};
    }

    /**
     * Folds Constant nodes and safe ops over constants in every body of this graph's nodes, innermost last; counts
     * them here. Shapes are left to run time: a body's shapes are not inferred here.
     */
    private void foldBodies() {
        for (Node node : graph.nodes()) {
            for (Graph body : node.subgraphs()) {
                ConstantFolding inner = new ConstantFolding(model, body, this);
                inner.constants += body.promoteConstants().size();
                inner.foldSafeOps();
                inner.dead += GraphPreparation.removeDeadNodes(body);
                inner.foldBodies();
                // what folding read or produced and nothing reads any more (body initializers are not interface)
                Graph.Index index = body.index();
                body.initializers().keySet().removeIf(name -> index.consumers(name).isEmpty()
                        && !GraphPreparation.isGraphOutput(body, name) && !GraphPreparation.isGraphInput(body, name));
                constants += inner.constants;
                dead += inner.dead;
                left.addAll(inner.left);
            }
        }
    }

    /**
     * Initializers whose value cannot change at run time (not also declared as overridable graph inputs): this
     * graph's own, or, in a body that does not define the name, an enclosing graph's.
     */
    private boolean isConstant(String tensor) {
        if (graph.initializers().containsKey(tensor)) {
            return !GraphPreparation.isGraphInput(graph, tensor);
        }
        // the enclosing graphs first: a hash lookup each, where defines() reads every node of this body
        return parent != null && parent.isConstant(tensor) && !graph.defines(tensor);
    }

    /** The value of a constant as {@link #isConstant} finds it. */
    private java.util.Optional<Tensor> constantValue(String tensor) {
        java.util.Optional<Tensor> own = graph.initializer(tensor);
        if (own.isPresent() || parent == null) {
            return own;
        }
        return parent.constantValue(tensor).filter(outer -> !graph.defines(tensor));
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
        // what inference leaves unknown (not a named symbol, which is the input's own), a run may tell
        Map<String, Dim[]> probed = probe.probe(model, shapeNodes.stream().filter(n -> {
            Dim[] dims = known.get(n.input(0));
            return dims == null || Arrays.stream(dims).anyMatch(d -> !d.isStatic() && d.name().isEmpty());
        }).toList());
        Graph.Index index = graph.index();
        for (Node shape : shapeNodes) {
            Dim[] dims = known.get(shape.input(0));
            Dim[] sliced = probed.get(shape.output(0));
            if (sliced == null && dims == null) {
                left.add(GraphPreparation.left(shape, probe.whyNot(shape)));
                continue;
            }
            if (sliced == null) {
                int rank = dims.length;
                int start = clamp(shape.intAttribute("start", 0), rank);
                int end = clamp(shape.intAttribute("end", rank), rank);
                sliced = Arrays.copyOfRange(dims, start, Math.max(start, end));
            }
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
                left.add(GraphPreparation.left(shape, !symbolic.name().isEmpty()
                        ? "a dimension of '" + shape.input(0) + "' is symbolic ('" + symbolic.name() + "')"
                        : probe.dependsOnValues(shape) ? ShapeProbe.dependsOnValuesReason(shape)
                        : "a dimension of '" + shape.input(0) + "' is unknown"));
            }
        }
    }

    /**
     * Reshape targets computed from a symbolic dimension: torch writes {@code x.view(n, g, c / g, h, w)} as a Concat
     * of {@code Unsqueeze(Gather(Shape(x), 0))} and constants, so with a dynamic batch the target, and every shape
     * after it, is computed again on each call (shufflenet_v2: about 250 small nodes; a ViT's attention reshapes).
     * An entry that is the data's own dimension at its position (gathered from the data's Shape, or the same symbol)
     * becomes 0 (Reshape copies it; not with {@code allowzero}), and a single entry still unknown becomes -1 (Reshape
     * infers it from the size). The target is then a constant, and the shapes after it can be inferred in the next
     * round.
     */
    private void foldReshapeTargets() {
        Graph.Index index = graph.index();
        List<Node> reshapes = new ArrayList<>();
        Set<String> tensors = new LinkedHashSet<>();
        for (Node reshape : graph.nodes()) {
            Node concat = reshape.is("Reshape") && reshape.inputs().size() == 2 && !isConstant(reshape.input(1))
                    && reshape.intAttribute("allowzero", 0) == 0
                    ? index.producer(reshape.input(1)).orElse(null) : null;
            if (concat == null || !concat.is("Concat") || concat.intAttribute("axis", 0) != 0) {
                continue;
            }
            reshapes.add(reshape);
            tensors.add(reshape.input(0));
            for (String piece : concat.inputs()) {
                if (!isConstant(piece)) {
                    tensors.add(piece);
                    Node gather = shapeGather(piece, index);
                    if (gather != null) {
                        tensors.add(index.producer(gather.input(0)).orElseThrow().input(0));
                    }
                }
            }
        }
        if (reshapes.isEmpty()) {
            return;
        }
        Map<String, Dim[]> known = staticShapes(List.copyOf(tensors));
        for (Node reshape : reshapes) {
            long[] target = constantTarget(index.producer(reshape.input(1)).orElseThrow(), reshape.input(0), index,
                    known);
            if (target == null) {
                left.add(GraphPreparation.left(reshape, "its target '" + reshape.input(1)
                        + "' holds more than one dimension known only when the model runs"));
                continue;
            }
            String name = graph.uniqueName(reshape.input(1) + "_constant");
            graph.putInitializer(Tensor.int64s(name, new long[] {target.length}, target));
            reshape.setInput(1, name);
            reshapeTargets++;
        }
    }

    /**
     * The target of a Reshape whose target is {@code concat}, with 0 and -1 for what only the call knows, or null
     * when more than one entry stays unknown.
     */
    private long[] constantTarget(Node concat, String dataName, Graph.Index index, Map<String, Dim[]> known) {
        Dim[] data = known.get(dataName);
        List<Long> target = new ArrayList<>();
        int unknown = -1;
        for (String piece : concat.inputs()) {
            if (isConstant(piece)) {
                for (long value : graph.initializer(piece).orElseThrow().longs()) {
                    target.add(value);
                }
                continue;
            }
            Dim[] pieceShape = known.get(piece);
            if (pieceShape == null || pieceShape.length != 1 || !pieceShape[0].isStatic()) {
                return null; // its length is unknown, so are the positions after it
            }
            Node gather = pieceShape[0].value() == 1 ? shapeGather(piece, index) : null;
            Dim dim = gather == null ? null : dimensionGathered(gather, index, known);
            int position = target.size();
            if (gather != null && gathersOwnDimension(gather, dataName, position, index)) {
                target.add(0L); // the data's own dimension at this position, named or not (BERT's view(b, s, h, d))
            } else if (dim != null && dim.isStatic()) {
                target.add(dim.value());
            } else if (dim != null && !dim.name().isEmpty() && data != null && position < data.length
                    && dim.name().equals(data[position].name())) {
                target.add(0L);
            } else if (unknown < 0 && pieceShape[0].value() == 1) {
                unknown = position;
                target.add(-1L);
            } else {
                return null;
            }
        }
        if (unknown >= 0 && target.stream().filter(value -> value == -1).count() > 1) {
            return null; // the exporter's own -1 is there: a second one is not allowed
        }
        return target.stream().mapToLong(Long::longValue).toArray();
    }

    /** The Gather of one dimension from a Shape that {@code piece} is (or unsqueezes), or null. */
    private Node shapeGather(String piece, Graph.Index index) {
        Node node = index.producer(piece).orElse(null);
        if (node != null && node.is("Unsqueeze")) {
            node = index.producer(node.input(0)).orElse(null);
        }
        if (node == null || !node.is("Gather")
                || !index.producer(node.input(0)).map(shape -> shape.is("Shape")).orElse(false)) {
            return null;
        }
        long[] picked = gatheredIndices(node, node.input(0));
        return picked != null && picked.length == 1 ? node : null;
    }

    /** Whether {@code gather} (a {@link #shapeGather}) takes dimension {@code position} of {@code data}'s Shape. */
    private boolean gathersOwnDimension(Node gather, String data, int position, Graph.Index index) {
        Node shape = index.producer(gather.input(0)).orElseThrow();
        return shape.input(0).equals(data) && shape.intAttribute("start", 0) == 0
                && gatheredIndices(gather, gather.input(0))[0] == position;
    }

    /** The dimension {@code gather} (a {@link #shapeGather}) takes from a Shape, as inferred, or null. */
    private Dim dimensionGathered(Node gather, Graph.Index index, Map<String, Dim[]> known) {
        Node shape = index.producer(gather.input(0)).orElseThrow();
        Dim[] dims = known.get(shape.input(0));
        if (dims == null) {
            return null;
        }
        int rank = dims.length;
        int start = clamp(shape.intAttribute("start", 0), rank);
        int end = clamp(shape.intAttribute("end", rank), rank);
        Dim[] picked = pick(Arrays.copyOfRange(dims, start, Math.max(start, end)),
                gatheredIndices(gather, gather.input(0)));
        return picked == null ? null : picked[0];
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
    record Dim(long value, String name) {
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
        for (Node node : graph.nodes()) { // an enclosing graph's constants that this body reads
            node.inputs().stream().filter(in -> !in.isEmpty() && isConstant(in)).forEach(constant::add);
        }
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
        Set<String> folded = new HashSet<>(constant);
        candidates.forEach(node -> folded.removeAll(node.outputs()));
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
                constantValue(in).ifPresent(body::putInitializer);
            }
            node.outputs().forEach(out -> body.outputs().add(ValueInfo.named(out)));
        }
        // candidates are all default-domain ops: custom domains are not imported, so ONNX Runtime needs no custom ops
        return OnnxModel.of(model.irVersion(),
                Map.of(OnnxModel.DEFAULT_DOMAIN, model.opset(OnnxModel.DEFAULT_DOMAIN)), body);
    }
}
