package dev.compress.benchmarks;

import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Latency of several models of one input shape, measured alternately in one process so that load from other work on
 * the machine falls on all of them alike (e.g. an fp32 model and its INT8 versions).
 *
 * <p>Usage: {@code InterleavedLatency ROUNDS RUNS THREADS N,C,H,W MODEL...}; prints each model's median over rounds of
 * the per-round median time per call, and the median over rounds of its ratio to the first model in the same round
 * (robust to load that changes between rounds).
 */
public final class InterleavedLatency {
    private InterleavedLatency() {}

    public static void main(String[] args) {
        int rounds = Integer.parseInt(args[0]);
        int runs = Integer.parseInt(args[1]);
        int threads = Integer.parseInt(args[2]);
        long[] shape = Arrays.stream(args[3].split(",")).mapToLong(Long::parseLong).toArray();
        List<Path> files = Arrays.stream(args, 4, args.length).map(Path::of).toList();
        List<OrtModel> sessions = new ArrayList<>();
        for (Path file : files) {
            sessions.add(OrtModel.open(file, RuntimeOptions.defaults().withIntraOpThreads(threads)));
        }
        float[] x = new float[(int) HostTensor.elementCount(shape)];
        Random random = new Random(0);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        String input = sessions.get(0).inputShapes().keySet().iterator().next();
        Batch batch = new Batch(Map.of(input, HostTensor.ofFloats(shape, x)), new int[(int) shape[0]],
                java.util.Collections.nCopies((int) shape[0], Path.of("random")));
        for (OrtModel session : sessions) { // warm-up
            for (int i = 0; i < 20; i++) {
                session.run(batch);
            }
        }
        double[][] medians = new double[sessions.size()][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int m = 0; m < sessions.size(); m++) {
                double[] times = new double[runs];
                for (int i = 0; i < runs; i++) {
                    long start = System.nanoTime();
                    sessions.get(m).run(batch);
                    times[i] = (System.nanoTime() - start) / 1e6;
                }
                medians[m][r] = median(times);
            }
        }
        for (int m = 0; m < sessions.size(); m++) {
            double[] ratios = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                ratios[r] = medians[m][r] / medians[0][r];
            }
            System.out.printf(Locale.ROOT, "%-40s %8.3f ms  ratio %.3f  rounds (ms) %s%n", files.get(m).getFileName(),
                    median(medians[m]), median(ratios), Arrays.toString(Arrays.stream(medians[m])
                            .map(v -> Math.round(v * 100) / 100.0).toArray()));
            sessions.get(m).close();
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
