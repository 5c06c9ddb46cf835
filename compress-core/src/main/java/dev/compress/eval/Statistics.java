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

    /**
     * 95% interval of p1 − p2 for two proportions measured on the same samples (paired), by Newcombe's hybrid score
     * method (his method 10, 1998): Wilson intervals of each proportion combined with the phi correlation of the
     * 2x2 table. Like Wilson it stays within [−1, 1] and keeps its coverage near 0 and 1, where a Wald interval of
     * the difference collapses.
     *
     * @param both samples both got right
     * @param firstOnly samples only the first got right
     * @param secondOnly samples only the second got right
     * @param neither samples both got wrong
     */
    public static Interval pairedDifference(long both, long firstOnly, long secondOnly, long neither) {
        long n = both + firstOnly + secondOnly + neither;
        if (n <= 0 || both < 0 || firstOnly < 0 || secondOnly < 0 || neither < 0) {
            throw new IllegalArgumentException("need non-negative counts with a positive total, got " + both + ", "
                    + firstOnly + ", " + secondOnly + ", " + neither);
        }
        long first = both + firstOnly;
        long second = both + secondOnly;
        double p1 = (double) first / n;
        double p2 = (double) second / n;
        Interval w1 = wilson(first, n);
        Interval w2 = wilson(second, n);
        // phi of the 2x2 table, with Newcombe's continuity correction of a positive ad - bc
        double denominator = Math.sqrt((double) first * (n - first) * second * (n - second));
        double ad = (double) both * neither;
        double bc = (double) firstOnly * secondOnly;
        double phi = denominator == 0 ? 0 : (ad > bc ? Math.max(ad - bc - n / 2.0, 0) : ad - bc) / denominator;
        return combine(p1 - p2, p1 - w1.low(), w1.high() - p1, p2 - w2.low(), w2.high() - p2, phi);
    }

    /**
     * 95% interval of p1 − p2 for proportions of independent samples ({@code hits1} of {@code n1}, {@code hits2} of
     * {@code n2}): Newcombe's method 10 without the correlation term.
     */
    public static Interval difference(long hits1, long n1, long hits2, long n2) {
        double p1 = (double) hits1 / n1;
        double p2 = (double) hits2 / n2;
        Interval w1 = wilson(hits1, n1);
        Interval w2 = wilson(hits2, n2);
        return combine(p1 - p2, p1 - w1.low(), w1.high() - p1, p2 - w2.low(), w2.high() - p2, 0);
    }

    private static Interval combine(double difference, double below1, double above1, double below2, double above2,
            double phi) {
        double delta = Math.sqrt(Math.max(0, below1 * below1 - 2 * phi * below1 * above2 + above2 * above2));
        double epsilon = Math.sqrt(Math.max(0, above1 * above1 - 2 * phi * above1 * below2 + below2 * below2));
        return new Interval(Math.max(-1, difference - delta), Math.min(1, difference + epsilon));
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
