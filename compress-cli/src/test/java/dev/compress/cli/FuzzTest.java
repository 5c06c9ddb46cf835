package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.CompressException;
import dev.compress.graph.OnnxModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzing the loader, the validator and quantization (issue 15): seeded mutants of the two fixture models
 * ({@link ModelMutator}) through {@code inspect}, {@code quantize --dynamic} and static {@code quantize} on 8
 * calibration images, in-process. Every run must end in a documented exit code other than 1 (internal error), without
 * a stack trace, within {@link #HANG_SECONDS}; an output written from a mutant that loads (passes
 * {@link dev.compress.graph.ModelValidator}) must load too.
 *
 * <p>In {@code mvn verify} the run stops after {@link #BUDGET_SECONDS}. The long run of docs/reliability.md:
 * {@code -Dcompress.fuzz.mutants=500} (no time limit) and {@code -Dcompress.fuzz.keep=DIR} to keep each mutant that
 * loads and its outputs for ONNX's own checker.
 */
class FuzzTest {
    private static final long BUDGET_SECONDS = 30;
    private static final long HANG_SECONDS = 20;

    @TempDir
    Path temp;

    @Test
    void mutantsOfTheFixtureModelsNeverCrashHangOrWriteAnInvalidModel() throws Exception {
        int mutants = Integer.getInteger("compress.fuzz.mutants", Integer.MAX_VALUE);
        long budget = mutants == Integer.MAX_VALUE ? BUDGET_SECONDS * 1_000_000_000L : Long.MAX_VALUE;
        String keep = System.getProperty("compress.fuzz.keep");
        List<byte[]> seeds = List.of(Files.readAllBytes(Fixtures.cnn()), Files.readAllBytes(Fixtures.resnet()));
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 8);
        Map<String, Integer> exits = new TreeMap<>();
        List<String> failures = new ArrayList<>();
        int loadable = 0;
        int outputs = 0;
        int ran = 0;
        long start = System.nanoTime();
        for (int seed = 0; seed < mutants && System.nanoTime() - start < budget; seed++, ran++) {
            Path folder = Files.createDirectories(keep != null ? Path.of(keep, "m" + seed) : temp.resolve("m"));
            Path mutant = Files.write(folder.resolve("mutant.onnx"), ModelMutator.mutate(seeds.get(seed % 2), seed));
            boolean loads = loads(mutant);
            loadable += loads ? 1 : 0;
            String[][] runs = {
                {"inspect", mutant.toString()},
                {"quantize", "--dynamic", "--model", mutant.toString(), "--out", folder.resolve("dynamic.onnx")
                        .toString()},
                {"quantize", "--model", mutant.toString(), "--data", calib.toString(), "--out",
                        folder.resolve("static.onnx").toString()}};
            for (String[] args : runs) {
                String run = "seed " + seed + " " + args[0] + (args[1].startsWith("--") ? " " + args[1] : "");
                Cli.Result result = runWithin(args);
                if (result == null) {
                    failures.add(run + ": still running after " + HANG_SECONDS + " s");
                    continue;
                }
                exits.merge(args[0] + (args[1].equals("--dynamic") ? " --dynamic" : "") + " exit "
                        + result.exitCode(), 1, Integer::sum);
                if (result.exitCode() == ExitCode.INTERNAL || result.err().contains("\tat ")) {
                    failures.add(run + ": " + result);
                }
                Path out = args.length > 3 ? Path.of(args[args.length - 1]) : null;
                if (out != null && Files.exists(out)) {
                    outputs++;
                    if (loads && !loads(out)) {
                        failures.add(run + ": wrote a model that does not load: " + loadError(out));
                    }
                    if (keep == null) {
                        Files.delete(out);
                    }
                }
            }
        }
        System.out.printf("fuzz: %d mutants (%d load), %d runs, %d outputs written, %d failures; exits %s; %.1f s%n",
                ran, loadable, ran * 3, outputs, failures.size(), exits, (System.nanoTime() - start) / 1e9);
        assertThat(failures).isEmpty();
        assertThat(ran).isGreaterThan(0);
    }

    /** The command's result, or null when it has not ended within {@link #HANG_SECONDS}. */
    private static Cli.Result runWithin(String[] args) throws InterruptedException {
        Cli.Result[] result = new Cli.Result[1];
        // the 64 MiB stack the launcher gives commands (Main): ONNX Runtime recurses on the calling thread
        Thread command = new Thread(null, () -> result[0] = Cli.run(args), "fuzz", 64L << 20);
        command.setDaemon(true);
        command.start();
        command.join(HANG_SECONDS * 1000);
        return command.isAlive() ? null : result[0];
    }

    private static boolean loads(Path model) {
        return loadError(model) == null;
    }

    private static String loadError(Path model) {
        try {
            OnnxModel.load(model);
            return null;
        } catch (CompressException e) {
            return e.getMessage();
        }
    }
}
