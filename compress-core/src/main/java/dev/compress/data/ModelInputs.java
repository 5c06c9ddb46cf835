package dev.compress.data;

import dev.compress.CompressException;
import dev.compress.graph.DataType;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
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
    public static ValueInfo imageInput(OnnxModel model) {
        List<ValueInfo> inputs = model.graph().inputs();
        List<ValueInfo> floats = inputs.stream()
                .filter(i -> i.isTensor() && i.elementType() == DataType.FLOAT)
                .toList();
        if (floats.size() == 1) {
            return floats.get(0);
        }
        String listed = inputs.isEmpty() ? "none" : inputs.stream().map(ValueInfo::describe)
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
        ValueInfo input = imageInput(model);
        return Preprocessing.resolve(model.source().orElse(null), input.name(), shape(input), model.metadata(),
                overrides);
    }

    /** Elements one sample of all inputs holds, with an unknown dimension counted as 1, at which a batch is full. */
    static final long BATCH_ELEMENTS = 1L << 18;

    /**
     * The batch size a run over {@code model} should use when the user named none: the model's own when its inputs
     * fix one (every input's first dimension the same number), else 32 samples, fewer for large inputs so a batch of
     * inputs stays near {@value #BATCH_ELEMENTS} elements (a 224x224 RGB image: 1, 28x28 gray: 32). ONNX Runtime's
     * memory grows with the batch and with the input size: 32 images of 224x224 took 8-21 GB during calibration.
     */
    public static int defaultBatchSize(OnnxModel model) {
        int fixed = fixedBatchSize(model);
        if (fixed > 0) {
            return fixed;
        }
        long elements = 0;
        for (ValueInfo input : model.graph().inputs()) {
            long[] shape = shape(input);
            long perSample = 1;
            for (int i = 1; i < shape.length; i++) {
                perSample *= Math.max(1, shape[i]);
            }
            elements += perSample;
        }
        return (int) Math.max(1, Math.min(32, BATCH_ELEMENTS / Math.max(1, elements)));
    }

    /**
     * The batch size the model's inputs fix (the same first dimension on all of them), or 0 when it is free. A scalar
     * input (rank 0, like a sample rate) has no batch axis to stack samples on: it fixes 1.
     */
    public static int fixedBatchSize(OnnxModel model) {
        long fixed = 0;
        for (ValueInfo input : model.graph().inputs()) {
            if (input.shape().filter(List::isEmpty).isPresent()) {
                return 1;
            }
            long[] shape = shape(input);
            if (shape.length == 0 || shape[0] <= 0 || (fixed != 0 && fixed != shape[0])) {
                return 0;
            }
            fixed = shape[0];
        }
        return (int) Math.min(fixed, Integer.MAX_VALUE);
    }

    /** The input's shape, -1 for dynamic or unknown dimensions; empty when the model records no shape. */
    public static long[] shape(ValueInfo input) {
        return input.shape().map(dims -> dims.stream().mapToLong(ValueInfo.Dim::value).toArray())
                .orElse(new long[0]);
    }
}
