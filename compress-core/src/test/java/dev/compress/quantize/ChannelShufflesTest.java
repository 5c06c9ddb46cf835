package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ShuffleNet's block: the input split in halves, one half through a 1x1 Conv, Concat, channel shuffle; the shuffled
 * map read by the next block's two Slices (the pass-through half, and the half a 1x1 Conv reads), by a depthwise Conv
 * and by a 1x1 Conv reading all of it. Each reader gets the permutation its own way; the function stays.
 */
class ChannelShufflesTest {
    private static final long[] SHUFFLE = {0, 2, 1, 3, 4};

    @TempDir
    Path dir;

    private static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    private static GraphProto.Builder slice(GraphProto.Builder g, String name, String input, long from, long to) {
        g.addInitializer(Protos.int64s(name + "_from", new long[] {1}, new long[] {from}))
                .addInitializer(Protos.int64s(name + "_to", new long[] {1}, new long[] {to}));
        return g.addNode(Protos.node("Slice", name, List.of(input, name + "_from", name + "_to", "axis1"),
                List.of(name)));
    }

    /** {@code channelsInTarget}: the split Reshape names C/g (else -1, and C comes from the Concat's inputs). */
    private static OnnxModel block(boolean channelsInTarget) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("shuffle")
                .addInput(value("x", FLOAT, "n", 8L, 5L, 5L))
                .addOutput(value("y", FLOAT, "n", 24L, 5L, 5L))
                .addInitializer(Protos.int64s("axis1", new long[] {1}, new long[] {1}))
                .addInitializer(TestGraphs.weight("wb", 4, 4, 1).toBuilder().addDims(1).addDims(1).build())
                .addInitializer(TestGraphs.weight("w2", 4, 4, 2).toBuilder().addDims(1).addDims(1).build())
                .addInitializer(TestGraphs.weight("w5", 4, 8, 3).toBuilder().addDims(1).addDims(1).build())
                .addInitializer(Protos.floats("wd", new long[] {8, 1, 3, 3}, TestGraphs.weights(72, 4)))
                .addInitializer(Protos.int64s("split", new long[] {5},
                        new long[] {0, 2, channelsInTarget ? 4 : -1, 5, 5}))
                .addInitializer(Protos.int64s("merged", new long[] {4}, new long[] {0, -1, 5, 5}));
        slice(g, "x1", "x", 0, 4);
        slice(g, "x2", "x", 4, 8);
        g.addNode(Protos.node("Conv", "branch", List.of("x2", "wb"), List.of("b")))
                .addNode(Protos.node("Concat", "concat", List.of("x1", "b"), List.of("t"))
                        .addAttribute(Protos.intAttribute("axis", 1)))
                .addNode(Protos.node("Reshape", "split_groups", List.of("t", "split"), List.of("r5")))
                .addNode(Protos.node("Transpose", "shuffle", List.of("r5"), List.of("p5"))
                        .addAttribute(ints("perm", SHUFFLE)))
                .addNode(Protos.node("Reshape", "merge_groups", List.of("p5", "merged"), List.of("s")));
        slice(g, "s1", "s", 0, 4);
        slice(g, "s2", "s", 4, Long.MAX_VALUE);
        g.addNode(Protos.node("Relu", "pass", List.of("s1"), List.of("y1")))
                .addNode(Protos.node("Conv", "next", List.of("s2", "w2"), List.of("y2")))
                .addNode(Protos.node("Conv", "depthwise", List.of("s", "wd"), List.of("y3"))
                        .addAttribute(Protos.intAttribute("group", 8)).addAttribute(ints("pads", 1, 1, 1, 1)))
                .addNode(Protos.node("Conv", "head", List.of("s", "w5"), List.of("y4")))
                .addNode(Protos.node("Concat", "out", List.of("y1", "y2", "y3", "y4"), List.of("y"))
                        .addAttribute(Protos.intAttribute("axis", 1)));
        return TestGraphs.model(g.build(), 13);
    }

    private static Dataset data() {
        return TestGraphs.floats(Map.of("x", b -> new long[] {2, 8, 5, 5}), 4);
    }

    @Test
    void theShuffleGoesIntoTheConvsThatReadItAndTheFunctionStays() {
        for (boolean channelsInTarget : new boolean[] {true, false}) {
            OnnxModel original = block(channelsInTarget);
            OnnxModel rewritten = original.copy();
            assertThat(ChannelShuffles.rewrite(rewritten.graph())).containsExactly("shuffle");

            List<String> ops = rewritten.graph().nodes().stream().map(Node::opType).toList();
            assertThat(ops).doesNotContain("Transpose", "Reshape");
            // the pass-through half is a selection Conv; the depthwise Conv reads a permutation Conv's output
            assertThat(rewritten.graph().nodes().stream().filter(n -> n.is("Conv")).count()).isEqualTo(6);
            assertThat(ops.stream().filter("Slice"::equals).count()).isEqualTo(2); // the block's own split of x
            assertThat(TestGraphs.relativeError(original, rewritten, data().batches(2),
                    RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE)))
                    .as("channels in target: " + channelsInTarget).isLessThan(1e-6);
        }
    }

    @Test
    void quantizedTheBlockRunsWithoutLayoutTransposes() {
        OnnxModel fp32 = block(false);
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(data()).build().quantize();
        assertThat(result.report().convShapes().channelShufflesFolded()).containsExactly("shuffle");
        assertThat(result.model().metadata().get("compress.quantization"))
                .contains("\"channelShufflesFolded\":[\"shuffle\"]");
        Path file = dir.resolve("q.onnx");
        Path optimized = dir.resolve("o.onnx");
        result.model().save(file);
        try (OrtModel ignored = OrtModel.open(file, RuntimeOptions.defaults()
                .withOptimization(RuntimeOptions.Optimization.ALL).withOptimizedModelFile(optimized))) {
            // opening the session writes the optimized graph
        }
        // what ONNX Runtime runs has no shuffle left: no 5-D Transpose, no Reshape; the rest is 8-bit Convs
        List<Node> ran = OnnxModel.load(optimized).graph().nodes();
        assertThat(ran).noneMatch(n -> n.is("Reshape")
                || n.is("Transpose") && n.attribute("perm").map(a -> a.ints().length == 5).orElse(false));
        assertThat(ran.stream().filter(n -> n.opType().equals("QLinearConv")).count()).isEqualTo(6);
        assertThat(TestGraphs.relativeError(fp32, result.model(), data())).isLessThan(0.05);
    }

    /**
     * Left alone: a shuffle without a known channel count (a symbolic input width, -1 in both targets), and a
     * Reshape, Transpose, Reshape whose last Reshape does not merge axis 1 back (not a channel permutation).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"-1, '0,-1,5,5', false", "4, '0,8,25,1', true"})
    void aShuffleOfUnknownWidthOrAnotherReshapeStays(long perGroup, String mergedTarget, boolean declared) {
        long[] merged = Arrays.stream(mergedTarget.split(",")).mapToLong(Long::parseLong).toArray();
        GraphProto graph = GraphProto.newBuilder().setName("unknown")
                .addInput(value("x", FLOAT, "n", declared ? 8L : "c", 5L, 5L))
                .addOutput(value("y", FLOAT))
                .addInitializer(Protos.int64s("split", new long[] {5}, new long[] {0, 2, perGroup, 5, 5}))
                .addInitializer(Protos.int64s("merged", new long[] {4}, merged))
                .addNode(Protos.node("Reshape", "r", List.of("x", "split"), List.of("r5")))
                .addNode(Protos.node("Transpose", "shuffle", List.of("r5"), List.of("p5"))
                        .addAttribute(ints("perm", SHUFFLE)))
                .addNode(Protos.node("Reshape", "m", List.of("p5", "merged"), List.of("y")))
                .build();
        OnnxModel model = TestGraphs.model(graph, 13);
        assertThat(ChannelShuffles.rewrite(model.graph())).isEmpty();
        assertThat(model.graph().nodes()).hasSize(3);
    }
}
