package dev.compress.calibrate;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** How a tensor's quantization range is chosen from what calibration observed. */
public enum CalibrationMethod {
    /** The smallest and largest value seen (optionally a moving average of per-sample extremes). */
    MINMAX,
    /** The range holding the given percentile of the values; clips rare outliers. */
    PERCENTILE,
    /** The clipping range whose quantized histogram is closest to the fp32 one in KL divergence (TensorRT's). */
    ENTROPY,
    /** The clipping range that minimizes the expected squared quantization error. */
    MSE;

    /** Whether the method needs the tensor's histogram, not just its extremes. */
    public boolean needsHistogram() {
        return this != MINMAX;
    }

    /** The name used on the command line and in tables. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@code minmax|percentile|entropy|mse}, case-insensitively. */
    public static CalibrationMethod parse(String text) {
        for (CalibrationMethod method : values()) {
            if (method.id().equalsIgnoreCase(text.strip())) {
                return method;
            }
        }
        throw new IllegalArgumentException("unknown calibration method '" + text + "' (expected one of "
                + Arrays.stream(values()).map(CalibrationMethod::id).collect(Collectors.joining(", ")) + ")");
    }
}
