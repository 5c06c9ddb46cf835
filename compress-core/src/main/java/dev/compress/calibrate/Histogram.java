package dev.compress.calibrate;

import java.util.Arrays;

/**
 * A streaming histogram on a fixed grid: {@code 2 * bins} bins of width w = 2^e / bins over [-2^e, 2^e), bin i
 * (i from -bins to bins - 1) holding [i w, (i + 1) w), plus an exact count of zeros (which bin 0 also holds). When a
 * larger value arrives, e grows and adjacent bins merge (2^shift into one); samples are never kept.
 *
 * <p>Why powers of two: a value's bin is {@code floor(v * bins / 2^e)}, computed exactly in double arithmetic, and
 * merging bins is floor division by a power of two, so binning directly at the final e and binning at a smaller e
 * then merging give the same counts. The final histogram therefore depends only on the multiset of values seen, not on
 * how they were split into batches, threads or merge order. Between {@code bins/2} and {@code bins} bins on the wider
 * side are occupied by the data.
 */
final class Histogram {
    /** Exponent of an empty histogram (no non-zero value seen). */
    static final int EMPTY = Integer.MIN_VALUE;

    final int bins;
    /** The grid covers [-2^exponent, 2^exponent). */
    int exponent = EMPTY;
    /** counts[bins + i] counts values in [i w, (i + 1) w). */
    long[] counts;
    /** Values exactly 0 (or -0), also counted in bin 0. */
    long zeros;

    Histogram(int bins) {
        this.bins = bins;
        this.counts = new long[2 * bins];
    }

    /** The exponent whose grid holds {@code absMax}: the smallest e with absMax < 2^e. */
    static int exponentFor(float absMax) {
        return Math.getExponent(absMax) + 1;
    }

    /** Width of one bin. */
    double binWidth() {
        return exponent == EMPTY ? 0 : Math.scalb(1.0, exponent) / bins;
    }

    /**
     * Counts {@code values}, all of which must be finite.
     *
     * @param absMax the largest magnitude among them
     */
    void addFinite(float[] values, float absMax) {
        double perUnit = prepare(absMax);
        long[] c = counts;
        int offset = bins;
        long zeroCount = 0;
        for (float v : values) {
            c[offset + floor(v * perUnit)]++;
            // branch-free: ReLU outputs mix zeros and positives unpredictably
            zeroCount += v == 0 ? 1 : 0;
        }
        zeros += zeroCount;
    }

    /** floor(x) for |x| < 2^31; Math.floor is not always compiled to one instruction and was 3x slower here. */
    private static int floor(double x) {
        int t = (int) x;
        return x < t ? t - 1 : t;
    }

    /**
     * Counts the finite values among {@code values}; NaN and infinities are skipped (the caller counts them).
     *
     * @param absMax the largest finite magnitude among them
     */
    void addSkippingNonFinite(float[] values, float absMax) {
        double perUnit = prepare(absMax);
        for (float v : values) {
            if (Float.isFinite(v)) {
                counts[bins + floor(v * perUnit)]++;
                zeros += v == 0 ? 1 : 0;
            }
        }
    }

    /** Grows the grid to hold {@code absMax}; returns bins per unit, {@code bins * 2^-e}. */
    private double prepare(float absMax) {
        if (absMax > 0) {
            growTo(exponentFor(absMax));
        }
        // bins * 2^-e is exact, and so is v times it: a float has 24 significant bits, bins at most 17
        return exponent == EMPTY ? 0 : bins * Math.scalb(1.0, -exponent);
    }

    /** Adds {@code other}'s counts; the result is the same in any merge order. */
    void merge(Histogram other) {
        if (other.bins != bins) {
            throw new IllegalArgumentException("histograms differ in bins: " + bins + " and " + other.bins);
        }
        zeros += other.zeros;
        if (other.exponent == EMPTY) {
            counts[bins] += other.counts[bins];
            return;
        }
        growTo(other.exponent);
        addShifted(other.counts, counts, exponent - other.exponent);
    }

    private void growTo(int newExponent) {
        if (exponent == EMPTY) {
            exponent = newExponent;
            return;
        }
        if (newExponent <= exponent) {
            return;
        }
        long[] grown = new long[2 * bins];
        addShifted(counts, grown, newExponent - exponent);
        counts = grown;
        exponent = newExponent;
    }

    /** Bin i of the finer grid falls in bin floor(i / 2^shift) of the coarser one (an arithmetic shift). */
    private void addShifted(long[] from, long[] to, int shift) {
        int s = Math.min(shift, 31);
        for (int k = 0; k < from.length; k++) {
            if (from[k] != 0) {
                to[bins + ((k - bins) >> s)] += from[k];
            }
        }
    }

    /** Total count, zeros included. */
    long total() {
        return Arrays.stream(counts).sum();
    }

    /** The counts, bin i at index {@code bins + i}. */
    long[] signed() {
        return counts.clone();
    }
}
