package dev.compress.quantize;

import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * ShuffleNet's channel shuffle, {@code Reshape [N, g, C/g, H, W] -> Transpose (0, 2, 1, 3, 4) -> Reshape [N, C, H, W]},
 * is a fixed permutation P of the channels. ONNX Runtime runs 8-bit Convs channels-last and cannot carry that layout
 * through the 5-D Reshape and Transpose, so every shuffle cost three layout Transposes of the whole map: 48 of the
 * INT8 shufflenet_v2's 50 Transposes, 28% of its kernel time. Written channels-last, the 5-D uint8 Transpose takes
 * 1.9 ms; written as a 1x1 Conv with weight P, the shuffle costs a Conv. Here P goes into the Convs that read the
 * shuffled tensor instead, computing the same in float:
 * <ul>
 *   <li>a Slice of channels read only by a 1x1 Conv (the branch that a ShuffleNet block transforms): that Conv's weight
 *       becomes {@code W · P[start:end]} and it reads the unshuffled tensor;
 *   <li>another Slice of channels (the half a block passes on): a 1x1 Conv with weight {@code P[start:end]};
 *   <li>a 1x1 Conv reading all of it (the last block's conv5): weight {@code W · P};
 *   <li>anything else (a stride-2 block's depthwise branch): a 1x1 Conv with weight P writes the shuffled tensor.
 * </ul>
 * shufflenet_v2_x1_0 at 224: INT8/fp32 0.74 to 0.65 at batch 1 and 1.10 to 0.86 at batch 8, the INT8 file 18% larger
 * (docs/benchmarks.md). Runs on the float graph before planning, for quantization and calibration alike.
 */
final class ChannelShuffles {
    /** The Transpose of a channel shuffle: [N, g, C/g, H, W] to [N, C/g, g, H, W]. */
    private static final long[] SHUFFLE = {0, 2, 1, 3, 4};

    private ChannelShuffles() {}

    /** One shuffle: its three nodes, the unshuffled input, the shuffled output and the permutation. */
    private record Shuffle(Node first, Node transpose, Node last, String input, String output, int groups,
            int channels) {
        /** The input channel that output channel {@code o} takes: group-major in, channel-major out. */
        int source(int o) {
            return o % groups * (channels / groups) + o / groups;
        }
    }

    /** Whether {@code graph} has a Transpose that may be a shuffle's: a cheap test before copying a model. */
    static boolean present(Graph graph) {
        return graph.nodes().stream().anyMatch(n -> n.is("Transpose") && n.attribute("perm")
                .map(a -> Arrays.equals(a.ints(), SHUFFLE)).orElse(false));
    }

    /** Rewrites every shuffle it can; returns the names of their Transposes. */
    static List<String> rewrite(Graph graph) {
        List<String> done = new ArrayList<>();
        // equal selections (every block of a stage passes the same half on) share one weight
        Map<String, String> selections = new HashMap<>();
        for (Node transpose : List.copyOf(graph.nodes())) {
            Shuffle shuffle = match(graph, transpose);
            if (shuffle != null) {
                fold(graph, shuffle, selections);
                done.add(transpose.describe());
            }
        }
        return done;
    }

    private static Shuffle match(Graph graph, Node transpose) {
        if (!transpose.is("Transpose") || transpose.attribute("perm").map(a -> !Arrays.equals(a.ints(), SHUFFLE))
                .orElse(true)) {
            return null;
        }
        Node first = graph.producer(transpose.input(0)).orElse(null);
        List<Node> readers = graph.consumers(transpose.output(0));
        Node last = readers.size() == 1 ? readers.get(0) : null;
        if (first == null || !first.is("Reshape") || last == null || !last.is("Reshape")
                || first.inputs().size() < 2 || last.inputs().size() < 2
                || graph.consumers(first.output(0)).size() != 1 || graph.outputNames().contains(transpose.output(0))
                || graph.outputNames().contains(first.output(0)) || graph.outputNames().contains(last.output(0))) {
            return null;
        }
        long[] split = longs(graph, first.input(1), 5);
        long[] merged = longs(graph, last.input(1), 4);
        // only axis 1 is split and merged again: batch and spatial entries the same in both targets
        if (split == null || merged == null || split[1] < 2 || split[0] != merged[0] || split[3] != merged[2]
                || split[4] != merged[3]) {
            return null;
        }
        int groups = (int) split[1];
        int channels = split[2] > 0 ? (int) (groups * split[2]) : merged[1] > 0 ? (int) merged[1]
                : channels(graph, first.input(0), 16);
        if (channels <= 0 || channels % groups != 0 || merged[1] > 0 && merged[1] != channels) {
            return null;
        }
        return new Shuffle(first, transpose, last, first.input(0), last.output(0), groups, channels);
    }

    /**
     * The channel count (axis 1) of {@code value} where the graph says it: a declared shape, a Conv's weight, a Concat
     * along axis 1 of such values, a Slice of one along axis 1, or an op that keeps the channels; else -1.
     */
    private static int channels(Graph graph, String value, int depth) {
        var declared = graph.valueInfo(value).flatMap(ValueInfo::shape)
                .filter(dims -> dims.size() > 1 && dims.get(1).isKnown());
        if (declared.isPresent()) {
            return (int) declared.get().get(1).value();
        }
        Node producer = graph.producer(value).orElse(null);
        if (producer == null || depth == 0 || !producer.inDefaultDomain()) {
            return -1;
        }
        switch (producer.opType()) {
            case "Conv":
                return graph.initializer(producer.input(1)).map(w -> (int) w.dim(0)).orElse(-1);
            case "Concat": {
                if (producer.intAttribute("axis", 0) != 1) {
                    return -1;
                }
                int sum = 0;
                for (String input : producer.inputs()) {
                    int c = channels(graph, input, depth - 1);
                    if (c < 0) {
                        return -1;
                    }
                    sum += c;
                }
                return sum;
            }
            case "Slice": {
                int[] range = channelRange(graph, producer);
                int whole = channels(graph, producer.input(0), depth - 1);
                return range == null || whole < 0 ? -1 : Math.min(range[1], whole) - range[0];
            }
            // unary ops only: an Add or Mul may broadcast a one-channel operand
            case "Relu", "Clip", "BatchNormalization", "MaxPool", "AveragePool", "Sigmoid", "LeakyRelu":
                return channels(graph, producer.input(0), depth - 1);
            default:
                return -1;
        }
    }

    /** [start, end) of a Slice along axis 1 only, with step 1 and constant bounds, else null. */
    private static int[] channelRange(Graph graph, Node slice) {
        if (slice.inputs().size() < 4) {
            return null;
        }
        long[] starts = longs(graph, slice.input(1), 1);
        long[] ends = longs(graph, slice.input(2), 1);
        long[] axes = longs(graph, slice.input(3), 1);
        long[] steps = slice.inputs().size() > 4 && !slice.input(4).isEmpty() ? longs(graph, slice.input(4), 1)
                : new long[] {1};
        if (starts == null || ends == null || axes == null || steps == null || axes[0] != 1 || steps[0] != 1
                || starts[0] < 0 || ends[0] <= starts[0]) {
            return null;
        }
        return new int[] {(int) starts[0], (int) Math.min(ends[0], Integer.MAX_VALUE)};
    }

    private static void fold(Graph graph, Shuffle shuffle, Map<String, String> selections) {
        List<Node> nodes = graph.nodes();
        int at = nodes.indexOf(shuffle.first());
        boolean materialize = false;
        for (Node reader : List.copyOf(graph.consumers(shuffle.output()))) {
            int[] range = reader.is("Slice") && reader.input(0).equals(shuffle.output()) ? channelRange(graph, reader)
                    : null;
            if (range != null && range[0] < shuffle.channels()) {
                int end = Math.min(range[1], shuffle.channels());
                List<Node> sliceReaders = graph.consumers(reader.output(0));
                Node conv = sliceReaders.size() == 1 ? sliceReaders.get(0) : null;
                if (conv != null && pointwise(graph, conv, reader.output(0), end - range[0])
                        && !graph.outputNames().contains(reader.output(0))) {
                    rewire(graph, conv, shuffle, range[0], end);
                    nodes.remove(reader);
                } else {
                    String weight = permutation(graph, shuffle, range[0], end, selections);
                    nodes.set(nodes.indexOf(reader), Node.of("Conv", reader.name(),
                            List.of(shuffle.input(), weight), List.of(reader.output(0))));
                }
                continue;
            }
            if (pointwise(graph, reader, shuffle.output(), shuffle.channels())) {
                rewire(graph, reader, shuffle, 0, shuffle.channels());
            } else {
                materialize = true;
            }
        }
        nodes.remove(shuffle.first());
        nodes.remove(shuffle.transpose());
        nodes.remove(shuffle.last());
        if (materialize) {
            String weight = permutation(graph, shuffle, 0, shuffle.channels(), selections);
            nodes.add(at, Node.of("Conv", shuffle.transpose().name(), List.of(shuffle.input(), weight),
                    List.of(shuffle.output())));
        }
        graph.removeUnreadInitializers(List.of(shuffle.first().input(1), shuffle.last().input(1)));
    }

    /**
     * Whether {@code conv} is a 1x1 Conv with one group, no padding and a float initializer weight of
     * {@code channels} input channels, reading {@code value} as its input.
     */
    private static boolean pointwise(Graph graph, Node conv, String value, int channels) {
        if (!conv.is("Conv") || !conv.input(0).equals(value) || conv.intAttribute("group", 1) != 1
                || conv.attribute("pads").map(a -> Arrays.stream(a.ints()).anyMatch(p -> p != 0))
                        .orElse(false)
                || conv.attribute("auto_pad").map(a -> !a.s().equals("NOTSET") && !a.s().equals("VALID"))
                        .orElse(false)) {
            return false;
        }
        Tensor weight = graph.initializer(conv.input(1)).orElse(null);
        return weight != null && weight.isFloat() && weight.rank() == 4 && weight.dim(1) == channels
                && weight.dim(2) == 1 && weight.dim(3) == 1 && !conv.input(1).equals(value);
    }

    /** {@code conv} reads the unshuffled input with weight {@code W · P[from:to]}. */
    private static void rewire(Graph graph, Node conv, Shuffle shuffle, int from, int to) {
        Tensor weight = graph.initializer(conv.input(1)).orElseThrow();
        int outputs = (int) weight.dim(0);
        int width = to - from;
        float[] w = weight.floats();
        float[] folded = new float[outputs * shuffle.channels()];
        for (int o = 0; o < outputs; o++) {
            for (int j = 0; j < width; j++) {
                folded[o * shuffle.channels() + shuffle.source(from + j)] += w[o * width + j];
            }
        }
        String old = conv.input(1);
        String name = graph.uniqueName(old + "_unshuffled");
        graph.putInitializer(Tensor.floats(name, new long[] {outputs, shuffle.channels(), 1, 1}, folded));
        conv.setInput(1, name);
        conv.setInput(0, shuffle.input());
        graph.removeUnreadInitializers(List.of(old));
    }

    /** A 1x1 Conv weight selecting the shuffled channels [from, to) from the unshuffled input. */
    private static String permutation(Graph graph, Shuffle shuffle, int from, int to, Map<String, String> made) {
        String key = shuffle.groups() + "/" + shuffle.channels() + "/" + from + "/" + to;
        return made.computeIfAbsent(key, k -> {
            float[] p = new float[(to - from) * shuffle.channels()];
            for (int o = from; o < to; o++) {
                p[(o - from) * shuffle.channels() + shuffle.source(o)] = 1f;
            }
            String name = graph.uniqueName("channel_shuffle_" + shuffle.channels() + "_" + from + "_" + to);
            graph.putInitializer(Tensor.floats(name, new long[] {to - from, shuffle.channels(), 1, 1}, p));
            return name;
        });
    }

    /** The values of an int64 initializer of {@code length} elements, else null. */
    private static long[] longs(Graph graph, String name, int length) {
        Tensor tensor = name.isEmpty() ? null : graph.initializer(name).orElse(null);
        return tensor == null || tensor.elementCount() != length || tensor.rank() != 1 ? null
                : switch (tensor.dataType()) {
                    case INT64 -> tensor.longs();
                    default -> null;
                };
    }
}
