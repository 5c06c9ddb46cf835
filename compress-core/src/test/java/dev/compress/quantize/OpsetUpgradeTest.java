package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static dev.compress.quantize.TestGraphs.weight;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code optUpgradeOpset}: models of opset 6 to 12 are converted to 13 and get per-channel weights. */
class OpsetUpgradeTest {
    private static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder attr = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            attr.addInts(v);
        }
        return attr.build();
    }

    /** x[2,3,4] -> Unsqueeze(0) -> Squeeze(0) -> MatMul(W) -> Softmax(axis) -> ReduceSum(axes 1) -> Split(2, 1). */
    private static GraphProto.Builder graph(long softmaxAxis) {
        return GraphProto.newBuilder().setName("old")
                .addInput(value("x", FLOAT, 2L, 3L, 4L))
                .addOutput(value("a", FLOAT, 2L, 1L, 2L))
                .addOutput(value("b", FLOAT, 2L, 1L, 3L))
                .addInitializer(weight("W", 4, 5, 21))
                .addNode(Protos.node("Unsqueeze", "unsqueeze", List.of("x"), List.of("u")).addAttribute(ints("axes", 0)))
                .addNode(Protos.node("Squeeze", "squeeze", List.of("u"), List.of("s")).addAttribute(ints("axes", 0)))
                .addNode(Protos.node("MatMul", "mm", List.of("s", "W"), List.of("m")))
                .addNode(Protos.node("Softmax", "softmax", List.of("m"), List.of("p"))
                        .addAttribute(Protos.intAttribute("axis", softmaxAxis)))
                .addNode(Protos.node("ReduceSum", "sum", List.of("p"), List.of("r")).addAttribute(ints("axes", 1)))
                .addNode(Protos.node("Split", "split", List.of("r"), List.of("a", "b"))
                        .addAttribute(Protos.intAttribute("axis", 2)).addAttribute(ints("split", 2, 3)));
    }

    private static Dataset data() {
        return TestGraphs.floats(Map.of("x", b -> new long[] {2, 3, 4}), 3);
    }

    @Test
    void quantizerUpgradesByDefaultAndGetsPerChannelWeights() {
        OnnxModel fp32 = model(graph(-1).build(), 11);
        QuantizationResult kept = Quantizer.builder().setModel(fp32).setCalibrationData(data())
                .optKeepOpset(true).build().quantize();
        QuantizationResult upgraded = Quantizer.builder().setModel(fp32).setCalibrationData(data()).build()
                .quantize();
        assertThat(kept.report().perChannel()).isFalse();
        assertThat(kept.model().opset("")).isEqualTo(11);
        assertThat(upgraded.report().perChannel()).isTrue();
        assertThat(upgraded.report().warnings()).anySatisfy(w -> assertThat(w)
                .startsWith("converted from opset 11 to 13 for per-channel weights"));
        assertThat(upgraded.model().opset("")).isEqualTo(13);
        assertThat(upgraded.model().metadata().get("compress.quantization")).contains("\"opsetUpgrade\":\"to 13\"");
        try (OrtModel session = OrtModel.open(upgraded.model(), RuntimeOptions.defaults())) {
            assertThat(session.outputNames()).containsExactly("a", "b");
        }
        assertThat(TestGraphs.relativeError(fp32, upgraded.model(), data())).isLessThan(0.05);
    }

    @Test
    void opset9ModelsAreQuantizedOnceConverted() {
        // Softmax over an inner axis: the conversion adds Flatten/Reshape tensors the calibrated model does not have
        OnnxModel fp32 = model(graph(1).build(), 9);
        // without being asked (opset 9 has no QuantizeLinear), and saying so
        QuantizationResult automatic = Quantizer.builder().setModel(fp32).setCalibrationData(data()).build()
                .quantize();
        assertThat(automatic.model().opset("")).isEqualTo(13);
        assertThat(automatic.report().warnings()).anyMatch(w -> w.startsWith("converted from opset 9 to 13 first"));
        assertThat(automatic.model().metadata().get("compress.quantization")).contains("\"opsetUpgrade\":\"to 13\"");
        QuantizationResult upgraded = Quantizer.builder().setModel(fp32).setCalibrationData(data())
                .optUpgradeOpset(true).build().quantize();
        assertThat(upgraded.report().warnings()).noneMatch(w -> w.startsWith("converted from opset"));
        assertThat(upgraded.report().perChannel()).isTrue();
        assertThat(upgraded.model().opset("")).isEqualTo(13);
        assertThat(TestGraphs.relativeError(fp32, upgraded.model(), data())).isLessThan(0.05);
    }

    /** calibrate() converts as quantize() will, so its table is the table of the graph quantized. */
    @Test
    void aTableFitsAConvertedModel() {
        for (int opset : new int[] {9, 11}) {
            OnnxModel fp32 = model(graph(1).build(), opset);
            CalibrationTable table = Quantizer.builder().setModel(fp32).setCalibrationData(data())
                    .optUpgradeOpset(true).build().calibrate();
            QuantizationResult fromTable = Quantizer.builder().setModel(fp32).optTable(table).optUpgradeOpset(true)
                    .build().quantize();
            assertThat(fromTable.model().opset("")).as("opset " + opset).isEqualTo(13);
            assertThat(fromTable.report().perChannel()).isTrue();
        }
        // below 10 without being asked too
        OnnxModel at9 = model(graph(1).build(), 9);
        CalibrationTable table = Quantizer.builder().setModel(at9).setCalibrationData(data()).build().calibrate();
        assertThat(Quantizer.builder().setModel(at9).optTable(table).build().quantize().model().opset(""))
                .isEqualTo(13);
    }

    @Test
    void aModelThatCannotBeConvertedStaysPerTensorFrom10AndIsRefusedBelow() {
        GraphProto.Builder unknown = graph(-1).addNode(Protos.node("Frobnicate", "frob", List.of("x"), List.of("f")));
        OnnxModel at11 = model(unknown.build(), 11);
        assertThat(OpsetUpgrade.apply(at11)).isEqualTo("cannot convert Frobnicate (opset 11) to opset 13: not an"
                + " operator of the default ONNX domain (up to opset 28) (node frob)");
        assertThat(at11.opset("")).isEqualTo(11);
        assertThat(at11.graph().nodes().get(0).attributes()).isNotEmpty(); // unchanged
        OnnxModel at9 = model(unknown.build(), 9);
        assertThatThrownBy(() -> OpsetUpgrade.apply(at9))
                .isInstanceOfSatisfying(CompressException.class,
                        e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT))
                .hasMessageContaining("cannot convert Frobnicate (opset 9)");
    }
}
