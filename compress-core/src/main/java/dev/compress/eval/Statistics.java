package dev.compress.eval;

import org.apache.commons.math3.distribution.BinomialDistribution;
import org.apache.commons.math3.distribution.ChiSquaredDistribution;
import org.apache.commons.math3.distribution.NormalDistribution;

/**
 * The statistics behind a report: Wilson score intervals and McNemar's paired test. Public so that other reports
 * (e.g. teacher-student scoring) use the same intervals.
 */
public final class Statistics {
    /** Significance level of the McNemar test and 1 − coverage of the intervals. */
    public static final double ALPHA = 0.05;

    /** Two-sided 95% standard normal quantile (1.959964…); computed rather than typed so it has full precision. */
    public static final double Z95 = new NormalDistribution(null, 0, 1).inverseCumulativeProbability(1 - ALPHA / 2);

    /**
     * Below this many discordant pairs McNemar's test uses the exact binomial distribution. This is the usual rule
     * (e.g. Wikipedia, statsmodels' advice), so p-values match what those tools report; from 25 pairs on, the
     * continuity-corrected chi-square is within a few thousandths of the exact value.
     */
    static final long EXACT_BELOW = 25;

    /** Name of the exact method in reports. */
    static final String EXACT = "exact-binomial";

    /** Name of the chi-square method in reports. */
    static final String CHI_SQUARE = "chi-square-continuity-corrected";

    private Statistics() {}

    /** A closed interval of proportions. */
    public record Interval(double low, double high) {}

    /**
     * The 95% Wilson score interval for {@code hits} successes in {@code n > 0} trials. Wilson rather than the
     * textbook normal ("Wald") interval because Wald collapses to a zero-width interval at 0 or n hits and undercovers
     * for small n, exactly where per-model accuracies near 100% or small test sets put us; Wilson stays inside [0, 1]
     * and keeps close to its nominal coverage there.
     */
    public static Interval wilson(long hits, long n) {
        if (n <= 0 || hits < 0 || hits > n) {
            throw new IllegalArgumentException("need 0 <= hits <= n and n > 0, got " + hits + "/" + n);
        }
        double p = (double) hits / n;
        double z2 = Z95 * Z95;
        double scale = 1 + z2 / n;
        double center = (p + z2 / (2.0 * n)) / scale;
        double half = Z95 / scale * Math.sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
        // at 0 or n hits the bound is exactly 0 or 1, which floating point misses by an ulp; elsewhere clamping only
        // guards against rounding, as the interval lies within [0, 1]
        double low = hits == 0 ? 0 : Math.max(0, center - half);
        double high = hits == n ? 1 : Math.min(1, center + half);
        return new Interval(low, high);
    }

    /** Which McNemar method applies to {@code b + c} discordant pairs. */
    static String mcNemarMethod(long b, long c) {
        return b + c < EXACT_BELOW ? EXACT : CHI_SQUARE;
    }

    /**
     * Two-sided p-value of McNemar's test for {@code b} pairs only the first classifier got right and {@code c} only
     * the second did. Under the null hypothesis each discordant pair goes either way with probability 1/2.
     */
    static double mcNemarP(long b, long c) {
        long n = b + c;
        if (mcNemarMethod(b, c).equals(EXACT)) {
            // the distribution is symmetric: double the smaller tail (capped, as at b = c it counts the middle twice)
            double tail = new BinomialDistribution(null, (int) n, 0.5).cumulativeProbability((int) Math.min(b, c));
            return Math.min(1, 2 * tail);
        }
        // Edwards' continuity correction; max(0, ..) keeps b = c at statistic 0 (p = 1) instead of 1/n
        double diff = Math.max(0, Math.abs(b - c) - 1);
        return 1 - new ChiSquaredDistribution(null, 1).cumulativeProbability(diff * diff / n);
    }
}
