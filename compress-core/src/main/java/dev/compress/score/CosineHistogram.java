package dev.compress.score;

/**
 * The distribution of per-sample cosine similarities in constant memory: a fixed histogram of the distance
 * {@code d = 1 - cosine} on a log scale, 100 bins per decade from 1e-9 to 2, plus one bin for {@code d < 1e-9}.
 *
 * <p>Fixed bins (rather than a sampling sketch) make the result deterministic and independent of sample order and
 * batch size; the log scale keeps the resolution where it matters, as cosines of a good student crowd near 1. A
 * quantile is reported as the geometric middle of its bin, so its {@code 1 - cosine} is within a factor
 * 10^(1/200) (±1.2%) of the exact order statistic.
 */
final class CosineHistogram {
    static final double MIN_DISTANCE = 1e-9;
    static final int BINS_PER_DECADE = 100;
    private static final double LOG_MIN = Math.log10(MIN_DISTANCE);
    // distances reach 2 (opposite vectors); one bin more absorbs rounding above it
    private static final int BINS = 2 + (int) Math.ceil((Math.log10(2) - LOG_MIN) * BINS_PER_DECADE);

    private final long[] counts = new long[BINS];
    private long total;

    void add(double cosine) {
        double d = 1 - cosine;
        // NaN (a broken output) counts as the worst possible cosine rather than as a perfect one
        int bin = Double.isNaN(d) ? BINS - 1
                : d < MIN_DISTANCE ? 0 : 1 + (int) Math.floor((Math.log10(d) - LOG_MIN) * BINS_PER_DECADE);
        counts[Math.min(bin, BINS - 1)]++;
        total++;
    }

    /**
     * The cosine at {@code percent} by nearest rank: the ceil(percent/100 · n)-th smallest cosine, i.e. the
     * same-ranked largest distance.
     */
    double lowerPercentile(double percent) {
        if (total == 0) {
            return Double.NaN;
        }
        long rank = Math.max(1, (long) Math.ceil(percent / 100 * total));
        long seen = 0;
        for (int bin = BINS - 1; bin >= 0; bin--) {
            seen += counts[bin];
            if (seen >= rank) {
                return 1 - distance(bin);
            }
        }
        throw new IllegalStateException("unreachable: counts add up to " + total);
    }

    private static double distance(int bin) {
        return bin == 0 ? 0 : Math.pow(10, LOG_MIN + (bin - 0.5) / BINS_PER_DECADE);
    }
}
