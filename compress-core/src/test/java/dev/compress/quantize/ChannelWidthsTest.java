package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.debug.LayerDebugger;
import dev.compress.debug.LayerReport;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.runtime.RuntimeOptions;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A MobileNetV3 block whose depthwise Conv has 24 channels (no multiple of 16) gets 32, and one whose squeeze-excite
 * squeezes to 8 channels gets 16, with zero filters in the Convs that write the channel space and zero weights in
 * those that read it, and computes the same; spaces it cannot follow are left alone.
 */
class ChannelWidthsTest {
    private static final int IN = 16;

    /**
     * x[n, 16, 8, 8] -> expand Conv (C filters) -> hard-swish -> depthwise 3x3 Conv -> Relu -> squeeze-excite (global
     * pool, Conv to S, Relu, Conv to C, HardSigmoid, Mul) -> project Conv (16 filters) -> y.
     */
    private static OnnxModel block(int channels, int squeeze, boolean depthwiseIsOutput) {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("block")
                .addInput(value("x", FLOAT, "n", (long) IN, 8L, 8L))
                .addOutput(value("y", FLOAT, "n", (long) IN, 8L, 8L))
                .addInitializer(conv("w_expand", channels, IN, 1, 1))
                .addInitializer(bias("b_expand", channels, 2))
                .addInitializer(conv("w_dw", channels, 1, 3, 3))
                .addInitializer(bias("b_dw", channels, 4))
                .addInitializer(conv("w_fc1", squeeze, channels, 1, 5))
                .addInitializer(bias("b_fc1", squeeze, 6))
                .addInitializer(conv("w_fc2", channels, squeeze, 1, 7))
                .addInitializer(bias("b_fc2", channels, 8))
                .addInitializer(conv("w_project", IN, channels, 1, 9))
                .addInitializer(bias("b_project", IN, 10))
                .addNode(Protos.node("Conv", "expand", List.of("x", "w_expand", "b_expand"), List.of("e")))
                .addNode(Protos.node("HardSigmoid", "hsig", List.of("e"), List.of("e_gate")))
                .addNode(Protos.node("Mul", "hswish", List.of("e", "e_gate"), List.of("a")))
                .addNode(Protos.node("Conv", "dw", List.of("a", "w_dw", "b_dw"), List.of("d"))
                        .addAttribute(Protos.intAttribute("group", channels))
                        .addAttribute(AttributeProto.newBuilder().setName("pads")
                                .setType(AttributeProto.AttributeType.INTS).addAllInts(List.of(1L, 1L, 1L, 1L))))
                .addNode(Protos.node("Relu", "relu", List.of("d"), List.of("r")))
                .addNode(Protos.node("GlobalAveragePool", "pool", List.of("r"), List.of("p")))
                .addNode(Protos.node("Conv", "fc1", List.of("p", "w_fc1", "b_fc1"), List.of("f")))
                .addNode(Protos.node("Relu", "fc1_relu", List.of("f"), List.of("fr")))
                .addNode(Protos.node("Conv", "fc2", List.of("fr", "w_fc2", "b_fc2"), List.of("g")))
                .addNode(Protos.node("HardSigmoid", "gate", List.of("g"), List.of("gs")))
                .addNode(Protos.node("Mul", "excite", List.of("r", "gs"), List.of("s")))
                .addNode(Protos.node("Conv", "project", List.of("s", "w_project", "b_project"), List.of("y")));
        if (depthwiseIsOutput) {
            graph.addOutput(value("d", FLOAT, "n", (long) channels, 8L, 8L));
        }
        return TestGraphs.model(graph.build(), 13);
    }

    private static dev.compress.onnx.proto.Onnx.TensorProto conv(String name, int out, int in, int k, long seed) {
        return Protos.floats(name, new long[] {out, in, k, k}, TestGraphs.weights(out * in * k * k, seed));
    }

    private static dev.compress.onnx.proto.Onnx.TensorProto bias(String name, int n, long seed) {
        return Protos.floats(name, new long[] {n}, TestGraphs.weights(n, seed));
    }

    private static Dataset data() {
        return TestGraphs.floats(Map.of("x", b -> new long[] {2, IN, 8, 8}), 4);
    }

    private static Set<Node> all(Graph graph) {
        return new HashSet<>(graph.nodes());
    }

    private static long[] dims(OnnxModel model, String initializer) {
        return model.graph().initializer(initializer).orElseThrow().dims();
    }

    @Test
    void theDepthwiseSpaceGetsZeroChannelsAndComputesTheSame() {
        int squeeze = 16;
        OnnxModel source = block(24, squeeze, false);
        OnnxModel widened = source.copy();

        assertThat(ChannelWidths.widen(widened.graph(), all(widened.graph())))
                .containsExactly("dw: 24 -> 32 channels");

        // writers: zero filters and biases; readers: zero input channels; the depthwise Conv: 32 groups
        assertThat(dims(widened, "w_expand")).containsExactly(32, IN, 1, 1);
        assertThat(dims(widened, "b_expand")).containsExactly(32);
        assertThat(dims(widened, "w_fc2")).containsExactly(32, squeeze, 1, 1);
        assertThat(dims(widened, "b_fc2")).containsExactly(32);
        assertThat(dims(widened, "w_dw")).containsExactly(32, 1, 3, 3);
        assertThat(dims(widened, "w_fc1")).containsExactly(squeeze, 32, 1, 1);
        assertThat(dims(widened, "w_project")).containsExactly(IN, 32, 1, 1);
        assertThat(widened.graph().initializer("w_project").orElseThrow().floats()[IN * 32 - 1]).isZero();
        assertThat(widened.graph().nodes().stream().filter(n -> n.name().equals("dw")).findFirst().orElseThrow()
                .intAttribute("group", 0)).isEqualTo(32);
        assertSameOutputs(source, widened);
    }

    @Test
    void aSqueezeOfEightChannelsGetsSixteenFiltersAndComputesTheSame() {
        OnnxModel source = block(32, 8, false);
        OnnxModel widened = source.copy();

        assertThat(ChannelWidths.widen(widened.graph(), all(widened.graph())))
                .containsExactly("fc1: 8 -> 16 channels");

        assertThat(dims(widened, "w_fc1")).containsExactly(16, 32, 1, 1);
        assertThat(dims(widened, "b_fc1")).containsExactly(16);
        assertThat(dims(widened, "w_fc2")).containsExactly(32, 16, 1, 1);
        assertThat(dims(widened, "w_dw")).containsExactly(32, 1, 3, 3);
        assertSameOutputs(source, widened);
    }

    private static void assertSameOutputs(OnnxModel source, OnnxModel widened) {
        for (RuntimeOptions options : List.of(RuntimeOptions.defaults(),
                RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE))) {
            assertThat(TestGraphs.relativeError(source, widened, data().batches(2), options)).isLessThan(1e-6);
        }
    }

    @Test
    void quantizedTheReportNamesItAndTheLayerRankingComparesTheLeadingChannels() {
        OnnxModel source = block(24, 8, false);
        QuantizationResult result = Quantizer.builder().setModel(source).setCalibrationData(data()).build()
                .quantize();

        assertThat(result.report().convShapes().channelsWidened())
                .containsExactly("dw: 24 -> 32 channels", "fc1: 8 -> 16 channels");
        assertThat(TestGraphs.relativeError(source, result.model(), data())).isLessThan(0.05);
        // the INT8 model's activations in the space have 32 channels, the source's 24
        LayerReport layers = LayerDebugger.builder().setFloatModel(source).setQuantizedModel(result.model())
                .setData(data()).build().run();
        LayerReport.Layer depthwise = layers.layers().stream().filter(l -> l.node().equals("dw")).findFirst()
                .orElseThrow();
        assertThat(depthwise.sqnrDb()).isGreaterThan(25.0);
    }

    @Test
    void spacesItCannotFollowOrThatNeedNothingAreLeftAlone() {
        // already a multiple of 16, and 16 filters for the squeeze
        OnnxModel aligned = block(32, 16, false);
        assertThat(ChannelWidths.widen(aligned.graph(), all(aligned.graph()))).isEmpty();
        // the depthwise output is a graph output: its width is the caller's
        OnnxModel output = block(24, 16, true);
        assertThat(ChannelWidths.widen(output.graph(), all(output.graph()))).isEmpty();
        assertThat(dims(output, "w_expand")).containsExactly(24, IN, 1, 1);
        // the depthwise Conv stays float (excluded): its float kernel gains nothing
        OnnxModel excluded = block(24, 16, false);
        Set<Node> quantized = all(excluded.graph());
        quantized.removeIf(n -> n.name().equals("dw"));
        assertThat(ChannelWidths.widen(excluded.graph(), quantized)).isEmpty();
        // a float squeeze: its float kernel takes any count
        OnnxModel floatSqueeze = block(32, 8, false);
        Set<Node> notFc1 = all(floatSqueeze.graph());
        notFc1.removeIf(n -> n.name().equals("fc1"));
        assertThat(ChannelWidths.widen(floatSqueeze.graph(), notFc1)).isEmpty();
        // a divisor of the space: its new channels would divide by 0
        OnnxModel divided = block(24, 16, false);
        divided.graph().nodes().stream().filter(n -> n.name().equals("excite")).findFirst().orElseThrow()
                .setOpType("Div");
        assertThat(ChannelWidths.widen(divided.graph(), all(divided.graph()))).isEmpty();
        // a weight another node shares
        OnnxModel shared = block(24, 16, false);
        shared.graph().nodes().stream().filter(n -> n.name().equals("fc2")).findFirst().orElseThrow()
                .setInput(2, "b_expand");
        assertThat(ChannelWidths.widen(shared.graph(), all(shared.graph()))).isEmpty();
    }
}
