package dev.compress.benchmarks;

import dev.compress.data.Batch;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * What docs/scoring.md reports on {@code --exclude}: the ResNet fixture quantized (minmax, 500 calibration images)
 * with no layer and with each Conv/Gemm excluded in turn, each scored on the 2000 held-out images against fp32: output
 * SQNR and top-1 agreement, for every ONNX Runtime optimization level that is asked for (NONE, BASIC, EXTENDED, ALL).
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
        fp32.graph().nodes().stream().filter(n -> n.getOpType().equals("Conv") || n.getOpType().equals("Gemm"))
                .forEach(n -> layers.add(n.getName()));
        System.out.printf(Locale.ROOT, "| excluded | level | output SQNR dB | top-1 agreement |%n|---|---|---|---|%n");
        for (String layer : layers) {
            OnnxModel int8 = Quantizer.builder().setModel(fp32).setCalibrationData(Fixtures.images(fp32, "calib"))
                    .optExclude(layer.isEmpty() ? List.of() : List.of(layer)).build().quantize().model();
            for (RuntimeOptions.Optimization level : levels) {
                System.out.printf(Locale.ROOT, "| %s | %s | %s%n", layer.isEmpty() ? "none" : "`" + layer + "`",
                        level, score(fp32, int8, level));
            }
        }
    }

    private static String score(OnnxModel fp32, OnnxModel int8, RuntimeOptions.Optimization level) {
        double signal = 0;
        double noise = 0;
        int agree = 0;
        int samples = 0;
        try (OrtModel reference = OrtModel.open(fp32, RuntimeOptions.defaults());
                OrtModel quantized = OrtModel.open(int8, RuntimeOptions.defaults().withOptimization(level))) {
            Iterator<Batch> batches = Fixtures.images(fp32, "heldout").batches(100);
            while (batches.hasNext()) {
                Batch batch = batches.next();
                OrtModel.FloatOutput x = reference.run(batch).values().iterator().next();
                float[] xs = x.values();
                float[] ys = quantized.run(batch).values().iterator().next().values();
                for (int i = 0; i < xs.length; i++) {
                    signal += (double) xs[i] * xs[i];
                    noise += ((double) xs[i] - ys[i]) * ((double) xs[i] - ys[i]);
                }
                int classes = (int) x.shape()[1];
                for (int r = 0; r < batch.size(); r++) {
                    if (argmax(xs, r * classes, classes) == argmax(ys, r * classes, classes)) {
                        agree++;
                    }
                    samples++;
                }
            }
        }
        return String.format(Locale.ROOT, "%.2f | %d / %d |", 10 * Math.log10(signal / noise), agree, samples);
    }

    private static int argmax(float[] values, int offset, int length) {
        int best = 0;
        for (int i = 1; i < length; i++) {
            if (values[offset + i] > values[offset + best]) {
                best = i;
            }
        }
        return best;
    }
}
