package dev.compress.prepare;

import dev.compress.CompressException;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.runtime.ConstantEvaluator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The values of Shape nodes that neither the recorded shapes nor ONNX Runtime's inference know, found by running the
 * model on zeros at batch sizes 1, 2 and 3: an entry equal in all three runs is static. torchvision's Swin
 * Transformer pads each window from {@code x.shape} modulo the window size; its Pad's pads are computed, so inference
 * loses the rank there and every Shape after it (about 3,000 nodes of Shape, Gather, Concat, Range and ScatterND
 * arithmetic in swin_t) ran on each call.
 *
 * <p>Runs are only trusted where shapes follow from the inputs' shapes: a Shape whose input's shape depends on input
 * values (after a NonZero, or a Reshape, Slice, Range, ... whose shape operand is computed from data) is not probed.
 * Models whose inputs have a symbolic dimension other than the first (sequence length, image size) are not probed:
 * which sizes are valid there is not known.
 */
final class ShapeProbe {
    private static final long[] BATCHES = {1, 2, 3};

    /** Standard ops whose output shape depends on the values of their data. */
    private static final Set<String> DATA_SHAPED = Set.of("NonZero", "Unique", "Compress", "NonMaxSuppression", "If",
            "Loop", "Scan", "StringSplit", "SplitToSequence", "SequenceAt", "SequenceConstruct", "SequenceInsert",
            "SequenceErase", "ConcatFromSequence", "OptionalGetElement");

    /** Standard ops whose values differ from run to run: a shape computed from them is not what one run saw. */
    private static final Set<String> RANDOM = Set.of("RandomNormal", "RandomUniform", "RandomNormalLike",
            "RandomUniformLike", "Multinomial", "Bernoulli");

    /** Standard ops and the inputs whose values (not only shapes) decide their output shape. */
    private static final Map<String, Set<Integer>> SHAPE_OPERANDS = Map.ofEntries(
            Map.entry("Reshape", Set.of(1)), Map.entry("Expand", Set.of(1)), Map.entry("Tile", Set.of(1)),
            Map.entry("Slice", Set.of(1, 2, 3, 4)), Map.entry("Pad", Set.of(1, 3)),
            Map.entry("ConstantOfShape", Set.of(0)), Map.entry("Range", Set.of(0, 1, 2)),
            Map.entry("Resize", Set.of(2, 3)), Map.entry("Upsample", Set.of(1)), Map.entry("Squeeze", Set.of(1)),
            Map.entry("Unsqueeze", Set.of(1)), Map.entry("Split", Set.of(1)), Map.entry("TopK", Set.of(1)),
            Map.entry("OneHot", Set.of(1)), Map.entry("CenterCropPad", Set.of(1)), Map.entry("Col2Im", Set.of(1, 2)),
            Map.entry("MaxUnpool", Set.of(2)), Map.entry("AffineGrid", Set.of(1)), Map.entry("DFT", Set.of(1, 2)),
            Map.entry("STFT", Set.of(1, 3)), Map.entry("MelWeightMatrix", Set.of(0, 1, 2)),
            Map.entry("HannWindow", Set.of(0)), Map.entry("HammingWindow", Set.of(0)),
            Map.entry("BlackmanWindow", Set.of(0)), Map.entry("ReduceSum", Set.of(1)),
            Map.entry("ReduceMean", Set.of(1)), Map.entry("ReduceMax", Set.of(1)), Map.entry("ReduceMin", Set.of(1)),
            Map.entry("ReduceProd", Set.of(1)), Map.entry("ReduceL1", Set.of(1)), Map.entry("ReduceL2", Set.of(1)),
            Map.entry("ReduceLogSum", Set.of(1)), Map.entry("ReduceLogSumExp", Set.of(1)),
            Map.entry("ReduceSumSquare", Set.of(1)));

    private final Map<String, long[][]> runs = new HashMap<>();
    /** Shape outputs asked for once: one whose rank changed with the batch is not run for again. */
    private final Set<String> tried = new HashSet<>();
    /** Why the model cannot be probed, once known. */
    private String unavailable;
    /** {@link #valueShaped} of the graph as the last {@link #probe} saw it. */
    private Set<String> valueShaped = Set.of();

    /**
     * For each Shape node of {@code shapeNodes} that can be probed, its output as dimensions: static where equal in
     * every run, else unknown (-1, unnamed). Results are kept, so later rounds of folding run the model only for
     * Shape nodes not probed before; a model that cannot be probed is not tried again.
     */
    Map<String, ConstantFolding.Dim[]> probe(OnnxModel model, List<Node> shapeNodes) {
        valueShaped = valueShaped(model.graph());
        List<String> wanted = shapeNodes.stream().filter(n -> !valueShaped.contains(n.input(0)))
                .map(n -> n.output(0)).filter(out -> !tried.contains(out)).toList();
        tried.addAll(wanted);
        if (!wanted.isEmpty() && unavailable == null) {
            run(model, wanted);
        }
        Map<String, ConstantFolding.Dim[]> dims = new HashMap<>();
        for (Node shape : shapeNodes) {
            long[][] values = runs.get(shape.output(0));
            if (values == null || valueShaped.contains(shape.input(0))) {
                continue;
            }
            ConstantFolding.Dim[] entries = new ConstantFolding.Dim[values[0].length];
            for (int i = 0; i < entries.length; i++) {
                boolean same = true;
                for (long[] run : values) {
                    same &= run[i] == values[0][i];
                }
                entries[i] = new ConstantFolding.Dim(same ? values[0][i] : -1, "");
            }
            dims.put(shape.output(0), entries);
        }
        return dims;
    }

    /** Why {@link #probe} gave no dimensions for {@code shape}, whose input's rank is not known either. */
    String whyNot(Node shape) {
        String tensor = shape.input(0);
        return dependsOnValues(shape) ? dependsOnValuesReason(shape)
                : unavailable != null ? "no shape is known for '" + tensor + "' (" + unavailable + ")"
                : "no shape is known for '" + tensor + "'";
    }

    /** Whether the last {@link #probe} left {@code shape} out because its input's shape depends on input values. */
    boolean dependsOnValues(Node shape) {
        return valueShaped.contains(shape.input(0));
    }

    static String dependsOnValuesReason(Node shape) {
        return "the shape of '" + shape.input(0) + "' depends on input values";
    }

    private void run(OnnxModel model, List<String> shapeOutputs) {
        Graph graph = model.graph();
        boolean batched = false;
        for (ValueInfo input : graph.inputs()) {
            List<ValueInfo.Dim> shape = input.isTensor() ? input.shape().orElse(null) : null;
            if (shape == null || input.elementType().size() == 0) {
                unavailable = "input '" + input.name() + "' has no tensor shape to run the model on";
                return;
            }
            for (int axis = 0; axis < shape.size(); axis++) {
                if (!shape.get(axis).isKnown()) {
                    if (axis > 0) {
                        unavailable = "input '" + input.name() + "' has a dimension known only when the model runs"
                                + " beyond the batch";
                        return;
                    }
                    batched = true;
                }
            }
        }
        long[] batches = batched ? BATCHES : new long[] {BATCHES[0]};
        long[][][] values = new long[shapeOutputs.size()][batches.length][];
        for (int b = 0; b < batches.length; b++) {
            Map<String, Tensor> result;
            try {
                result = ConstantEvaluator.evaluate(onZeros(model, shapeOutputs, batches[b]));
            } catch (CompressException | IllegalArgumentException | ArithmeticException e) {
                unavailable = "the model does not run on zeros at batch " + batches[b] + " (" + e.getMessage() + ")";
                return;
            }
            for (int i = 0; i < shapeOutputs.size(); i++) {
                Tensor value = result.get(shapeOutputs.get(i));
                values[i][b] = value == null || value.dataType() != DataType.INT64 ? null : value.longs();
            }
        }
        for (int i = 0; i < shapeOutputs.size(); i++) {
            long[][] perBatch = values[i];
            // a rank that changes with the batch (a Squeeze of a batch of 1) is no static shape
            boolean consistent = Stream.of(perBatch).allMatch(v -> v != null && v.length == perBatch[0].length);
            if (consistent) {
                runs.put(shapeOutputs.get(i), perBatch);
            }
        }
    }

    /**
     * The model with its inputs replaced by zeros (a symbolic first dimension set to {@code batch}), outputting the
     * named tensors only.
     */
    private static OnnxModel onZeros(OnnxModel model, List<String> outputs, long batch) {
        OnnxModel probe = model.copy();
        Graph graph = probe.graph();
        for (ValueInfo input : graph.inputs()) {
            List<ValueInfo.Dim> shape = input.shape().orElseThrow();
            long[] dims = new long[shape.size()];
            for (int axis = 0; axis < dims.length; axis++) {
                dims[axis] = shape.get(axis).isKnown() ? shape.get(axis).value() : batch;
            }
            long count = java.util.Arrays.stream(dims).reduce(1, Math::multiplyExact);
            graph.declaredInputs().removeIf(declared -> declared.name().equals(input.name()));
            graph.putInitializer(Tensor.of(input.name(), input.elementType(), dims,
                    new byte[Math.toIntExact(count * input.elementType().size())]));
        }
        graph.outputs().clear();
        outputs.forEach(out -> graph.outputs().add(ValueInfo.named(out)));
        return probe;
    }

    /**
     * Tensors of the main graph whose shape may depend on the values of the model's inputs, not only on their shapes:
     * what {@link #DATA_SHAPED} ops write, what reads a {@link #SHAPE_OPERANDS shape operand} computed from input
     * values, and what any op of another domain writes from input-dependent values; and all that follows from them.
     * Shape and Size outputs carry no input values, only shapes.
     */
    static Set<String> valueShaped(Graph graph) {
        Set<String> known = new HashSet<>();
        Set<String> fromValues = new HashSet<>(); // values computed from the inputs' values
        Set<String> shaped = new HashSet<>();
        graph.initializers().keySet().forEach(known::add);
        for (ValueInfo input : graph.inputs()) {
            known.add(input.name());
            fromValues.add(input.name());
        }
        for (Node node : graph.nodes()) {
            List<String> inputs = node.inputs();
            // an input not produced before its reader (an unsorted graph) is taken at its worst
            java.util.function.Predicate<String> valued = in -> !in.isEmpty()
                    && (fromValues.contains(in) || !known.contains(in));
            java.util.function.Predicate<String> varying = in -> !in.isEmpty()
                    && (shaped.contains(in) || !known.contains(in));
            boolean outputShaped;
            boolean outputValued;
            if (!node.inDefaultDomain()) {
                outputShaped = inputs.stream().anyMatch(valued.or(varying));
                outputValued = outputShaped;
            } else if (RANDOM.contains(node.opType())) {
                outputShaped = inputs.stream().anyMatch(varying);
                outputValued = true;
            } else if (node.is("Shape") || node.is("Size")) {
                outputShaped = false;
                outputValued = varying.test(node.input(0));
            } else {
                Set<Integer> operands = SHAPE_OPERANDS.getOrDefault(node.opType(), Set.of());
                outputShaped = DATA_SHAPED.contains(node.opType()) || inputs.stream().anyMatch(varying);
                for (int i = 0; i < inputs.size() && !outputShaped; i++) {
                    outputShaped = operands.contains(i) && valued.test(inputs.get(i));
                }
                outputValued = inputs.stream().anyMatch(valued);
            }
            for (String output : node.outputs()) {
                known.add(output);
                if (outputShaped) {
                    shaped.add(output);
                }
                if (outputValued) {
                    fromValues.add(output);
                }
            }
        }
        return shaped;
    }
}
