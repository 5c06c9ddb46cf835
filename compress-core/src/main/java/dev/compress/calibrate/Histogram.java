package dev.compress.calibrate;

import java.util.Arrays;

/**
 * A streaming histogram on a fixed grid: {@code bins} bins on each side of zero over [-2^e, 2^e), plus an exact count
 * of zeros. When a larger value arrives, e grows and adjacent bins merge (2^shift into one); samples are never kept.
 *
 * <p>Why powers of two: a value's bin is {@code floor(|v| * bins / 2^e)}, computed exactly in double arithmetic, and
 * merging bins is integer division by a power of two, so binning directly at the final e and binning at a smaller e
 * then merging give the same counts. The final histogram therefore depends only on the multiset of values seen, not on
 * how they were split into batches, threads or merge order. Between {@code bins/2} and {@code bins} bins per side are
 * occupied by the data.
 */
final class Histogram {
    /** Exponent of an empty histogram (no non-zero value seen). */
    static final int EMPTY = Integer.MIN_VALUE;

    final int bins;
    /** The grid covers [-2^exponent, 2^exponent). */
    int exponent = EMPTY;
    /** pos[k] counts values in [k w, (k+1) w) with w = 2^exponent / bins, excluding exact zeros. */
    long[] pos;
    /** neg[k] counts values in (-(k+1) w, -k w]. */
    long[] neg;
    /** Values exactly 0 (or -0). */
    long zeros;

    Histogram(int bins) {
        this.bins = bins;
        this.pos = new long[bins];
        this.neg = new long[bins];
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
     * Counts {@code values[from, to)}; non-finite values are skipped (the caller counts them).
     *
     * @param absMax the largest finite magnitude among them
     */
    void add(float[] values, int from, int to, float absMax) {
        if (absMax > 0) {
            growTo(exponentFor(absMax));
        }
        // bins * 2^-e is exact, and so is v * it: a float has 24 significant bits, bins fewer than 29
        double perUnit = exponent == EMPTY ? 0 : bins * Math.scalb(1.0, -exponent);
        long zeroCount = 0;
        long[] p = pos;
        long[] n = neg;
        for (int i = from; i < to; i++) {
            float v = values[i];
            if (v > 0) {
                if (v <= Float.MAX_VALUE) {
                    p[(int) (v * perUnit)]++;
                }
            } else if (v < 0) {
                if (v >= -Float.MAX_VALUE) {
                    n[(int) (-v * perUnit)]++;
                }
            } else if (v == 0) {
                zeroCount++;
            }
        }
        zeros += zeroCount;
    }

    /** Adds {@code other}'s counts; the result is the same in any merge order. */
    void merge(Histogram other) {
        if (other.bins != bins) {
            throw new IllegalArgumentException("histograms differ in bins: " + bins + " and " + other.bins);
        }
        zeros += other.zeros;
        if (other.exponent == EMPTY) {
            return;
        }
        growTo(other.exponent);
        int shift = exponent - other.exponent;
        addShifted(other.pos, pos, shift);
        addShifted(other.neg, neg, shift);
    }

    private void growTo(int newExponent) {
        if (exponent == EMPTY) {
            exponent = newExponent;
            return;
        }
        if (newExponent <= exponent) {
            return;
        }
        int shift = newExponent - exponent;
        long[] newPos = new long[bins];
        long[] newNeg = new long[bins];
        addShifted(pos, newPos, shift);
        addShifted(neg, newNeg, shift);
        pos = newPos;
        neg = newNeg;
        exponent = newExponent;
    }

    private static void addShifted(long[] from, long[] to, int shift) {
        for (int k = 0; k < from.length; k++) {
            if (from[k] != 0) {
                to[shift >= 31 ? 0 : k >> shift] += from[k];
            }
        }
    }

    /** Total count, zeros included. */
    long total() {
        return zeros + Arrays.stream(pos).sum() + Arrays.stream(neg).sum();
    }

    /**
     * The histogram as one signed array of {@code 2 * bins} bins: index {@code bins + k} is pos[k] (with the zeros
     * added to pos[0]), index {@code bins - 1 - k} is neg[k]. Bin i covers [(i - bins) w, (i - bins + 1) w).
     */
    long[] signed() {
        long[] signed = new long[2 * bins];
        for (int k = 0; k < bins; k++) {
            signed[bins + k] = pos[k];
            signed[bins - 1 - k] = neg[k];
        }
        signed[bins] += zeros;
        return signed;
    }
}
