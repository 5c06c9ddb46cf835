package dev.compress.prune;

import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.util.List;
import java.util.Random;

/** Small ONNX graphs built in memory for shapes the fixtures do not have (Concat, BatchNormalization, sharing). */
public final class TinyModels {
    private final GraphProto.Builder graph = GraphProto.newBuilder().setName("tiny");
    private final Random random = new Random(7);

    TinyModels input(String name, long... dims) {
        graph.addInput(value(name, dims));
        return this;
    }

    TinyModels output(String name) {
        graph.addOutput(ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE))));
        return this;
    }

    /** A random float initializer. */
    TinyModels weight(String name, long... dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        float[] values = new float[(int) n];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian() * 0.5f;
        }
        return constant(name, dims, values);
    }

    TinyModels constant(String name, long[] dims, float[] values) {
        graph.addInitializer(Protos.floats(name, dims, values));
        return this;
    }

    TinyModels node(String op, String name, List<String> inputs, String output, long... pads) {
        NodeProto.Builder node = Protos.node(op, name, inputs, List.of(output));
        if (op.equals("Gemm")) {
            node.addAttribute(Protos.intAttribute("transB", 1));
        }
        if (op.equals("Concat")) {
            node.addAttribute(Protos.intAttribute("axis", 1));
        }
        if (pads.length > 0) {
            node.addAttribute(dev.compress.onnx.proto.Onnx.AttributeProto.newBuilder().setName("pads")
                    .setType(dev.compress.onnx.proto.Onnx.AttributeProto.AttributeType.INTS)
                    .addAllInts(java.util.Arrays.stream(pads).boxed().toList()));
        }
        graph.addNode(node);
        return this;
    }

    OnnxModel build() {
        return OnnxModel.of(ModelProto.newBuilder().setIrVersion(8).setProducerName("test")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(graph).build());
    }

    private static ValueInfoProto value(String name, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long d : dims) {
            shape.addDim(d < 0 ? TensorShapeProto.Dimension.newBuilder().setDimParam("N")
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }

    /**
     * Two conv branches (one with BatchNormalization, mean and shift 0 so a zero channel stays zero) joined by
     * Concat and added to a 1x1 conv of the input, then a conv, global pooling and a dense classifier.
     */
    public static OnnxModel concatResidual() {
        TinyModels m = new TinyModels().input("x", -1, 3, 8, 8).output("y");
        m.weight("wa", 4, 3, 3, 3).weight("ba", 4).weight("wb", 4, 3, 3, 3).weight("bb", 4)
                .weight("wd", 8, 3, 1, 1).weight("bd", 8).weight("we", 6, 8, 3, 3).weight("be", 6)
                .weight("wf", 10, 6).weight("bf", 10)
                .constant("bn_scale", new long[] {4}, new float[] {1.5f, 0.5f, 2f, 1f})
                .constant("bn_bias", new long[] {4}, new float[4])
                .constant("bn_mean", new long[] {4}, new float[4])
                .constant("bn_var", new long[] {4}, new float[] {1f, 2f, 0.5f, 1f});
        return m.node("Conv", "convA", List.of("x", "wa", "ba"), "a0", 1, 1, 1, 1)
                .node("BatchNormalization", "bnA", List.of("a0", "bn_scale", "bn_bias", "bn_mean", "bn_var"), "a1")
                .node("Relu", "reluA", List.of("a1"), "a")
                .node("Conv", "convB", List.of("x", "wb", "bb"), "b", 1, 1, 1, 1)
                .node("Concat", "cat", List.of("a", "b"), "c")
                .node("Conv", "convD", List.of("x", "wd", "bd"), "d")
                .node("Add", "add", List.of("c", "d"), "e0")
                .node("Relu", "reluE", List.of("e0"), "e")
                .node("Conv", "convE", List.of("e", "we", "be"), "f0", 1, 1, 1, 1)
                .node("GlobalAveragePool", "gap", List.of("f0"), "f1")
                .node("Flatten", "flat", List.of("f1"), "f")
                .node("Gemm", "fc", List.of("f", "wf", "bf"), "y")
                .build();
    }

    /** Two dense layers that read the same weight. */
    public static OnnxModel sharedWeight() {
        return new TinyModels().input("x", -1, 4).output("y")
                .weight("w", 4, 4).weight("b1", 4).weight("b2", 4)
                .node("Gemm", "fc1", List.of("x", "w", "b1"), "h0")
                .node("Relu", "relu", List.of("h0"), "h")
                .node("Gemm", "fc2", List.of("h", "w", "b2"), "y")
                .build();
    }
}
