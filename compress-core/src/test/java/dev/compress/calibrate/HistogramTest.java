package dev.compress.calibrate;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HistogramTest {
    /** ReLU-like values: about half exact zeros, the rest a half-Gaussian, with a few negative values too. */
    private static float[] reluLike(int n, long seed) {
        Random random = new Random(seed);
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            float g = (float) random.nextGaussian();
            values[i] = g < 0 ? (i % 97 == 0 ? g : 0) : g;
        }
        return values;
    }

    private static float absMax(float[] values) {
        float max = 0;
        for (float v : values) {
            max = Math.max(max, Math.abs(v));
        }
        return max;
    }

    @Test
    void countsFollowTheDefinition() {
        float[] values = reluLike(50_003, 7);
        Histogram whole = new Histogram(2048);
        whole.addFinite(values, absMax(values));
        // the definition: bin floor(v * bins / 2^e) on the grid of the largest magnitude
        int e = Histogram.exponentFor(absMax(values));
        long[] expected = new long[2 * 2048];
        long zeros = 0;
        for (float v : values) {
            expected[2048 + (int) Math.floor(v * 2048.0 / Math.scalb(1.0, e))]++;
            zeros += v == 0 ? 1 : 0;
        }
        assertThat(whole.exponent).isEqualTo(e);
        assertThat(whole.counts).isEqualTo(expected);
        assertThat(whole.zeros).isEqualTo(zeros).isPositive();
        assertThat(whole.total()).isEqualTo(values.length);
    }

    @Test
    void batchingDoesNotChangeCounts() {
        float[] values = reluLike(40_000, 11);
        values[123] = 37.5f; // grows the grid in a late chunk when split
        Histogram whole = new Histogram(512);
        whole.addFinite(values, absMax(values));
        for (int chunk : new int[] {1, 700, 3000, 20_000}) {
            Histogram merged = new Histogram(512);
            for (int from = values.length; from > 0; from -= chunk) { // back to front: the large value comes last
                float[] part = Arrays.copyOfRange(values, Math.max(0, from - chunk), from);
                Histogram partial = new Histogram(512);
                partial.addFinite(part, absMax(part));
                merged.merge(partial);
            }
            assertThat(merged.exponent).as("chunk %d", chunk).isEqualTo(whole.exponent);
            assertThat(merged.counts).as("chunk %d", chunk).isEqualTo(whole.counts);
            assertThat(merged.zeros).as("chunk %d", chunk).isEqualTo(whole.zeros);
        }
    }
}
