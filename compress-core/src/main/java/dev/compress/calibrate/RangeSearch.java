package dev.compress.calibrate;

/**
 * Chooses a quantization range from a tensor's {@link Histogram}: percentile, entropy (KL divergence) and MSE. All
 * work on the signed histogram, so they serve symmetric ranges [-t, t] and asymmetric ones [lo, hi] alike, and all
 * results are clamped to the exact observed [min, max].
 *
 * <p>Entropy and MSE try every clipping candidate: symmetric candidates are [-i w, i w]; asymmetric ones shrink both
 * sides in proportion to the observed extents. Prefix sums make each candidate cost O(levels) for entropy and O(1)
 * for MSE, so a full search over 2048 bins takes milliseconds.
 */
final class RangeSearch {
    /** Probability given to a bin the quantized distribution left empty, as ONNX Runtime's smoothing does. */
    private static final double EMPTY_Q = 1e-4;

    private final long[] counts;
    private final int bins;
    private final double width;
    private final float min;
    private final float max;
    private final int levels;
    private final boolean symmetric;
    /** Occupied bins below and above zero. */
    private final int negExtent;
    private final int posExtent;
    private final double total;
    /** Values exactly zero: always representable, so they add no quantization error. */
    private final double zeros;

    /**
     * @param levels quantization levels of the target type: 255 for symmetric int8, 256 otherwise
     */
    RangeSearch(TensorStatistics stats, int levels, boolean symmetric) {
        Histogram h = stats.histogram;
        this.counts = h.signed();
        this.bins = h.bins;
        this.width = h.binWidth();
        this.min = stats.min;
        this.max = stats.max;
        this.levels = levels;
        this.symmetric = symmetric;
        int neg = 0;
        int pos = 0;
        for (int k = 0; k < bins; k++) {
            if (counts[bins - 1 - k] != 0) {
                neg = k + 1;
            }
            if (counts[bins + k] != 0) {
                pos = k + 1;
            }
        }
        this.negExtent = neg;
        this.posExtent = pos;
        double sum = 0;
        for (long c : counts) {
            sum += c;
        }
        this.total = sum;
        this.zeros = h.zeros;
    }

    /** The observed range, made symmetric if asked. */
    float[] minMax() {
        return finish(min, max);
    }

    /** The range holding {@code percentile}% of the values (of their magnitudes when symmetric). */
    float[] percentile(double percentile) {
        double fraction = percentile / 100.0;
        if (symmetric) {
            double target = fraction * total;
            double cumulative = 0;
            for (int k = 0; k < bins; k++) {
                cumulative += counts[bins + k] + counts[bins - 1 - k];
                if (cumulative >= target) {
                    double t = (k + 1) * width;
                    return finish((float) -t, (float) t);
                }
            }
            return minMax();
        }
        double low = (1 - fraction) * total;
        double high = fraction * total;
        double cumulative = 0;
        double lo = Double.NaN;
        double hi = Double.NaN;
        for (int i = 0; i < counts.length; i++) {
            cumulative += counts[i];
            if (Double.isNaN(lo) && cumulative > low) {
                lo = (i - bins) * width;
            }
            if (cumulative >= high) {
                hi = (i - bins + 1) * width;
                break;
            }
        }
        return finish(Double.isNaN(lo) ? min : (float) lo, Double.isNaN(hi) ? max : (float) hi);
    }

    /**
     * The candidate whose quantized histogram has the least KL divergence from the observed one (TensorRT's method),
     * with exact zeros left out of both: zero is always representable, and a ReLU's spike of zeros would otherwise
     * dominate the divergence of the first group and push the range far too narrow.
     */
    float[] entropy() {
        int extent = Math.max(negExtent, posExtent);
        int first = firstCandidate(extent);
        if (first < 0) {
            return minMax();
        }
        long[] counts = this.counts.clone();
        counts[bins] -= (long) zeros;
        double[] c = new double[counts.length + 1];
        double[] nonzero = new double[counts.length + 1];
        double[] cLogC = new double[counts.length + 1];
        for (int i = 0; i < counts.length; i++) {
            double n = counts[i];
            c[i + 1] = c[i] + n;
            nonzero[i + 1] = nonzero[i] + (n > 0 ? 1 : 0);
            cLogC[i + 1] = cLogC[i] + (n > 0 ? n * Math.log(n) : 0);
        }
        double best = Double.POSITIVE_INFINITY;
        int bestI = extent;
        for (int i = first; i <= extent; i++) {
            int s = bins - negBins(i, extent);
            int e = bins + posBins(i, extent);
            double kl = divergence(counts, s, e, c, nonzero, cLogC);
            if (kl < best) {
                best = kl;
                bestI = i;
            }
        }
        return candidate(bestI, extent);
    }

    /**
     * KL(P || Q) times the total count, where P is the histogram clipped to bins [s, e) with the outliers added to the
     * edge bins, and Q is that slice merged into {@code levels} groups and spread back evenly over each group's
     * non-empty bins.
     */
    private double divergence(long[] counts, int s, int e, double[] c, double[] nonzero, double[] cLogC) {
        int n = e - s;
        double total = c[counts.length];
        double left = c[s];
        double right = c[counts.length] - c[e];
        double slice = c[e] - c[s];
        if (slice == 0) {
            return Double.POSITIVE_INFINITY;
        }
        double first = counts[s];
        double last = counts[e - 1];
        // sum of P log P, with the edge bins carrying the outliers
        double pLogP = cLogC[e] - cLogC[s] - xLogX(first) - xLogX(last)
                + xLogX(first + left) + xLogX(last + right);
        // sum of P log q over bins where P > 0, q normalized by the slice total
        double pLogQ = 0;
        for (int g = 0; g < levels; g++) {
            int gs = s + (int) ((long) g * n / levels);
            int ge = s + (int) ((long) (g + 1) * n / levels);
            double groupCount = c[ge] - c[gs];
            double groupNonzero = nonzero[ge] - nonzero[gs];
            if (groupNonzero == 0) {
                continue;
            }
            double mass = groupCount;
            if (gs == s && first > 0) {
                mass += left;
            }
            if (ge == e && last > 0) {
                mass += right;
            }
            pLogQ += mass * Math.log(groupCount / groupNonzero / slice);
        }
        // outliers landing on an empty edge bin, where Q is 0: smoothed, then q renormalized so that KL stays >= 0
        int smoothed = 0;
        if (first == 0 && left > 0) {
            pLogQ += left * Math.log(EMPTY_Q);
            smoothed++;
        }
        if (last == 0 && right > 0) {
            pLogQ += right * Math.log(EMPTY_Q);
            smoothed++;
        }
        pLogQ -= total * Math.log1p(smoothed * EMPTY_Q);
        // T * KL = sum P log P - T log T - sum P log q
        return pLogP - total * Math.log(total) - pLogQ;
    }

    private static double xLogX(double x) {
        return x > 0 ? x * Math.log(x) : 0;
    }

    /** The candidate minimizing the expected squared quantization error (rounding inside, clipping outside). */
    float[] mse() {
        int extent = Math.max(negExtent, posExtent);
        if (extent == 0) {
            return minMax();
        }
        // prefix sums of count, count*x, count*x^2 over bin centers; exact zeros are representable and cost nothing
        int size = counts.length;
        double[] c = new double[size + 1];
        double[] cx = new double[size + 1];
        double[] cxx = new double[size + 1];
        for (int i = 0; i < size; i++) {
            double n = counts[i];
            double x = (i - bins + 0.5) * width;
            c[i + 1] = c[i] + n;
            cx[i + 1] = cx[i] + n * x;
            cxx[i + 1] = cxx[i] + n * x * x;
        }
        double best = Double.POSITIVE_INFINITY;
        int bestI = extent;
        for (int i = 1; i <= extent; i++) {
            int s = bins - negBins(i, extent);
            int e = bins + posBins(i, extent);
            float[] range = candidate(i, extent);
            double lo = range[0];
            double hi = range[1];
            double step = (Math.max(0, hi) - Math.min(0, lo)) / (levels - 1);
            double inside = c[e] - c[s] - zerosIn(s, e);
            double error = inside * step * step / 12;
            // below lo: sum n (x - lo)^2; above hi: sum n (x - hi)^2
            error += cxx[s] - 2 * lo * cx[s] + lo * lo * c[s];
            error += (cxx[size] - cxx[e]) - 2 * hi * (cx[size] - cx[e]) + hi * hi * (c[size] - c[e]);
            if (error < best) {
                best = error;
                bestI = i;
            }
        }
        return candidate(bestI, extent);
    }

    /** The exact zeros (held in the first positive bin) when that bin is inside [s, e). */
    private double zerosIn(int s, int e) {
        return s <= bins && bins < e ? zeros : 0;
    }

    /** The smallest candidate spanning at least {@code levels} bins, or -1 if even the full extent spans fewer. */
    private int firstCandidate(int extent) {
        for (int i = 1; i <= extent; i++) {
            if (negBins(i, extent) + posBins(i, extent) >= levels) {
                return i;
            }
        }
        return -1;
    }

    private int negBins(int i, int extent) {
        return symmetric ? i : (int) Math.ceil((double) i * negExtent / extent);
    }

    private int posBins(int i, int extent) {
        return symmetric ? i : (int) Math.ceil((double) i * posExtent / extent);
    }

    private float[] candidate(int i, int extent) {
        return finish((float) (-negBins(i, extent) * width), (float) (posBins(i, extent) * width));
    }

    /** Clamps to the observed range and, if symmetric, mirrors the larger side. */
    private float[] finish(float lo, float hi) {
        lo = Math.max(lo, min);
        hi = Math.min(hi, max);
        if (symmetric) {
            float t = Math.max(Math.abs(Math.min(lo, 0)), Math.max(hi, 0));
            return new float[] {-t, t};
        }
        return new float[] {lo, hi};
    }
}
