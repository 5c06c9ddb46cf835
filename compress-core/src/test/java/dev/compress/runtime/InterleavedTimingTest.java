package dev.compress.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The arithmetic of interleaved timings, on fixed round medians (no clock). */
class InterleavedTimingTest {
    /**
     * A burst of load that slows both sessions in rounds 3 and 4 moves the ratio of medians but not the median of
     * per-round ratios; the quartiles show the spread the rounds still have.
     */
    @Test
    void ratiosAreTakenWithinRoundsAndTheirQuartilesShowTheSpread() {
        double[] fp32 = {4.0, 4.0, 8.0, 8.0, 4.0};
        double[] int8 = {2.8, 3.0, 5.6, 5.6, 3.2};
        InterleavedTiming.Times times = new InterleavedTiming.Times(new double[][] {fp32, int8}, new int[] {10, 10});

        assertThat(times.ratio(1, 0)).isCloseTo(0.70, within(1e-9));
        // quartiles of the sorted per-round ratios 0.70, 0.70, 0.70, 0.75, 0.80
        assertThat(times.ratioQuartiles(1, 0)).containsExactly(new double[] {0.70, 0.75}, within(1e-9));
        assertThat(times.medianMs(1) / times.medianMs(0)).isCloseTo(0.80, within(1e-9));
        assertThat(times.timedCalls(0)).isEqualTo(50);
    }

    @Test
    void quantilesInterpolateBetweenRanks() {
        double[] sorted = {1, 2, 3, 4};
        assertThat(InterleavedTiming.quantile(sorted, 0)).isEqualTo(1);
        assertThat(InterleavedTiming.quantile(sorted, 0.5)).isEqualTo(2.5);
        assertThat(InterleavedTiming.quantile(sorted, 1)).isEqualTo(4);
        assertThat(InterleavedTiming.quantile(new double[] {7}, 0.25)).isEqualTo(7);
    }
}
