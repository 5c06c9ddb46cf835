package dev.compress.quantize;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Running minimum and maximum per tensor. Memory is one pair per tensor, whatever the number of samples, and the
 * result does not depend on how samples are grouped into batches.
 */
final class MinMaxCalibrator {
    private final Map<String, float[]> ranges = new LinkedHashMap<>();

    MinMaxCalibrator(Set<String> tensors) {
        for (String tensor : tensors) {
            ranges.put(tensor, new float[] {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY});
        }
    }

    void observe(String tensor, float[] values) {
        float[] range = ranges.get(tensor);
        float min = range[0];
        float max = range[1];
        for (float v : values) {
            if (v < min) {
                min = v;
            }
            if (v > max) {
                max = v;
            }
        }
        range[0] = min;
        range[1] = max;
    }

    /**
     * The observed [min, max] of {@code tensor} (NaN values are ignored); [0, 0] if nothing was observed. Infinite
     * bounds are returned as they are, for the caller to report.
     */
    float[] range(String tensor) {
        float[] range = ranges.get(tensor);
        return range[0] > range[1] ? new float[] {0f, 0f} : range.clone();
    }
}
