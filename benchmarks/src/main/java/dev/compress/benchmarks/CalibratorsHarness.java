package dev.compress.benchmarks;

import dev.compress.calibrate.CalibrationMethod;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.Quantizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Every calibrator on the trained op-family fixtures (issue 12: each within 0.5 points of fp32 top-1): one table
 * calibrated on the 500 shipped PNGs, then INT8 by each method from it, top-1 on all 10,000 Fashion-MNIST test images
 * (Debian's dataset-fashion-mnist) against fp32, paired.
 *
 * <pre>{@code
 * java -cp 'benchmarks/target/classes:benchmarks/target/lib/*' dev.compress.benchmarks.CalibratorsHarness [DIR]
 * }</pre>
 */
public final class CalibratorsHarness {
    private CalibratorsHarness() {}

    public static void main(String[] args) throws Exception {
        Path folder = args.length > 0 ? Path.of(args[0])
                : Fixtures.repoRoot().resolve("calibration-data/models/families");
        Path work = Files.createTempDirectory("calibrators");
        System.out.println("| model | fp32 top-1 | method | INT8 top-1 | drop (pts) | agreement |");
        System.out.println("|---|---|---|---|---|---|");
        try (var files = Files.list(folder)) {
            for (Path file : files.filter(f -> f.toString().endsWith("-fp32.onnx")).sorted().toList()) {
                String name = file.getFileName().toString().replace("-fp32.onnx", "");
                OnnxModel fp32 = OnnxModel.load(file);
                CalibrationTable table = Quantizer.builder().setModel(fp32)
                        .setCalibrationData(Fixtures.images(fp32, "calib")).optReusableTable(true).build()
                        .calibrate();
                for (CalibrationMethod method : CalibrationMethod.values()) {
                    Path int8 = work.resolve(name + "-" + method.id() + ".onnx");
                    Quantizer.builder().setModel(fp32).optTable(table).optCalibration(CalibrationSettings.of(method))
                            .build().quantize().model().save(int8);
                    EvalReport report = Evaluator.builder().setModel(int8).optBaseline(file)
                            .setData(Fixtures.testSet(fp32)).build().evaluate();
                    System.out.printf(Locale.ROOT, "| %s | %.2f%% | %s | %.2f%% | %.2f | %.2f%% |%n", name,
                            100 * report.baseline().top1().fraction(), method.id(), 100 * report.top1().fraction(),
                            report.baseline().dropPoints(), 100 * report.baseline().agreement().fraction());
                    Files.delete(int8);
                }
            }
        }
        Files.delete(work);
    }
}
