package dev.compress.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import dev.compress.CompressException;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorProto.DataType;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs a model that has no inputs (a graph of constant subexpressions) in ONNX Runtime and returns its outputs as ONNX
 * tensors of any numeric type, so folded values are exactly what the runtime's own kernels compute.
 */
public final class ConstantEvaluator {
    private static final String TYPE_PREFIX = "ONNX_TENSOR_ELEMENT_DATA_TYPE_";

    private ConstantEvaluator() {}

    /**
     * Every output of {@code model} by name; string outputs (and types ONNX 1.12 has no name for) are left out.
     *
     * @throws CompressException INTERNAL if ONNX Runtime rejects the model or fails running it
     */
    public static Map<String, TensorProto> evaluate(ModelProto model) {
        OrtEnvironment env = OrtEnvironment.getEnvironment(ai.onnxruntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
                "compress");
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            // no graph optimizations: each node runs on its own kernel, as it would in the unfolded model
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            options.setIntraOpNumThreads(1);
            try (OrtSession session = env.createSession(model.toByteArray(), options);
                    OrtSession.Result result = session.run(Map.of())) {
                Map<String, TensorProto> values = new LinkedHashMap<>();
                for (Map.Entry<String, OnnxValue> entry : result) {
                    TensorProto value = entry.getValue() instanceof OnnxTensor tensor
                            ? toProto(entry.getKey(), tensor) : null;
                    if (value != null) {
                        values.put(entry.getKey(), value);
                    }
                }
                return values;
            }
        } catch (OrtException e) {
            throw CompressException.internal("ONNX Runtime cannot evaluate constant subgraph ("
                    + OrtModel.firstLine(e) + ")", e);
        }
    }

    /** The tensor as ONNX stores it, or null for strings and for types this build's ONNX protobuf does not name. */
    private static TensorProto toProto(String name, OnnxTensor tensor) {
        // the Java enum's own numbers differ from ONNX's: map by name (ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT -> FLOAT)
        String typeName = tensor.getInfo().onnxType.name().substring(TYPE_PREFIX.length());
        DataType type = Arrays.stream(DataType.values()).filter(t -> t.name().equals(typeName)).findFirst()
                .orElse(null);
        if (type == null || type == DataType.STRING) {
            return null;
        }
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            // getByteBuffer copies the native data in the platform's order; ONNX raw data is little-endian
            throw CompressException.internal("constant folding needs a little-endian platform", null);
        }
        TensorProto.Builder builder = TensorProto.newBuilder().setName(name).setDataType(type.getNumber());
        for (long d : tensor.getInfo().getShape()) {
            builder.addDims(d);
        }
        return builder.setRawData(ByteString.copyFrom(tensor.getByteBuffer())).build();
    }
}
