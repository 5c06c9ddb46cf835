package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.data.Dataset;
import dev.compress.graph.DataType;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.GraphProto;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Quantization of recurrent layers (silero VAD's LSTMs hold most of its weights, a CRNN's too): ONNX Runtime's
 * DynamicQuantizeLSTM in dynamic quantization's integer format and in static quantization, dequantized weights in the
 * other dynamic formats. Each result is run by ONNX Runtime against fp32.
 */
class DynamicRecurrentTest {
    private static final int SEQUENCE = 4;
    private static final int INPUT = 6;
    private static final int HIDDEN = 5;

    /**
     * x[4, batch, 6] (sequence first) into a bidirectional LSTM with bias (hidden 5, tanh gates scaled up so the
     * cells saturate unevenly) and a forward GRU without bias.
     */
    private static GraphProto.Builder layers() {
        return GraphProto.newBuilder().setName("recurrent")
                .addInput(value("x", FLOAT, SEQUENCE, "batch", INPUT))
                .addOutput(value("y", FLOAT, SEQUENCE, 2, "batch", HIDDEN))
                .addOutput(value("y_h", FLOAT, 2, "batch", HIDDEN))
                .addOutput(value("g", FLOAT, SEQUENCE, 1, "batch", HIDDEN))
                .addInitializer(Protos.floats("W", new long[] {2, 4 * HIDDEN, INPUT},
                        scaled(TestGraphs.weights(2 * 4 * HIDDEN * INPUT, 1), 3)))
                .addInitializer(Protos.floats("R", new long[] {2, 4 * HIDDEN, HIDDEN},
                        scaled(TestGraphs.weights(2 * 4 * HIDDEN * HIDDEN, 2), 3)))
                .addInitializer(Protos.floats("B", new long[] {2, 8 * HIDDEN}, TestGraphs.weights(16 * HIDDEN, 3)))
                .addInitializer(Protos.floats("Wg", new long[] {1, 3 * HIDDEN, INPUT},
                        TestGraphs.weights(3 * HIDDEN * INPUT, 4)))
                .addInitializer(Protos.floats("Rg", new long[] {1, 3 * HIDDEN, HIDDEN},
                        TestGraphs.weights(3 * HIDDEN * HIDDEN, 5)))
                .addNode(Protos.node("LSTM", "lstm", List.of("x", "W", "R", "B"), List.of("y", "y_h"))
                        .addAttribute(Protos.intAttribute("hidden_size", HIDDEN))
                        .addAttribute(Protos.stringAttribute("direction", "bidirectional")))
                .addNode(Protos.node("GRU", "gru", List.of("x", "Wg", "Rg"), List.of("g"))
                        .addAttribute(Protos.intAttribute("hidden_size", HIDDEN)));
    }

    private static float[] scaled(float[] values, float factor) {
        for (int i = 0; i < values.length; i++) {
            values[i] *= factor;
        }
        return values;
    }

    private static Dataset data() {
        return TestGraphs.floats(Map.of("x", b -> new long[] {SEQUENCE, 1 + b % 3, INPUT}), 4);
    }

    private static QuantizationResult dynamic(OnnxModel model, DynamicFormat format, Set<String> ops) {
        return Quantizer.builder().setModel(model).optDynamic(format).optOpTypes(ops).build().quantize();
    }

    @Test
    void everyFormatQuantizesTheLstmAndComputesWhatFp32Does() {
        OnnxModel fp32 = model(layers().build(), 13);
        for (DynamicFormat format : DynamicFormat.values()) {
            QuantizationResult result = dynamic(fp32, format, Set.of());
            boolean integer = format == DynamicFormat.MATMUL_INTEGER;
            assertThat(result.report().quantizedOps()).as(format.name())
                    .containsExactlyInAnyOrderEntriesOf(integer ? Map.of("LSTM", 1) : Map.of("GRU", 1, "LSTM", 1));
            if (integer) {
                assertThat(result.report().floatNodes()).containsOnlyKeys("gru");
                assertThat(result.report().floatNodes().get("gru")).startsWith("ONNX Runtime has an integer kernel"
                        + " for LSTM only (DynamicQuantizeLSTM), none for GRU; --dynamic-format weight-only");
            }
            assertThat(result.model().graph().initializers()).as(format.name()).doesNotContainKeys("W", "R")
                    .containsKey("B");
            assertThat(TestGraphs.relativeError(fp32, result.model(), data())).as(format.name()).isLessThan(0.02);
        }
    }

    @Test
    void dynamicQuantizeLstmTakesTransposedInt8WeightsWithAScalePerDirectionAndGateRow() {
        OnnxModel fp32 = model(layers().build(), 13);
        OnnxModel result = dynamic(fp32, DynamicFormat.MATMUL_INTEGER, Set.of()).model();
        assertThat(result.opset(DynamicQuantization.MICROSOFT)).isEqualTo(1);
        Node lstm = result.graph().nodes().stream().filter(n -> n.opType().equals("DynamicQuantizeLSTM"))
                .findFirst().orElseThrow();
        assertThat(lstm.name()).isEqualTo("lstm"); // compress debug and --exclude name it as before
        assertThat(lstm.domain()).isEqualTo(DynamicQuantization.MICROSOFT);
        assertThat(lstm.inputs()).hasSize(12);
        assertThat(lstm.input(3)).isEqualTo("B");
        assertThat(lstm.inputs().subList(4, 8)).containsOnly("");
        Tensor w = result.graph().initializer(lstm.input(1)).orElseThrow();
        Tensor r = result.graph().initializer(lstm.input(2)).orElseThrow();
        assertThat(w.dataType()).isEqualTo(DataType.INT8);
        assertThat(w.dims()).containsExactly(2, INPUT, 4 * HIDDEN);
        assertThat(r.dims()).containsExactly(2, HIDDEN, 4 * HIDDEN);
        for (int slot : new int[] {8, 9, 10, 11}) {
            assertThat(result.graph().initializer(lstm.input(slot)).orElseThrow().dims()).containsExactly(2,
                    4 * HIDDEN);
        }
        assertThat(result.graph().initializer(lstm.input(9)).orElseThrow().bytes()).containsOnly(0);
        // W[d, row, col] = scale[d, row] * code[d, col, row]: every (direction, row) has a code at 127 in magnitude,
        // and the codes dequantize to the fp32 weight within half a step
        float[] original = fp32.graph().initializer("W").orElseThrow().floats();
        float[] scales = result.graph().initializer(lstm.input(8)).orElseThrow().floats();
        byte[] codes = w.bytes();
        for (int d = 0; d < 2; d++) {
            for (int row = 0; row < 4 * HIDDEN; row++) {
                int max = 0;
                float scale = scales[d * 4 * HIDDEN + row];
                for (int col = 0; col < INPUT; col++) {
                    int code = codes[(d * INPUT + col) * 4 * HIDDEN + row];
                    max = Math.max(max, Math.abs(code));
                    float expected = original[(d * 4 * HIDDEN + row) * INPUT + col];
                    assertThat((double) Math.abs(code * scale - expected)).isLessThanOrEqualTo(scale / 2 + 1e-7);
                }
                assertThat(max).isEqualTo(127);
            }
        }
    }

    @Test
    void opsSelectTheRecurrentTypesAndARecurrentLayerWithComputedWeightsIsNamed() {
        OnnxModel fp32 = model(layers().build(), 13);
        QuantizationResult gru = dynamic(fp32, DynamicFormat.WEIGHT_ONLY, Set.of("GRU"));
        assertThat(gru.report().quantizedOps()).containsExactlyEntriesOf(Map.of("GRU", 1));
        assertThat(gru.report().floatNodes()).containsEntry("lstm", "op type not selected");
        assertThatThrownBy(() -> dynamic(fp32, DynamicFormat.MATMUL_INTEGER, Set.of("GRU")))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("nothing to quantize: no GRU with a float weight that can be quantized")
                .hasMessageContaining("integer kernel for LSTM only");
        // a recurrence weight computed at run time (here negated, unprepared) cannot be quantized ahead of it
        GraphProto computed = layers().setNode(0, Protos.node("LSTM", "lstm", List.of("x", "W", "negR", "B"),
                        List.of("y", "y_h"))
                        .addAttribute(Protos.intAttribute("hidden_size", HIDDEN))
                        .addAttribute(Protos.stringAttribute("direction", "bidirectional")))
                .addNode(0, Protos.node("Neg", "neg", List.of("R"), List.of("negR")))
                .build();
        QuantizationResult result = Quantizer.builder().setModel(model(computed, 13)).optPrepare(false)
                .optDynamic(DynamicFormat.WEIGHT_ONLY).build().quantize();
        assertThat(result.report().quantizedOps()).containsExactlyEntriesOf(Map.of("GRU", 1));
        assertThat(result.report().floatNodes()).containsEntry("lstm", "recurrent weight R is not a constant");
    }

    /**
     * A CRNN in small: x[batch, 4, 16] -> Conv1d (8 filters) -> Relu -> sequence first -> LSTM (hidden 5). Static
     * quantization puts the Conv in QDQ and the LSTM, which has no QDQ form ONNX Runtime runs in integer, in
     * DynamicQuantizeLSTM.
     */
    @Test
    void staticQuantizationWritesLstmsAsDynamicQuantizeLstm() {
        GraphProto graph = GraphProto.newBuilder().setName("crnn")
                .addInput(value("x", FLOAT, "batch", 4L, 16L))
                .addOutput(value("y", FLOAT, 16L, 1L, "batch", HIDDEN))
                .addInitializer(Protos.floats("conv_w", new long[] {8, 4, 3}, TestGraphs.weights(96, 6)))
                .addInitializer(Protos.floats("conv_b", new long[] {8}, TestGraphs.weights(8, 7)))
                .addInitializer(Protos.floats("W", new long[] {1, 4 * HIDDEN, 8}, TestGraphs.weights(160, 8)))
                .addInitializer(Protos.floats("R", new long[] {1, 4 * HIDDEN, HIDDEN}, TestGraphs.weights(100, 9)))
                .addNode(Protos.node("Conv", "conv", List.of("x", "conv_w", "conv_b"), List.of("c"))
                        .addAttribute(Protos.intsAttribute("pads", 1, 1)))
                .addNode(Protos.node("Relu", "relu", List.of("c"), List.of("r")))
                .addNode(Protos.node("Transpose", "to_sequence", List.of("r"), List.of("s"))
                        .addAttribute(Protos.intsAttribute("perm", 2, 0, 1)))
                .addNode(Protos.node("LSTM", "lstm", List.of("s", "W", "R"), List.of("y"))
                        .addAttribute(Protos.intAttribute("hidden_size", HIDDEN)))
                .build();
        OnnxModel fp32 = model(graph, 13);
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {1 + b % 3, 4, 16}), 4);
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(data).build().quantize();
        assertThat(result.report().quantizedOps()).containsEntry("Conv", 1).containsEntry("LSTM", 1);
        assertThat(result.report().floatNodes()).doesNotContainKey("lstm");
        assertThat(result.model().graph().nodes()).filteredOn(n -> n.name().equals("lstm")).singleElement()
                .satisfies(n -> assertThat(n.qualifiedOpType()).isEqualTo("com.microsoft:DynamicQuantizeLSTM"));
        assertThat(result.model().opset(DynamicQuantization.MICROSOFT)).isEqualTo(1);
        // 0.016 with the LSTM float: its input is quantized twice, by the Conv's QDQ and per call
        assertThat(TestGraphs.relativeError(fp32, result.model(), data)).isLessThan(0.05);
        // with nothing else to quantize statically, the refusal points to dynamic quantization
        OnnxModel recurrentOnly = model(layers().build(), 13);
        assertThatThrownBy(() -> Quantizer.builder().setModel(recurrentOnly).setCalibrationData(data()).build()
                .quantize()).isInstanceOf(CompressException.class)
                .hasMessageContaining("nothing to quantize").hasMessageEndingWith("; --dynamic quantizes its 1 LSTM");
        // excluded, or not among --ops, it stays float
        for (Quantizer.Builder kept : List.of(
                Quantizer.builder().setModel(fp32).setCalibrationData(data).optExclude(Set.of("lstm")),
                Quantizer.builder().setModel(fp32).setCalibrationData(data).optOpTypes(Set.of("Conv")))) {
            QuantizationResult floatLstm = kept.build().quantize();
            assertThat(floatLstm.report().quantizedOps()).doesNotContainKey("LSTM");
            assertThat(floatLstm.model().opsets()).doesNotContainKey(DynamicQuantization.MICROSOFT);
        }
    }
}
