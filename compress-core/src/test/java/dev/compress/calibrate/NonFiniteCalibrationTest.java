package dev.compress.calibrate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * NaN and infinities coming out of ONNX Runtime during calibration: y = Log(x) on samples [1, e, -1, 0] gives
 * [0, 1, NaN, -Inf]. They are counted and left out, on the reduction path (MinMax) and the histogram path alike.
 */
class NonFiniteCalibrationTest {
    private static OnnxModel logModel() {
        TypeProto type = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                .setElemType(TensorProto.DataType.FLOAT_VALUE)
                .setShape(TensorShapeProto.newBuilder()
                        .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("N"))
                        .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(4)))).build();
        GraphProto graph = GraphProto.newBuilder()
                .setName("log")
                .addNode(Protos.node("Log", "log", List.of("x"), List.of("y")))
                .addNode(Protos.node("Relu", "relu", List.of("y"), List.of("z")))
                .addInput(ValueInfoProto.newBuilder().setName("x").setType(type))
                .addOutput(ValueInfoProto.newBuilder().setName("z").setType(type))
                .build();
        return OnnxModel.of(ModelProto.newBuilder().setIrVersion(8).setGraph(graph)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).build());
    }

    /** {@code count} samples of [1, e, -1, 0] (or all -1 when {@code allNegative}). */
    private static Dataset samples(int count, boolean allNegative) {
        List<float[]> samples = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            samples.add(allNegative ? new float[] {-1, -1, -1, -1} : new float[] {1, (float) Math.E, -1, 0});
        }
        return ExtremesProbeTest.samples(new long[] {4}, samples);
    }

    private static CalibrationTable calibrate(int bins, boolean allNegative) {
        return Calibrator.builder()
                .setModel(logModel())
                .setData(samples(10, allNegative))
                .setTensors(List.of("y", "z"))
                .optBins(bins)
                .optBatchSize(3)
                .optThreads(2, 1)
                .build()
                .calibrate();
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 2048})
    void nonFiniteValuesAreCountedAndLeftOut(int bins) {
        CalibrationTable table = calibrate(bins, false);
        CalibrationMethod method = bins == 0 ? CalibrationMethod.MINMAX : CalibrationMethod.ENTROPY;
        TensorRange y = table.ranges(CalibrationSettings.of(method), List.of("y"), false).get("y");
        assertThat(y.min()).isEqualTo(0f);
        assertThat(y.max()).isCloseTo(1f, org.assertj.core.api.Assertions.within(1e-6f));
        // Relu keeps NaN (10 of them) and turns -Inf into 0
        assertThat(table.warnings()).containsExactly(
                "tensor 'y': 20 of 40 values were NaN or infinite and were left out of its range",
                "tensor 'z': 10 of 40 values were NaN or infinite and were left out of its range");
    }

    @Test
    void aTensorWithNothingFiniteIsRefused() {
        CalibrationTable table = calibrate(0, true);
        assertThatThrownBy(() -> table.ranges(CalibrationSettings.defaults(), List.of("y"), false))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("tensor 'y' had no finite value during calibration (40 NaN or infinite values)");
    }
}
