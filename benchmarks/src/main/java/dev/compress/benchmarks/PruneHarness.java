package dev.compress.benchmarks;

import dev.compress.ZippedSize;
import dev.compress.data.Batch;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.OnnxModel;
import dev.compress.prune.PruneResult;
import dev.compress.prune.Pruner;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * What docs/benchmarks.md reports for {@code compress prune}: file and zipped sizes and top-1 accuracy (2000 held-out
 * images and the 10,000 test images) of unstructured and structured pruning of the shipped models, and the fp32
 * ONNX Runtime latency of the dense against the structurally pruned model.
 *
 * <p>Latency is measured side by side in one process: both sessions open, calls alternating in rounds (dense then
 * pruned, then pruned then dense), so load from other processes hits both alike; the ratio of medians is the figure
 * to trust on a shared machine.
 *
 * <p>Run: {@code java -cp 'benchmarks/target/classes:benchmarks/target/lib/*' dev.compress.benchmarks.PruneHarness
 * [rounds] [latency]}; {@code latency} skips the size and accuracy table (it needs the structured model only)
 */
public final class PruneHarness {
    private static final int THREADS = 2;
    private static final int BATCH = 32;
    private static final int CALLS_PER_ROUND = 10;

    private PruneHarness() {}

    public static void main(String[] args) throws IOException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        boolean latencyOnly = args.length > 1 && args[1].equals("latency");
        Path work = Files.createTempDirectory("prune-harness");
        System.out.println("load average before: " + loadAverage());
        System.out.println();
        System.out.println("| model | pruning | file bytes | zipped bytes | held-out top-1 (2000) | test top-1 (10k) |");
        System.out.println("|---|---|---|---|---|---|");
        for (String name : latencyOnly ? new String[0] : new String[] {"cnn", "resnet"}) {
            Path dense = Fixtures.model(name);
            row(name, "none (fp32)", dense, dense);
            for (double s : new double[] {0.3, 0.5}) {
                Path out = work.resolve(name + "-l1-" + s + ".onnx");
                prune(dense, Pruner.builder().setSparsity(s)).model().save(out);
                row(name, String.format(Locale.ROOT, "unstructured per-layer %.0f%%", 100 * s), out, dense);
                Path global = work.resolve(name + "-global-" + s + ".onnx");
                prune(dense, Pruner.builder().setSparsity(s).optScope(Pruner.Scope.GLOBAL)).model().save(global);
                row(name, String.format(Locale.ROOT, "unstructured global %.0f%%", 100 * s), global, dense);
            }
            for (double s : new double[] {0.1, 0.25}) {
                Path out = work.resolve(name + "-structured-" + s + ".onnx");
                prune(dense, Pruner.builder().setSparsity(s).optStructured(true)).model().save(out);
                row(name, String.format(Locale.ROOT, "structured %.0f%% of channels", 100 * s), out, dense);
                Path compensated = work.resolve(name + "-structured-calib-" + s + ".onnx");
                OnnxModel model = OnnxModel.load(dense);
                prune(dense, Pruner.builder().setSparsity(s).optStructured(true)
                        .optCalibrationData(Fixtures.images(model, "calib"))).model().save(compensated);
                row(name, String.format(Locale.ROOT, "structured %.0f%%, mean-compensated (500 calib)", 100 * s),
                        compensated, dense);
            }
        }

        Path dense = Fixtures.model("resnet");
        Path pruned = work.resolve("resnet-structured-0.25.onnx");
        if (latencyOnly) {
            prune(dense, Pruner.builder().setSparsity(0.25).optStructured(true)).model().save(pruned);
        }
        System.out.println();
        System.out.println("| model | batch | threads | dense p50 | pruned p50 | dense p90 | pruned p90 | pruned/dense"
                + " (p50) | calls each |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        latency("resnet", dense, pruned, rounds);
        System.out.println();
        System.out.println("load average after: " + loadAverage());
        try (var files = Files.list(work)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(work);
    }

    private static PruneResult prune(Path model, Pruner.Builder builder) {
        return builder.setModel(OnnxModel.load(model)).build().prune();
    }

    private static void row(String name, String pruning, Path file, Path dense) throws IOException {
        OnnxModel reference = OnnxModel.load(dense);
        EvalReport heldout = Evaluator.builder().setModel(file).setData(Fixtures.images(reference, "heldout"))
                .build().evaluate();
        EvalReport test = Evaluator.builder().setModel(file).setData(Fixtures.testSet(reference)).build().evaluate();
        System.out.println(String.format(Locale.ROOT, "| %s | %s | %,d | %,d | %.2f%% | %.2f%% |", name, pruning,
                Files.size(file), ZippedSize.of(file), 100 * heldout.top1().fraction(), 100 * test.top1().fraction()));
    }

    private static void latency(String name, Path dense, Path pruned, int rounds) {
        OnnxModel model = OnnxModel.load(dense);
        Batch input = Fixtures.images(model, "heldout").batches(BATCH).next();
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(THREADS);
        try (OrtModel a = OrtModel.open(dense, options); OrtModel b = OrtModel.open(pruned, options)) {
            for (int i = 0; i < 30; i++) {
                a.run(input);
                b.run(input);
            }
            long[] timesA = new long[rounds * CALLS_PER_ROUND];
            long[] timesB = new long[rounds * CALLS_PER_ROUND];
            int at = 0;
            for (int r = 0; r < rounds; r++) {
                boolean denseFirst = r % 2 == 0;
                int start = at;
                time(denseFirst ? a : b, input, denseFirst ? timesA : timesB, start);
                time(denseFirst ? b : a, input, denseFirst ? timesB : timesA, start);
                at += CALLS_PER_ROUND;
            }
            Arrays.sort(timesA);
            Arrays.sort(timesB);
            double p50a = ms(timesA, 0.5);
            double p50b = ms(timesB, 0.5);
            System.out.println(String.format(Locale.ROOT, "| %s | %d | %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms |"
                    + " %.3f | %d |", name, BATCH, THREADS, p50a, p50b, ms(timesA, 0.9), ms(timesB, 0.9),
                    p50b / p50a, timesA.length));
        }
    }

    private static void time(OrtModel session, Batch input, long[] times, int start) {
        for (int i = 0; i < CALLS_PER_ROUND; i++) {
            long t0 = System.nanoTime();
            session.run(input);
            times[start + i] = System.nanoTime() - t0;
        }
    }

    private static double ms(long[] sorted, double quantile) {
        return sorted[(int) Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] / 1e6;
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }
}
