package dev.compress.calibrate;

import dev.compress.CompressException;
import java.util.Map;
import java.util.TreeMap;

/**
 * How ranges are chosen from calibration statistics. Validated on construction; an invalid value throws
 * {@link IllegalArgumentException} with a message fit for a user.
 *
 * @param method the calibrator for every tensor not named in {@code perTensor}
 * @param percentile for {@link CalibrationMethod#PERCENTILE}: the share of values kept, in (0, 100]
 * @param bins histogram bins on each side of zero (at least 128); fixed when statistics are collected
 * @param movingAverage for {@link CalibrationMethod#MINMAX}: 0 for the true extremes, else the constant c in (0, 1] of
 *     an exponential moving average of per-sample extremes taken in sample order ({@code avg += c * (x - avg)})
 * @param perTensor tensor name to the method used for it instead of {@code method}
 */
public record CalibrationSettings(
        CalibrationMethod method, double percentile, int bins, double movingAverage,
        Map<String, CalibrationMethod> perTensor) {
    public static final double DEFAULT_PERCENTILE = 99.99;
    public static final int DEFAULT_BINS = 2048;
    /** Fewer bins cannot tell 8-bit candidates apart (ONNX Runtime's entropy default of 128 is the floor). */
    public static final int MIN_BINS = 128;
    /** More is pointless for 8 bits and makes tables large. */
    public static final int MAX_BINS = 1 << 16;

    public CalibrationSettings {
        if (method == null) {
            throw CompressException.invalidSettings("calibration method is missing");
        }
        if (!(percentile > 0 && percentile <= 100)) {
            throw CompressException.invalidSettings("percentile must be in (0, 100], got " + percentile);
        }
        if (bins < MIN_BINS || bins > MAX_BINS) {
            throw CompressException.invalidSettings(
                    "histogram bins must be between " + MIN_BINS + " and " + MAX_BINS + ", got " + bins);
        }
        if (!(movingAverage >= 0 && movingAverage <= 1)) {
            throw CompressException.invalidSettings("moving-average constant must be in (0, 1] (0 = off), got "
                    + movingAverage);
        }
        perTensor = Map.copyOf(perTensor);
    }

    /** MinMax over true extremes, 99.99th percentile, 2048 bins. */
    public static CalibrationSettings defaults() {
        return of(CalibrationMethod.MINMAX);
    }

    public static CalibrationSettings of(CalibrationMethod method) {
        return new CalibrationSettings(method, DEFAULT_PERCENTILE, DEFAULT_BINS, 0, Map.of());
    }

    public CalibrationSettings withPercentile(double value) {
        return new CalibrationSettings(method, value, bins, movingAverage, perTensor);
    }

    public CalibrationSettings withBins(int value) {
        return new CalibrationSettings(method, percentile, value, movingAverage, perTensor);
    }

    public CalibrationSettings withMovingAverage(double value) {
        return new CalibrationSettings(method, percentile, bins, value, perTensor);
    }

    public CalibrationSettings withPerTensor(Map<String, CalibrationMethod> value) {
        return new CalibrationSettings(method, percentile, bins, movingAverage, value);
    }

    /** The method for {@code tensor}. */
    public CalibrationMethod methodFor(String tensor) {
        return perTensor.getOrDefault(tensor, method);
    }

    /** Whether any tensor needs a histogram. */
    public boolean needsHistograms() {
        return method.needsHistogram() || perTensor.values().stream().anyMatch(CalibrationMethod::needsHistogram);
    }

    /** Sorted per-tensor overrides, for reports. */
    public Map<String, String> perTensorIds() {
        Map<String, String> ids = new TreeMap<>();
        perTensor.forEach((tensor, m) -> ids.put(tensor, m.id()));
        return ids;
    }
}
