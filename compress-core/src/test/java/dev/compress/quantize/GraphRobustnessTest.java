package dev.compress.quantize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
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
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Graph shapes the fixtures do not have: integer shape arithmetic beside float compute, nothing to quantize. */
class GraphRobustnessTest {
    private static ValueInfoProto value(String name, int type, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long d : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(type).setShape(shape))).build();
    }

    /** x[N,4] -> MatMul -> y, and Shape(x) * Shape(x) -> an int64 output, which must stay untouched. */
    private static OnnxModel modelWithShapeArithmetic() {
        float[] w = new float[12];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i % 5 - 2) * 0.25f;
        }
        GraphProto graph = GraphProto.newBuilder()
                .setName("shapes")
                .addInput(value("x", TensorProto.DataType.FLOAT_VALUE, 2, 4))
                .addOutput(value("y", TensorProto.DataType.FLOAT_VALUE, 2, 3))
                .addOutput(value("dims", TensorProto.DataType.INT64_VALUE, 2))
                .addInitializer(Protos.floats("W", new long[] {4, 3}, w))
                .addNode(Protos.node("MatMul", "matmul", List.of("x", "W"), List.of("y")))
                .addNode(Protos.node("Shape", "shape_a", List.of("x"), List.of("s1")))
                .addNode(Protos.node("Identity", "copy", List.of("s1"), List.of("s2")))
                .addNode(Protos.node("Mul", "square", List.of("s1", "s2"), List.of("dims")))
                .build();
        return OnnxModel.of(ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(graph).build());
    }

    /** Eight deterministic samples of x. */
    private static Dataset samples() {
        float[] x = new float[32];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.sin(i);
        }
        int[] labels = new int[8];
        java.util.Arrays.fill(labels, -1);
        List<Path> sources = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            sources.add(Path.of("s" + i / 2));
        }
        return TestGraphs.rows(Path.of("generated"),
                new Batch(Map.of("x", HostTensor.ofFloats(new long[] {8, 4}, x)), labels, sources));
    }

    @Test
    void integerTensorsThatLookFloatAreLeftAlone() {
        QuantizationResult result = Quantizer.builder()
                .setModel(modelWithShapeArithmetic())
                .setCalibrationData(samples())
                .optPrepare(false) // preparation would remove the Identity this test needs
                .build()
                .quantize();
        Graph graph = result.model().graph();
        Node mul = graph.nodes().stream().filter(n -> n.opType().equals("Mul")).findFirst().orElseThrow();
        assertThat(mul.inputs()).containsExactly("s1", "s2");
        assertThat(result.report().floatNodes()).containsEntry("square", "input is not float");
        assertThat(result.report().quantizedOps()).containsEntry("MatMul", 1);
        try (OrtModel session = OrtModel.open(result.model(), RuntimeOptions.defaults())) {
            assertThat(session.run(samples().batches(2).next(), Set.of("y")).get("y").values()).hasSize(6);
        }
    }

    @Test
    void aModelWithoutWeightedOpsIsRefused() {
        GraphProto graph = GraphProto.newBuilder()
                .addInput(value("x", TensorProto.DataType.FLOAT_VALUE, 2, 4))
                .addOutput(value("y", TensorProto.DataType.FLOAT_VALUE, 2, 4))
                .addNode(Protos.node("Relu", "relu", List.of("x"), List.of("y")))
                .build();
        OnnxModel model = OnnxModel.of(ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(graph).build());
        assertThatThrownBy(() -> Quantizer.builder().setModel(model).setCalibrationData(samples()).build().quantize())
                .hasMessageContaining("nothing to quantize");
    }
}
