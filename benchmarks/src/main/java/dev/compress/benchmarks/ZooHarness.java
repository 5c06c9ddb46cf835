package dev.compress.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.check.KernelTimes;
import dev.compress.check.LatencyCheck;
import dev.compress.check.RuntimeGraph;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.quantize.QuantizationReport;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.InterleavedTiming;
import dev.compress.runtime.KernelProfile;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The zoo of issue 12 ("Real edge architectures"): measures, for each ONNX model in a folder, what default static
 * INT8 quantization through the library does. Prints Markdown to stdout, progress to stderr.
 *
 * <ul>
 *   <li>{@code zoo MODELS CALIB HELDOUT [--timeout-min N] [--no-cli]}: models exported by
 *       {@code benchmarks/zoo/export_zoo.py}. Phase 1 runs the real CLI launcher ({@code compress quantize}) per model
 *       as a child process under GNU time, one at a time, for its peak RSS (measured outside the JVM) and wall time;
 *       a child past the timeout (default 10 min) is killed and recorded; {@code --cli-results} takes these figures
 *       from the stderr of an earlier run instead. Phase 2 (skipped for a model whose CLI run failed, timed out or
 *       peaked over {@code --max-rss-gib}, default 20, since the same job in this JVM would take as much) quantizes each model through the
 *       library (default settings, the calibration folder) and measures: ops left float by the report (with its
 *       reasons), size ratio, INT8/fp32 latency at batch 1 and 8, output SQNR and top-1 agreement (along the last
 *       axis: per image, or per column of a CRNN) on the held-apart images, and the ops ONNX Runtime still runs in
 *       float in its EXTENDED-optimized INT8 graph.
 *   <li>{@code families [DIR]}: the trained Fashion-MNIST families of {@code benchmarks/zoo/train_families.py}
 *       (default {@code calibration-data/models/families}), calibrated on the 500 shipped calibration PNGs: fp32 and
 *       INT8 top-1 on the 10,000 test images, latency at batch 1 and 32, with the torch.ao peer figures from
 *       {@code families.json}.
 * </ul>
 *
 * <p>Latency: one session per precision (ONNX Runtime defaults: ALL optimizations; 2 intra-op threads, as the torch
 * peer figures), fp32 and INT8 calls interleaved in short runs (about 0.25 s each, 12 rounds after warm-up calls;
 * the core's {@code InterleavedTiming}) so load from other processes hits both alike; reported as the median over
 * rounds of the fp32 median call, and INT8/fp32 as the median of the per-round ratios with their quartiles in
 * parentheses (the spread the machine's load left).
 *
 * <p>Run from the repository root: {@code DJL_OFFLINE=true OPT_OUT_TRACKING=true LC_ALL=C.UTF-8 java -cp
 * 'benchmarks/target/classes:benchmarks/target/lib/*' dev.compress.benchmarks.ZooHarness zoo benchmarks/zoo/models
 * benchmarks/zoo/images/calib benchmarks/zoo/images/heldout}
 */
public final class ZooHarness {
    private static final int THREADS = 2;
    private static final int ROUNDS = 12;
    private static final double RUN_SECONDS = 0.25;

    private ZooHarness() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: ZooHarness zoo MODELS CALIB HELDOUT [--timeout-min N] [--max-rss-gib N]"
                    + " [--no-cli | --cli-results STDERR_OF_AN_EARLIER_RUN]"
                    + " | families [DIR]");
            System.exit(2);
        }
        switch (args[0]) {
            case "zoo" -> {
                List<String> rest = Arrays.asList(args).subList(4, args.length);
                int index = rest.indexOf("--timeout-min");
                int timeout = index >= 0 ? Integer.parseInt(rest.get(index + 1)) : 10;
                int rssIndex = rest.indexOf("--max-rss-gib");
                long maxRssKib = (rssIndex >= 0 ? Long.parseLong(rest.get(rssIndex + 1)) : 20) << 20;
                int resultsIndex = rest.indexOf("--cli-results");
                Map<String, CliRun> earlier = resultsIndex >= 0 ? readCliResults(Path.of(rest.get(resultsIndex + 1)))
                        : Map.of();
                zoo(Path.of(args[1]), Path.of(args[2]), Path.of(args[3]), timeout, maxRssKib,
                        !rest.contains("--no-cli"), earlier);
            }
            case "families" -> families(args.length > 1 ? Path.of(args[1])
                    : Fixtures.repoRoot().resolve("calibration-data/models/families"));
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    private static List<Path> onnxFiles(Path folder) throws IOException {
        try (Stream<Path> files = Files.list(folder)) {
            return files.filter(f -> f.getFileName().toString().endsWith(".onnx")).sorted().toList();
        }
    }

    // ------------------------------------------------------------------------------------------------ zoo

    /** What one {@code compress quantize} child process did. */
    private record CliRun(String outcome, double seconds, long peakKib) {}

    /** The {@code cli NAME: outcome, S s, peak RSS M MiB} lines of an earlier run's stderr, by file name. */
    private static Map<String, CliRun> readCliResults(Path stderr) throws IOException {
        Map<String, CliRun> runs = new HashMap<>();
        java.util.regex.Pattern line = java.util.regex.Pattern.compile(
                "cli (\\S+): (.+), ([0-9.]+) s, peak RSS (-?[0-9]+) MiB");
        for (String text : Files.readAllLines(stderr)) {
            java.util.regex.Matcher m = line.matcher(text);
            if (m.matches()) {
                runs.put(m.group(1), new CliRun(m.group(2), Double.parseDouble(m.group(3)),
                        Long.parseLong(m.group(4)) * 1024));
            }
        }
        return runs;
    }

    private static void zoo(Path models, Path calib, Path heldout, int timeoutMinutes, long maxRssKib, boolean cli,
            Map<String, CliRun> earlier) throws Exception {
        List<Path> files = onnxFiles(models);
        Path work = Files.createTempDirectory("zoo");
        Map<Path, CliRun> cliRuns = new LinkedHashMap<>();
        if (cli) {
            for (Path file : files) {
                CliRun run = earlier.get(file.getFileName().toString());
                if (run == null) {
                    run = cliQuantize(file, calib, work.resolve("cli-" + file.getFileName()), timeoutMinutes);
                } else {
                    System.err.print("(from the earlier run) ");
                }
                System.err.printf(Locale.ROOT, "cli %s: %s, %.1f s, peak RSS %.0f MiB%n", file.getFileName(),
                        run.outcome(), run.seconds(), run.peakKib() / 1024.0);
                cliRuns.put(file, run);
            }
        }
        List<String> rows = new ArrayList<>();
        List<String> reasons = new ArrayList<>();
        for (Path file : files) {
            String name = file.getFileName().toString().replaceFirst("\\.onnx$", "");
            CliRun run = cliRuns.getOrDefault(file, new CliRun("not run", Double.NaN, -1));
            String rss = run.peakKib() < 0 ? run.outcome() : String.format(Locale.ROOT, "%.0f", run.peakKib() / 1024.0);
            String cliCell = run.outcome().equals("ok") ? String.format(Locale.ROOT, "%s / %.0f", rss, run.seconds())
                    : run.outcome() + " after " + String.format(Locale.ROOT, "%.0f s", run.seconds());
            if (cli && !run.outcome().equals("ok")) { // too slow or failed from outside: do not repeat in-process
                rows.add("| " + name + " | " + mib(Files.size(file)) + " | | | | | | | | | | | " + cliCell + " |");
                continue;
            }
            if (run.peakKib() > maxRssKib) { // the same job in this JVM would take as much: too much for the machine
                rows.add("| " + name + " | " + mib(Files.size(file)) + " | not measured in-process: CLI peak RSS over "
                        + (maxRssKib >> 20) + " GiB | | | | | | | | | | " + cliCell + " |");
                continue;
            }
            System.err.println("measuring " + name);
            try {
                rows.add(measure(name, file, calib, heldout, work, cliCell, reasons));
            } catch (RuntimeException e) {
                System.err.println(name + " failed: " + e);
                rows.add("| " + name + " | " + mib(Files.size(file)) + " | failed: "
                        + String.valueOf(e.getMessage()).lines().findFirst().orElse("").replace('|', '/')
                        + " | | | | | | | | | | " + cliCell + " |");
            }
        }
        System.out.println("| model | fp32 MiB | INT8/fp32 size | left float by the report | float in ORT's"
                + " EXTENDED INT8 graph | fp32 ms b1 | INT8/fp32 b1 | fp32 ms b8 | INT8/fp32 b8 | SQNR dB |"
                + " top-1 agreement | quantize s | CLI peak RSS MiB / s |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        rows.forEach(System.out::println);
        System.out.println();
        System.out.println("Reasons given by the report for nodes left float (op: reason x count):");
        System.out.println();
        reasons.forEach(System.out::println);
        deleteTree(work);
    }

    private static String measure(String name, Path file, Path calib, Path heldout, Path work, String cliCell,
            List<String> reasons) throws IOException {
        OnnxModel fp32 = OnnxModel.load(file);
        long start = System.nanoTime();
        QuantizationResult result = Quantizer.builder().setModel(fp32)
                .setCalibrationData(Fixtures.images(fp32, calib)).build().quantize();
        Path int8 = work.resolve(name + "-int8.onnx");
        result.model().save(int8);
        double seconds = (System.nanoTime() - start) / 1e9;
        System.err.printf(Locale.ROOT, "  quantized in %.1f s: %s", seconds, result.report().summary());
        reasons.add("- " + name + ": " + reasonSummary(fp32, result.report()));

        String ortFloat = ortFloatOps(int8);
        Dataset held = Fixtures.images(fp32, heldout);
        double[] fidelity = fidelity(file, int8, held, 8);
        List<Batch> b1 = List.of(held.batches(1).next());
        List<Batch> b8 = List.of(held.batches(8).next());
        InterleavedTiming.Times lat1 = interleaved(file, int8, b1);
        InterleavedTiming.Times lat8 = interleaved(file, int8, b8);
        if (lat1.ratio(1, 0) > LatencyCheck.EXPLAIN_ABOVE) {
            // what compress quantize reports for such a model: where a call's time goes in each
            RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(THREADS);
            reasons.add("- " + name + " at batch 1, " + KernelTimes.of(
                    KernelProfile.measure(fp32, options, b1, 50, 20),
                    KernelProfile.measure(OnnxModel.load(int8), options, b1, 50, 20)).summary());
        }
        String row = String.format(Locale.ROOT, "| %s | %s | %.3f | %s | %s | %.2f | %s | %.1f | %s | %.1f | %.0f%% |"
                        + " %.1f | %s |", name, mib(Files.size(file)), (double) Files.size(int8) / Files.size(file),
                counts(result.report().floatOps()), ortFloat, lat1.medianMs(0), ratioCell(lat1), lat8.medianMs(0),
                ratioCell(lat8), fidelity[0], 100 * fidelity[1], seconds, cliCell);
        System.err.println("  " + row);
        Files.deleteIfExists(int8);
        return row;
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f", bytes / 1048576.0);
    }

    static String counts(Map<String, Integer> counts) {
        if (counts.isEmpty()) {
            return "none";
        }
        return new TreeMap<>(counts).entrySet().stream().map(e -> e.getKey() + ":" + e.getValue())
                .collect(Collectors.joining(" "));
    }

    /** The report's reasons, grouped by the op type of the node and the reason. */
    static String reasonSummary(OnnxModel fp32, QuantizationReport report) {
        Map<String, String> opOf = new HashMap<>();
        fp32.graph().nodes().forEach(n -> opOf.put(n.name(), n.opType()));
        Map<String, Integer> grouped = new TreeMap<>();
        report.floatNodes().forEach((node, reason) -> grouped.merge(opOf.getOrDefault(node, "?") + ": " + reason, 1,
                Integer::sum));
        if (grouped.isEmpty()) {
            return "none";
        }
        return grouped.entrySet().stream().map(e -> e.getKey() + " x" + e.getValue())
                .collect(Collectors.joining("; "));
    }

    /**
     * The ops ONNX Runtime runs on float data in its EXTENDED-optimized INT8 graph ({@link RuntimeGraph}), with the
     * DequantizeLinear nodes left counted apart, and among them those that feed nothing but QuantizeLinear (a float
     * round trip to requantize, e.g. where ORT dropped a float Clip).
     */
    static String ortFloatOps(Path int8) {
        RuntimeGraph graph = RuntimeGraph.of(OnnxModel.load(int8), RuntimeOptions.defaults().withIntraOpThreads(1)
                .withOptimization(RuntimeOptions.Optimization.EXTENDED));
        return (graph.floatOps().isEmpty() ? "none" : counts(graph.floatOps())) + " (DQ left:" + graph.dequantizers()
                + ", of which DQ→Q only:" + graph.requantizers() + ")";
    }

    /** SQNR (dB) of the INT8 model's outputs against fp32 over all samples, and the fraction of equal top-1. */
    static double[] fidelity(Path fp32File, Path int8File, Dataset data, int batchSize) {
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(THREADS);
        double signal = 0;
        double noise = 0;
        long agree = 0;
        long rows = 0;
        try (OrtModel fp32 = OrtModel.open(fp32File, options); OrtModel int8 = OrtModel.open(int8File, options)) {
            String output = fp32.outputNames().get(0);
            Set<String> wanted = Set.of(output);
            for (Iterator<Batch> batches = data.batches(batchSize); batches.hasNext(); ) {
                Batch batch = batches.next();
                OrtModel.FloatOutput expected = fp32.run(batch, wanted).get(output);
                float[] reference = expected.values();
                float[] quantized = int8.run(batch, wanted).get(output).values();
                // classes along the last axis: one prediction per image, or per column of a CRNN's [N, T, C]
                long[] shape = expected.shape();
                int width = (int) shape[shape.length - 1];
                for (int i = 0; i < reference.length; i++) {
                    signal += (double) reference[i] * reference[i];
                    double d = (double) reference[i] - quantized[i];
                    noise += d * d;
                }
                for (int r = 0; r < reference.length / width; r++) {
                    if (argmax(reference, r * width, width) == argmax(quantized, r * width, width)) {
                        agree++;
                    }
                }
                rows += reference.length / width;
            }
        }
        return new double[] {10 * Math.log10(signal / noise), (double) agree / rows};
    }

    private static int argmax(float[] values, int from, int width) {
        int best = 0;
        for (int i = 1; i < width; i++) {
            if (values[from + i] > values[from + best]) {
                best = i;
            }
        }
        return best;
    }

    /** fp32 (session 0) and INT8 (session 1) call times over the same batches, interleaved in short runs. */
    static InterleavedTiming.Times interleaved(Path fp32File, Path int8File, List<Batch> batches) {
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(THREADS);
        try (OrtModel fp32 = OrtModel.open(fp32File, options); OrtModel int8 = OrtModel.open(int8File, options)) {
            List<OrtModel> sessions = List.of(fp32, int8);
            int[] calls = InterleavedTiming.callsPerRound(sessions, batches.get(0), RUN_SECONDS, 200);
            return InterleavedTiming.measure(sessions, batches, ROUNDS, calls, Math.max(calls[0], calls[1]));
        }
    }

    /**
     * INT8/fp32 as the median of the per-round ratios, with their quartiles: {@code 0.69 (0.65-0.74)}. A ratio
     * taken within a round cancels load that changes between rounds; the spread shows what is left of it.
     */
    static String ratioCell(InterleavedTiming.Times times) {
        double[] quartiles = times.ratioQuartiles(1, 0);
        return String.format(Locale.ROOT, "%.2f (%.2f-%.2f)", times.ratio(1, 0), quartiles[0], quartiles[1]);
    }

    /**
     * {@code compress quantize} through the repository's launcher, as a user runs it, under GNU time for the peak
     * resident set of the whole child (the JVM and ONNX Runtime's native memory). Without GNU time, polls VmHWM.
     */
    private static CliRun cliQuantize(Path model, Path calib, Path out, int timeoutMinutes) throws Exception {
        Path launcher = Fixtures.repoRoot().resolve("compress").toAbsolutePath();
        Path timeOutput = out.resolveSibling(out.getFileName() + ".time");
        Path log = out.resolveSibling(out.getFileName() + ".log");
        List<String> command = new ArrayList<>();
        boolean gnuTime = Files.isExecutable(Path.of("/usr/bin/time"));
        if (gnuTime) {
            command.addAll(List.of("/usr/bin/time", "-f", "%M", "-o", timeOutput.toString()));
        }
        command.addAll(List.of(launcher.toString(), "quantize", "--model", model.toAbsolutePath().toString(),
                "--data", calib.toAbsolutePath().toString(), "--out", out.toString()));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("DJL_OFFLINE", "true");
        builder.environment().put("OPT_OUT_TRACKING", "true");
        builder.environment().put("LC_ALL", "C.UTF-8");
        long start = System.nanoTime();
        Process process = builder.start();
        long polled = 0;
        boolean done = false;
        long deadline = start + TimeUnit.MINUTES.toNanos(timeoutMinutes);
        while (!done && System.nanoTime() < deadline) {
            done = process.waitFor(200, TimeUnit.MILLISECONDS);
            if (!gnuTime) {
                polled = Math.max(polled, vmHwmKib(process));
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        if (!done) {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly().waitFor();
            return new CliRun("timeout", seconds, -1);
        }
        long peak = gnuTime ? parseTime(timeOutput) : polled;
        Files.deleteIfExists(out);
        Files.deleteIfExists(timeOutput);
        if (process.exitValue() != 0) {
            String tail = Files.readAllLines(log, StandardCharsets.UTF_8).stream().reduce((a, b) -> b).orElse("");
            System.err.println("  " + model.getFileName() + " exit " + process.exitValue() + ": " + tail);
            return new CliRun("exit " + process.exitValue(), seconds, peak);
        }
        return new CliRun("ok", seconds, peak);
    }

    private static long parseTime(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file);
        for (int i = lines.size() - 1; i >= 0; i--) {
            String line = lines.get(i).trim();
            if (line.matches("\\d+")) {
                return Long.parseLong(line);
            }
        }
        return -1;
    }

    /** The highest VmHWM among the process and its descendants (the java child of the launcher script). */
    private static long vmHwmKib(Process process) {
        long best = 0;
        List<ProcessHandle> handles = new ArrayList<>(process.descendants().toList());
        handles.add(process.toHandle());
        for (ProcessHandle handle : handles) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/" + handle.pid() + "/status"))) {
                    if (line.startsWith("VmHWM:")) {
                        best = Math.max(best, Long.parseLong(line.replaceAll("\\D", "")));
                    }
                }
            } catch (IOException | RuntimeException e) {
                // the process ended between listing and reading
            }
        }
        return best;
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ families

    private static void families(Path folder) throws Exception {
        JsonNode peers = Json.MAPPER.readTree(Files.readString(folder.resolve("families.json"))).path("models");
        Path work = Files.createTempDirectory("families");
        System.out.println("| model | fp32 top-1 | INT8 top-1 | drop (pts) | agreement | left float by the report"
                + " | float in ORT's EXTENDED INT8 graph | INT8/fp32 size | fp32 ms b1 | INT8/fp32 b1 | fp32 ms b32"
                + " | INT8/fp32 b32 | quantize s | torch.ao INT8 top-1 | torch.ao INT8/fp32 b1 | torch.ao INT8/fp32 b32 |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        List<String> reasons = new ArrayList<>();
        for (Path file : onnxFiles(folder)) {
            String name = file.getFileName().toString().replaceFirst("-fp32\\.onnx$", "").replaceFirst("\\.onnx$", "");
            System.err.println("measuring " + name);
            OnnxModel fp32 = OnnxModel.load(file);
            long start = System.nanoTime();
            QuantizationResult result = Quantizer.builder().setModel(fp32)
                    .setCalibrationData(Fixtures.images(fp32, "calib")).build().quantize();
            Path int8 = work.resolve(name + "-int8.onnx");
            result.model().save(int8);
            double seconds = (System.nanoTime() - start) / 1e9;
            reasons.add("- " + name + ": " + reasonSummary(fp32, result.report()));
            EvalReport report = Evaluator.builder().setModel(int8).optBaseline(file).setData(Fixtures.testSet(fp32))
                    .build().evaluate();
            String ortFloat = ortFloatOps(int8);
            Dataset test = Fixtures.testSet(fp32);
            InterleavedTiming.Times lat1 = interleaved(file, int8, List.of(test.batches(1).next()));
            InterleavedTiming.Times lat32 = interleaved(file, int8, List.of(test.batches(32).next()));
            JsonNode peer = peers.path(name).path("torchao_int8");
            JsonNode lat = peer.path("latency_torchscript_2threads");
            System.out.printf(Locale.ROOT, "| %s | %.2f%% | %.2f%% | %.2f | %.2f%% | %s | %s | %.3f | %.3f | %s | %.2f"
                            + " | %s | %.1f | %s | %s | %s |%n", name, 100 * report.baseline().top1().fraction(),
                    100 * report.top1().fraction(), report.baseline().dropPoints(),
                    100 * report.baseline().agreement().fraction(), counts(result.report().floatOps()), ortFloat,
                    (double) Files.size(int8) / Files.size(file), lat1.medianMs(0), ratioCell(lat1),
                    lat32.medianMs(0), ratioCell(lat32), seconds,
                    peer.has("int8_top1_test10k") ? String.format(Locale.ROOT, "%.2f%%",
                            100 * peer.path("int8_top1_test10k").asDouble()) : "n/a",
                    ratio(lat, "int8_batch1_ms", "fp32_optimized_batch1_ms"),
                    ratio(lat, "int8_batch32_ms", "fp32_optimized_batch32_ms"));
            Files.deleteIfExists(int8);
        }
        System.out.println();
        System.out.println("Reasons given by the report for nodes left float (op: reason x count):");
        System.out.println();
        reasons.forEach(System.out::println);
        deleteTree(work);
    }

    private static String ratio(JsonNode latency, String int8, String fp32) {
        if (!latency.has(int8) || !latency.has(fp32)) {
            return "n/a";
        }
        return String.format(Locale.ROOT, "%.2f (%.2f/%.2f ms)", latency.path(int8).asDouble()
                / latency.path(fp32).asDouble(), latency.path(int8).asDouble(), latency.path(fp32).asDouble());
    }
}
