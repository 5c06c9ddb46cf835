package dev.compress.benchmarks;

import dev.compress.Progress;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.debug.ExclusionSensitivity;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.RuntimeOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What docs/scoring.md reports on {@code --exclude}: the ResNet fixture quantized (minmax, 500 calibration images)
 * with no layer and with each Conv/Gemm excluded in turn, each scored on the 2000 held-out images against fp32: output
 * SQNR and top-1 agreement, for every ONNX Runtime optimization level that is asked for (NONE, BASIC, EXTENDED, ALL).
 * Ranges come from one calibration table, and the scoring is {@link ExclusionSensitivity#compare}, what
 * {@code compress debug --sensitivity} runs.
 *
 * <p>Run (after {@code mvn -B -q -DskipTests package}):
 * {@code java -cp 'benchmarks/target/classes:benchmarks/target/lib/*' dev.compress.benchmarks.ExclusionHarness
 * [levels, default ALL]}, e.g. {@code NONE,ALL}.
 */
public final class ExclusionHarness {
    private ExclusionHarness() {}

    public static void main(String[] args) {
        List<RuntimeOptions.Optimization> levels = new ArrayList<>();
        for (String level : (args.length > 0 ? args[0] : "ALL").split(",")) {
            levels.add(RuntimeOptions.Optimization.valueOf(level.strip().toUpperCase(Locale.ROOT)));
        }
        OnnxModel fp32 = OnnxModel.load(Fixtures.model("resnet"));
        List<String> layers = new ArrayList<>();
        layers.add("");
        fp32.graph().nodes().stream().filter(n -> n.opType().equals("Conv") || n.opType().equals("Gemm"))
                .forEach(n -> layers.add(n.name()));
        // one calibration pass; every exclusion re-uses its table, as the debugger's sensitivity ranking does
        CalibrationTable table = Quantizer.builder().setModel(fp32).setCalibrationData(Fixtures.images(fp32, "calib"))
                .optReusableTable(true).build().calibrate();
        List<OnnxModel> models = new ArrayList<>();
        for (String layer : layers) {
            models.add(Quantizer.builder().setModel(fp32).optTable(table)
                    .optExclude(layer.isEmpty() ? List.of() : List.of(layer)).build().quantize().model());
        }
        System.out.printf(Locale.ROOT, "| excluded | level | output SQNR dB | top-1 agreement |%n|---|---|---|---|%n");
        for (RuntimeOptions.Optimization level : levels) {
            List<ExclusionSensitivity.OutputComparison> scores = ExclusionSensitivity.compare(fp32, models,
                    Fixtures.images(fp32, "heldout"), RuntimeOptions.defaults().withOptimization(level), 100,
                    Progress.NONE);
            for (int i = 0; i < layers.size(); i++) {
                ExclusionSensitivity.OutputComparison score = scores.get(i);
                System.out.printf(Locale.ROOT, "| %s | %s | %.2f | %d / %d |%n",
                        layers.get(i).isEmpty() ? "none" : "`" + layers.get(i) + "`", level, score.sqnrDb(),
                        score.top1Agreement(), score.samples());
            }
        }
    }
}
