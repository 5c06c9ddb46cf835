package dev.compress.benchmarks;

import dev.compress.calibrate.CalibrationMethod;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.DynamicFormat;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The figures of docs/transformers.md: all-MiniLM-L6-v2 in fp32, ONNX Runtime's quantize_dynamic artifact, and
 * compress's dynamic (three formats) and static INT8, compared on size, cosine similarity of mean-pooled sentence
 * embeddings to fp32 over the evaluation sentences ({@link Sentences}), and latency at batch 1 and 8.
 *
 * <p>Latency: one ONNX Runtime session per model (all optimizations, {@code threads} intra-op threads), calls
 * interleaved between models in rounds so machine load hits all alike; the median call time per model.
 *
 * <p>Run: {@code DJL_OFFLINE=true OPT_OUT_TRACKING=true java -cp 'benchmarks/target/classes:benchmarks/target/lib/*'
 * dev.compress.benchmarks.TransformerHarness [rounds] [threads]}
 */
public final class TransformerHarness {
    private TransformerHarness() {}

    public static void main(String[] args) throws IOException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        Path work = Files.createTempDirectory("minilm");
        Path dir = MiniLm.extract(work.resolve("model"));
        Path fp32File = dir.resolve(MiniLm.FP32);
        List<String> sentences = Sentences.evaluation();
        Dataset eval = MiniLm.tokens(dir, sentences, work);
        Dataset calibration = MiniLm.tokens(dir, Sentences.calibration(), work);

        Map<String, Path> models = new LinkedHashMap<>();
        models.put("fp32", fp32File);
        models.put("ORT quantize_dynamic (-q jar)", dir.resolve(MiniLm.ORT_QUANTIZED));
        for (DynamicFormat format : DynamicFormat.values()) {
            Path out = work.resolve("dynamic-" + format.cliName() + ".onnx");
            Quantizer.builder().setModel(OnnxModel.load(fp32File)).optDynamic(format).build().quantize()
                    .model().save(out);
            models.put("compress dynamic, " + format.cliName(), out);
        }
        List<String> ffnDown = MiniLm.ffnDownMatMuls(OnnxModel.load(fp32File));
        Map<String, Quantizer.Builder> statics = new LinkedHashMap<>();
        statics.put("compress static, all ops", Quantizer.builder().optEncoderDefaults(false));
        statics.put("compress static, --ops MatMul", Quantizer.builder().optOpTypes(List.of("MatMul")));
        statics.put("compress static, --ops MatMul, FFN-down MatMuls float",
                Quantizer.builder().optOpTypes(List.of("MatMul")).optExclude(ffnDown));
        statics.put("compress static, --upgrade-opset", Quantizer.builder().optUpgradeOpset(true));
        statics.put("compress static, --ops MatMul --upgrade-opset",
                Quantizer.builder().optOpTypes(List.of("MatMul")).optUpgradeOpset(true));
        statics.put("compress static, --ops MatMul --upgrade-opset --weight-only FFN-down",
                Quantizer.builder().optOpTypes(List.of("MatMul")).optUpgradeOpset(true).optWeightOnly(ffnDown));
        int k = 0;
        for (Map.Entry<String, Quantizer.Builder> variant : statics.entrySet()) {
            Path out = work.resolve("static-" + k++ + ".onnx");
            QuantizationResult result = variant.getValue().setModel(OnnxModel.load(fp32File))
                    .setCalibrationData(calibration).optBatchSize(16).build().quantize();
            result.model().save(out);
            models.put(variant.getKey(), out);
            System.err.println(variant.getKey() + ": " + result.report().summary());
        }

        List<float[]> reference = MiniLm.embed(fp32File, eval, 16);
        Map<String, double[]> cosines = new LinkedHashMap<>();
        for (Map.Entry<String, Path> model : models.entrySet()) {
            cosines.put(model.getKey(), MiniLm.cosines(reference, MiniLm.embed(model.getValue(), eval, 16)));
        }
        Map<String, double[]> methods = methods(fp32File, calibration, eval, reference, ffnDown, work);
        Map<String, double[]> latency = rounds > 0 ? latency(models, eval, rounds, threads) : Map.of();

        long fp32Size = Files.size(fp32File);
        System.out.println("Sentences: " + sentences.size() + " (evaluation), calibration " + calibration.size()
                + "; latency: " + rounds + " rounds, " + threads + " intra-op thread(s)");
        System.out.println("| model | size (bytes) | / fp32 | mean cosine | min cosine | batch 1 p50 (ms)"
                + " | batch 8 p50 (ms) |");
        System.out.println("|---|---|---|---|---|---|---|");
        for (Map.Entry<String, Path> model : models.entrySet()) {
            long size = Files.size(model.getValue());
            double[] c = cosines.get(model.getKey());
            double[] ms = latency.getOrDefault(model.getKey(), new double[] {Double.NaN, Double.NaN});
            System.out.println(String.format(Locale.ROOT, "| %s | %,d | %.3f | %.4f | %.4f | %.2f | %.2f |",
                    model.getKey(), size, (double) size / fp32Size, c[0], c[1], ms[0], ms[1]));
        }
        System.out.println();
        System.out.println("Static INT8 by calibration method (one calibration table, " + calibration.size()
                + " sentences; uint8 activations; --ops MatMul --upgrade-opset unless stated)");
        System.out.println("| method | variant | size (bytes) | / fp32 | mean cosine | min cosine |");
        System.out.println("|---|---|---|---|---|---|");
        methods.forEach((name, row) -> System.out.println(String.format(Locale.ROOT,
                "| %s | %,d | %.3f | %.4f | %.4f |", name, (long) row[2], row[2] / fp32Size, row[0], row[1])));
    }

    /**
     * Static INT8 under each calibration method, from one calibration table collected once with histograms (as
     * {@code --save-table} / {@code --table} do): {mean cosine, min cosine, size} per "method | variant".
     */
    private static Map<String, double[]> methods(Path fp32File, Dataset calibration, Dataset eval,
            List<float[]> reference, List<String> ffnDown, Path work) throws IOException {
        CalibrationTable table = Quantizer.builder().setModel(OnnxModel.load(fp32File))
                .setCalibrationData(calibration).optBatchSize(16).build().calibrate();
        Map<String, CalibrationSettings> settings = new LinkedHashMap<>();
        settings.put("minmax", CalibrationSettings.of(CalibrationMethod.MINMAX));
        for (double p : new double[] {99.9, 99.99, 99.999}) {
            settings.put(String.format(Locale.ROOT, "percentile %s", p),
                    CalibrationSettings.of(CalibrationMethod.PERCENTILE).withPercentile(p));
        }
        settings.put("entropy", CalibrationSettings.of(CalibrationMethod.ENTROPY));
        settings.put("mse", CalibrationSettings.of(CalibrationMethod.MSE));
        Map<String, CalibrationMethod> softmaxOutputs = new LinkedHashMap<>();
        OnnxModel.load(fp32File).graph().nodes().stream().filter(n -> n.opType().equals("Softmax"))
                .forEach(n -> softmaxOutputs.put(n.output(0), CalibrationMethod.MINMAX));
        Map<String, double[]> rows = new LinkedHashMap<>();
        int k = 0;
        for (Map.Entry<String, CalibrationSettings> method : settings.entrySet()) {
            Map<String, Quantizer.Builder> variants = new LinkedHashMap<>();
            variants.put("all ops", Quantizer.builder().optEncoderDefaults(false));
            variants.put("--ops MatMul", Quantizer.builder().optOpTypes(List.of("MatMul")).optUpgradeOpset(true));
            variants.put("--ops MatMul --weight-only FFN-down", Quantizer.builder().optOpTypes(List.of("MatMul"))
                    .optUpgradeOpset(true).optWeightOnly(ffnDown));
            // attention probabilities near 1 are rare but matter: the same with the Softmax outputs at minmax
            variants.put("--ops MatMul, Softmax outputs minmax", Quantizer.builder().optOpTypes(List.of("MatMul"))
                    .optUpgradeOpset(true));
            for (Map.Entry<String, Quantizer.Builder> variant : variants.entrySet()) {
                Path out = work.resolve("method-" + k++ + ".onnx");
                CalibrationSettings chosen = variant.getKey().contains("Softmax")
                        ? method.getValue().withPerTensor(softmaxOutputs) : method.getValue();
                QuantizationResult result = variant.getValue().setModel(OnnxModel.load(fp32File)).optTable(table)
                        .optCalibration(chosen).build().quantize();
                result.model().save(out);
                double[] c = MiniLm.cosines(reference, MiniLm.embed(out, eval, 16));
                String name = method.getKey() + " | " + variant.getKey();
                rows.put(name, new double[] {c[0], c[1], Files.size(out)});
                System.err.println(String.format(Locale.ROOT, "%s: mean cosine %.4f, min %.4f", name, c[0], c[1]));
            }
        }
        return rows;
    }

    /** Median milliseconds per call at batch 1 and batch 8, for each model. */
    private static Map<String, double[]> latency(Map<String, Path> models, Dataset data, int rounds, int threads) {
        Batch one = data.batches(1).next();
        Batch eight = data.batches(8).next();
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(threads);
        Map<String, OrtModel> sessions = new LinkedHashMap<>();
        Map<String, List<Double>> times1 = new LinkedHashMap<>();
        Map<String, List<Double>> times8 = new LinkedHashMap<>();
        try {
            models.forEach((name, file) -> {
                OrtModel session = OrtModel.open(file, options);
                sessions.put(name, session);
                for (int i = 0; i < 10; i++) { // warm-up
                    session.run(one);
                    session.run(eight);
                }
                times1.put(name, new ArrayList<>());
                times8.put(name, new ArrayList<>());
            });
            for (int r = 0; r < rounds; r++) {
                for (Map.Entry<String, OrtModel> session : sessions.entrySet()) {
                    for (int i = 0; i < 20; i++) {
                        times1.get(session.getKey()).add(time(session.getValue(), one));
                    }
                    for (int i = 0; i < 5; i++) {
                        times8.get(session.getKey()).add(time(session.getValue(), eight));
                    }
                }
            }
        } finally {
            sessions.values().forEach(OrtModel::close);
        }
        Map<String, double[]> medians = new LinkedHashMap<>();
        for (String name : models.keySet()) {
            medians.put(name, new double[] {median(times1.get(name)), median(times8.get(name))});
        }
        return medians;
    }

    private static double time(OrtModel session, Batch batch) {
        long start = System.nanoTime();
        session.run(batch);
        return (System.nanoTime() - start) / 1e6;
    }

    private static double median(List<Double> values) {
        double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return sorted.length == 0 ? Double.NaN : sorted[sorted.length / 2];
    }

}
