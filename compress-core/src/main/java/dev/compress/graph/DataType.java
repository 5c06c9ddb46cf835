package dev.compress.graph;

/**
 * ONNX tensor element types, with their numbers in the file format. Types newer than the vendored ONNX 1.12 schema
 * are listed too, so a model using them still reads and describes itself; numbers unknown here are
 * {@link #UNDEFINED}.
 */
public enum DataType {
    UNDEFINED(0, 0),
    FLOAT(1, 4),
    UINT8(2, 1),
    INT8(3, 1),
    UINT16(4, 2),
    INT16(5, 2),
    INT32(6, 4),
    INT64(7, 8),
    STRING(8, 0),
    BOOL(9, 1),
    FLOAT16(10, 2),
    DOUBLE(11, 8),
    UINT32(12, 4),
    UINT64(13, 8),
    COMPLEX64(14, 8),
    COMPLEX128(15, 16),
    BFLOAT16(16, 2),
    FLOAT8E4M3FN(17, 1),
    FLOAT8E4M3FNUZ(18, 1),
    FLOAT8E5M2(19, 1),
    FLOAT8E5M2FNUZ(20, 1),
    // 4-bit types pack two elements per byte; their size per element is not a whole byte
    UINT4(21, 0),
    INT4(22, 0);

    private static final DataType[] BY_NUMBER = new DataType[23];

    static {
        for (DataType type : values()) {
            BY_NUMBER[type.number] = type;
        }
    }

    private final int number;
    private final int size;

    DataType(int number, int size) {
        this.number = number;
        this.size = size;
    }

    /** The number ONNX files store for this type. */
    public int number() {
        return number;
    }

    /** Bytes one element takes, or 0 for variable-size (strings) and sub-byte types. */
    public int size() {
        return size;
    }

    /** The type stored as {@code number}, or {@link #UNDEFINED} for numbers this version does not know. */
    public static DataType of(int number) {
        return number >= 0 && number < BY_NUMBER.length ? BY_NUMBER[number] : UNDEFINED;
    }
}
