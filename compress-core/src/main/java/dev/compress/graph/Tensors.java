package dev.compress.graph;

import com.google.protobuf.ByteString;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorProto.DataType;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Optional;
import java.util.StringJoiner;

/** Reading and building ONNX tensors (initializers, constants). ONNX raw data is little-endian. */
public final class Tensors {
    private Tensors() {}

    public static long[] dims(TensorProto tensor) {
        return tensor.getDimsList().stream().mapToLong(Long::longValue).toArray();
    }

    public static long elementCount(TensorProto tensor) {
        long n = 1;
        for (long d : tensor.getDimsList()) {
            n *= d;
        }
        return n;
    }

    public static boolean isFloat(TensorProto tensor) {
        return tensor.getDataType() == DataType.FLOAT_VALUE;
    }

    /** Bytes one element of ONNX {@code dataType} takes, or 0 for variable-size types (strings). */
    public static int elementSize(int dataType) {
        return switch (DataType.forNumber(dataType) == null ? DataType.UNDEFINED : DataType.forNumber(dataType)) {
            case FLOAT, INT32, UINT32 -> 4;
            case DOUBLE, INT64, UINT64, COMPLEX64 -> 8;
            case INT8, UINT8, BOOL -> 1;
            case INT16, UINT16, FLOAT16, BFLOAT16 -> 2;
            case COMPLEX128 -> 16;
            default -> 0;
        };
    }

    /**
     * A graph input, output or value info for messages, e.g. {@code input FLOAT [batch,1,28,28]}: {@code ?} for a
     * dimension with neither a size nor a name; no shape when none is recorded.
     */
    public static String describe(ValueInfoProto info) {
        TypeProto type = info.getType();
        if (type.getValueCase() != TypeProto.ValueCase.TENSOR_TYPE) {
            return info.getName() + " " + type.getValueCase().name().toLowerCase(java.util.Locale.ROOT);
        }
        String text = info.getName() + " " + typeName(type.getTensorType().getElemType());
        if (!type.getTensorType().hasShape()) {
            return text;
        }
        StringJoiner dims = new StringJoiner(",", "[", "]");
        for (TensorShapeProto.Dimension d : type.getTensorType().getShape().getDimList()) {
            dims.add(d.hasDimValue() ? Long.toString(d.getDimValue()) : d.hasDimParam() ? d.getDimParam() : "?");
        }
        return text + " " + dims;
    }

    /** The name ONNX gives a data type, e.g. {@code FLOAT}, {@code INT8}; numeric for types newer than ONNX 1.12. */
    public static String typeName(int dataType) {
        DataType type = DataType.forNumber(dataType);
        return type == null ? "TYPE_" + dataType : type.name();
    }

    /** Bytes the tensor's data takes (inline or external). */
    public static long byteSize(TensorProto tensor) {
        if (tensor.hasRawData()) {
            return tensor.getRawData().size();
        }
        return elementCount(tensor) * elementSize(tensor.getDataType());
    }

    /** The values of a FLOAT tensor. */
    public static float[] toFloats(TensorProto tensor) {
        if (!isFloat(tensor)) {
            throw new IllegalArgumentException("tensor '" + tensor.getName() + "' is "
                    + typeName(tensor.getDataType()) + ", not FLOAT");
        }
        if (tensor.hasRawData()) {
            FloatBuffer buffer = tensor.getRawData().asReadOnlyByteBuffer()
                    .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            float[] values = new float[buffer.remaining()];
            buffer.get(values);
            return values;
        }
        float[] values = new float[tensor.getFloatDataCount()];
        for (int i = 0; i < values.length; i++) {
            values[i] = tensor.getFloatData(i);
        }
        return values;
    }

    /**
     * The value of a Constant node as a tensor: its {@code value} attribute, or a tensor built from
     * {@code value_float(s)} / {@code value_int(s)}; empty for sparse and string constants.
     */
    public static Optional<TensorProto> constantValue(NodeProto constant) {
        for (AttributeProto attr : constant.getAttributeList()) {
            TensorProto tensor = switch (attr.getName()) {
                case "value" -> attr.getT().getDataType() == DataType.STRING_VALUE ? null : attr.getT();
                case "value_float" -> floats("", new long[0], new float[] {attr.getF()});
                case "value_floats" -> {
                    float[] values = new float[attr.getFloatsCount()];
                    for (int i = 0; i < values.length; i++) {
                        values[i] = attr.getFloats(i);
                    }
                    yield floats("", new long[] {values.length}, values);
                }
                case "value_int" -> int64s("", new long[0], new long[] {attr.getI()});
                case "value_ints" -> int64s("", new long[] {attr.getIntsCount()},
                        attr.getIntsList().stream().mapToLong(Long::longValue).toArray());
                default -> null;
            };
            if (tensor != null) {
                return Optional.of(tensor);
            }
        }
        return Optional.empty();
    }

    public static TensorProto floats(String name, long[] dims, float[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asFloatBuffer().put(values);
        return raw(name, DataType.FLOAT, dims, buffer.array());
    }

    public static TensorProto int8s(String name, long[] dims, byte[] values) {
        return raw(name, DataType.INT8, dims, values);
    }

    public static TensorProto uint8s(String name, long[] dims, byte[] values) {
        return raw(name, DataType.UINT8, dims, values);
    }

    public static TensorProto int32s(String name, long[] dims, int[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asIntBuffer().put(values);
        return raw(name, DataType.INT32, dims, buffer.array());
    }

    public static TensorProto int64s(String name, long[] dims, long[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asLongBuffer().put(values);
        return raw(name, DataType.INT64, dims, buffer.array());
    }

    private static TensorProto raw(String name, DataType type, long[] dims, byte[] data) {
        TensorProto.Builder builder = TensorProto.newBuilder().setName(name).setDataType(type.getNumber());
        for (long d : dims) {
            builder.addDims(d);
        }
        return builder.setRawData(ByteString.copyFrom(data)).build();
    }
}
