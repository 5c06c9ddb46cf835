package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.graph.Graph;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.runtime.RuntimeOptions;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The GELU forms exporters write become one Gelu that computes the same values in ONNX Runtime; anything that is not
 * exactly such a GELU is left alone.
 */
class GeluFusionTest {
    private static final float SQRT2 = (float) Math.sqrt(2);

    /**
     * y = GELU(x) for x[n, 8] as written by torch ({@code torch}: Div, Erf, Add, Mul x, Mul 0.5), by HuggingFace's
     * BERT ({@code bert}: x · 0.5 first), with the half applied to the Erf branch ({@code half-first}), with a Mul by
     * 1/√2 ({@code reciprocal}), and with its constants as Constant nodes ({@code constants}).
     */
    private static GraphProto.Builder gelu(String form, float sqrt2) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("gelu")
                .addInput(value("x", FLOAT, "n", 8L)).addOutput(value("y", FLOAT, "n", 8L));
        Map<String, Float> constants = Map.of("sqrt2", form.equals("reciprocal") ? 1 / sqrt2 : sqrt2, "one", 1f,
                "half", 0.5f);
        constants.forEach((name, v) -> {
            if (form.equals("constants")) {
                g.addNode(Protos.node("Constant", name + "_node", List.of(), List.of(name)).addAttribute(
                        AttributeProto.newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR)
                                .setT(Protos.floats("", new long[0], new float[] {v}))));
            } else {
                g.addInitializer(Protos.floats(name, new long[0], new float[] {v}));
            }
        });
        g.addNode(Protos.node(form.equals("reciprocal") ? "Mul" : "Div", "scale", List.of("x", "sqrt2"),
                List.of("s")));
        g.addNode(Protos.node("Erf", "erf", List.of("s"), List.of("e")));
        g.addNode(Protos.node("Add", "add", List.of("one", "e"), List.of("a")));
        switch (form) {
            case "bert" -> {
                g.addNode(Protos.node("Mul", "half", List.of("x", "half"), List.of("h")));
                g.addNode(Protos.node("Mul", "times", List.of("h", "a"), List.of("y")));
            }
            case "half-first" -> {
                g.addNode(Protos.node("Mul", "half", List.of("a", "half"), List.of("h")));
                g.addNode(Protos.node("Mul", "times", List.of("x", "h"), List.of("y")));
            }
            default -> {
                g.addNode(Protos.node("Mul", "times", List.of("x", "a"), List.of("h")));
                g.addNode(Protos.node("Mul", "half", List.of("h", "half"), List.of("y")));
            }
        }
        return g;
    }

    private static double fusedError(OnnxModel source, OnnxModel fused) {
        // the source as written: ONNX Runtime's optimizer would fuse it into its own Gelu first
        return TestGraphs.relativeError(source, fused,
                TestGraphs.floats(Map.of("x", b -> new long[] {16, 8}), 4).batches(4),
                RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE));
    }

    @ParameterizedTest
    @ValueSource(strings = {"torch", "bert", "half-first", "reciprocal", "constants"})
    void eachExportedFormBecomesOneGeluWithTheSameValues(String form) {
        OnnxModel source = TestGraphs.model(gelu(form, SQRT2).build(), 20);
        OnnxModel fused = source.copy();
        List<GeluFusion.Match> matches = GeluFusion.find(fused.graph(), Set.of());
        assertThat(matches).singleElement().satisfies(m -> {
            assertThat(m.input()).isEqualTo("x");
            assertThat(m.output()).isEqualTo("y");
        });
        GeluFusion.rewrite(fused.graph(), matches);
        assertThat(fused.graph().nodes()).singleElement().satisfies(n -> {
            assertThat(n.opType()).isEqualTo("Gelu");
            assertThat(n.name()).isEqualTo("erf");
        });
        // the √2, 1 and 0.5 go with it, as initializers or as Constant nodes
        assertThat(fused.graph().initializers()).isEmpty();
        assertThat(fusedError(source, fused)).isLessThan(1e-6);
    }

    @Test
    void aDifferentConstantIsNotAGelu() {
        Graph graph = TestGraphs.model(gelu("torch", 1.5f).build(), 20).graph();
        assertThat(GeluFusion.find(graph, Set.of())).isEmpty();
    }

    /** A √2 that is also a graph input can be overridden when the model runs: not a constant. */
    @Test
    void aConstantCallersCanOverrideIsNotAGelu() {
        GraphProto.Builder g = gelu("torch", SQRT2).addInput(value("sqrt2", FLOAT));
        assertThat(GeluFusion.find(TestGraphs.model(g.build(), 20).graph(), Set.of())).isEmpty();
    }

    @Test
    void anIntermediateReadElsewhereStays() {
        GraphProto.Builder g = gelu("torch", SQRT2);
        g.addNode(Protos.node("Identity", "peek", List.of("e"), List.of("seen")));
        g.addOutput(value("seen", FLOAT, "n", 8L));
        assertThat(GeluFusion.find(TestGraphs.model(g.build(), 20).graph(), Set.of())).isEmpty();
    }

    @Test
    void aGeluWithAnExcludedNodeStays() {
        Graph graph = TestGraphs.model(gelu("torch", SQRT2).build(), 20).graph();
        assertThat(GeluFusion.find(graph, Set.of("half"))).isEmpty();
        assertThat(GeluFusion.find(graph, Set.of("other"))).hasSize(1);
    }

    /** Only a GELU reading a Conv, Gemm or MatMul output sits between 8-bit tensors once quantized. */
    @Test
    void whetherTheInputIsQuantizable() {
        GraphProto.Builder g = gelu("torch", SQRT2);
        Graph plain = TestGraphs.model(g.build(), 20).graph();
        assertThat(GeluFusion.readsQuantizableOutput(plain, GeluFusion.find(plain, Set.of()))).isFalse();

        g.addInitializer(TestGraphs.weight("w", 8, 8, 1));
        g.getInputBuilder(0).setName("z");
        g.addNode(0, Protos.node("MatMul", "matmul", List.of("z", "w"), List.of("x")));
        Graph afterMatMul = TestGraphs.model(g.build(), 20).graph();
        assertThat(GeluFusion.readsQuantizableOutput(afterMatMul, GeluFusion.find(afterMatMul, Set.of()))).isTrue();
    }

    /**
     * Below opset 20 there is no Gelu op: a GELU the quantizer does not convert the model for (it reads no quantized
     * output) stays decomposed, even when another rewrite (here a HardSigmoid's) runs on the same graph.
     */
    @Test
    void belowOpset20AGeluStaysDecomposedBesideOtherRewrites() {
        GraphProto.Builder g = gelu("torch", SQRT2)
                .addOutput(value("gate", FLOAT, "n", 8L))
                .addOutput(value("m", FLOAT, "n", 8L))
                .addInitializer(TestGraphs.weight("w", 8, 8, 1))
                .addNode(Protos.node("HardSigmoid", "hard_sigmoid", List.of("x"), List.of("gate")))
                .addNode(Protos.node("MatMul", "matmul", List.of("x", "w"), List.of("m")));
        OnnxModel fp32 = TestGraphs.model(g.build(), 13);
        var data = TestGraphs.floats(Map.of("x", b -> new long[] {4, 8}), 2);
        OnnxModel int8 = Quantizer.builder().setModel(fp32).setCalibrationData(data).build().quantize().model();
        assertThat(int8.opset("")).isEqualTo(13);
        assertThat(int8.graph().nodes()).noneMatch(n -> n.is("Gelu"));
        assertThat(TestGraphs.relativeError(fp32, int8, data)).isLessThan(0.05); // loads and runs
    }
}
