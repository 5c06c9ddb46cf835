package dev.compress.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.api.Test;

class StatisticsTest {
    /** The 97.5% standard normal quantile as tabulated, typed in so the test does not reuse the implementation's. */
    private static final double Z = 1.959963984540054;

    @Test
    void zIsTheTabulatedQuantile() {
        assertThat(Statistics.Z95).isCloseTo(Z, within(1e-12));
    }

    @Test
    void wilsonMatchesTheFormulaAndTheTextbookExample() {
        // 81 successes in 263 trials: the usual worked example, interval about [0.2553, 0.3662]
        double n = 263;
        double p = 81 / n;
        double center = (p + Z * Z / (2 * n)) / (1 + Z * Z / n);
        double half = Z / (1 + Z * Z / n) * Math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n));

        Statistics.Interval interval = Statistics.wilson(81, 263);

        assertThat(interval.low()).isCloseTo(center - half, within(1e-12)).isCloseTo(0.2553, within(5e-5));
        assertThat(interval.high()).isCloseTo(center + half, within(1e-12)).isCloseTo(0.3662, within(5e-5));
    }

    @Test
    void wilsonStaysInsideZeroOneAtTheExtremes() {
        // closed forms at 0 and n successes: [0, z²/(n+z²)] and [n/(n+z²), 1]; Wald would give [0, 0] and [1, 1]
        Statistics.Interval none = Statistics.wilson(0, 10);
        Statistics.Interval all = Statistics.wilson(10, 10);

        assertThat(none.low()).isZero();
        assertThat(none.high()).isCloseTo(Z * Z / (10 + Z * Z), within(1e-12));
        assertThat(all.low()).isCloseTo(10 / (10 + Z * Z), within(1e-12));
        assertThat(all.high()).isEqualTo(1.0);
    }

    @Test
    void pairedDifferenceIsNewcombesMethodTenOnHisWorkedExample() {
        // Newcombe (1998), Statistics in Medicine 17:2635, example (a): 36 both, 12 first only, 2 second only, 0
        // neither; his Table II gives 0.0569 to 0.3404 for the hybrid score method (10)
        Statistics.Interval interval = Statistics.pairedDifference(36, 12, 2, 0);

        assertThat(interval.low()).isCloseTo(0.0569, within(5e-5));
        assertThat(interval.high()).isCloseTo(0.3404, within(5e-5));
        // swapping the two classifiers mirrors it
        Statistics.Interval mirrored = Statistics.pairedDifference(36, 2, 12, 0);
        assertThat(mirrored.low()).isCloseTo(-interval.high(), within(1e-12));
        assertThat(mirrored.high()).isCloseTo(-interval.low(), within(1e-12));
    }

    @Test
    void pairedDifferenceOfIdenticalClassifiersIsAroundZeroAndNarrowerThanUnpaired() {
        Statistics.Interval paired = Statistics.pairedDifference(1846, 0, 0, 154);
        Statistics.Interval unpaired = Statistics.difference(1846, 2000, 1846, 2000);

        assertThat(paired.low()).isNegative();
        assertThat(paired.high()).isPositive().isCloseTo(-paired.low(), within(1e-12));
        assertThat(paired.high()).isLessThan(unpaired.high() / 3);
    }

    @Test
    void unpairedDifferenceIsNewcombesMethodTenOnHisWorkedExample() {
        // Newcombe (1998), Statistics in Medicine 17:873, 56/70 against 48/80: 0.0524 to 0.3339 for method 10
        Statistics.Interval interval = Statistics.difference(56, 70, 48, 80);

        assertThat(interval.low()).isCloseTo(0.0524, within(5e-5));
        assertThat(interval.high()).isCloseTo(0.3339, within(5e-5));
    }

    @Test
    void mcNemarSmallCountsUseTheExactBinomialTest() {
        // 6 vs 16 discordant pairs: p = 2 * P(X <= 6), X ~ Binomial(22, 1/2), summed here in exact integers
        double expected = 2 * binomialTail(22, 6);

        assertThat(Statistics.mcNemarMethod(6, 16)).isEqualTo(Statistics.EXACT);
        assertThat(Statistics.mcNemarP(6, 16)).isCloseTo(expected, within(1e-12)).isCloseTo(0.0525, within(1e-4));
        assertThat(Statistics.mcNemarP(16, 6)).isCloseTo(expected, within(1e-12));
    }

    @Test
    void mcNemarLargeCountsUseContinuityCorrectedChiSquare() {
        // Wikipedia's drug example, b = 121, c = 59: statistic (|121 - 59| - 1)² / 180 = 20.67, p about 5.45e-6;
        // the chi-square(1) tail is erfc(sqrt(x / 2)), a different route from the implementation's gamma function
        double statistic = Math.pow(Math.abs(121 - 59) - 1, 2) / 180.0;

        assertThat(Statistics.mcNemarMethod(121, 59)).isEqualTo(Statistics.CHI_SQUARE);
        assertThat(Statistics.mcNemarP(121, 59))
                .isCloseTo(Erf.erfc(Math.sqrt(statistic / 2)), within(1e-9))
                .isCloseTo(5.45e-6, within(1e-8));
    }

    @Test
    void exactAndChiSquareAgreeWhereTheySwitch() {
        // at the switch (b + c = 25) both methods must tell the same story, or the report would jump
        double exact = 2 * binomialTail(25, 7);
        double statistic = Math.pow(Math.abs(7 - 18) - 1, 2) / 25.0;
        double chiSquare = Erf.erfc(Math.sqrt(statistic / 2));

        assertThat(Statistics.mcNemarP(7, 18)).isCloseTo(chiSquare, within(1e-9));
        assertThat(Statistics.mcNemarP(7, 18)).isCloseTo(exact, within(0.01));
        assertThat(Statistics.mcNemarP(7, 17)).isCloseTo(2 * binomialTail(24, 7), within(1e-12));
    }

    @Test
    void mcNemarWithoutDisagreementIsOne() {
        assertThat(Statistics.mcNemarP(0, 0)).isEqualTo(1.0);
        assertThat(Statistics.mcNemarP(5, 5)).isEqualTo(1.0);
        assertThat(Statistics.mcNemarP(40, 40)).isEqualTo(1.0);
    }

    private static double binomialTail(int n, int upTo) {
        BigInteger tail = BigInteger.ZERO;
        for (int k = 0; k <= upTo; k++) {
            tail = tail.add(binomial(n, k));
        }
        return new BigDecimal(tail).divide(new BigDecimal(BigInteger.ONE.shiftLeft(n)), MathContext.DECIMAL64)
                .doubleValue();
    }

    private static BigInteger binomial(int n, int k) {
        BigInteger result = BigInteger.ONE;
        for (int i = 0; i < k; i++) {
            result = result.multiply(BigInteger.valueOf(n - i)).divide(BigInteger.valueOf(i + 1));
        }
        return result;
    }
}
