package dev.compress.benchmarks;

import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.Quantizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Measures what docs/benchmarks.md reports besides latency: quantize wall time, file sizes, and fp32 vs INT8 accuracy
 * and agreement on all 10,000 Fashion-MNIST test images. Prints one Markdown table row per model.
 *
 * <p>Run: {@code java -cp 'benchmarks/target/classes:benchmarks/target/lib/*' dev.compress.benchmarks.AccuracyHarness
 * [runs]}
 */
public final class AccuracyHarness {
    private AccuracyHarness() {}

    public static void main(String[] args) throws IOException {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Path work = Files.createTempDirectory("harness");
        System.out.println("| model | fp32 size | int8 size | ratio | quantize cold (s) | quantize warm median (s)"
                + " | fp32 top-1 | int8 top-1 | drop (pts) | agreement | McNemar p |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|");
        for (String name : new String[] {"cnn", "resnet"}) {
            Path fp32File = Fixtures.model(name);
            Path int8File = work.resolve(name + "-int8.onnx");
            double[] seconds = new double[runs];
            for (int r = 0; r < runs; r++) {
                long start = System.nanoTime();
                OnnxModel fp32 = OnnxModel.load(fp32File);
                Quantizer.builder().setModel(fp32).setCalibrationData(Fixtures.images(fp32, "calib")).build()
                        .quantize().model().save(int8File);
                seconds[r] = (System.nanoTime() - start) / 1e9;
            }
            double cold = seconds[0];
            double[] warm = Arrays.copyOfRange(seconds, Math.min(1, runs - 1), runs);
            Arrays.sort(warm);
            OnnxModel fp32 = OnnxModel.load(fp32File);
            EvalReport report = Evaluator.builder()
                    .setModel(int8File)
                    .optBaseline(fp32File)
                    .setData(Fixtures.testSet(fp32))
                    .build()
                    .evaluate();
            long fp32Size = Files.size(fp32File);
            long int8Size = Files.size(int8File);
            System.out.println(String.format(Locale.ROOT,
                    "| %s | %d | %d | %.3f | %.2f | %.2f | %.2f%% | %.2f%% | %.2f | %.2f%% | %.3g |",
                    name, fp32Size, int8Size, (double) int8Size / fp32Size, cold, warm[warm.length / 2],
                    100 * report.baseline().top1().fraction(), 100 * report.top1().fraction(),
                    report.baseline().dropPoints(), 100 * report.baseline().agreement().fraction(),
                    report.baseline().mcnemar().pValue()));
            Files.delete(int8File);
        }
        Files.delete(work);
    }
}
