package dev.compress.calibrate;

import java.util.Arrays;

/**
 * What calibration keeps of one tensor: exact extremes of its finite values, counts, optionally a {@link Histogram}
 * and a moving average of per-sample extremes. Memory is fixed (about 16 bytes per bin), whatever the sample count.
 */
final class TensorStatistics {
    /** Finite values seen. */
    long count;
    /** NaN and infinite values seen; they are left out of every statistic. */
    long nonFinite;
    float min = Float.POSITIVE_INFINITY;
    float max = Float.NEGATIVE_INFINITY;
    /** Null when no histogram is collected. */
    final Histogram histogram;
    /** Moving-average constant, 0 when off. */
    private final double averaging;
    float averageMin = Float.NaN;
    float averageMax = Float.NaN;
    /** Per-sample extremes of one chunk, in sample order, kept only until merged (moving average only). */
    private float[] sampleMins = new float[0];
    private float[] sampleMaxs = new float[0];
    private int sampleCount;

    TensorStatistics(int bins, double averaging) {
        this.histogram = bins > 0 ? new Histogram(bins) : null;
        this.averaging = averaging;
    }

    /**
     * Observes one batch of this tensor: {@code samples} samples stacked along the first axis of {@code values}.
     *
     * @param intoHistogram whether the values also go into the histogram (if one is kept)
     * @return false if the values do not split into {@code samples} equal parts (only matters for moving averages)
     */
    boolean observe(float[] values, int samples, boolean intoHistogram) {
        boolean perSample = averaging > 0;
        if (perSample && (samples == 0 || values.length % samples != 0)) {
            return false;
        }
        int parts = perSample ? samples : 1;
        long nonFiniteBefore = nonFinite;
        int stride = values.length / parts;
        float chunkMin = Float.POSITIVE_INFINITY;
        float chunkMax = Float.NEGATIVE_INFINITY;
        for (int s = 0; s < parts; s++) {
            int from = s * stride;
            int to = s == parts - 1 ? values.length : from + stride;
            float lo = Float.POSITIVE_INFINITY;
            float hi = Float.NEGATIVE_INFINITY;
            // Math.min/max propagate NaN and keep infinities, so finite results prove the slice is clean
            for (int i = from; i < to; i++) {
                lo = Math.min(lo, values[i]);
                hi = Math.max(hi, values[i]);
            }
            long bad = 0;
            if (!(Float.isFinite(lo) && Float.isFinite(hi)) && to > from) {
                lo = Float.POSITIVE_INFINITY;
                hi = Float.NEGATIVE_INFINITY;
                for (int i = from; i < to; i++) {
                    float v = values[i];
                    if (Float.isFinite(v)) {
                        lo = Math.min(lo, v);
                        hi = Math.max(hi, v);
                    } else {
                        bad++;
                    }
                }
            }
            nonFinite += bad;
            count += (to - from) - bad;
            if (perSample) {
                addSample(lo, hi);
            }
            chunkMin = Math.min(chunkMin, lo);
            chunkMax = Math.max(chunkMax, hi);
        }
        // -0.0 and 0.0 are one value to a range; + 0f keeps tables identical however the extreme was found
        min = Math.min(min, chunkMin + 0f);
        max = Math.max(max, chunkMax + 0f);
        if (histogram != null && intoHistogram && chunkMin <= chunkMax) {
            float absMax = Math.max(-chunkMin, chunkMax);
            if (nonFiniteBefore == nonFinite) {
                histogram.addFinite(values, absMax);
            } else {
                histogram.addSkippingNonFinite(values, absMax);
            }
        }
        return true;
    }

    /**
     * Observes one batch from extremes and a sum ONNX Runtime computed, and {@code values} into the histogram unless
     * null.
     *
     * @return false, observing nothing, when the sum or an extreme is not finite: NaN or infinities are present and
     *     the caller must pass the values to {@link #observe} so they are counted and left out
     */
    boolean observeReduced(float lo, float hi, float sum, long elements, float[] values) {
        if (!(Float.isFinite(lo) && Float.isFinite(hi) && Float.isFinite(sum))) {
            return false;
        }
        count += elements;
        if (elements > 0) {
            min = Math.min(min, lo + 0f);
            max = Math.max(max, hi + 0f);
            if (histogram != null && values != null) {
                histogram.addFinite(values, Math.max(-lo, hi));
            }
        }
        return true;
    }

    private void addSample(float lo, float hi) {
        if (sampleCount == sampleMins.length) {
            sampleMins = Arrays.copyOf(sampleMins, Math.max(8, 2 * sampleCount));
            sampleMaxs = Arrays.copyOf(sampleMaxs, sampleMins.length);
        }
        sampleMins[sampleCount] = lo;
        sampleMaxs[sampleCount] = hi;
        sampleCount++;
    }

    /**
     * Adds the statistics of the next chunk of samples. Chunks must come in sample order: the moving average is
     * folded sample by sample, so it does not depend on how samples were batched.
     */
    void merge(TensorStatistics chunk) {
        count += chunk.count;
        nonFinite += chunk.nonFinite;
        min = Math.min(min, chunk.min);
        max = Math.max(max, chunk.max);
        if (histogram != null) {
            histogram.merge(chunk.histogram);
        }
        for (int s = 0; s < chunk.sampleCount; s++) {
            float lo = chunk.sampleMins[s];
            float hi = chunk.sampleMaxs[s];
            if (lo > hi) {
                continue; // nothing finite in this sample
            }
            if (Float.isNaN(averageMin)) {
                averageMin = lo;
                averageMax = hi;
            } else {
                averageMin = (float) (averageMin + averaging * (lo - averageMin));
                averageMax = (float) (averageMax + averaging * (hi - averageMax));
            }
        }
    }

    /** An independent copy, for a tensor that holds the same values as this one. */
    TensorStatistics copy() {
        TensorStatistics copy = new TensorStatistics(histogram == null ? 0 : histogram.bins, averaging);
        copy.merge(this);
        copy.averageMin = averageMin;
        copy.averageMax = averageMax;
        return copy;
    }

    /** Whether any finite value was seen. */
    boolean seen() {
        return min <= max;
    }
}
