package dev.compress.export;

import ai.onnxruntime.OrtSession;
import dev.compress.CompressException;
import dev.compress.TempFolder;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.graph.OnnxModel;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Checks a bundle's model against a {@link Budget}. Size is the bytes of {@code model.onnx}. Memory and latency come
 * from a child JVM ({@link BudgetProbe}: ONNX Runtime session load and {@value #RUNS} runs at batch 1 with the
 * budget's threads), because ONNX Runtime's memory is native and only the process as a whole shows it: the peak
 * resident set ({@code VmHWM} in {@code /proc/PID/status}, Linux) is read by this process while the child waits,
 * JVM included. Latency is the child's median run, measured on this host, not on the device.
 */
public final class BudgetCheck {
    /** Inference runs of the child process. */
    static final int RUNS = 20;

    private BudgetCheck() {}

    /** One measured figure against its limit; the limit is -1 when the budget sets none. */
    public record Figure(String name, String measured, String limit, boolean passed) {
        /** {@code memory: 112.0 MB peak RSS ..., limit 600.0 MB: ok}. */
        public String describe() {
            return name + ": " + measured + (limit == null ? "" : ", limit " + limit + (passed ? ": ok" : ": FAIL"));
        }
    }

    /** Every figure of a check, and whether all limits were met. */
    public record Result(Budget budget, List<Figure> figures, long peakRssBytes, double medianMillis) {
        public boolean passed() {
            return figures.stream().allMatch(Figure::passed);
        }

        /** The figures above their limits, one phrase each. */
        public String failures() {
            return figures.stream().filter(f -> !f.passed()).map(f -> f.name() + " " + f.measured().split(" \\(")[0]
                    + " is above the limit " + f.limit()).collect(Collectors.joining("; "));
        }
    }

    /** Checks the bundle's model; runs the child process only when the budget limits memory or latency. */
    public static Result check(Bundle bundle, Budget budget) {
        byte[] model = bundle.files().get(Bundle.MODEL);
        List<Figure> figures = new ArrayList<>();
        figures.add(new Figure("size", Budget.describeBytes(model.length) + " (" + Bundle.MODEL + ")",
                budget.sizeBytes() < 0 ? null : Budget.describeBytes(budget.sizeBytes()),
                budget.sizeBytes() < 0 || model.length <= budget.sizeBytes()));
        if (budget.memoryBytes() < 0 && budget.latencyMillis() < 0) {
            return new Result(budget, figures, -1, -1);
        }
        Probe probe = measure(model, budget.threads());
        String threads = budget.threads() + (budget.threads() == 1 ? " thread" : " threads");
        String how = "of a child JVM: ONNX Runtime session load + " + RUNS + " runs, " + threads
                + "; JVM included";
        figures.add(new Figure("memory", Budget.describeBytes(probe.peakRssBytes()) + " peak RSS (" + how + ")",
                budget.memoryBytes() < 0 ? null : Budget.describeBytes(budget.memoryBytes()),
                budget.memoryBytes() < 0 || probe.peakRssBytes() <= budget.memoryBytes()));
        figures.add(new Figure("latency", String.format(Locale.ROOT, "%.2f ms median (host-measured on this"
                + " machine, not the device: batch 1, %s, %d runs)", probe.medianMillis(), threads, RUNS),
                budget.latencyMillis() < 0 ? null : String.format(Locale.ROOT, "%.0f ms", budget.latencyMillis()),
                budget.latencyMillis() < 0 || probe.medianMillis() <= budget.latencyMillis()));
        return new Result(budget, figures, probe.peakRssBytes(), probe.medianMillis());
    }

    /** Peak memory and median latency of a child process running {@code model} (ONNX bytes) with {@code threads}. */
    public static Probe measure(byte[] model, int threads) {
        try (TempFolder temp = TempFolder.create("compress-budget")) {
            Path file = temp.path().resolve(Bundle.MODEL);
            Files.write(file, model);
            OnnxModel loaded = OnnxModel.load(file);
            Preprocessing preprocessing = ModelInputs.imagePreprocessing(loaded, Preprocessing.Overrides.NONE);
            return probe(probeCommand(file, threads, ModelInputs.imageInput(loaded).name(),
                    preprocessing.batchShape(1)));
        } catch (IOException e) {
            throw CompressException.internal("budget check: " + e.getMessage(), e);
        }
    }

    /** What the child reported and what was read of it from outside. */
    public record Probe(long peakRssBytes, double medianMillis) {}

    /**
     * The child's command line: the JDK's java, ONNX Runtime's jar and this library on the class path. {@code -Xss8m}:
     * ONNX Runtime's work on the calling thread overflowed the default 1 MB main-thread stack here (exit 139).
     */
    public static List<String> probeCommand(Path model, int threads, String input, long[] shape) {
        String classPath = location(OrtSession.class) + File.pathSeparator + location(BudgetProbe.class);
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xss8m",
                "-XX:+UseSerialGC", "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"), "-cp", classPath,
                BudgetProbe.class.getName(), model.toString(), Integer.toString(threads), input,
                Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining(",")));
    }

    private static String location(Class<?> type) {
        java.security.CodeSource source = type.getProtectionDomain().getCodeSource();
        try {
            if (source != null) {
                return Path.of(source.getLocation().toURI()).toString();
            }
        } catch (URISyntaxException e) {
            throw CompressException.internal("cannot locate the classes of " + type.getName(), e);
        }
        throw CompressException.internal("cannot locate the classes of " + type.getName(), null);
    }

    /**
     * Runs the child, reads its peak RSS from /proc while it waits, then lets it exit. The command may start the JVM
     * through a wrapper ({@code /usr/bin/time -v -o FILE}, {@code taskset}): the figure is then the wrapped
     * process's, the one that printed its latency.
     */
    public static Probe probe(List<String> command) throws IOException {
        // stderr to a file: a pipe nobody reads could fill and stall the child
        Path errors = Files.createTempFile("compress-budget", ".log");
        Process process = new ProcessBuilder(command).redirectError(errors.toFile()).start();
        try (BufferedReader out = new BufferedReader(
                new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            double median = -1;
            for (String line = out.readLine(); line != null && !line.equals("done"); line = out.readLine()) {
                if (line.startsWith("median-ns ")) {
                    median = Long.parseLong(line.substring(10)) / 1e6;
                }
            }
            if (median < 0) {
                int exit = process.waitFor();
                throw CompressException.internal("the budget's child process failed (exit " + exit + "): "
                        + Files.readString(errors).lines().findFirst().orElse(""), null);
            }
            long peak = peakRss(process.descendants().filter(p -> p.children().findAny().isEmpty())
                    .mapToLong(ProcessHandle::pid).findFirst().orElse(process.pid()));
            process.getOutputStream().close();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
            return new Probe(peak, median);
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw CompressException.internal("interrupted while measuring the budget", e);
        } finally {
            Files.deleteIfExists(errors);
        }
    }

    private static long peakRss(long pid) throws IOException {
        Path status = Path.of("/proc", Long.toString(pid), "status");
        if (!Files.isReadable(status)) {
            throw CompressException.invalidSettings("memory budgets need Linux /proc (" + status + " is missing)");
        }
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
        }
        throw CompressException.internal(status + " has no VmHWM line", null);
    }
}
