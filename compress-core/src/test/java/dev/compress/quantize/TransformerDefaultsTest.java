package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static dev.compress.quantize.TestGraphs.weight;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A model fed float inputs that has self-attention (a vision transformer) gets the transformer defaults: weighted ops
 * only, GELU-reading MatMuls with activations quantized per call, attention scores left float for the float Softmax.
 * A Softmax over a product with a weight is no attention, and such a model is planned as any other.
 */
class TransformerDefaultsTest {
    private static final int TOKENS = 4;
    private static final int WIDTH = 8;

    /**
     * y = gelu(h Wo) Wd with h = softmax(scale · q kᵀ) x + x, q = x Wq and k = x Wk (or, without attention, scores =
     * x Ws); the GELU written out as torch exports it, x · 0.5 · (1 + erf(x / √2)).
     */
    private static OnnxModel block(boolean attention) {
        return block(attention, 0);
    }

    /** The block after {@code convs} 1-wide Conv1d layers over the tokens (a CNN with an attention block). */
    private static OnnxModel block(boolean attention, int convs) {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("block")
                .addInput(value("x", FLOAT, "n", TOKENS, WIDTH))
                .addOutput(value("y", FLOAT, "n", TOKENS, WIDTH))
                .addInitializer(weight("wq", WIDTH, WIDTH, 1))
                .addInitializer(weight("wk", WIDTH, WIDTH, 2))
                .addInitializer(weight("ws", WIDTH, TOKENS, 3))
                .addInitializer(weight("wo", WIDTH, WIDTH, 4))
                .addInitializer(weight("wd", WIDTH, WIDTH, 5))
                .addInitializer(Protos.floats("scale", new long[0], new float[] {0.35f}))
                .addInitializer(Protos.floats("sqrt2", new long[0], new float[] {1.4142135f}))
                .addInitializer(Protos.floats("one", new long[0], new float[] {1f}))
                .addInitializer(Protos.floats("half", new long[0], new float[] {0.5f}));
        String x = "x";
        for (int c = 0; c < convs; c++) {
            graph.addInitializer(Protos.floats("wc" + c, new long[] {TOKENS, TOKENS, 1},
                    TestGraphs.weights(TOKENS * TOKENS, 10 + c)));
            graph.addNode(Protos.node("Conv", "conv" + c, List.of(x, "wc" + c), List.of("c" + c)));
            x = "c" + c;
        }
        if (attention) {
            graph.addNode(Protos.node("MatMul", "q", List.of(x, "wq"), List.of("q")))
                    .addNode(Protos.node("MatMul", "k", List.of(x, "wk"), List.of("k")))
                    .addNode(Protos.node("Transpose", "kt", List.of("k"), List.of("kt"))
                            .addAttribute(AttributeProto.newBuilder().setName("perm").addAllInts(List.of(0L, 2L, 1L))
                                    .setType(AttributeProto.AttributeType.INTS)))
                    .addNode(Protos.node("MatMul", "scores", List.of("q", "kt"), List.of("s")));
        } else {
            graph.addNode(Protos.node("MatMul", "scores", List.of(x, "ws"), List.of("s")));
        }
        graph.addNode(Protos.node("Mul", "scaled", List.of("s", "scale"), List.of("s2")))
                .addNode(Protos.node("Softmax", "softmax", List.of("s2"), List.of("p"))
                        .addAttribute(AttributeProto.newBuilder().setName("axis").setI(-1)
                                .setType(AttributeProto.AttributeType.INT)))
                .addNode(Protos.node("MatMul", "mix", List.of("p", x), List.of("o")))
                .addNode(Protos.node("Add", "residual", List.of("o", x), List.of("h")))
                .addNode(Protos.node("MatMul", "out", List.of("h", "wo"), List.of("u")))
                .addNode(Protos.node("Div", "gelu/div", List.of("u", "sqrt2"), List.of("g1")))
                .addNode(Protos.node("Erf", "gelu/erf", List.of("g1"), List.of("g2")))
                .addNode(Protos.node("Add", "gelu/add", List.of("g2", "one"), List.of("g3")))
                .addNode(Protos.node("Mul", "gelu/mul", List.of("u", "g3"), List.of("g4")))
                .addNode(Protos.node("Mul", "gelu/half", List.of("g4", "half"), List.of("g")))
                .addNode(Protos.node("MatMul", "down", List.of("g", "wd"), List.of("y")));
        return model(graph.build(), 13);
    }

    private static final Dataset DATA = TestGraphs.floats(Map.of("x", b -> new long[] {8, TOKENS, WIDTH}), 4);

    @Test
    void selfAttentionGetsTheTransformerDefaults() {
        OnnxModel fp32 = block(true);
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(DATA).build().quantize();
        assertThat(result.report().warnings()).anyMatch(w -> w.startsWith("attention model (transformer)"));
        assertThat(result.report().quantizedOps().keySet()).containsOnly("MatMul");
        assertThat(result.report().floatNodes()).containsEntry("residual", "op type not selected")
                .doesNotContainKey("down");
        // the GELU-reading MatMul: int8 weight, its input quantized per call (as --dynamic writes it)
        assertThat(result.report().warnings()).anyMatch(w -> w.contains(
                ", 1 MatMul(s) reading a GELU output with activations quantized per call"));
        Graph graph = result.model().graph();
        Node down = graph.producer("y").orElseThrow();
        assertThat(down.opType()).isEqualTo("Mul");
        assertThat(graph.nodes()).filteredOn(n -> n.is("MatMulInteger")).singleElement()
                .satisfies(n -> assertThat(graph.producer(n.input(0)).orElseThrow().opType())
                        .isEqualTo("DynamicQuantizeLinear"));
        // the scores only float ops read stay float: a Q/DQ pair there makes ONNX Runtime run QLinearSoftmax
        assertThat(graph.index().consumers("s")).extracting(Node::opType).containsOnly("Mul");
        assertThat(graph.producer("s").orElseThrow().opType()).isEqualTo("MatMul");
        assertThat(TestGraphs.relativeError(fp32, result.model(), DATA)).isLessThan(0.05);

        QuantizationResult every = Quantizer.builder().setModel(fp32).setCalibrationData(DATA)
                .optEncoderDefaults(false).build().quantize();
        assertThat(every.report().warnings()).noneMatch(w -> w.contains("transformer"));
        assertThat(every.report().quantizedOps()).containsKey("Add");
    }

    @Test
    void aCnnWithAnAttentionBlockKeepsTheCnnDefaults() {
        // 7 Convs against 6 MatMuls: its convolutions, not the attention, take the time (PP-OCRv4 rec)
        QuantizationResult result = Quantizer.builder().setModel(block(true, 7)).setCalibrationData(DATA).build()
                .quantize();
        assertThat(result.report().warnings()).noneMatch(w -> w.contains("transformer"));
        assertThat(result.report().quantizedOps()).containsEntry("Conv", 7).containsKey("Add");
        QuantizationResult fewer = Quantizer.builder().setModel(block(true, 6)).setCalibrationData(DATA).build()
                .quantize();
        assertThat(fewer.report().warnings()).anyMatch(w -> w.startsWith("attention model (transformer)"));
    }

    @Test
    void aSoftmaxOverWeightedScoresIsNoAttention() {
        QuantizationResult result = Quantizer.builder().setModel(block(false)).setCalibrationData(DATA).build()
                .quantize();
        assertThat(result.report().warnings()).noneMatch(w -> w.contains("transformer"));
        assertThat(result.report().quantizedOps()).containsKey("Add");
    }
}
