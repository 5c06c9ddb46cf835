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
 * Dynamic quantization of recurrent layers (silero VAD's LSTMs hold most of its weights): ONNX Runtime's
 * DynamicQuantizeLSTM in the integer format, dequantized weights in the others. Each result is run by ONNX Runtime
 * against fp32.
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
}
