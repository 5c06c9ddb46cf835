package dev.compress.debug;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.quantize.Quantizer;
import dev.compress.quantize.TestGraphs;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The mean of a centred tensor (a LayerNorm's second mean, ConvNeXt's channel means) is about 0 in fp32: any rounding
 * gives it a hopeless SQNR although nothing downstream suffers. The ranking puts such near-zero tensors last.
 */
class NearZeroRankingTest {
    private static final int WIDTH = 16;

    private static NodeProto.Builder mean(String name, String input, String output) {
        return Protos.node("ReduceMean", name, List.of(input), List.of(output))
                .addAttribute(AttributeProto.newBuilder().setName("axes").addInts(1)
                        .setType(AttributeProto.AttributeType.INTS));
    }

    /** y = d + mean(d) · 1, d = h - mean(h), h = relu(x W1) W2: mean(d) is 0 up to float rounding. */
    private static OnnxModel centred() {
        float[] w1 = new float[WIDTH * WIDTH];
        float[] w2 = new float[WIDTH * WIDTH];
        for (int i = 0; i < w1.length; i++) {
            w1[i] = (float) Math.sin(i * 0.37) * 0.5f;
            w2[i] = (float) Math.cos(i * 0.53) * 0.5f;
        }
        GraphProto graph = GraphProto.newBuilder().setName("centred")
                .addInput(value("x", FLOAT, "n", WIDTH))
                .addOutput(value("y", FLOAT, "n", WIDTH))
                .addInitializer(Protos.floats("w1", new long[] {WIDTH, WIDTH}, w1))
                .addInitializer(Protos.floats("w2", new long[] {WIDTH, WIDTH}, w2))
                .addNode(Protos.node("MatMul", "fc1", List.of("x", "w1"), List.of("a")))
                .addNode(Protos.node("Relu", "relu", List.of("a"), List.of("r")))
                .addNode(Protos.node("MatMul", "fc2", List.of("r", "w2"), List.of("h")))
                .addNode(mean("mean", "h", "m"))
                .addNode(Protos.node("Sub", "centre", List.of("h", "m"), List.of("d")))
                .addNode(mean("residue", "d", "z"))
                .addNode(Protos.node("Add", "out", List.of("d", "z"), List.of("y")))
                .build();
        return model(graph, 13);
    }

    @Test
    void aNearZeroTensorIsRankedLast() {
        OnnxModel fp32 = centred();
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {16, WIDTH}), 4);
        OnnxModel int8 = Quantizer.builder().setModel(fp32).setCalibrationData(data).build().quantize().model();
        LayerReport report = LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(int8).setData(data)
                .build().run();
        List<LayerReport.Layer> layers = report.layers();
        LayerReport.Layer residue = layers.stream().filter(l -> l.node().equals("residue")).findFirst()
                .orElseThrow();
        // its own SQNR is the worst of all (the rounding of the other layers, against a signal of about 0)
        assertThat(residue.sqnrDb()).isNotNull();
        assertThat(layers).filteredOn(l -> l != residue && l.sqnrDb() != null)
                .allSatisfy(l -> assertThat(l.sqnrDb()).isGreaterThan(residue.sqnrDb()));
        // and yet it comes last: the layers that can explain a loss come first
        assertThat(layers.get(layers.size() - 1)).isEqualTo(residue);
        assertThat(layers.get(0).node()).isNotEqualTo("residue");
    }
}
