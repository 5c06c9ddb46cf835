package dev.compress.graph;

import com.google.protobuf.ByteString;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import java.util.List;

/**
 * Building blocks for test models written as ONNX protobuf messages, the way an exporter writes them (the code under
 * test reads them through {@link OnnxModel#of}).
 */
public final class Protos {
    private Protos() {}

    /** A node of the default domain. */
    public static NodeProto.Builder node(String opType, String name, List<String> inputs, List<String> outputs) {
        return NodeProto.newBuilder().setOpType(opType).setName(name).addAllInput(inputs).addAllOutput(outputs);
    }

    public static AttributeProto intAttribute(String name, long value) {
        return Attribute.of(name, value).toProto();
    }

    /** An INTS attribute (pads, strides, axes). */
    public static AttributeProto intsAttribute(String name, long... values) {
        AttributeProto.Builder attribute = AttributeProto.newBuilder().setName(name)
                .setType(AttributeProto.AttributeType.INTS);
        for (long value : values) {
            attribute.addInts(value);
        }
        return attribute.build();
    }

    public static TensorProto floats(String name, long[] dims, float[] values) {
        return Tensor.floats(name, dims, values).proto();
    }

    public static TensorProto int64s(String name, long[] dims, long[] values) {
        return Tensor.int64s(name, dims, values).proto();
    }

    public static TensorProto uint8s(String name, long[] dims, byte[] values) {
        return Tensor.uint8s(name, dims, values).proto();
    }

    /** A STRING attribute. */
    public static AttributeProto stringAttribute(String name, String value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING)
                .setS(ByteString.copyFromUtf8(value)).build();
    }
}
