package dev.compress.quantize;

/** How activations (tensors computed at run time) are quantized. Weights are always int8 symmetric per channel. */
public enum ActivationType {
    /** uint8 with a zero point: uses the full range of skewed (e.g. post-ReLU) tensors; ONNX Runtime's default. */
    UINT8,
    /** int8 symmetric (zero point 0): what some NPUs and TensorRT-style backends require. */
    INT8;

    /** Parses {@code uint8} / {@code int8}, case-insensitively. */
    public static ActivationType parse(String text) {
        for (ActivationType type : values()) {
            if (type.name().equalsIgnoreCase(text.strip())) {
                return type;
            }
        }
        throw new IllegalArgumentException("unknown activation type '" + text + "' (expected uint8 or int8)");
    }
}
