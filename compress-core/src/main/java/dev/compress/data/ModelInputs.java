package dev.compress.data;

import dev.compress.BaseBuilder;
import dev.compress.CompressException;
import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/** Which model input data goes to, and what shape it has. */
public final class ModelInputs {
    private ModelInputs() {}

    /**
     * The input images are fed to: the model's only FLOAT tensor input.
     *
     * @throws CompressException BAD_INPUT naming the model if it has no float input, or several
     */
    public static ValueInfo imageInput(OnnxModel model) {
        List<ValueInfo> inputs = model.graph().inputs();
        List<ValueInfo> floats = inputs.stream()
                .filter(i -> i.isTensor() && i.elementType() == DataType.FLOAT)
                .toList();
        if (floats.size() == 1) {
            return floats.get(0);
        }
        String listed = inputs.isEmpty() ? "none" : inputs.stream().map(ValueInfo::describe)
                .collect(Collectors.joining(", "));
        if (floats.isEmpty()) {
            throw CompressException.badInput(model.source().orElse(null),
                    "has no float input to feed images to (inputs: " + listed + "); use .npy data for other inputs");
        }
        throw CompressException.badInput(model.source().orElse(null), "has " + floats.size() + " float inputs ("
                + listed + "); images can feed only one; use .npy data with one folder per input");
    }

    /** Preprocessing for the model's image input: its shape and metadata, then {@code overrides}. */
    public static Preprocessing imagePreprocessing(OnnxModel model, Preprocessing.Overrides overrides) {
        ValueInfo input = imageInput(model);
        return Preprocessing.resolve(model.source().orElse(null), input.name(), shape(input), model.metadata(),
                overrides);
    }

    /** Elements one sample of all inputs holds, with an unknown dimension counted as 1, at which a batch is full. */
    static final long BATCH_ELEMENTS = 1L << 18;

    /**
     * The axis each input stacks samples on, in input order; -1 for a scalar input (no batch axis). {@code given}
     * (input name to axis, from the user) comes first. Otherwise the axis is found from the model's symbolic dims:
     * the names the inputs' first dims carry (e.g. {@code batch}) are batch dims, and an input whose first dim is not
     * one of them but which carries exactly one of them elsewhere ({@code h [2, batch, 64]}) stacks on that axis.
     * Every other input stacks on axis 0.
     *
     * @throws CompressException BAD_INPUT naming the model when {@code given} names no input or an axis outside it
     */
    public static Map<String, Integer> batchAxes(OnnxModel model, Map<String, Integer> given) {
        List<ValueInfo> inputs = model.graph().inputs();
        for (Map.Entry<String, Integer> e : given.entrySet()) {
            ValueInfo input = inputs.stream().filter(i -> i.name().equals(e.getKey())).findFirst()
                    .orElseThrow(() -> CompressException.badInput(model.source().orElse(null), "has no input '"
                            + e.getKey() + "' (--batch-axis); its inputs are " + inputs.stream()
                                    .map(ValueInfo::describe).collect(Collectors.joining(", "))));
            int rank = shape(input).length;
            if (e.getValue() < 0 || e.getValue() >= rank) {
                throw CompressException.badInput(model.source().orElse(null), "input " + input.describe() + " has "
                        + rank + " axes; --batch-axis " + e.getKey() + "=" + e.getValue() + " is not one of 0.."
                        + (rank - 1));
            }
        }
        Set<String> batchNames = new HashSet<>();
        for (ValueInfo input : inputs) {
            List<ValueInfo.Dim> dims = input.shape().orElse(List.of());
            if (!dims.isEmpty() && !dims.get(0).isKnown() && !dims.get(0).param().isEmpty()) {
                batchNames.add(dims.get(0).param());
            }
        }
        Map<String, Integer> axes = new LinkedHashMap<>();
        for (ValueInfo input : inputs) {
            List<ValueInfo.Dim> dims = input.shape().orElse(List.of());
            int axis = 0;
            if (given.containsKey(input.name())) {
                axis = given.get(input.name());
            } else if (input.shape().isPresent() && dims.isEmpty()) {
                axis = -1;
            } else if (!dims.isEmpty() && !batchNames.contains(dims.get(0).param())) {
                List<Integer> named = new ArrayList<>();
                for (int a = 1; a < dims.size(); a++) {
                    if (!dims.get(a).isKnown() && batchNames.contains(dims.get(a).param())) {
                        named.add(a);
                    }
                }
                axis = named.size() == 1 ? named.get(0) : 0;
            }
            axes.put(input.name(), axis);
        }
        return axes;
    }

    /**
     * The axis of a graph output that holds the samples: found from the symbolic dims as for inputs (the output's
     * first dim, unless it is not a batch name and exactly one other dim is), else 0.
     */
    public static int outputBatchAxis(OnnxModel model, String output) {
        Set<String> batchNames = new HashSet<>();
        for (ValueInfo input : model.graph().inputs()) {
            List<ValueInfo.Dim> dims = input.shape().orElse(List.of());
            if (!dims.isEmpty() && !dims.get(0).isKnown() && !dims.get(0).param().isEmpty()) {
                batchNames.add(dims.get(0).param());
            }
        }
        List<ValueInfo.Dim> dims = model.graph().outputs().stream().filter(o -> o.name().equals(output))
                .findFirst().flatMap(ValueInfo::shape).orElse(List.of());
        if (dims.isEmpty() || batchNames.contains(dims.get(0).param())) {
            return 0;
        }
        List<Integer> named = new ArrayList<>();
        for (int a = 1; a < dims.size(); a++) {
            if (!dims.get(a).isKnown() && batchNames.contains(dims.get(a).param())) {
                named.add(a);
            }
        }
        return named.size() == 1 ? named.get(0) : 0;
    }

    /**
     * The batch size a run over {@code model} should use when the user named none: the model's own when its inputs
     * fix one (every input's batch dimension the same number), else 32 samples, fewer for large inputs so a batch of
     * inputs stays near {@value #BATCH_ELEMENTS} elements (a 224x224 RGB image: 1, 28x28 gray: 32). ONNX Runtime's
     * memory grows with the batch and with the input size: 32 images of 224x224 took 8-21 GB during calibration.
     *
     * <p>A dimension the model leaves open other than the batch (a text line's width, a sequence length) is read from
     * {@code data}'s first sample: counted as 1, a 48x320 line image for an {@code [N,3,48,W]} model chose 32 and
     * calibration took 9 GB. Without data (or samples) it counts as 1.
     */
    public static int defaultBatchSize(OnnxModel model, Dataset data) {
        int fixed = fixedBatchSize(model);
        if (fixed > 0) {
            return fixed;
        }
        if (batchMixer(model).isPresent()) {
            return 1;
        }
        Map<String, Integer> axes = batchAxes(model, Map.of());
        Map<String, HostTensor> sample = Map.of();
        if (data != null && data.size() > 0 && model.graph().inputs().stream()
                .anyMatch(input -> openBeyondBatch(shape(input), axes.get(input.name())))) {
            sample = data.firstBatches(1, 1).get(0).inputs();
        }
        long elements = 0;
        for (ValueInfo input : model.graph().inputs()) {
            HostTensor fed = sample.get(input.name());
            long[] shape = fed != null ? fed.shape() : shape(input);
            int axis = fed != null ? fed.batchAxis() : axes.get(input.name());
            long perSample = 1;
            for (int i = 0; i < shape.length; i++) {
                perSample *= i == axis ? 1 : Math.max(1, shape[i]);
            }
            elements += perSample;
        }
        return (int) Math.max(1, Math.min(32, BATCH_ELEMENTS / Math.max(1, elements)));
    }

    /**
     * A node that reduces a tensor computed from the inputs over all its axes or over axis 0, where the samples are:
     * then one sample's output depends on the others in its batch, and every run (calibration, checks, evaluation)
     * must feed samples one at a time to see what the model does with each. openWakeWord's {@code
     * melspectrogram.onnx} floors its log-mel 80 dB below the ReduceMax of the whole batch: at batch 16 its INT8
     * fidelity measured 0.92, one clip at a time (as openWakeWord runs it) 0.56. Reductions of shapes (a ReduceProd of
     * a Shape) and of tensors computed from weights alone do not count; nor does a reduction whose axes are not
     * constant.
     */
    public static Optional<Node> batchMixer(OnnxModel model) {
        Graph graph = model.graph();
        Graph.Index index = graph.index();
        // the tensors computed from a model input (nodes are in topological order)
        Set<String> fed = new HashSet<>();
        graph.inputs().forEach(input -> fed.add(input.name()));
        for (Node node : graph.nodes()) {
            if (node.inputs().stream().anyMatch(fed::contains)) {
                fed.addAll(node.outputs());
            }
            if (!node.opType().startsWith("Reduce") || !node.domain().isEmpty() || node.inputs().isEmpty()
                    || !fed.contains(node.input(0)) || fromShape(index, node.input(0), 4)) {
                continue;
            }
            long[] axes = node.attribute("axes").map(Attribute::ints).orElse(null);
            if (axes == null && node.inputs().size() > 1 && !node.input(1).isEmpty()) {
                Optional<Tensor> given = graph.initializer(node.input(1)).or(() -> index.producer(node.input(1))
                        .filter(p -> p.opType().equals("Constant")).flatMap(Graph::constantValue));
                if (given.isEmpty()) {
                    continue; // computed axes: cannot tell
                }
                axes = given.get().longs();
            }
            boolean all = axes == null || axes.length == 0;
            if (all ? node.intAttribute("noop_with_empty_axes", 0) == 0 : Arrays.stream(axes).anyMatch(a -> a == 0)) {
                return Optional.of(node);
            }
        }
        return Optional.empty();
    }

    /** Whether {@code tensor} is computed, within {@code depth} nodes, from a Shape or Size. */
    private static boolean fromShape(Graph.Index index, String tensor, int depth) {
        Node producer = index.producer(tensor).orElse(null);
        if (producer == null || depth == 0) {
            return false;
        }
        if (producer.opType().equals("Shape") || producer.opType().equals("Size")) {
            return true;
        }
        return producer.inputs().stream().anyMatch(input -> fromShape(index, input, depth - 1));
    }

    /**
     * The batch size a builder was given, else {@link #defaultBatchSize} for its model and data: a fixed batch or a
     * model that mixes samples takes no other, whichever entry point runs it.
     */
    public static int batchSize(BaseBuilder<?> builder, OnnxModel model, Dataset data) {
        return builder.batchSizeGiven() ? builder.batchSize() : defaultBatchSize(model, data);
    }

    /** Whether a dimension other than the batch axis is unknown. */
    private static boolean openBeyondBatch(long[] shape, int batchAxis) {
        for (int i = 0; i < shape.length; i++) {
            if (i != batchAxis && shape[i] <= 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * The batch size the model's inputs fix (the same batch dimension on all of them), or 0 when it is free. A scalar
     * input (rank 0, like a sample rate) has no batch axis to stack samples on: it fixes 1.
     */
    public static int fixedBatchSize(OnnxModel model) {
        Map<String, Integer> axes = batchAxes(model, Map.of());
        if (axes.containsValue(-1)) {
            return 1;
        }
        long fixed = 0;
        for (ValueInfo input : model.graph().inputs()) {
            long[] shape = shape(input);
            int axis = axes.get(input.name());
            if (shape.length == 0 || shape[axis] <= 0 || (fixed != 0 && fixed != shape[axis])) {
                return 0;
            }
            fixed = shape[axis];
        }
        return (int) Math.min(fixed, Integer.MAX_VALUE);
    }

    /** The input's shape, -1 for dynamic or unknown dimensions; empty when the model records no shape. */
    public static long[] shape(ValueInfo input) {
        return input.shape().map(dims -> dims.stream().mapToLong(ValueInfo.Dim::value).toArray())
                .orElse(new long[0]);
    }
}
