package dev.compress.graph;

import com.google.protobuf.ByteString;
import dev.compress.onnx.proto.Onnx.TensorProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A constant tensor (initializer, Constant value, attribute tensor): name, element type, dimensions and data.
 * Immutable; {@link #withName} and the factories make new ones. Data is read in the element type's own width,
 * little-endian as ONNX stores it, whichever field of the file holds it.
 */
public final class Tensor {
    private final TensorProto proto;

    Tensor(TensorProto proto) {
        this.proto = proto;
    }

    TensorProto proto() {
        return proto;
    }

    public String name() {
        return proto.getName();
    }

    /** The same tensor under another name. */
    public Tensor withName(String name) {
        return new Tensor(proto.toBuilder().setName(name).build());
    }

    /**
     * The same type, dimensions and data without name and doc string: two tensors holding the same values give
     * equal results (for deduplication; the data is shared, not copied).
     */
    public Tensor unnamed() {
        return new Tensor(proto.toBuilder().clearName().clearDocString().build());
    }

    public DataType dataType() {
        return DataType.of(proto.getDataType());
    }

    public boolean isFloat() {
        return proto.getDataType() == DataType.FLOAT.number();
    }

    public long[] dims() {
        return proto.getDimsList().stream().mapToLong(Long::longValue).toArray();
    }

    public long dim(int axis) {
        return proto.getDims(axis);
    }

    public int rank() {
        return proto.getDimsCount();
    }

    public long elementCount() {
        long n = 1;
        for (long d : proto.getDimsList()) {
            n *= d;
        }
        return n;
    }

    /** Bytes the data takes (as stored inline, or as the element count times the element size). */
    public long byteSize() {
        return proto.hasRawData() ? proto.getRawData().size() : elementCount() * dataType().size();
    }

    /** The values of a FLOAT tensor. */
    public float[] floats() {
        require(DataType.FLOAT);
        float[] values = new float[(int) elementCount()];
        data().asFloatBuffer().get(values);
        return values;
    }

    /** The values of an INT64 tensor. */
    public long[] longs() {
        require(DataType.INT64);
        long[] values = new long[(int) elementCount()];
        data().asLongBuffer().get(values);
        return values;
    }

    /** The values of an INT32 tensor. */
    public int[] ints() {
        require(DataType.INT32);
        int[] values = new int[(int) elementCount()];
        data().asIntBuffer().get(values);
        return values;
    }

    /** Element {@code index} of a numeric tensor as a double (for scalars and small shape tensors). */
    public double value(int index) {
        ByteBuffer data = data();
        return switch (dataType()) {
            case FLOAT -> data.getFloat(4 * index);
            case DOUBLE -> data.getDouble(8 * index);
            case INT64 -> data.getLong(8 * index);
            case INT32 -> data.getInt(4 * index);
            case INT16 -> data.getShort(2 * index);
            case UINT16 -> Short.toUnsignedInt(data.getShort(2 * index));
            case INT8 -> data.get(index);
            case UINT8, BOOL -> Byte.toUnsignedInt(data.get(index));
            default -> throw new IllegalArgumentException("tensor '" + name() + "' is " + dataType()
                    + ", not a type read as a number here");
        };
    }

    /**
     * The elements as little-endian bytes of the element type's width; a new read-only view each call. Typed fields
     * (float_data, int32_data holding 8- and 16-bit values, ...) are converted.
     */
    public ByteBuffer data() {
        if (proto.hasRawData()) {
            return proto.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }
        DataType type = dataType();
        ByteBuffer out = ByteBuffer.allocate((int) (elementCount() * type.size())).order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case FLOAT, COMPLEX64 -> proto.getFloatDataList().forEach(out::putFloat);
            case DOUBLE, COMPLEX128 -> proto.getDoubleDataList().forEach(out::putDouble);
            case INT64 -> proto.getInt64DataList().forEach(out::putLong);
            case UINT32 -> proto.getUint64DataList().forEach(v -> out.putInt((int) (long) v));
            case UINT64 -> proto.getUint64DataList().forEach(out::putLong);
            case INT32 -> proto.getInt32DataList().forEach(out::putInt);
            case INT16, UINT16, FLOAT16, BFLOAT16 -> proto.getInt32DataList().forEach(v -> out.putShort((short) (int) v));
            case INT8, UINT8, BOOL, FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ ->
                proto.getInt32DataList().forEach(v -> out.put((byte) (int) v));
            default -> throw new IllegalArgumentException("tensor '" + name() + "' is " + type
                    + ", whose data is not read here");
        }
        return out.flip().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The data as a byte array, as {@link #data()} gives it. */
    public byte[] bytes() {
        ByteBuffer data = data();
        byte[] bytes = new byte[data.remaining()];
        data.get(bytes);
        return bytes;
    }

    private void require(DataType type) {
        if (dataType() != type) {
            throw new IllegalArgumentException("tensor '" + name() + "' is " + dataType() + ", not " + type);
        }
    }

    /** A FLOAT tensor. */
    public static Tensor floats(String name, long[] dims, float[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asFloatBuffer().put(values);
        return of(name, DataType.FLOAT, dims, buffer.array());
    }

    public static Tensor int8s(String name, long[] dims, byte[] values) {
        return of(name, DataType.INT8, dims, values);
    }

    public static Tensor uint8s(String name, long[] dims, byte[] values) {
        return of(name, DataType.UINT8, dims, values);
    }

    public static Tensor int32s(String name, long[] dims, int[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asIntBuffer().put(values);
        return of(name, DataType.INT32, dims, buffer.array());
    }

    public static Tensor int64s(String name, long[] dims, long[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asLongBuffer().put(values);
        return of(name, DataType.INT64, dims, buffer.array());
    }

    /** A scalar (rank 0) of a FLOAT or DOUBLE type holding {@code value}. */
    public static Tensor scalar(String name, DataType type, double value) {
        return switch (type) {
            case FLOAT -> floats(name, new long[0], new float[] {(float) value});
            case DOUBLE -> of(name, type, new long[0],
                    ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putDouble(value).array());
            default -> throw new IllegalArgumentException("no " + type + " scalar is built here");
        };
    }

    /** A tensor of {@code type} whose elements are the little-endian bytes {@code data}. */
    public static Tensor of(String name, DataType type, long[] dims, byte[] data) {
        return of(name, type, dims, ByteString.copyFrom(data));
    }

    /** As {@link #of(String, DataType, long[], byte[])}, copying the buffer's remaining bytes. */
    public static Tensor of(String name, DataType type, long[] dims, ByteBuffer data) {
        return of(name, type, dims, ByteString.copyFrom(data.duplicate()));
    }

    private static Tensor of(String name, DataType type, long[] dims, ByteString data) {
        TensorProto.Builder builder = TensorProto.newBuilder().setName(name).setDataType(type.number());
        for (long d : dims) {
            builder.addDims(d);
        }
        return new Tensor(builder.setRawData(data).build());
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Tensor t && proto.equals(t.proto);
    }

    @Override
    public int hashCode() {
        return proto.hashCode();
    }

    @Override
    public String toString() {
        return name() + " " + dataType() + " " + java.util.Arrays.toString(dims());
    }
}
