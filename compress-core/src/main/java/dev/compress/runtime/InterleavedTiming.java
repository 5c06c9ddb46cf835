package dev.compress.runtime;

import dev.compress.data.Batch;
import java.util.Arrays;
import java.util.List;

/**
 * Call times of several sessions over the same batches, measured alternately in short runs within one process, so
 * that load from other work on the machine falls on all of them alike (an fp32 model and its INT8 rewrite): round
 * after round, each session runs its calls in turn. Ratios are taken within a round, then their median over rounds,
 * which stays steady when the load changes between rounds.
 */
public final class InterleavedTiming {
    private InterleavedTiming() {}

    /** One timed call on a batch: an ONNX Runtime session, or any other runtime a harness compares it with. */
    @FunctionalInterface
    public interface Call {
        void run(Batch batch);
    }

    /**
     * Per session and round, the median time of one call in ms; and the calls each session ran per round.
     *
     * @param roundMedians {@code [session][round]}
     * @param calls calls per round of each session
     */
    public record Times(double[][] roundMedians, int[] calls) {
        public int rounds() {
            return roundMedians[0].length;
        }

        /** Median over rounds of session {@code s}'s per-call median, ms. */
        public double medianMs(int s) {
            return median(roundMedians[s]);
        }

        /** Median over rounds of session {@code s}'s time over session {@code reference}'s time in the same round. */
        public double ratio(int s, int reference) {
            return median(roundRatios(s, reference));
        }

        /**
         * The first and third quartile of the per-round ratios of {@link #ratio}: how far the rounds spread, which on
         * a shared machine says more about a ratio than its value alone.
         */
        public double[] ratioQuartiles(int s, int reference) {
            double[] sorted = roundRatios(s, reference);
            Arrays.sort(sorted);
            return new double[] {quantile(sorted, 0.25), quantile(sorted, 0.75)};
        }

        private double[] roundRatios(int s, int reference) {
            double[] ratios = new double[rounds()];
            for (int r = 0; r < ratios.length; r++) {
                ratios[r] = roundMedians[s][r] / roundMedians[reference][r];
            }
            return ratios;
        }

        /** Timed calls of session {@code s} over all rounds. */
        public int timedCalls(int s) {
            return calls[s] * rounds();
        }
    }

    /**
     * Calls per round for each session such that one round of it takes about {@code secondsPerRound}, within [1,
     * {@code maxCalls}]: after one warm-up call, each session runs {@code batch} for a quarter of that time (at least
     * once) and its mean call sizes its runs. One call alone is no measure on a loaded machine: it was seen 5x off.
     */
    public static int[] callsPerRound(List<OrtModel> sessions, Batch batch, double secondsPerRound, int maxCalls) {
        return callsPerRoundOf(calls(sessions), batch, secondsPerRound, maxCalls);
    }

    /** {@link #callsPerRound} for any {@link Call}s. */
    public static int[] callsPerRoundOf(List<Call> sessions, Batch batch, double secondsPerRound, int maxCalls) {
        int[] calls = new int[sessions.size()];
        for (int s = 0; s < calls.length; s++) {
            sessions.get(s).run(batch);
            int n = 0;
            long start = System.nanoTime();
            long elapsed;
            do {
                sessions.get(s).run(batch);
                n++;
                elapsed = System.nanoTime() - start;
            } while (elapsed < secondsPerRound * 1e9 / 4 && n < maxCalls);
            double seconds = elapsed / 1e9 / n;
            calls[s] = (int) Math.max(1, Math.min(maxCalls, Math.round(secondsPerRound / Math.max(seconds, 1e-9))));
        }
        return calls;
    }

    /**
     * Times {@code warmup} untimed calls of each session, then {@code rounds} rounds in which session s runs
     * {@code calls[s]} calls, cycling through {@code batches}.
     */
    public static Times measure(List<OrtModel> sessions, List<Batch> batches, int rounds, int[] calls, int warmup) {
        return measureOf(calls(sessions), batches, rounds, calls, warmup);
    }

    /** {@link #measure} for any {@link Call}s. */
    public static Times measureOf(List<Call> sessions, List<Batch> batches, int rounds, int[] calls, int warmup) {
        for (Call session : sessions) {
            for (int i = 0; i < warmup; i++) {
                session.run(batches.get(i % batches.size()));
            }
        }
        double[][] medians = new double[sessions.size()][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int s = 0; s < sessions.size(); s++) {
                double[] times = new double[calls[s]];
                for (int c = 0; c < calls[s]; c++) {
                    Batch batch = batches.get(c % batches.size());
                    long start = System.nanoTime();
                    sessions.get(s).run(batch);
                    times[c] = (System.nanoTime() - start) / 1e6;
                }
                medians[s][r] = median(times);
            }
        }
        return new Times(medians, calls.clone());
    }

    private static List<Call> calls(List<OrtModel> sessions) {
        return sessions.stream().<Call>map(session -> session::run).toList();
    }

    /** Linear interpolation between the closest ranks of {@code sorted} (ascending). */
    static double quantile(double[] sorted, double q) {
        double position = q * (sorted.length - 1);
        int below = (int) Math.floor(position);
        int above = Math.min(sorted.length - 1, below + 1);
        return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
    }

    public static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
