package dev.compress.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.compress.CompressException;
import dev.compress.graph.DataType;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
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
    public static Map<String, Tensor> evaluate(OnnxModel model) {
        OrtEnvironment env = OrtModel.environment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            // no graph optimizations: each node runs on its own kernel, as it would in the unfolded model
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            options.setIntraOpNumThreads(1);
            try (OrtSession session = env.createSession(model.toBytes(), options);
                    OrtSession.Result result = session.run(Map.of())) {
                Map<String, Tensor> values = new LinkedHashMap<>();
                for (Map.Entry<String, OnnxValue> entry : result) {
                    Tensor value = entry.getValue() instanceof OnnxTensor tensor
                            ? toTensor(entry.getKey(), tensor) : null;
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

    /** The tensor as ONNX stores it, or null for strings and for types this version does not name. */
    private static Tensor toTensor(String name, OnnxTensor tensor) {
        // the Java enum's own numbers differ from ONNX's: map by name (ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT -> FLOAT)
        String typeName = tensor.getInfo().onnxType.name().substring(TYPE_PREFIX.length());
        DataType type = Arrays.stream(DataType.values()).filter(t -> t.name().equals(typeName)).findFirst()
                .orElse(null);
        if (type == null || type == DataType.STRING || type == DataType.UNDEFINED) {
            return null;
        }
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            // getByteBuffer copies the native data in the platform's order; ONNX raw data is little-endian
            throw CompressException.internal("constant folding needs a little-endian platform", null);
        }
        return Tensor.of(name, type, tensor.getInfo().getShape(), tensor.getByteBuffer());
    }
}
