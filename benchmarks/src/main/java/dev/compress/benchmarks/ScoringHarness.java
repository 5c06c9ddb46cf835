package dev.compress.benchmarks;

import ai.djl.engine.Engine;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.score.Scorer;
import dev.compress.torch.TorchScriptModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * What docs/benchmarks.md reports for teacher checkpoints and scoring: DJL PyTorch engine start (in fresh JVMs, with
 * an empty and with a filled DJL cache folder), model load time, raw inference throughput of the ResNet as TorchScript
 * (DJL/libtorch) and as ONNX (ONNX Runtime), and {@code compress score} throughput with either as the teacher.
 *
 * <p>Run (after {@code mvn -B -q -DskipTests package}):
 * {@code DJL_OFFLINE=true OPT_OUT_TRACKING=true java -cp 'benchmarks/target/classes:benchmarks/target/lib/*'
 * dev.compress.benchmarks.ScoringHarness [runs]}
 */
public final class ScoringHarness {
    private static final int BATCH = 32;

    private ScoringHarness() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("--engine-start")) {
            engineStart(Path.of(args[1]));
            return;
        }
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        engineStarts(runs);
        loads(runs);
        inference(runs);
        scoring(runs);
    }

    /** In a fresh JVM: the first engine start, then the first TorchScript and ONNX loads. */
    private static void engineStart(Path cache) {
        long t0 = System.nanoTime();
        Engine.getEngine("PyTorch");
        long t1 = System.nanoTime();
        try (TorchScriptModel ignored = TorchScriptModel.load(teacherPt())) {
            long t2 = System.nanoTime();
            try (OrtModel ignored2 = OrtModel.open(Fixtures.model("resnet"), RuntimeOptions.defaults())) {
                long t3 = System.nanoTime();
                System.out.printf(Locale.ROOT, "%.1f %.1f %.1f%n", ms(t1 - t0), ms(t2 - t1), ms(t3 - t2));
            }
        }
    }

    private static void engineStarts(int runs) throws IOException, InterruptedException {
        Path cache = Files.createTempDirectory("djl-cache");
        List<double[]> warm = new ArrayList<>();
        double[] cold = null;
        for (int r = 0; r <= runs; r++) {
            double[] times = child(cache);
            if (r == 0) {
                cold = times;
            } else {
                warm.add(times);
            }
        }
        System.out.println("| first start in a fresh JVM | DJL PyTorch engine | first .pt load (ResNet) |"
                + " first ONNX Runtime session (ResNet, incl. environment) |");
        System.out.println("|---|---|---|---|");
        System.out.printf(Locale.ROOT, "| empty DJL cache (unpacks libtorch), 1 run | %.0f ms | %.0f ms | %.0f ms |%n",
                cold[0], cold[1], cold[2]);
        System.out.printf(Locale.ROOT, "| filled DJL cache, median of %d | %.0f ms | %.0f ms | %.0f ms |%n", runs,
                median(warm, 0), median(warm, 1), median(warm, 2));
        System.out.println();
        try (Stream<Path> files = Files.walk(cache)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private static double[] child(Path cache) throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> command = List.of(java.toString(), "-Dai.djl.offline=true",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
                "-cp", System.getProperty("java.class.path"),
                ScoringHarness.class.getName(), "--engine-start", cache.toString());
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
        builder.environment().put("DJL_OFFLINE", "true");
        builder.environment().put("OPT_OUT_TRACKING", "true");
        builder.environment().put("DJL_CACHE_DIR", cache.toString());
        Process process = builder.start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (process.waitFor() != 0) {
            throw new IllegalStateException("engine start child failed: " + out);
        }
        return Arrays.stream(out.split(" ")).mapToDouble(Double::parseDouble).toArray();
    }

    private static void loads(int runs) {
        double[] pt = new double[runs];
        double[] onnx = new double[runs];
        TorchScriptModel.load(teacherPt()).close(); // engine started before timing loads
        for (int r = 0; r < runs; r++) {
            long t0 = System.nanoTime();
            TorchScriptModel.load(teacherPt()).close();
            long t1 = System.nanoTime();
            OrtModel.open(Fixtures.model("resnet"), RuntimeOptions.defaults()).close();
            long t2 = System.nanoTime();
            pt[r] = ms(t1 - t0);
            onnx[r] = ms(t2 - t1);
        }
        System.out.printf(Locale.ROOT, "| model load, warm JVM, median of %d | ResNet TorchScript (DJL) %.1f ms |"
                + " ResNet ONNX (ORT session) %.1f ms |%n%n", runs, median(pt), median(onnx));
    }

    /** Teacher inference alone on decoded, preprocessed batches held in memory. */
    private static void inference(int runs) {
        OnnxModel onnx = OnnxModel.load(Fixtures.model("resnet"));
        List<Batch> batches = new ArrayList<>();
        Iterator<Batch> it = heldout().batches(BATCH);
        it.forEachRemaining(batches::add);
        int samples = batches.stream().mapToInt(Batch::size).sum();
        try (TorchScriptModel pt = TorchScriptModel.load(teacherPt());
                OrtModel ort = OrtModel.open(onnx, RuntimeOptions.defaults())) {
            double ptRate = rate(runs, samples, () -> batches.forEach(pt::run));
            double ortRate = rate(runs, samples, () -> batches.forEach(ort::run));
            System.out.println("| ResNet inference only, " + samples + " held-out images in batches of " + BATCH
                    + " | samples/s (median of " + runs + " passes after one warm-up) |");
            System.out.println("|---|---|");
            System.out.printf(Locale.ROOT, "| TorchScript through DJL (libtorch 2.7.1) | %.0f |%n", ptRate);
            System.out.printf(Locale.ROOT, "| ONNX through ONNX Runtime 1.29.0 | %.0f |%n%n", ortRate);
        }
    }

    /** The whole score job: PNG decoding and preprocessing, teacher, student (CNN, ONNX) and statistics. */
    private static void scoring(int runs) {
        Dataset data = heldout();
        System.out.println("| compress score, student cnn-fp32.onnx, " + data.size() + " held-out images |"
                + " samples/s (median of " + runs + " after one warm-up) |");
        System.out.println("|---|---|");
        for (Path teacher : new Path[] {teacherPt(), Fixtures.model("resnet")}) {
            Scorer scorer = Scorer.builder().setTeacher(teacher).setStudent(Fixtures.model("cnn")).setData(data)
                    .optTemperatures(1, 4).build();
            double rate = rate(runs, data.size(), scorer::score);
            System.out.printf(Locale.ROOT, "| teacher %s | %.0f |%n", teacher.getFileName(), rate);
        }
    }

    private static double rate(int runs, int samples, Runnable pass) {
        pass.run();
        double[] seconds = new double[runs];
        for (int r = 0; r < runs; r++) {
            long t0 = System.nanoTime();
            pass.run();
            seconds[r] = (System.nanoTime() - t0) / 1e9;
        }
        return samples / median(seconds);
    }

    private static Dataset heldout() {
        return Fixtures.images(OnnxModel.load(Fixtures.model("cnn")), "heldout");
    }

    private static Path teacherPt() {
        return Fixtures.repoRoot().resolve("calibration-data/models/resnet-fp32.pt");
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static double median(List<double[]> rows, int column) {
        return median(rows.stream().mapToDouble(r -> r[column]).toArray());
    }
}
