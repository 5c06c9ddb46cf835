package dev.compress.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.calibrate.CalibrationBuilder;
import dev.compress.calibrate.CalibrationMethod;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.calibrate.Calibrator;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.quantize.ActivationType;
import dev.compress.quantize.QuantizationReport;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The calibration figures of docs/calibration.md, on the Fashion-MNIST test set (10,000 images, Debian's
 * dataset-fashion-mnist):
 *
 * <ul>
 *   <li>{@code throughput MODEL [samples] [rounds]}: plain fp32 inference, MinMax, Entropy and MSE calibration over the
 *       same samples (the test images, or for more than 10,000 samples the training images), interleaved round by round so machine load hits all alike; prints medians and ratios, for two
 *       ways to use the cores (sessions x intra-op threads: 2x1 and 1x2).
 *   <li>{@code probes MODEL [samples] [rounds]}: where MinMax's extra time goes: the CPU time of one session with one
 *       thread (ONNX Runtime then runs on the calling thread) over the same preloaded batches, for the plain model and
 *       for graphs that observe the calibrated tensors in different ways.
 *   <li>{@code memory MODEL samples [histogram-samples]}: one Entropy calibration with a table for reuse; prints peak
 *       heap. Run it in a fresh JVM per sample count, e.g. with {@code -Xmx512m}.
 *   <li>{@code subset [samples]}: whether building histograms from the default evenly spread subset
 *       ({@value CalibrationBuilder#DEFAULT_HISTOGRAM_SAMPLES} samples) instead of from every sample changes accuracy:
 *       each model calibrated on {@code samples} training images both ways, INT8 top-1 on all 10,000 test images for
 *       each histogram method.
 *   <li>{@code accuracy}: for each model and calibrator, INT8 top-1 on all 10,000 test images, calibrated on the 500
 *       shipped calibration images; one table per model serves all calibrators.
 * </ul>
 *
 * <p>Run: {@code java -cp 'benchmarks/target/classes:benchmarks/target/lib/*'
 * dev.compress.benchmarks.CalibrationHarness throughput resnet}
 */
public final class CalibrationHarness {
    private static final int BATCH = 32;

    private CalibrationHarness() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: CalibrationHarness throughput MODEL [samples] [rounds] | probes MODEL [samples] [rounds]"
                    + " | memory MODEL samples"
                    + " | accuracy");
            System.exit(2);
        }
        switch (args[0]) {
            case "throughput" -> throughput(args[1], args.length > 2 ? Integer.parseInt(args[2]) : 10_000,
                    args.length > 3 ? Integer.parseInt(args[3]) : 3);
            case "probes" -> probes(args[1], args.length > 2 ? Integer.parseInt(args[2]) : 5000,
                    args.length > 3 ? Integer.parseInt(args[3]) : 5);
            case "memory" -> memory(args[1], Integer.parseInt(args[2]),
                    args.length > 3 ? Integer.parseInt(args[3]) : CalibrationBuilder.DEFAULT_HISTOGRAM_SAMPLES);
            case "accuracy" -> accuracy();
            case "subset" -> subset(args.length > 1 ? Integer.parseInt(args[1]) : 10_000);
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    /** The activations a default (uint8) quantization calibrates, taken from its report. */
    private static List<String> activations(OnnxModel model) {
        QuantizationReport report = Quantizer.builder().setModel(model)
                .setCalibrationData(Fixtures.images(model, "calib")).optMaxSamples(8).build().quantize().report();
        return report.activations().stream().map(QuantizationReport.ActivationRange::tensor).toList();
    }

    private static void throughput(String name, int samples, int rounds) throws Exception {
        OnnxModel model = OnnxModel.load(Fixtures.model(name));
        // beyond the 10,000 test images, the 60,000 training images: longer runs, steadier ratios
        Dataset data = samples > 10_000 ? Fixtures.trainSet(model) : Fixtures.testSet(model);
        List<String> tensors = activations(model);
        int[][] configs = {{2, 1}, {1, 2}};
        Map<String, List<Double>> seconds = new LinkedHashMap<>();
        Map<String, List<Double>> cpuSeconds = new LinkedHashMap<>();
        for (int round = 0; round <= rounds; round++) { // round 0 warms up and is not counted
            for (int[] config : configs) {
                String suffix = " " + config[0] + "x" + config[1];
                record(seconds, cpuSeconds, "fp32 inference" + suffix, round,
                        () -> infer(model, data, samples, config));
                for (CalibrationMethod method : CalibrationMethod.values()) {
                    record(seconds, cpuSeconds, method.id() + suffix, round, () -> calibrate(model, data, tensors,
                            samples, method, config));
                }
            }
        }
        System.out.printf(Locale.ROOT, "%s: %d samples, batch %d, %d tensors, median of %d rounds%n", name,
                samples, BATCH, tensors.size(), rounds);
        System.out.println("| sessions x threads | run | median s | samples/s | time / fp32 inference"
                + " | time / minmax | median CPU s | CPU / fp32 inference | CPU / minmax |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        for (int[] config : configs) {
            String suffix = " " + config[0] + "x" + config[1];
            double plain = median(seconds.get("fp32 inference" + suffix));
            double minmax = median(seconds.get("minmax" + suffix));
            double plainCpu = median(cpuSeconds.get("fp32 inference" + suffix));
            double minmaxCpu = median(cpuSeconds.get("minmax" + suffix));
            for (String run : List.of("fp32 inference", "minmax", "percentile", "entropy", "mse")) {
                double s = median(seconds.get(run + suffix));
                double cpu = median(cpuSeconds.get(run + suffix));
                System.out.printf(Locale.ROOT, "| %dx%d | %s | %.2f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f |%n",
                        config[0], config[1], run, s, samples / s, s / plain, s / minmax, cpu, cpu / plainCpu,
                        cpu / minmaxCpu);
            }
        }
    }

    private interface Run {
        void run() throws Exception;
    }

    /**
     * Wall time, and the CPU time of the whole process (all threads, ONNX Runtime's included): on a machine shared
     * with other jobs, the CPU time a run needs is less disturbed by the load than its wall time.
     */
    private static void record(Map<String, List<Double>> seconds, Map<String, List<Double>> cpuSeconds, String key,
            int round, Run run) throws Exception {
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long cpuStart = os.getProcessCpuTime();
        long start = System.nanoTime();
        run.run();
        double elapsed = (System.nanoTime() - start) / 1e9;
        double cpu = (os.getProcessCpuTime() - cpuStart) / 1e9;
        if (round > 0) {
            seconds.computeIfAbsent(key, k -> new ArrayList<>()).add(elapsed);
            cpuSeconds.computeIfAbsent(key, k -> new ArrayList<>()).add(cpu);
        }
    }

    private static double median(List<Double> values) {
        double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return sorted[sorted.length / 2];
    }

    /**
     * The reference: the fp32 model (its own outputs only) over the same samples, with the same sessions and threads
     * and the same pipelining (reading on the calling thread, inference on the sessions).
     */
    private static void infer(OnnxModel model, Dataset data, int samples, int[] config) throws Exception {
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(config[1]);
        BlockingQueue<OrtModel> idle = new ArrayBlockingQueue<>(config[0]);
        ExecutorService workers = Executors.newFixedThreadPool(config[0]);
        AtomicLong checksum = new AtomicLong();
        try {
            for (int i = 0; i < config[0]; i++) {
                idle.add(OrtModel.open(model, options));
            }
            List<Future<?>> inFlight = new ArrayList<>();
            Iterator<Batch> batches = data.batches(BATCH);
            int done = 0;
            while (batches.hasNext() && done < samples) {
                Batch batch = batches.next();
                done += batch.size();
                inFlight.add(workers.submit(() -> {
                    OrtModel session = idle.take();
                    try {
                        session.run(batch).values().forEach(o -> checksum.addAndGet(o.values().length));
                    } finally {
                        idle.add(session);
                    }
                    return null;
                }));
                while (inFlight.size() > config[0]) {
                    inFlight.remove(0).get();
                }
            }
            for (Future<?> future : inFlight) {
                future.get();
            }
        } finally {
            workers.shutdownNow();
            idle.forEach(OrtModel::close);
        }
    }

    /** Calibration alone (statistics, then ranges for every tensor): what Quantizer runs before rewriting. */
    private static void calibrate(OnnxModel model, Dataset data, List<String> tensors, int samples,
            CalibrationMethod method, int[] config) {
        CalibrationSettings settings = CalibrationSettings.of(method);
        CalibrationTable table = Calibrator.builder()
                .setModel(model)
                .setData(data)
                .setTensors(tensors)
                .optBins(method.needsHistogram() ? settings.bins() : 0)
                .optMaxSamples(samples < data.size() ? samples : 0)
                .optBatchSize(BATCH)
                .optThreads(config[0], config[1])
                .build()
                .calibrate();
        table.ranges(settings, tensors, false);
    }

    private static void probes(String name, int samples, int rounds) throws IOException {
        OnnxModel model = OnnxModel.load(Fixtures.model(name));
        Dataset data = Fixtures.testSet(model);
        Set<String> inputs = new HashSet<>();
        model.graph().inputs().forEach(input -> inputs.add(input.name()));
        List<String> tensors = activations(model).stream().filter(t -> !inputs.contains(t)).toList();
        List<Batch> batches = new ArrayList<>();
        Iterator<Batch> source = data.batches(BATCH);
        for (int done = 0; source.hasNext() && done < samples; ) {
            Batch batch = source.next();
            batches.add(batch);
            done += batch.size();
        }
        Map<String, OnnxModel> variants = new LinkedHashMap<>();
        variants.put("plain fp32 model", model);
        variants.put("ReduceMin+ReduceMax+ReduceSum+Size (MinMax calibration)",
                reduced(model, tensors, List.of("ReduceMin", "ReduceMax", "ReduceSum", "Size")));
        variants.put("ReduceMin+ReduceMax", reduced(model, tensors, List.of("ReduceMin", "ReduceMax")));
        variants.put("ReduceMax only", reduced(model, tensors, List.of("ReduceMax")));
        variants.put("tensors as outputs, copied to Java", model.withExtraOutputs(tensors));
        Map<String, OrtModel> sessions = new LinkedHashMap<>();
        variants.forEach((key, variant) -> sessions.put(key, OrtModel.open(variant,
                RuntimeOptions.defaults().withIntraOpThreads(1))));
        java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        Map<String, List<Double>> cpu = new LinkedHashMap<>();
        try {
            for (int round = 0; round <= rounds; round++) {
                for (Map.Entry<String, OrtModel> entry : sessions.entrySet()) {
                    Set<String> outputs = new LinkedHashSet<>(entry.getValue().outputNames());
                    long start = threads.getCurrentThreadCpuTime();
                    for (Batch batch : batches) {
                        entry.getValue().run(batch, outputs);
                    }
                    if (round > 0) {
                        cpu.computeIfAbsent(entry.getKey(), k -> new ArrayList<>())
                                .add((threads.getCurrentThreadCpuTime() - start) / 1e9);
                    }
                }
            }
        } finally {
            sessions.values().forEach(OrtModel::close);
        }
        System.out.printf(Locale.ROOT, "%s: %d samples, batch %d, %d tensors, 1 session x 1 thread, median of %d"
                + " rounds%n| graph | CPU s | / plain |%n|---|---|---|%n", name, samples, BATCH, tensors.size(), rounds);
        double plain = median(cpu.get("plain fp32 model"));
        cpu.forEach((key, values) -> System.out.printf(Locale.ROOT, "| %s | %.3f | %.2f |%n", key, median(values),
                median(values) / plain));
    }

    /** The model with these whole-tensor reductions of each tensor as extra outputs. */
    private static OnnxModel reduced(OnnxModel original, List<String> tensors, List<String> ops) {
        OnnxModel model = original.copy();
        Graph graph = model.graph();
        for (String tensor : tensors) {
            for (String op : ops) {
                String output = graph.uniqueName(tensor + "/" + op);
                Node node = Node.of(op, graph.uniqueName(output), List.of(tensor), List.of(output));
                if (op.startsWith("Reduce")) {
                    node.set(Attribute.of("keepdims", 0));
                }
                graph.nodes().add(node);
                if (op.equals("Size")) { // int64; fetched outputs must be float, as in Calibrator
                    String cast = graph.uniqueName(output + "/float");
                    graph.nodes().add(Node.of("Cast", graph.uniqueName(cast), List.of(output), List.of(cast))
                            .set(Attribute.of("to", DataType.FLOAT.number())));
                    output = cast;
                }
                graph.outputs().add(ValueInfo.named(output));
            }
        }
        return model;
    }

    private static void memory(String name, int samples, int histogramSamples) throws IOException {
        OnnxModel model = OnnxModel.load(Fixtures.model(name));
        Dataset data = Fixtures.testSet(model);
        System.gc();
        // peak[0]: heap in use, sampled every 2 ms (depends on when the collector runs); peak[1]: heap in use right
        // after a full collection forced every 20 ms, the most of any: what calibration really keeps (often enough to
        // catch the few batches fetched whole for histograms)
        long[] peak = {0, 0};
        Thread sampler = new Thread(() -> {
            Runtime rt = Runtime.getRuntime();
            for (int tick = 1; !Thread.currentThread().isInterrupted(); tick++) {
                peak[0] = Math.max(peak[0], rt.totalMemory() - rt.freeMemory());
                if (tick % 10 == 0) {
                    System.gc();
                    peak[1] = Math.max(peak[1], rt.totalMemory() - rt.freeMemory());
                }
                try {
                    Thread.sleep(2);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        sampler.setDaemon(true);
        sampler.start();
        long start = System.nanoTime();
        CalibrationTable table = Quantizer.builder()
                .setModel(model)
                .setCalibrationData(data)
                .optCalibration(CalibrationSettings.of(CalibrationMethod.ENTROPY))
                .optMaxSamples(samples)
                .optHistogramSamples(histogramSamples)
                .build()
                .calibrate();
        double seconds = (System.nanoTime() - start) / 1e9;
        sampler.interrupt();
        System.out.printf(Locale.ROOT, "| %s | %d | %d | %.0f MiB | %.1f MiB | %.1f MiB | %.1f s |%n", name,
                table.samples(), table.histogramSamples(), Runtime.getRuntime().maxMemory() / 1048576.0, peak[1] / 1048576.0,
                peak[0] / 1048576.0, seconds);
    }

    private static void accuracy() throws IOException {
        JsonNode fixtures = Json.MAPPER.readTree(Files.readString(Fixtures.repoRoot()
                .resolve("calibration-data/models/fixtures.json")));
        Path work = Files.createTempDirectory("calibration-harness");
        System.out.println("| model | calibrator | activations | INT8 top-1 | fp32 top-1 | drop (points) | agreement"
                + " with fp32 | torch.ao INT8 top-1 |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        for (String name : new String[] {"cnn", "resnet"}) {
            Path fp32File = Fixtures.model(name);
            OnnxModel fp32 = OnnxModel.load(fp32File);
            CalibrationTable table = Quantizer.builder().setModel(fp32)
                    .setCalibrationData(Fixtures.images(fp32, "calib")).build().calibrate();
            double torch = fixtures.path("models").path(name).path("torchao_int8").path("int8_top1_test10k")
                    .asDouble();
            for (ActivationType type : ActivationType.values()) {
                for (CalibrationMethod method : CalibrationMethod.values()) {
                    Path int8 = work.resolve(name + "-" + method.id() + ".onnx");
                    Quantizer.builder().setModel(fp32).optTable(table).optActivationType(type)
                            .optCalibration(CalibrationSettings.of(method)).build().quantize().model().save(int8);
                    EvalReport report = Evaluator.builder().setModel(int8).optBaseline(fp32File)
                            .setData(Fixtures.testSet(fp32)).build().evaluate();
                    System.out.printf(Locale.ROOT, "| %s | %s | %s | %.2f%% | %.2f%% | %.2f | %.2f%% | %.2f%% |%n",
                            name, method.id() + (method == CalibrationMethod.PERCENTILE ? " 99.99" : ""),
                            type.name().toLowerCase(Locale.ROOT), 100 * report.top1().fraction(),
                            100 * report.baseline().top1().fraction(), report.baseline().dropPoints(),
                            100 * report.baseline().agreement().fraction(), 100 * torch);
                    Files.delete(int8);
                }
            }
        }
        Files.delete(work);
    }

    private static void subset(int samples) throws IOException {
        Path work = Files.createTempDirectory("calibration-harness");
        System.out.printf(Locale.ROOT, "calibration: %d of the 60,000 training images; INT8 (uint8) top-1 on the 10,000"
                + " test images%n", samples);
        System.out.println("| model | calibrator | histograms from all samples | from "
                + CalibrationBuilder.DEFAULT_HISTOGRAM_SAMPLES + " samples | fp32 |");
        System.out.println("|---|---|---|---|---|");
        for (String name : new String[] {"cnn", "resnet"}) {
            Path fp32File = Fixtures.model(name);
            OnnxModel fp32 = OnnxModel.load(fp32File);
            Dataset train = Fixtures.trainSet(fp32);
            CalibrationTable all = Quantizer.builder().setModel(fp32).setCalibrationData(train)
                    .optMaxSamples(samples).optHistogramSamples(0).build().calibrate();
            CalibrationTable subset = Quantizer.builder().setModel(fp32).setCalibrationData(train)
                    .optMaxSamples(samples).build().calibrate();
            for (CalibrationMethod method : CalibrationMethod.values()) {
                if (!method.needsHistogram()) {
                    continue;
                }
                double[] top1 = new double[2];
                double fp32Top1 = 0;
                CalibrationTable[] tables = {all, subset};
                for (int i = 0; i < 2; i++) {
                    Path int8 = work.resolve(name + "-" + method.id() + "-" + i + ".onnx");
                    Quantizer.builder().setModel(fp32).optTable(tables[i])
                            .optCalibration(CalibrationSettings.of(method)).build().quantize().model().save(int8);
                    EvalReport report = Evaluator.builder().setModel(int8).optBaseline(fp32File)
                            .setData(Fixtures.testSet(fp32)).build().evaluate();
                    top1[i] = report.top1().fraction();
                    fp32Top1 = report.baseline().top1().fraction();
                    Files.delete(int8);
                }
                System.out.printf(Locale.ROOT, "| %s | %s | %.2f%% | %.2f%% | %.2f%% |%n", name, method.id(),
                        100 * top1[0], 100 * top1[1], 100 * fp32Top1);
            }
        }
        Files.delete(work);
    }
}
