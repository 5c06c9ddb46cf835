package dev.compress.benchmarks;

import dev.compress.data.Dataset;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.QuantizationReport;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Cross-layer equalization and bias correction (issue 12), each alone and both, against neither, with otherwise
 * default static quantization. Prints Markdown to stdout, progress to stderr.
 *
 * <ul>
 *   <li>{@code families [DIR]}: the trained op-family fixtures, calibrated on the 500 shipped PNGs; top-1 on the
 *       10,000 Fashion-MNIST test images and agreement with fp32 ({@link CalibratorsHarness}'s measure).
 *   <li>{@code zoo MODELS CALIB HELDOUT [NAME,...]}: torchvision exports; output SQNR and top-1 agreement with fp32
 *       on the held-apart images ({@link ZooHarness#fidelity}).
 *   <li>{@code ocr ASSETS DATA}: PP-OCRv4 rec; CTC strings equal to fp32's ({@link OcrHarness#rec}).
 * </ul>
 *
 * <p>Run from the repository root: {@code DJL_OFFLINE=true OPT_OUT_TRACKING=true LC_ALL=C.UTF-8 java -cp
 * 'benchmarks/target/classes:benchmarks/target/lib/*' dev.compress.benchmarks.DataFreeHarness families}
 */
public final class DataFreeHarness {
    /**
     * {equalize, bias correction} per variant, in table order: all four, or those {@code -Dvariants=00,11} names
     * (1 = on; equalization first).
     */
    private static final boolean[][] VARIANTS = java.util.Arrays.stream(
                    System.getProperty("variants", "00,10,01,11").split(","))
            .map(v -> new boolean[] {v.charAt(0) == '1', v.charAt(1) == '1'}).toArray(boolean[][]::new);

    private DataFreeHarness() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: DataFreeHarness families [DIR] | zoo MODELS CALIB HELDOUT [NAME,...]"
                    + " | ocr ASSETS DATA");
            System.exit(2);
        }
        Path work = Files.createTempDirectory("datafree");
        Path int8 = work.resolve("int8.onnx");
        switch (args[0]) {
            case "families" -> {
                Path folder = args.length > 1 ? Path.of(args[1])
                        : Fixtures.repoRoot().resolve("calibration-data/models/families");
                System.out.println("| model | fp32 top-1 | CLE | BC | INT8 top-1 | drop (pts) | agreement | pairs"
                        + " equalized | layers corrected |");
                System.out.println("|---|---|---|---|---|---|---|---|---|");
                try (var files = Files.list(folder)) {
                    for (Path file : files.filter(f -> f.toString().endsWith("-fp32.onnx")).sorted().toList()) {
                        OnnxModel fp32 = OnnxModel.load(file);
                        for (boolean[] v : VARIANTS) {
                            QuantizationReport report = quantize(fp32, Fixtures.images(fp32, "calib"), v, int8);
                            EvalReport eval = Evaluator.builder().setModel(int8).optBaseline(file)
                                    .setData(Fixtures.testSet(fp32)).build().evaluate();
                            System.out.printf(Locale.ROOT, "| %s | %.2f%% | %s | %s | %.2f%% | %.2f | %.2f%% | %s |%n",
                                    name(file), 100 * eval.baseline().top1().fraction(), onOff(v[0]), onOff(v[1]),
                                    100 * eval.top1().fraction(), eval.baseline().dropPoints(),
                                    100 * eval.baseline().agreement().fraction(), counts(report));
                        }
                    }
                }
            }
            case "zoo" -> {
                Path calib = Path.of(args[2]);
                Path heldout = Path.of(args[3]);
                List<String> only = args.length > 4 ? List.of(args[4].split(",")) : List.of();
                System.out.println("| model | CLE | BC | SQNR dB | top-1 agreement | pairs equalized | layers corrected |");
                System.out.println("|---|---|---|---|---|---|---|");
                try (var files = Files.list(Path.of(args[1]))) {
                    for (Path file : files.filter(f -> f.toString().endsWith(".onnx")).sorted().toList()) {
                        if (!only.isEmpty() && !only.contains(name(file))) {
                            continue;
                        }
                        OnnxModel fp32 = OnnxModel.load(file);
                        for (boolean[] v : VARIANTS) {
                            QuantizationReport report = quantize(fp32, Fixtures.images(fp32, calib), v, int8);
                            double[] fidelity = ZooHarness.fidelity(file, int8, Fixtures.images(fp32, heldout), 8);
                            System.out.printf(Locale.ROOT, "| %s | %s | %s | %.2f | %.0f%% | %s |%n", name(file),
                                    onOff(v[0]), onOff(v[1]), fidelity[0], 100 * fidelity[1], counts(report));
                        }
                    }
                }
            }
            case "ocr" -> {
                Path assets = Path.of(args[1]);
                Path data = Path.of(args[2]).resolve("rec");
                OcrHarness.Task task = OcrHarness.Task.REC;
                Path file = assets.resolve(task.file);
                List<String> keys = Files.readAllLines(assets.resolve("ppocr_keys_v1.txt"), StandardCharsets.UTF_8);
                OnnxModel fp32 = OnnxModel.load(file);
                Dataset calib = Fixtures.images(fp32, data.resolve("calib"), task.preprocessing);
                Dataset eval = Fixtures.images(fp32, data.resolve("eval"), task.preprocessing);
                System.out.println("| model | CLE | BC | fidelity | pairs equalized | layers corrected |");
                System.out.println("|---|---|---|---|---|---|");
                for (boolean[] v : VARIANTS) {
                    QuantizationReport report = quantize(fp32, calib, v, int8);
                    System.out.printf(Locale.ROOT, "| rec static | %s | %s | %s | %s |%n", onOff(v[0]), onOff(v[1]),
                            OcrHarness.rec(file, int8, eval, keys, data.resolve("eval/truth.tsv")), counts(report));
                }
            }
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
        Files.deleteIfExists(int8);
        Files.delete(work);
    }

    private static QuantizationReport quantize(OnnxModel fp32, Dataset calib, boolean[] variant, Path out) {
        long start = System.nanoTime();
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(calib)
                .optEqualize(variant[0]).optBiasCorrection(variant[1]).build().quantize();
        result.model().save(out);
        System.err.printf(Locale.ROOT, "  %s CLE %s BC %s: quantized in %.1f s%n", fp32.displayName(),
                onOff(variant[0]), onOff(variant[1]), (System.nanoTime() - start) / 1e9);
        return result.report();
    }

    private static String counts(QuantizationReport report) {
        return (report.equalization() == null ? "–" : report.equalization().pairs().size() + " (skipped "
                + report.equalization().skipped().size() + ")") + " | "
                + (report.biasCorrection() == null ? "–" : String.valueOf(report.biasCorrection().layers().size()));
    }

    private static String name(Path file) {
        return file.getFileName().toString().replace("-fp32.onnx", "").replace(".onnx", "");
    }

    private static String onOff(boolean on) {
        return on ? "on" : "off";
    }
}
