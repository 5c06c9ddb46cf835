package dev.compress.debug;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.quantize.Quantizer;
import dev.compress.quantize.TestGraphs;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Nodes that quantization folds away must not distort the ranking (PP-OCRv4 rec's hard-swish,
 * {@code x * Clip(x + 3, 0, 6) / 6} times a learned 0.0235, has both kinds).
 */
class FoldedNodesRankingTest {
    private static final int WIDTH = 16;

    /**
     * A Div and a Mul by constants after a quantized layer fold into the scale of the DequantizeLinear its consumer
     * reads: that DequantizeLinear stands for the Mul's output, not for the layer's. Compared with the layer's own
     * tensor it ranked the layer at 0 dB, first, in front of the layers that really lost fidelity.
     */
    @Test
    void aLayerWhoseDequantizeLinearCarriesAFoldedScaleIsComparedWithItsOwnValue() {
        GraphProto graph = GraphProto.newBuilder().setName("scaled")
                .addInput(value("x", FLOAT, "n", WIDTH))
                .addOutput(value("y", FLOAT, "n", WIDTH))
                .addInitializer(TestGraphs.weight("w1", WIDTH, WIDTH, 1))
                .addInitializer(TestGraphs.weight("w2", WIDTH, WIDTH, 2))
                .addInitializer(Protos.floats("six", new long[0], new float[] {6f}))
                .addInitializer(Protos.floats("small", new long[0], new float[] {0.0235f}))
                .addNode(Protos.node("MatMul", "fc1", List.of("x", "w1"), List.of("h")))
                .addNode(Protos.node("Div", "sixth", List.of("h", "six"), List.of("d")))
                .addNode(Protos.node("Mul", "scale", List.of("d", "small"), List.of("s")))
                .addNode(Protos.node("MatMul", "fc2", List.of("s", "w2"), List.of("y")))
                .build();
        OnnxModel fp32 = model(graph, 13);
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {16, WIDTH}), 4);
        OnnxModel int8 = Quantizer.builder().setModel(fp32).setCalibrationData(data).build().quantize().model();
        // the fold happened: no Div or Mul left, one DequantizeLinear of h's 8-bit tensor with h's scale / 6 * 0.0235
        assertThat(int8.graph().nodes()).extracting(Node::opType).doesNotContain("Div", "Mul");

        LayerReport report = LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(int8).setData(data)
                .build().run();
        LayerReport.Layer fc1 = report.layers().stream().filter(l -> l.node().equals("fc1")).findFirst()
                .orElseThrow();
        // 8-bit rounding of a 16-wide MatMul: tens of dB; compared with the scaled tensor it was under 0.1 dB
        assertThat(fc1.sqnrDb()).isGreaterThan(25.0);
        assertThat(report.output().sqnrDb()).isGreaterThan(25.0);
    }

    /**
     * A Clip folded into the Add before it: the Add writes the Clip's output before the QDQ pair that now clips. Its
     * own SQNR (before the pair against after it) must clip the "before" side too, or every clipped value counts as
     * rounding noise (PP-OCRv4 rec's {@code x + 3} measured 6.7 dB).
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void theOwnSqnrOfALayerWithAFoldedClipClipsTheValueBeforeItsPair(boolean boundsInConstantNodes) {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("clipped")
                .addInput(value("x", FLOAT, "n", WIDTH))
                .addOutput(value("y", FLOAT, "n", WIDTH))
                .addInitializer(TestGraphs.weight("w1", WIDTH, WIDTH, 3))
                .addInitializer(TestGraphs.weight("w2", WIDTH, WIDTH, 4))
                .addInitializer(Protos.floats("three", new long[0], new float[] {3f}))
                .addNode(Protos.node("MatMul", "fc1", List.of("x", "w1"), List.of("h")))
                .addNode(Protos.node("Add", "shift", List.of("h", "three"), List.of("s")))
                .addNode(Protos.node("Clip", "relu6", List.of("s", "zero", "six"), List.of("c")))
                .addNode(Protos.node("MatMul", "fc2", List.of("c", "w2"), List.of("y")));
        for (String bound : List.of("zero", "six")) {
            TensorProto value = Protos.floats(bound, new long[0], new float[] {bound.equals("six") ? 6f : 0f});
            if (boundsInConstantNodes) {
                // as torch writes them: the ranking reads the fp32 model as exported
                graph.addNode(0, Protos.node("Constant", bound + "_constant", List.of(), List.of(bound))
                        .addAttribute(AttributeProto.newBuilder().setName("value")
                                .setType(AttributeProto.AttributeType.TENSOR).setT(value.toBuilder().clearName())));
            } else {
                graph.addInitializer(value);
            }
        }
        OnnxModel fp32 = model(graph.build(), 13);
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {16, WIDTH}), 4);
        OnnxModel int8 = Quantizer.builder().setModel(fp32).setCalibrationData(data).build().quantize().model();
        assertThat(int8.graph().nodes()).extracting(Node::opType).doesNotContain("Clip");

        LayerReport report = LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(int8).setData(data)
                .build().run();
        LayerReport.Layer shift = report.layers().stream().filter(l -> l.node().equals("shift")).findFirst()
                .orElseThrow();
        assertThat(shift.tensor()).isEqualTo("c");
        assertThat(shift.ownSqnrDb()).isGreaterThan(30.0);
    }
}
