package dev.compress.convert;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.compress.graph.OnnxModel;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorProto.DataType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a model in ONNX Runtime on inputs of any numeric or boolean type given as ONNX tensors, and returns every
 * output as numbers with its shape: what comparing two models, or a model with ONNX's expected outputs, needs.
 */
public final class OrtRun {
    private static final double RELATIVE = 1e-5;
    /** Values near zero are compared absolutely (e.g. sin(pi) computed two ways). */
    private static final double ABSOLUTE = 1e-6;

    /** An output: its shape and values widened to double (booleans as 0/1). */
    public record Values(long[] shape, double[] values) {}

    private OrtRun() {}

    public static Map<String, Values> run(OnnxModel model, Map<String, TensorProto> inputs) throws OrtException {
        // the name and level OrtModel uses: ONNX Runtime has one environment per process
        OrtEnvironment env = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL, "compress");
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            try (OrtSession session = env.createSession(model.toBytes(), options)) {
                Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
                try {
                    for (Map.Entry<String, TensorProto> input : inputs.entrySet()) {
                        feeds.put(input.getKey(), tensor(env, input.getValue()));
                    }
                    Map<String, Values> outputs = new LinkedHashMap<>();
                    try (OrtSession.Result result = session.run(feeds)) {
                        for (Map.Entry<String, OnnxValue> output : result) {
                            outputs.put(output.getKey(), values((OnnxTensor) output.getValue()));
                        }
                    }
                    return outputs;
                } finally {
                    feeds.values().forEach(OnnxTensor::close);
                }
            }
        }
    }

    /** The element types this helper feeds and reads. */
    public static boolean supported(int type) {
        return javaType(type) != null;
    }

    private static OnnxJavaType javaType(int type) {
        DataType dataType = DataType.forNumber(type);
        if (dataType == null) {
            return null;
        }
        return switch (dataType) {
            case FLOAT -> OnnxJavaType.FLOAT;
            case DOUBLE -> OnnxJavaType.DOUBLE;
            case INT64 -> OnnxJavaType.INT64;
            case INT32 -> OnnxJavaType.INT32;
            case INT16 -> OnnxJavaType.INT16;
            case INT8 -> OnnxJavaType.INT8;
            case UINT8 -> OnnxJavaType.UINT8;
            case BOOL -> OnnxJavaType.BOOL;
            default -> null;
        };
    }

    private static OnnxTensor tensor(OrtEnvironment env, TensorProto t) throws OrtException {
        long[] shape = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
        ByteBuffer bytes = ByteBuffer.wrap(raw(t)).order(ByteOrder.LITTLE_ENDIAN);
        return switch (javaType(t.getDataType())) {
            case FLOAT -> OnnxTensor.createTensor(env, bytes.asFloatBuffer(), shape);
            case DOUBLE -> OnnxTensor.createTensor(env, bytes.asDoubleBuffer(), shape);
            case INT64 -> OnnxTensor.createTensor(env, bytes.asLongBuffer(), shape);
            case INT32 -> OnnxTensor.createTensor(env, bytes.asIntBuffer(), shape);
            case INT16 -> OnnxTensor.createTensor(env, bytes.asShortBuffer(), shape);
            default -> OnnxTensor.createTensor(env, bytes, shape, javaType(t.getDataType()));
        };
    }

    /** The tensor's little-endian bytes, from raw_data or from the typed repeated fields. */
    static byte[] raw(TensorProto t) {
        if (t.hasRawData()) {
            return t.getRawData().toByteArray();
        }
        DataType type = DataType.forNumber(t.getDataType());
        int size = switch (type) {
            case FLOAT, INT32 -> 4;
            case DOUBLE, INT64 -> 8;
            case INT16 -> 2;
            default -> 1;
        };
        int count = switch (type) {
            case FLOAT -> t.getFloatDataCount();
            case DOUBLE -> t.getDoubleDataCount();
            case INT64 -> t.getInt64DataCount();
            default -> t.getInt32DataCount();
        };
        ByteBuffer buffer = ByteBuffer.allocate(size * count).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            switch (type) {
                case FLOAT -> buffer.putFloat(t.getFloatData(i));
                case DOUBLE -> buffer.putDouble(t.getDoubleData(i));
                case INT64 -> buffer.putLong(t.getInt64Data(i));
                case INT32 -> buffer.putInt(t.getInt32Data(i));
                case INT16 -> buffer.putShort((short) t.getInt32Data(i));
                default -> buffer.put((byte) t.getInt32Data(i));
            }
        }
        return buffer.array();
    }

    /** An ONNX tensor (e.g. an expected output) as numbers. */
    public static Values values(TensorProto t) {
        long[] shape = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
        return new Values(shape, numbers(ByteBuffer.wrap(raw(t)).order(ByteOrder.LITTLE_ENDIAN),
                javaType(t.getDataType())));
    }

    private static Values values(OnnxTensor tensor) {
        TensorInfo info = tensor.getInfo();
        ByteBuffer bytes = tensor.getByteBuffer().order(ByteOrder.nativeOrder());
        return new Values(info.getShape(), numbers(bytes, info.type));
    }

    private static double[] numbers(ByteBuffer bytes, OnnxJavaType type) {
        List<Double> values = new ArrayList<>();
        while (bytes.hasRemaining()) {
            values.add(switch (type) {
                case FLOAT -> (double) bytes.getFloat();
                case DOUBLE -> bytes.getDouble();
                case INT64 -> (double) bytes.getLong();
                case INT32 -> (double) bytes.getInt();
                case INT16 -> (double) bytes.getShort();
                case UINT8 -> (double) (bytes.get() & 0xff);
                default -> (double) bytes.get();
            });
        }
        return values.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /**
     * The first difference between {@code actual} and {@code expected} outputs (shape, or a value beyond
     * {@link #RELATIVE} or, near zero, {@link #ABSOLUTE}; NaN equals NaN), or null when they agree.
     */
    public static String mismatch(Map<String, Values> expected, Map<String, Values> actual) {
        for (Map.Entry<String, Values> output : expected.entrySet()) {
            Values want = output.getValue();
            Values got = actual.get(output.getKey());
            if (got == null || !Arrays.equals(want.shape(), got.shape())) {
                return output.getKey() + ": shape " + (got == null ? "missing" : Arrays.toString(got.shape()))
                        + ", expected " + Arrays.toString(want.shape());
            }
            for (int i = 0; i < want.values().length; i++) {
                double w = want.values()[i];
                double g = got.values()[i];
                boolean same = Double.isNaN(w) ? Double.isNaN(g)
                        : w == g || Math.abs(w - g) <= Math.max(ABSOLUTE, RELATIVE * Math.abs(w));
                if (!same) {
                    return output.getKey() + "[" + i + "] = " + g + ", expected " + w;
                }
            }
        }
        return null;
    }
}
