package dev.compress.convert;

import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * The rewrites for operator versions that changed meaning or form ({@link OperatorVersions} without a {@code *}):
 * each takes a node in the form of the version before and returns it in the form of the named version, with the
 * same outputs (the node it is given is the conversion's own copy, so it may be changed in place). Mostly ONNX's own version-converter steps; where a step needs a fact the model may not hold (a
 * rank, a constant), the adapter either finds it or falls back to a form that needs none, else refuses.
 */
final class Adapters {
    /** A named rewrite; the name goes into the report. */
    record Adapter(String name, BiFunction<Node, Conversion, Node> rewrite) {}

    /** Reduce ops whose {@code axes} attribute became an input at opset 18 (ReduceSum's did at 13). */
    private static final List<String> REDUCE_18 = List.of("ReduceL1", "ReduceL2", "ReduceLogSum",
            "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare");

    /** Versions that only deprecate their op in favour of another, which their adapter puts in its place. */
    static final Set<String> DEPRECATED = Set.of("Upsample-10", "Scatter-11");

    private static final Map<String, Adapter> BY_VERSION = new HashMap<>();

    static {
        // opset 7: implicit (numpy) broadcasting replaced the broadcast/axis attributes, is_test went
        for (String op : List.of("Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater",
                "Less")) {
            add(op, 7, "broadcast attributes to numpy broadcasting", Adapters::numpyBroadcast);
        }
        add("Gemm", 7, "broadcast attribute dropped", (node, c) -> withInputs(node, Set.of("broadcast")));
        add("PRelu", 7, "slope per channel", Adapters::prelu7);
        add("BatchNormalization", 7, "is_test attribute dropped", (node, c) -> {
            if (node.intAttribute("is_test", 0) == 0) {
                throw Conversion.fail("is_test=0 normalizes with each batch's own statistics (training mode),"
                        + " which opset 7 has no form for");
            }
            return withInputs(node, Set.of("is_test"));
        });
        add("Dropout", 7, "is_test attribute dropped", (node, c) -> {
            // a training-mode Dropout draws a random mask: inference, which ONNX Runtime runs, is its fixed meaning
            if (node.intAttribute("is_test", 0) == 0) {
                c.detail("is_test=0 (training mode) became inference");
            }
            return withInputs(node, Set.of("is_test"));
        });
        for (String op : List.of("LSTM", "GRU", "RNN")) {
            // output Y became optional instead of being switched off by an attribute
            add(op, 7, "output_sequence attribute dropped",
                    (node, c) -> withInputs(node, Set.of("output_sequence")));
        }
        add("Upsample", 7, "height_scale/width_scale to scales", (node, c) -> {
            float height = node.floatAttribute("height_scale", Float.NaN);
            float width = node.floatAttribute("width_scale", Float.NaN);
            if (Float.isNaN(height) || Float.isNaN(width)) {
                throw Conversion.fail("no height_scale or width_scale attribute");
            }
            String mode = node.attribute("mode").map(Attribute::s).orElse("nearest");
            withInputs(node, Set.of("height_scale", "width_scale", "mode"));
            return node.set(Attribute.of("scales", new float[] {1, 1, height, width}))
                    .set(Attribute.of("mode", mode.equals("bilinear") ? "linear" : mode));
        });
        add("Upsample", 9, "scales attribute to input", (node, c) -> {
            Attribute scales = node.attribute("scales")
                    .orElseThrow(() -> Conversion.fail("no scales attribute"));
            float[] values = scales.floats();
            String input = c.constant(base(node, "scales"), Tensor.floats("", new long[] {values.length}, values));
            return withInputs(node, Set.of("scales"), input);
        });
        add("Upsample", 10, "to Resize", (node, c) -> {
            c.upsampling(node.output(0)); // Upsample scales are at least 1 by definition
            return node.setOpType("Resize");
        });
        add("Resize", 11, "roi input, asymmetric coordinates", Adapters::resize11);
        add("Slice", 10, "starts/ends/axes attributes to inputs", (node, c) -> {
            long[] starts = ints(node, "starts");
            long[] ends = ints(node, "ends");
            if (starts == null || ends == null) {
                throw Conversion.fail("no starts or ends attribute");
            }
            long[] axes = ints(node, "axes");
            String startsInput = c.constant(base(node, "starts"), int64s(starts));
            String endsInput = c.constant(base(node, "ends"), int64s(ends));
            return axes == null
                    ? withInputs(node, Set.of("starts", "ends"), startsInput, endsInput)
                    : withInputs(node, Set.of("starts", "ends", "axes"), startsInput, endsInput,
                            c.constant(base(node, "axes"), int64s(axes)));
        });
        add("TopK", 10, "k attribute to input", (node, c) -> withInputs(node, Set.of("k"),
                c.constant(base(node, "k"), int64s(new long[] {node.intAttribute("k", 1)}))));
        add("Dropout", 10, "mask output unused", (node, c) -> {
            // the mask became a bool tensor at 10; ONNX's converter ignores that, but a reader of the mask would break
            if (node.outputs().size() > 1 && !node.output(1).isEmpty() && c.used(node.output(1))) {
                throw Conversion.fail("its mask output, read by the graph, became boolean at opset 10");
            }
            return node;
        });
        add("Dropout", 12, "ratio attribute to input", (node, c) -> {
            Attribute ratio = node.attribute("ratio").orElse(null);
            return ratio == null ? node : withInputs(node, Set.of("ratio"),
                    c.constant(base(node, "ratio"), Tensor.floats("", new long[0], new float[] {ratio.f()})));
        });
        add("Clip", 11, "min/max attributes to inputs", (node, c) -> {
            Attribute min = node.attribute("min").orElse(null);
            Attribute max = node.attribute("max").orElse(null);
            DataType type = c.elementType(node.input(0));
            String minInput = min == null ? "" : c.constant(base(node, "min"), scalar(type, min.f()));
            if (max == null) {
                return min == null ? node : withInputs(node, Set.of("min"), minInput);
            }
            // an absent minimum is an empty input name, which Clip-11 allows
            return withInputs(node, Set.of("min", "max"), minInput,
                    c.constant(base(node, "max"), scalar(type, max.f())));
        });
        add("Pad", 11, "pads/value attributes to inputs", (node, c) -> {
            long[] pads = ints(node, "pads");
            if (pads == null) {
                throw Conversion.fail("no pads attribute");
            }
            String padsInput = c.constant(base(node, "pads"), int64s(pads));
            Attribute value = node.attribute("value").orElse(null);
            // the value only matters in constant mode, and 0 is the input's default as it was the attribute's
            return value == null || value.f() == 0f
                    ? withInputs(node, Set.of("pads", "value"), padsInput)
                    : withInputs(node, Set.of("pads", "value"), padsInput, c.constant(base(node, "value"),
                            scalar(c.elementType(node.input(0)), value.f())));
        });
        add("Scatter", 11, "to ScatterElements", (node, c) -> node.setOpType("ScatterElements"));
        add("BatchNormalization", 9, "spatial attribute dropped", (node, c) -> {
            if (node.intAttribute("spatial", 1) != 1) {
                throw Conversion.fail("spatial=0 (statistics per position) has no form from opset 9 on");
            }
            return withInputs(node, Set.of("spatial"));
        });
        add("BatchNormalization", 14, "inference form kept", (node, c) -> {
            if (node.outputs().stream().skip(1).anyMatch(output -> !output.isEmpty())) {
                throw Conversion.fail("its training outputs (running statistics) changed meaning at opset 14");
            }
            return node;
        });
        for (String op : List.of("Softmax", "LogSoftmax", "Hardmax")) {
            add(op, 13, "axis semantics", Adapters::softmax13);
        }
        for (String op : List.of("ReduceSum", "Squeeze", "Unsqueeze")) {
            add(op, 13, "axes attribute to input", Adapters::axesToInput);
        }
        REDUCE_18.forEach(op -> add(op, 18, "axes attribute to input", Adapters::axesToInput));
        add("Split", 13, "split attribute to input", (node, c) -> {
            long[] split = ints(node, "split");
            return split == null ? node
                    : withInputs(node, Set.of("split"), c.constant(base(node, "split"), int64s(split)));
        });
        add("Split", 18, "num_outputs attribute", (node, c) -> node.inputs().size() > 1
                && !node.input(1).isEmpty() ? node
                : node.set(Attribute.of("num_outputs", node.outputs().size())));
        add("RoiAlign", 16, "coordinate_transformation_mode kept", (node, c) ->
                node.attribute("coordinate_transformation_mode").isPresent() ? node
                        : node.set(Attribute.of("coordinate_transformation_mode", "output_half_pixel")));
    }

    private Adapters() {}

    private static void add(String op, int version, String name,
            BiFunction<Node, Conversion, Node> rewrite) {
        BY_VERSION.put(op + "-" + version, new Adapter(name, rewrite));
    }

    /** The adapter that brings {@code op} to {@code version}, or null. */
    static Adapter find(String op, int version) {
        return BY_VERSION.get(op + "-" + version);
    }

    /**
     * Resize-10 maps output to input coordinates as {@code x / scale} and, in nearest mode, ONNX Runtime rounds down
     * when enlarging and up when shrinking; Resize-11 defaults to half_pixel and round_prefer_floor, so both are set.
     * One rounding for all axes: a nearest Resize-10 that enlarges some axes and shrinks others, or whose scales are
     * computed, cannot be converted. The roi input Resize-11 requires is an empty tensor (only tf_crop_and_resize
     * reads it).
     */
    private static Node resize11(Node node, Conversion c) {
        if (node.inputs().size() < 2) {
            throw Conversion.fail("no scales input");
        }
        String input = node.input(0);
        String scalesInput = node.input(1);
        node.set(Attribute.of("coordinate_transformation_mode", "asymmetric"));
        String mode = node.attribute("mode").map(Attribute::s).orElse("nearest");
        if (mode.equals("nearest")) {
            float[] scales = c.constantFloats(scalesInput);
            boolean up = c.isUpsampling(node.output(0)) || scales != null && min(scales) >= 1;
            boolean down = scales != null && max(scales) <= 1;
            if (!up && !down) {
                throw Conversion.fail(scales == null
                        ? "nearest mode with computed scales: rounding depends on whether they enlarge or shrink"
                        : "nearest mode that enlarges some axes and shrinks others");
            }
            node.set(Attribute.of("nearest_mode", up ? "floor" : "ceil"));
        }
        String roi = c.constant(base(node, "roi"), Tensor.floats("", new long[] {0}, new float[0]));
        node.inputs().clear();
        node.inputs().addAll(List.of(input, roi, scalesInput));
        return node;
    }

    private static float min(float[] values) {
        float min = Float.POSITIVE_INFINITY;
        for (float v : values) {
            min = Math.min(min, v);
        }
        return min;
    }

    private static float max(float[] values) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : values) {
            max = Math.max(max, v);
        }
        return max;
    }

    /**
     * Before 13 these ops flatten the input to 2-D at {@code axis} (default 1) and normalize each row; from 13 they
     * normalize along {@code axis} alone (default -1). Over the last axis both agree; otherwise the old meaning is
     * spelled out as Flatten, the op over the last axis, and Reshape back to the input's shape.
     */
    private static Node softmax13(Node node, Conversion c) {
        long axis = node.intAttribute("axis", 1);
        OptionalInt rank = c.rank(node.input(0));
        String input = node.input(0);
        String output = node.output(0);
        Node lastAxis = withInputs(node, Set.of("axis")).set(Attribute.of("axis", -1));
        if (rank.isPresent() && (axis == -1 || axis == rank.getAsInt() - 1)) {
            c.detail("last axis");
            return lastAxis;
        }
        c.detail(rank.isPresent() ? "inner axis, Flatten/Reshape around it"
                : "rank unknown, Flatten/Reshape around it");
        String name = base(node, "");
        String shape = c.uniqueName(name + "shape");
        String flat = c.uniqueName(name + "2d");
        String normalized = c.uniqueName(name + "2d_out");
        c.before(Node.of("Shape", c.uniqueName(name + "shape"), List.of(input), List.of(shape)));
        c.before(Node.of("Flatten", c.uniqueName(name + "flatten"), List.of(input), List.of(flat))
                .set(Attribute.of("axis", axis)));
        c.after(Node.of("Reshape", c.uniqueName(name + "reshape"), List.of(normalized, shape), List.of(output)));
        return lastAxis.setInput(0, flat).setOutput(0, normalized);
    }

    /**
     * Before opset 7 B broadcast only with {@code broadcast=1}, its axes matched against A's from {@code axis} on (or
     * A's last axes without one); from 7 trailing axes align, so B gets trailing axes of size 1 where {@code axis}
     * put it further left.
     */
    private static Node numpyBroadcast(Node node, Conversion c) {
        boolean broadcast = node.intAttribute("broadcast", 0) != 0;
        long axis = node.intAttribute("axis", Long.MIN_VALUE);
        withInputs(node, Set.of("broadcast", "axis"));
        if (!broadcast || axis == Long.MIN_VALUE) {
            return node;
        }
        OptionalInt rankA = c.rank(node.input(0));
        OptionalInt rankB = c.rank(node.input(1));
        if (rankA.isEmpty() || rankB.isEmpty()) {
            throw Conversion.fail("broadcast along axis " + axis + " needs the ranks of both inputs, which the"
                    + " model does not give");
        }
        long start = axis < 0 ? axis + rankA.getAsInt() : axis;
        long trailing = rankA.getAsInt() - start - rankB.getAsInt();
        if (start < 0 || trailing < 0) {
            throw Conversion.fail("broadcast axis " + axis + " puts B (rank " + rankB.getAsInt()
                    + ") outside A (rank " + rankA.getAsInt() + ")");
        }
        if (trailing > 0) {
            c.detail("B given trailing axes");
            node.setInput(1, c.withTrailingAxes(node.input(1), rankB.getAsInt(), (int) trailing, base(node, "B")));
        }
        return node;
    }

    /** PRelu-6 applied a slope of one axis along the channels (axis 1); PRelu-7 aligns it with the last axis. */
    private static Node prelu7(Node node, Conversion c) {
        OptionalInt rankX = c.rank(node.input(0));
        OptionalInt rankSlope = c.rank(node.input(1));
        float[] slope = c.constantFloats(node.input(1));
        if (slope != null && slope.length == 1 || rankSlope.isPresent() && rankSlope.getAsInt() != 1
                || rankX.isPresent() && rankX.getAsInt() <= 2) {
            return node; // one value, or already shaped for numpy broadcasting
        }
        if (rankX.isEmpty() || rankSlope.isEmpty()) {
            throw Conversion.fail("a slope per channel needs the ranks of both inputs, which the model does not"
                    + " give");
        }
        c.detail("slope along the channels");
        return node.setInput(1, c.withTrailingAxes(node.input(1), 1, rankX.getAsInt() - 2, base(node, "slope")));
    }

    private static Node axesToInput(Node node, Conversion c) {
        long[] axes = ints(node, "axes");
        return axes == null ? node
                : withInputs(node, Set.of("axes"), c.constant(base(node, "axes"), int64s(axes)));
    }

    /** {@code node} without the attributes {@code dropped}, with {@code inputs} appended to its inputs. */
    private static Node withInputs(Node node, Set<String> dropped, String... inputs) {
        node.attributes().removeIf(a -> dropped.contains(a.name()));
        node.inputs().addAll(List.of(inputs));
        return node;
    }

    private static String base(Node node, String what) {
        String name = node.name().isEmpty() ? node.output(0) : node.name();
        return what.isEmpty() ? name + "_" : name + "_" + what;
    }

    private static long[] ints(Node node, String attribute) {
        return node.attribute(attribute).map(Attribute::ints).orElse(null);
    }

    private static Tensor int64s(long[] values) {
        return Tensor.int64s("", new long[] {values.length}, values);
    }

    /** A scalar of the element type of the tensor it stands beside (Clip bounds, Pad value). */
    private static Tensor scalar(DataType type, float value) {
        if (type == DataType.FLOAT || type == DataType.DOUBLE) {
            return Tensor.scalar("", type, value);
        }
        throw Conversion.fail("its input is " + type + ", for which no constant is built here");
    }
}
