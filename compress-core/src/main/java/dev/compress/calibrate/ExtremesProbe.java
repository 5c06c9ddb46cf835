package dev.compress.calibrate;

import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.runtime.OrtModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The model extended so that ONNX Runtime measures the extremes of the calibrated tensors while it runs, at close to
 * the cost of plain inference (MinMax calibration, and every sample a histogram is not kept for).
 *
 * <p>Observing a tensor costs time because ONNX Runtime must then keep it, and because its CPU provider runs
 * convolutions in a blocked channel layout (NCHWc) and would copy an observed tensor back to plain layout for a
 * reduction. So, per tensor:
 *
 * <ul>
 *   <li>4-d tensors with static channels and spatial size are reduced by GlobalMaxPool, which ONNX Runtime runs in the
 *       blocked layout; Java takes the maximum of the small [N, C, 1, 1] result. Their minimum is the negated maximum
 *       of a depthwise 1x1 convolution with weight -1, also blocked. Other tensors use ReduceMax/ReduceMin.
 *   <li>Tensors non-negative by construction (ReLU, Sigmoid, Softmax, pooling or reshaping of such) need no minimum:
 *       every range contains 0, so their lower extreme is recorded as 0.
 *   <li>A max-pool whose windows cover its input has the same maximum as that input: the input's maximum is read from
 *       the (smaller) output.
 * </ul>
 *
 * <p>A NaN does not order, so a max-pool may skip it. Unless every operator of the graph is one that cannot make NaN
 * from finite values ({@link #NAN_SAFE}), each tensor also gets a per-channel mean (or a sum), which is NaN or
 * infinite exactly when a value is; infinities show in the extremes. A batch whose figures are not finite is
 * observed again on whole tensors (the caller's slow path), which counts the bad values and leaves them out. On a
 * NaN-safe graph NaN needs a non-finite input, or an overflow to infinity meeting another (inf - inf): the caller
 * checks the inputs and, when any figure of a batch is infinite, observes all its tensors again. An overflow in a
 * tensor that is not observed can still become a NaN that is skipped rather than counted; ranges are then those of
 * the finite values.
 */
final class ExtremesProbe {
    /** Operators that turn finite inputs into finite outputs unless the arithmetic overflows to infinity. */
    static final Set<String> NAN_SAFE = Set.of("Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat",
            "Constant", "Conv", "ConvTranspose", "Dropout", "Flatten", "Gather", "Gemm", "GlobalAveragePool",
            "GlobalMaxPool", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "MatMul", "MaxPool", "Mul", "Pad",
            "PRelu", "Relu", "Reshape", "Resize", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Squeeze", "Sub",
            "Tanh", "Transpose", "Unsqueeze", "Upsample");
    private static final Set<String> NON_NEGATIVE_RESULT = Set.of("Relu", "Sigmoid", "Softmax", "Abs");
    /** Operators whose output 0 holds only values of input 0, so it is non-negative when that input is. */
    private static final Set<String> SUBSET_OF_INPUT = Set.of("MaxPool", "AveragePool", "GlobalMaxPool",
            "GlobalAveragePool", "Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose");

    /**
     * Where one figure sits in a fetched output: columns {@code [offset, offset + width)} of each row of {@code stride}
     * values. Per-channel figures of tensors sharing a batch dimension are concatenated into one [N, sum of C, 1, 1]
     * output, and scalars into one vector, so a batch fetches a few outputs instead of several per tensor.
     */
    private record Part(String output, int offset, int width, int stride) {
        /** Rows of the output: N for per-channel figures, 1 for scalars. */
        long rows(Map<String, OrtModel.FloatOutput> outputs) {
            return outputs.get(output).values().length / stride;
        }

        /** The largest value; NaN if any is NaN. */
        float largest(Map<String, OrtModel.FloatOutput> outputs) {
            float[] values = outputs.get(output).values();
            float max = Float.NEGATIVE_INFINITY;
            for (int row = 0; row < values.length; row += stride) {
                for (int i = row + offset; i < row + offset + width; i++) {
                    max = Math.max(max, values[i]); // propagates NaN, which marks the batch unclean
                }
            }
            return max;
        }

        boolean finite(Map<String, OrtModel.FloatOutput> outputs) {
            float[] values = outputs.get(output).values();
            boolean finite = true;
            for (int row = 0; row < values.length; row += stride) {
                for (int i = row + offset; i < row + offset + width; i++) {
                    finite &= Float.isFinite(values[i]);
                }
            }
            return finite;
        }
    }

    /**
     * How one tensor's figures are read; parts are null where not measured. A 4-d tensor reduced per channel
     * ({@code spatial} = its static H x W, else 0) has N x C x H x W values, N x C being the size of its per-channel
     * part {@code channels}; other tensors' counts are {@code count} x 2^24 + {@code countLow}; {@code maxSource} is
     * the max-pool output whose maximum this tensor shares.
     */
    private record Measure(Part max, Part min, Part check, Part count, Part countLow, long spatial, Part channels,
            String maxSource) {}

    /** Extremes and element count of one tensor in one batch; {@code clean} is false if a figure was not finite. */
    record Extremes(float min, float max, long count, boolean clean) {}

    final OnnxModel model;
    private final Map<String, Measure> measures;
    private final Set<String> nonNegative;
    private final boolean nanSafe;

    private ExtremesProbe(OnnxModel model, Map<String, Measure> measures, Set<String> nonNegative, boolean nanSafe) {
        this.model = model;
        this.measures = measures;
        this.nonNegative = nonNegative;
        this.nanSafe = nanSafe;
    }

    /**
     * @param tensors tensors computed by the graph (not graph inputs)
     * @param shapes their shapes as ONNX Runtime infers them, -1 for dynamic dimensions
     * @param dimensionNames the symbols of their dynamic dimensions, as ONNX Runtime reports them
     */
    static ExtremesProbe of(OnnxModel original, Collection<String> tensors, Map<String, long[]> shapes,
            Map<String, String[]> dimensionNames) {
        OnnxModel model = original.copy();
        Graph graph = model.graph();
        Graph.Index index = graph.index();
        Set<String> nonNegative = new LinkedHashSet<>();
        for (String tensor : tensors) {
            if (isNonNegative(graph, index, tensor, new LinkedHashMap<>())) {
                nonNegative.add(tensor);
            }
        }
        boolean nanSafe = graph.nodes().stream().allMatch(node -> node.domain().isEmpty()
                && NAN_SAFE.contains(node.opType()));
        Map<String, String> maxFromPool = poolsCoveringInput(graph, index, tensors, shapes);
        restoreResidualFusion(graph, index, tensors, shapes);
        Outputs outputs = new Outputs(graph);
        Map<String, Measure> measures = new LinkedHashMap<>();
        for (String tensor : tensors) {
            long[] shape = shapes.getOrDefault(tensor, new long[0]);
            String maxSource = maxFromPool.get(tensor);
            boolean needsMin = !nonNegative.contains(tensor);
            Part max = null;
            Part min = null;
            Part check = null;
            Part count = null;
            Part countLow = null;
            long spatial = 0;
            if (blocked(shape)) {
                spatial = shape[2] * shape[3];
                int channels = (int) shape[1];
                String batch = batchKey(tensor, shape, dimensionNames.get(tensor));
                if (maxSource == null) {
                    max = outputs.perChannel(batch, globalMax(graph, tensor, tensor), channels);
                }
                if (needsMin) {
                    min = outputs.perChannel(batch, globalMax(graph, negated(graph, tensor, channels),
                            tensor + "/negated"), channels);
                }
                if (!nanSafe) {
                    check = outputs.perChannel(batch, add(graph, "GlobalAveragePool", tensor,
                            tensor + "/calibration_mean", false), channels);
                }
            } else {
                max = outputs.scalar(add(graph, "ReduceMax", tensor, tensor + "/calibration_max", true));
                if (needsMin) {
                    min = outputs.scalar(add(graph, "ReduceMin", tensor, tensor + "/calibration_min", true));
                }
                if (!nanSafe) {
                    check = outputs.scalar(add(graph, "ReduceSum", tensor, tensor + "/calibration_sum", true));
                }
                String size = add(graph, "Size", tensor, tensor + "/calibration_size", false);
                // a float holds integers exactly only up to 2^24: the count travels as high and low 24 bits
                String[] parts = countParts(graph, size, tensor + "/calibration_count");
                count = outputs.scalar(parts[0]);
                countLow = outputs.scalar(parts[1]);
            }
            measures.put(tensor, new Measure(max, min, check, count, countLow, spatial, max != null ? max : min,
                    maxSource));
        }
        Map<Part, Part> placed = outputs.concatenate();
        measures.replaceAll((tensor, m) -> new Measure(placed.get(m.max()), placed.get(m.min()),
                placed.get(m.check()), placed.get(m.count()), placed.get(m.countLow()), m.spatial(),
                placed.get(m.channels()), m.maxSource()));
        // a pooled input's N x C comes from its pool's output, which has the same batch and channels
        measures.replaceAll((tensor, m) -> m.maxSource() == null ? m : new Measure(m.max(), m.min(), m.check(),
                m.count(), m.countLow(), m.spatial(), measures.get(m.maxSource()).max(), m.maxSource()));
        return new ExtremesProbe(model, measures, nonNegative, nanSafe);
    }

    /** The outputs to fetch. */
    Set<String> outputs() {
        Set<String> names = new LinkedHashSet<>();
        measures.values().forEach(m -> {
            for (Part part : new Part[] {m.max(), m.min(), m.check(), m.count()}) {
                if (part != null) {
                    names.add(part.output());
                }
            }
        });
        return names;
    }

    /** Whether this tensor is non-negative by construction (its lower extreme is recorded as 0). */
    boolean nonNegative(String tensor) {
        return nonNegative.contains(tensor);
    }

    /** Whether NaN can only come from non-finite graph inputs or an infinity, which the caller must then check. */
    boolean nanSafe() {
        return nanSafe;
    }

    /** The figures of every tensor for one batch run with {@link #outputs()}. */
    Map<String, Extremes> read(Map<String, OrtModel.FloatOutput> outputs) {
        Map<String, Extremes> result = new LinkedHashMap<>();
        measures.forEach((tensor, m) -> {
            Part maxPart = m.maxSource() == null ? m.max() : measures.get(m.maxSource()).max();
            float max = maxPart.largest(outputs);
            // a negated maximum, or a scalar minimum
            float min = m.min() == null ? 0 : m.spatial() > 0 ? -m.min().largest(outputs) : m.min().largest(outputs);
            long count = m.spatial() > 0 ? m.channels().rows(outputs) * m.channels().width() * m.spatial()
                    : ((long) m.count().largest(outputs) << 24) + (long) m.countLow().largest(outputs);
            boolean clean = Float.isFinite(min) && Float.isFinite(max)
                    && (m.check() == null || m.check().finite(outputs));
            result.put(tensor, new Extremes(min, max, count, clean));
        });
        return result;
    }

    /** Groups 4-d tensors whose first dimension is the same (a static size or a named symbol). */
    private static String batchKey(String tensor, long[] shape, String[] names) {
        if (shape[0] > 0) {
            return "size " + shape[0];
        }
        return names != null && names.length > 0 && !names[0].isEmpty() ? "symbol " + names[0] : "tensor " + tensor;
    }

    /** Collects the figures and concatenates them into few outputs. */
    private static final class Outputs {
        private final Graph graph;
        private final Map<String, List<Part>> perChannel = new LinkedHashMap<>();
        private final List<Part> scalars = new ArrayList<>();

        Outputs(Graph graph) {
            this.graph = graph;
        }

        /** An [N, C, 1, 1] figure of a tensor whose first dimension is {@code batch}. */
        Part perChannel(String batch, String tensor, int channels) {
            Part part = new Part(tensor, 0, channels, channels);
            perChannel.computeIfAbsent(batch, k -> new ArrayList<>()).add(part);
            return part;
        }

        Part scalar(String tensor) {
            Part part = new Part(tensor, 0, 1, 1);
            scalars.add(part);
            return part;
        }

        /** Adds the concatenating nodes and graph outputs; returns where each part ended up. */
        Map<Part, Part> concatenate() {
            Map<Part, Part> placed = new HashMap<>();
            for (List<Part> group : perChannel.values()) {
                int total = group.stream().mapToInt(Part::width).sum();
                // [N, C, 1, 1] parts concatenated as they are: ONNX Runtime keeps the Concat in its blocked layout
                // and reorders once (a Flatten per part would cost a reorder and a node each, 4% of the ResNet)
                String output = concat(group.stream().map(Part::output).toList(), 1, "calibration_channel_figures");
                int offset = 0;
                for (Part part : group) {
                    placed.put(part, new Part(output, offset, part.width(), total));
                    offset += part.width();
                }
            }
            if (!scalars.isEmpty()) {
                String shape = graph.uniqueName("calibration_shape_1");
                graph.putInitializer(Tensor.int64s(shape, new long[] {1}, new long[] {1}));
                List<String> vectors = new ArrayList<>();
                for (Part part : scalars) {
                    String vector = graph.uniqueName(part.output() + "/vector");
                    graph.nodes().add(Node.of("Reshape", graph.uniqueName(vector), List.of(part.output(), shape),
                            List.of(vector)));
                    vectors.add(vector);
                }
                String output = concat(vectors, 0, "calibration_scalar_figures");
                for (int i = 0; i < scalars.size(); i++) {
                    placed.put(scalars.get(i), new Part(output, i, 1, scalars.size()));
                }
            }
            return placed;
        }

        private String concat(List<String> inputs, int axis, String base) {
            String output = graph.uniqueName(base);
            graph.nodes().add(Node.of("Concat", graph.uniqueName(output), inputs, List.of(output))
                    .set(Attribute.of("axis", axis)));
            graph.outputs().add(ValueInfo.named(output));
            return output;
        }

    }

    private static boolean blocked(long[] shape) {
        return shape.length == 4 && shape[1] > 0 && shape[2] > 0 && shape[3] > 0;
    }

    private static String globalMax(Graph graph, String tensor, String base) {
        return add(graph, "GlobalMaxPool", tensor, base + "/calibration_channel_max", false);
    }

    /** -x as a depthwise 1x1 convolution, which ONNX Runtime keeps in its blocked layout (Neg or Mul it does not). */
    private static String negated(Graph graph, String tensor, int channels) {
        String weight = graph.uniqueName(tensor + "/calibration_minus_one");
        graph.putInitializer(channelConstant(weight, channels, -1f));
        String output = graph.uniqueName(tensor + "/calibration_negated");
        graph.nodes().add(Node.of("Conv", graph.uniqueName(output), List.of(tensor, weight), List.of(output))
                .set(Attribute.of("group", channels)));
        return output;
    }

    /**
     * {@code Size / 2^24} and {@code Size - 2^24 (Size / 2^24)} as floats, both below 2^24 and so exact (Div, Mul and
     * Sub exist in every opset; Mod only from 10).
     */
    private static String[] countParts(Graph graph, String size, String base) {
        String unit = graph.uniqueName(base + "/two_to_24");
        graph.putInitializer(Tensor.int64s(unit, new long[0], new long[] {1L << 24}));
        String high = graph.uniqueName(base + "/high_int");
        graph.nodes().add(Node.of("Div", graph.uniqueName(high), List.of(size, unit), List.of(high)));
        String whole = graph.uniqueName(base + "/high_whole");
        graph.nodes().add(Node.of("Mul", graph.uniqueName(whole), List.of(high, unit), List.of(whole)));
        String low = graph.uniqueName(base + "/low_int");
        graph.nodes().add(Node.of("Sub", graph.uniqueName(low), List.of(size, whole), List.of(low)));
        return new String[] {toFloat(graph, high, base + "/high"), toFloat(graph, low, base + "/low")};
    }

    private static String toFloat(Graph graph, String tensor, String base) {
        String output = graph.uniqueName(base);
        graph.nodes().add(Node.of("Cast", graph.uniqueName(output), List.of(tensor), List.of(output))
                .set(Attribute.of("to", DataType.FLOAT.number())));
        return output;
    }

    /** A depthwise 1x1 convolution weight [C, 1, 1, 1] of one value. */
    private static Tensor channelConstant(String name, int channels, float value) {
        float[] values = new float[channels];
        java.util.Arrays.fill(values, value);
        return Tensor.floats(name, new long[] {channels, 1, 1, 1}, values);
    }

    private static String add(Graph graph, String op, String tensor, String base, boolean reduceAll) {
        String output = graph.uniqueName(base);
        Node node = Node.of(op, graph.uniqueName(output), List.of(tensor), List.of(output));
        if (reduceAll) {
            // no axes: every axis is reduced, in every opset
            node.set(Attribute.of("keepdims", 0));
        }
        graph.nodes().add(node);
        return output;
    }

    /** Whether every value of {@code tensor} is >= 0 whatever the inputs, judged from the operators producing it. */
    static boolean isNonNegative(Graph graph, Graph.Index index, String tensor, Map<String, Boolean> memo) {
        Boolean known = memo.get(tensor);
        if (known != null) {
            return known;
        }
        memo.put(tensor, false); // a cycle (malformed graph) proves nothing
        Optional<Node> producer = index.producer(tensor);
        boolean result = false;
        if (producer.isPresent() && producer.get().domain().isEmpty()) {
            Node node = producer.get();
            String op = node.opType();
            if (NON_NEGATIVE_RESULT.contains(op)) {
                result = true;
            } else if (op.equals("Clip")) {
                result = clipLowerBound(graph, node) >= 0;
            } else if (SUBSET_OF_INPUT.contains(op) && node.output(0).equals(tensor)) {
                result = isNonNegative(graph, index, node.input(0), memo);
            } else if (op.equals("Concat")) {
                result = node.inputs().stream().allMatch(in -> isNonNegative(graph, index, in, memo));
            }
        }
        memo.put(tensor, result);
        return result;
    }

    private static double clipLowerBound(Graph graph, Node clip) {
        Optional<Attribute> attribute = clip.attribute("min");
        if (attribute.isPresent()) {
            return attribute.get().f(); // opset < 11
        }
        if (clip.inputs().size() < 2 || clip.input(1).isEmpty()) {
            return Double.NEGATIVE_INFINITY;
        }
        Optional<Tensor> min = graph.initializer(clip.input(1));
        if (min.isEmpty() || min.get().dataType() != DataType.FLOAT) {
            return Double.NEGATIVE_INFINITY;
        }
        return min.get().elementCount() == 1 ? min.get().value(0) : Double.NEGATIVE_INFINITY;
    }

    /**
     * An observed Conv output that feeds a residual Add keeps ONNX Runtime from fusing the Add (and a ReLU after it)
     * into the convolution, which then costs two more passes over the tensor. The Add is given a depthwise 1x1
     * convolution with weight 1 of that tensor instead: the same values exactly (1 x v = v), and ONNX Runtime fuses
     * the Add and ReLU into it. Only where both Add inputs have the same static shape (no broadcasting).
     */
    private static void restoreResidualFusion(Graph graph, Graph.Index index, Collection<String> tensors,
            Map<String, long[]> shapes) {
        // one convolution fuses with an Add; when both inputs are observed Conv outputs, the first is copied
        Set<String> rewired = new LinkedHashSet<>();
        for (String tensor : tensors) {
            long[] shape = shapes.get(tensor);
            Optional<Node> producer = index.producer(tensor);
            if (shape == null || !blocked(shape) || producer.isEmpty() || !producer.get().opType().equals("Conv")
                    || !producer.get().domain().isEmpty()) {
                continue;
            }
            for (Node add : index.consumers(tensor)) {
                if (!add.opType().equals("Add") || !add.domain().isEmpty() || add.inputs().size() != 2
                        || add.input(0).equals(add.input(1)) || !rewired.add(add.output(0))) {
                    continue;
                }
                String other = add.input(0).equals(tensor) ? add.input(1) : add.input(0);
                if (!java.util.Arrays.equals(shapes.get(other), shape)) {
                    continue;
                }
                String weight = graph.uniqueName(tensor + "/calibration_one");
                graph.putInitializer(channelConstant(weight, (int) shape[1], 1f));
                String identity = graph.uniqueName(tensor + "/calibration_identity");
                Node copy = Node.of("Conv", graph.uniqueName(identity), List.of(tensor, weight),
                        List.of(identity)).set(Attribute.of("group", shape[1]));
                int at = graph.nodes().indexOf(add);
                add.setInput(add.input(0).equals(tensor) ? 0 : 1, identity);
                graph.nodes().add(at, copy);
            }
        }
    }

    /**
     * Observed max-pool inputs whose maximum equals the maximum of the pool's (also observed) output: windows without
     * dilation, strides not longer than the kernel, and the last window reaching the end of each spatial axis.
     */
    private static Map<String, String> poolsCoveringInput(Graph graph, Graph.Index index, Collection<String> tensors,
            Map<String, long[]> shapes) {
        Map<String, String> maxFrom = new LinkedHashMap<>();
        for (String tensor : tensors) {
            Optional<Node> producer = index.producer(tensor);
            if (producer.isEmpty() || !producer.get().opType().equals("MaxPool")
                    || !producer.get().domain().isEmpty() || !tensor.equals(producer.get().output(0))) {
                continue;
            }
            Node pool = producer.get();
            String input = pool.input(0);
            long[] inShape = shapes.get(input);
            long[] outShape = shapes.get(tensor);
            if (tensors.contains(input) && inShape != null && outShape != null && blocked(inShape)
                    && blocked(outShape) && covers(pool, inShape, outShape)) {
                maxFrom.put(input, tensor);
            }
        }
        // pool after pool: each input takes the maximum of the last output, the one that is measured
        maxFrom.replaceAll((input, output) -> {
            String last = output;
            while (maxFrom.containsKey(last)) {
                last = maxFrom.get(last);
            }
            return last;
        });
        return maxFrom;
    }

    private static boolean covers(Node pool, long[] in, long[] out) {
        String autoPad = pool.attribute("auto_pad").map(Attribute::s).orElse("NOTSET");
        if (!autoPad.equals("NOTSET") && !autoPad.equals("VALID")) {
            return false;
        }
        List<Long> kernel = pool.attribute("kernel_shape").map(a -> Arrays.stream(a.ints()).boxed().toList()).orElse(List.<Long>of());
        int spatial = in.length - 2;
        if (kernel.size() != spatial) {
            return false;
        }
        List<Long> strides = ints(pool, "strides", spatial, 1);
        List<Long> dilations = ints(pool, "dilations", spatial, 1);
        List<Long> pads = autoPad.equals("VALID") ? ints(null, "pads", 2 * spatial, 0)
                : ints(pool, "pads", 2 * spatial, 0);
        for (int i = 0; i < spatial; i++) {
            long size = in[i + 2];
            long outputs = out[i + 2];
            if (size <= 0 || outputs <= 0 || dilations.get(i) != 1 || strides.get(i) > kernel.get(i)) {
                return false;
            }
            long lastCovered = (outputs - 1) * strides.get(i) - pads.get(i) + kernel.get(i) - 1;
            if (lastCovered < size - 1) {
                return false;
            }
        }
        return true;
    }

    private static List<Long> ints(Node node, String name, int count, long fallback) {
        List<Long> values = node == null ? List.of()
                : node.attribute(name).map(a -> Arrays.stream(a.ints()).boxed().toList()).orElse(List.<Long>of());
        if (values.size() == count) {
            return values;
        }
        List<Long> defaults = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            defaults.add(fallback);
        }
        return defaults;
    }
}
