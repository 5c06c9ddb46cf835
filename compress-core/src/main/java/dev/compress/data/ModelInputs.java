package dev.compress.data;

import dev.compress.CompressException;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensors;
import dev.compress.onnx.proto.Onnx.TensorProto.DataType;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.util.List;
import java.util.stream.Collectors;

/** Which model input data goes to, and what shape it has. */
public final class ModelInputs {
    private ModelInputs() {}

    /**
     * The input images are fed to: the model's only FLOAT tensor input.
     *
     * @throws CompressException BAD_INPUT naming the model if it has no float input, or several
     */
    public static ValueInfoProto imageInput(OnnxModel model) {
        List<ValueInfoProto> inputs = model.graph().inputs();
        List<ValueInfoProto> floats = inputs.stream()
                .filter(i -> i.getType().getValueCase() == TypeProto.ValueCase.TENSOR_TYPE
                        && i.getType().getTensorType().getElemType() == DataType.FLOAT_VALUE)
                .toList();
        if (floats.size() == 1) {
            return floats.get(0);
        }
        String listed = inputs.isEmpty() ? "none" : inputs.stream().map(Tensors::describe)
                .collect(Collectors.joining(", "));
        if (floats.isEmpty()) {
            throw CompressException.badInput(model.source().orElse(null),
                    "has no float input to feed images to (inputs: " + listed + "); use .npy data for other inputs");
        }
        throw CompressException.badInput(model.source().orElse(null), "has " + floats.size() + " float inputs ("
                + listed + "); images can feed only one; use .npy data with one folder per input");
    }

    /** Preprocessing for the model's image input: its shape and metadata, then {@code overrides}. */
    public static Preprocessing imagePreprocessing(OnnxModel model, Preprocessing.Overrides overrides) {
        ValueInfoProto input = imageInput(model);
        return Preprocessing.resolve(model.source().orElse(null), input.getName(), shape(input), model.metadata(),
                overrides);
    }

    /** The input's shape, -1 for dynamic or unknown dimensions; empty when the model records no shape. */
    public static long[] shape(ValueInfoProto input) {
        TypeProto.Tensor tensor = input.getType().getTensorType();
        if (!tensor.hasShape()) {
            return new long[0];
        }
        List<TensorShapeProto.Dimension> dims = tensor.getShape().getDimList();
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = dims.get(i).hasDimValue() ? dims.get(i).getDimValue() : -1;
        }
        return shape;
    }
}
