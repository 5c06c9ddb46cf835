package dev.compress.calibrate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.compress.CompressException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Each calibrator against ranges computed by hand, or by brute force, on synthetic distributions. */
class CalibratorsTest {
    private static final int BINS = 2048;

    /** A table of one tensor "x" holding {@code values}, fed in chunks of {@code chunk}. */
    static CalibrationTable table(float[] values, int chunk) {
        TensorStatistics total = new TensorStatistics(BINS, 0);
        for (int from = 0; from < values.length; from += chunk) {
            TensorStatistics part = new TensorStatistics(BINS, 0);
            part.observe(Arrays.copyOfRange(values, from, Math.min(values.length, from + chunk)), 1, true);
            total.merge(part);
        }
        Map<String, TensorStatistics> tensors = new LinkedHashMap<>();
        tensors.put("x", total);
        return new CalibrationTable("synthetic", "0", 1, 1, BINS, 0, tensors, null);
    }

    static TensorRange range(float[] values, CalibrationSettings settings, boolean symmetric) {
        return table(values, 10_000).ranges(settings, List.of("x"), symmetric).get("x");
    }

    static CalibrationSettings method(CalibrationMethod method) {
        return CalibrationSettings.of(method);
    }

    /** -1 + (2i + 1) / n: evenly spread over (-1, 1). */
    static float[] uniform(int n) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) (-1 + (2.0 * i + 1) / n);
        }
        return values;
    }

    /** Standard normal samples (fixed seed) with {@code outliers} values at +-50. */
    static float[] gaussian(int n, int outliers) {
        Random random = new Random(42);
        float[] values = new float[n + outliers];
        for (int i = 0; i < n; i++) {
            values[i] = (float) random.nextGaussian();
        }
        for (int i = 0; i < outliers; i++) {
            values[n + i] = i % 2 == 0 ? 50f : -50f;
        }
        return values;
    }

    static float[] relu(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = Math.max(0, values[i]);
        }
        return out;
    }

    /** Mean squared error of quantizing {@code values} to {@code levels} steps over [lo, hi] and back. */
    static double quantizationError(float[] values, double lo, double hi, int levels) {
        double step = (hi - lo) / (levels - 1);
        double sum = 0;
        for (float v : values) {
            double q = Math.rint((Math.max(lo, Math.min(hi, v)) - lo) / step) * step + lo;
            sum += (v - q) * (v - q);
        }
        return sum / values.length;
    }

    @Test
    void minMaxIsTheObservedRange() {
        float[] values = uniform(100_000);
        TensorRange asym = range(values, method(CalibrationMethod.MINMAX), false);
        assertThat(asym.min()).isEqualTo(values[0]);
        assertThat(asym.max()).isEqualTo(values[values.length - 1]);
        TensorRange sym = range(gaussian(10_000, 2), method(CalibrationMethod.MINMAX), true);
        assertThat(sym.min()).isEqualTo(-50f);
        assertThat(sym.max()).isEqualTo(50f);
    }

    @Test
    void movingAverageFollowsPerSampleExtremesInOrder() {
        // three samples with extremes [-1, 1], [-3, 3], [-2, 2]; c = 0.5: -1 -> -2 -> -2 ; 1 -> 2 -> 2
        float[] values = {-1, 1, 0.5f, -3, 3, 0, -2, 2, 1};
        TensorStatistics stats = new TensorStatistics(0, 0.5);
        TensorStatistics chunk = new TensorStatistics(0, 0.5);
        chunk.observe(values, 3, true);
        stats.merge(chunk);
        assertThat(stats.averageMin).isEqualTo(-2f);
        assertThat(stats.averageMax).isEqualTo(2f);
        assertThat(stats.min).isEqualTo(-3f);
    }

    @Test
    void percentileOfUniform() {
        float[] values = uniform(100_000);
        double w = 1.0 / BINS; // |x| < 1 -> grid [-1, 1), 2048 bins per side
        TensorRange sym = range(values, method(CalibrationMethod.PERCENTILE).withPercentile(99), true);
        assertThat((double) sym.max()).isCloseTo(0.99, within(w));
        assertThat(sym.min()).isEqualTo(-sym.max());
        // asymmetric: the 1st and 99th percentiles of U(-1, 1) are -0.98 and 0.98
        TensorRange asym = range(values, method(CalibrationMethod.PERCENTILE).withPercentile(99), false);
        assertThat((double) asym.min()).isCloseTo(-0.98, within(w));
        assertThat((double) asym.max()).isCloseTo(0.98, within(w));
        // 100 keeps everything
        TensorRange all = range(values, method(CalibrationMethod.PERCENTILE).withPercentile(100), false);
        assertThat(all.max()).isEqualTo(values[values.length - 1]);
    }

    @Test
    void percentileOfGaussianWithOutliersIgnoresThem() {
        float[] values = gaussian(200_000, 10);
        TensorRange range = range(values, method(CalibrationMethod.PERCENTILE), true);
        // the upper edge of the bin holding the 99.99th percentile of |x|; the grid is [-64, 64): bins 1/32 wide
        float[] magnitudes = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            magnitudes[i] = Math.abs(values[i]);
        }
        Arrays.sort(magnitudes);
        float quantile = magnitudes[(int) Math.ceil(0.9999 * values.length) - 1];
        assertThat(range.max()).isBetween(quantile, quantile + 1 / 32f);
        assertThat(range.max()).isLessThan(4.5f); // nowhere near the outliers at 50
    }

    @Test
    void percentileOfReluIsOneSided() {
        float[] values = relu(gaussian(200_000, 0));
        TensorRange range = range(values, method(CalibrationMethod.PERCENTILE).withPercentile(99), false);
        // P(relu(x) <= t) = Phi(t) for t >= 0, so the 99th percentile is Phi^-1(0.99) = 2.326
        assertThat(range.min()).isEqualTo(0f);
        assertThat((double) range.max()).isCloseTo(2.326, within(0.03));
    }

    @Test
    void mseOfUniformMatchesTheClosedForm() {
        // E(t) = t (t/127)^2 / 12 + (1 - t)^3 / 3 on U(-1, 1) with 255 levels; E'(t) = 0 at t = 254/255
        TensorRange range = range(uniform(400_000), method(CalibrationMethod.MSE), true);
        assertThat((double) range.max()).isCloseTo(254.0 / 255, within(2.0 / BINS));
    }

    @Test
    void mseMatchesBruteForceOnGaussianAndRelu() {
        float[] gaussian = gaussian(100_000, 0);
        TensorRange sym = range(gaussian, method(CalibrationMethod.MSE), true);
        double best = Double.POSITIVE_INFINITY;
        double bestT = 0;
        for (double t = 2; t <= 6; t += 0.01) {
            double error = quantizationError(gaussian, -t, t, 255);
            if (error < best) {
                best = error;
                bestT = t;
            }
        }
        assertThat(quantizationError(gaussian, sym.min(), sym.max(), 255)).isLessThanOrEqualTo(best * 1.02);
        assertThat((double) sym.max()).isCloseTo(bestT, within(0.3));
        assertThat(sym.max()).isLessThan(4.5f); // clips the tail: the extremes of 100k normals are about 4.4

        float[] relu = relu(gaussian);
        TensorRange asym = range(relu, method(CalibrationMethod.MSE), false);
        assertThat(asym.min()).isEqualTo(0f);
        best = Double.POSITIVE_INFINITY;
        for (double t = 1; t <= 5; t += 0.01) {
            best = Math.min(best, quantizationError(relu, 0, t, 256));
        }
        assertThat(quantizationError(relu, 0, asym.max(), 256)).isLessThanOrEqualTo(best * 1.02);
    }

    @Test
    void mseKeepsOutliersWhoseClippingWouldCostMore() {
        // ten values at +-50 among 100k: clipping them to 4 costs 10 * 46^2, far more than coarser rounding
        TensorRange range = range(gaussian(100_000, 10), method(CalibrationMethod.MSE), true);
        assertThat(range.max()).isGreaterThan(40f);
    }

    @Test
    void entropyOfUniformWithOneFarOutlierKeepsEverything() {
        // 256 equal bins then one value far out: at the full extent every group of Q holds exactly the bins of P that
        // are not empty, so KL = 0; any clip moves the outlier onto an edge bin and KL > 0
        float w = 1f / BINS;
        float[] values = new float[256 * 100 + 1];
        for (int k = 0; k < 256; k++) {
            for (int j = 0; j < 100; j++) {
                values[k * 100 + j] = (k + 0.5f) * w;
            }
        }
        values[values.length - 1] = 0.9f;
        TensorRange range = range(values, method(CalibrationMethod.ENTROPY), false);
        assertThat(range.min()).isEqualTo(values[0]);
        assertThat(range.max()).isEqualTo(0.9f);
    }

    @Test
    void entropyMatchesTheLiteralAlgorithm() {
        float[] values = gaussian(200_000, 10);
        CalibrationTable table = table(values, 10_000);
        TensorStatistics stats = table.statistics("x");
        int extent = 0;
        for (int k = 0; k < BINS; k++) {
            if (stats.histogram.counts[BINS + k] + stats.histogram.counts[BINS - 1 - k] != 0) {
                extent = k + 1;
            }
        }
        long[] signed = stats.histogram.signed();
        signed[BINS] -= stats.histogram.zeros; // zeros are exact, left out of the divergence
        double best = Double.POSITIVE_INFINITY;
        int bestI = -1;
        for (int i = 128; i <= extent; i++) {
            double kl = literalKl(signed, BINS - i, BINS + i, 255);
            if (kl < best) {
                best = kl;
                bestI = i;
            }
        }
        double expected = Math.min(bestI * stats.histogram.binWidth(), 50);
        TensorRange range = table.ranges(method(CalibrationMethod.ENTROPY), List.of("x"), true).get("x");
        assertThat((double) range.max()).isCloseTo(expected, within(1e-6));
        // and it clips: the Gaussian's own tail ends near 4.5, the outliers at 50
        assertThat(range.max()).isBetween(2.5f, 8f);
    }

    @Test
    void entropyOfReluIsNotPulledInByItsZeros() {
        // half the values are exactly 0; left in, that spike makes the narrowest candidates look best
        float[] relu = relu(gaussian(200_000, 0));
        TensorRange range = range(relu, method(CalibrationMethod.ENTROPY), false);
        assertThat(range.min()).isEqualTo(0f);
        assertThat(range.max()).isBetween(2.5f, 4.6f);
        TensorRange twoSided = range(gaussian(200_000, 0), method(CalibrationMethod.ENTROPY), true);
        assertThat(Math.abs(range.max() - twoSided.max())).isLessThan(0.5f);
    }

    /** KL(P || Q), written out as TensorRT describes it, over bins [s, e) of a signed histogram. */
    private static double literalKl(long[] hist, int s, int e, int levels) {
        int n = e - s;
        double[] p = new double[n];
        for (int t = 0; t < n; t++) {
            p[t] = hist[s + t];
        }
        double[] sliced = p.clone();
        for (int t = 0; t < s; t++) {
            p[0] += hist[t];
        }
        for (int t = e; t < hist.length; t++) {
            p[n - 1] += hist[t];
        }
        double[] q = new double[n];
        for (int g = 0; g < levels; g++) {
            int gs = (int) ((long) g * n / levels);
            int ge = (int) ((long) (g + 1) * n / levels);
            double sum = 0;
            int nonzero = 0;
            for (int t = gs; t < ge; t++) {
                sum += sliced[t];
                nonzero += sliced[t] > 0 ? 1 : 0;
            }
            for (int t = gs; t < ge; t++) {
                q[t] = sliced[t] > 0 ? sum / nonzero : 0;
            }
        }
        double pTotal = Arrays.stream(p).sum();
        double qTotal = Arrays.stream(q).sum();
        // smoothing: where P > 0 but Q = 0, q = 1e-4, then q is renormalized
        int smoothed = 0;
        for (int t = 0; t < n; t++) {
            smoothed += p[t] > 0 && q[t] == 0 ? 1 : 0;
        }
        double kl = 0;
        for (int t = 0; t < n; t++) {
            if (p[t] > 0) {
                double pt = p[t] / pTotal;
                double qt = (q[t] > 0 ? q[t] / qTotal : 1e-4) / (1 + smoothed * 1e-4);
                kl += pt * Math.log(pt / qt);
            }
        }
        return kl;
    }

    @Test
    void histogramDoesNotDependOnChunking() {
        float[] values = gaussian(50_000, 4);
        // growing ranges: small values first so the grid must widen several times
        Arrays.sort(values, 0, 50_000);
        String reference = table(values, values.length).toJson(method(CalibrationMethod.ENTROPY), false);
        for (int chunk : new int[] {1, 7, 1000, 33_333}) {
            assertThat(table(values, chunk).toJson(method(CalibrationMethod.ENTROPY), false))
                    .as("chunk %d", chunk).isEqualTo(reference);
        }
    }

    @Test
    void constantTensorsGetAnExactRange() {
        float[] sevens = new float[1000];
        Arrays.fill(sevens, 7f);
        for (CalibrationMethod m : CalibrationMethod.values()) {
            TensorRange range = range(sevens, method(m), false);
            assertThat(range.min()).as(m.id()).isEqualTo(7f);
            assertThat(range.max()).as(m.id()).isEqualTo(7f);
        }
        TensorRange zeros = range(new float[1000], method(CalibrationMethod.ENTROPY), true);
        assertThat(zeros.min()).isEqualTo(0f);
        assertThat(zeros.max()).isEqualTo(0f);
    }

    @Test
    void nanAndInfinityAreLeftOutAndReported() {
        float[] values = uniform(10_000);
        values[5] = Float.NaN;
        values[6] = Float.POSITIVE_INFINITY;
        values[7] = Float.NEGATIVE_INFINITY;
        CalibrationTable table = table(values, 100);
        for (CalibrationMethod m : CalibrationMethod.values()) {
            TensorRange range = table.ranges(method(m), List.of("x"), false).get("x");
            assertThat(Float.isFinite(range.min()) && Float.isFinite(range.max())).as(m.id()).isTrue();
            assertThat(range.max()).as(m.id()).isLessThanOrEqualTo(1f);
        }
        assertThat(table.warnings()).singleElement().asString().contains("3 of 10000 values were NaN or infinite");
    }

    @Test
    void aTensorWithNothingFiniteIsABadInput() {
        float[] values = {Float.NaN, Float.POSITIVE_INFINITY};
        assertThatThrownBy(() -> range(values, method(CalibrationMethod.MINMAX), false))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("tensor 'x' had no finite value during calibration (2 NaN or infinite values)");
    }

    @Test
    void invalidSettingsAreRefusedWithAClearMessage() {
        assertThatThrownBy(() -> method(CalibrationMethod.PERCENTILE).withPercentile(0))
                .hasMessage("percentile must be in (0, 100], got 0.0");
        assertThatThrownBy(() -> method(CalibrationMethod.PERCENTILE).withPercentile(100.5))
                .hasMessage("percentile must be in (0, 100], got 100.5");
        assertThatThrownBy(() -> method(CalibrationMethod.ENTROPY).withBins(127))
                .hasMessage("histogram bins must be between 128 and 65536, got 127");
        assertThatThrownBy(() -> CalibrationMethod.parse("kl"))
                .hasMessage("unknown calibration method 'kl' (expected one of minmax, percentile, entropy, mse)");
        assertThat(CalibrationMethod.parse(" Entropy ")).isEqualTo(CalibrationMethod.ENTROPY);
    }
}
