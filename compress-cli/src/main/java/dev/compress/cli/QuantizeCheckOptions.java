package dev.compress.cli;

import dev.compress.calibrate.CalibrationBuilder;
import dev.compress.check.FidelityCheck;
import dev.compress.check.FidelityReport;
import dev.compress.check.LatencyCheck;
import dev.compress.check.LatencyReport;
import dev.compress.data.DataSources;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.QuantizationReport;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The checks run on every quantization result: fidelity against the fp32 model (warning below a threshold, exit 4
 * below {@code --min-fidelity}) and the INT8 / fp32 latency (warning when INT8 is slower). Both run on the
 * calibration data, else on the --eval data; without samples they are skipped with a note.
 */
final class QuantizeCheckOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    private Double minFidelity;
    private double warnBelow = FidelityCheck.DEFAULT_WARN_BELOW;
    private double latencySeconds;

    @Option(names = "--no-latency-check", order = 23,
            description = "Do not time the INT8 model against the fp32 model after quantizing (a few seconds).")
    boolean noLatencyCheck;

    @Option(names = "--min-fidelity", paramLabel = "F", order = 22,
            description = "Exit 4 (files are still written) when the fidelity check scores below F in [0, 1]: top-1"
                    + " agreement with the fp32 model for class scores, mean output cosine otherwise.")
    void setMinFidelity(double value) {
        minFidelity = Checks.fraction(mixee, "--min-fidelity", value);
    }

    @Option(names = "--fidelity-warning", paramLabel = "F", order = 22,
            description = "Warn (exit 0) when the fidelity check scores below F in [0, 1]. Default: "
                    + FidelityCheck.DEFAULT_WARN_BELOW + ".")
    void setWarnBelow(double value) {
        warnBelow = Checks.fraction(mixee, "--fidelity-warning", value);
    }

    // the default is a system property's when set, so that test suites can keep the check short
    @Option(names = "--latency-seconds", paramLabel = "S", order = 23,
            defaultValue = "${sys:compress.latencySeconds:-" + LatencyCheck.DEFAULT_SECONDS + "}",
            description = "About how long the latency check times both models, in seconds. Default: ${DEFAULT-VALUE}.")
    void setLatencySeconds(double value) {
        latencySeconds = Checks.positive(mixee, "--latency-seconds", value);
    }

    /** {@code --min-fidelity}, or null. */
    Double minFidelity() {
        return minFidelity;
    }

    /** {@code --latency-seconds} or its default. */
    double latencySeconds() {
        return latencySeconds;
    }

    /** The reports of both checks, each null when it did not run. */
    record Outcome(FidelityReport fidelity, LatencyReport latency) {
        boolean failed() {
            return fidelity != null && Boolean.FALSE.equals(fidelity.passed());
        }
    }

    /**
     * The samples checks run on: the calibration data (of which {@code calibrated} samples were used, 0 = all), else
     * held-out evaluation data.
     */
    record Samples(Dataset data, int calibrated, boolean calibratedOn) {}

    /** The calibration data (dynamic quantization calibrates on none of it), else the --eval data, else null. */
    static Samples samples(DataSources.Opened calibration, DataSources.Opened evaluation, boolean dynamic,
            CalibrationBuilder.Sampling sampling) {
        if (calibration != null) {
            return new Samples(calibration.dataset(), dynamic ? 0 : sampling.maxSamples(), !dynamic);
        }
        return evaluation == null ? null : new Samples(evaluation.dataset(), 0, false);
    }

    /** Usage errors found before any work: a minimum that nothing could be measured against. */
    void check(boolean samples) {
        if (minFidelity != null && !samples) {
            throw new ParameterException(mixee.commandLine(),
                    "--min-fidelity needs samples to measure on: --data, or --eval DIR");
        }
    }

    /** Runs the checks of {@code int8} against {@code fp32} and prints their lines on stderr. */
    Outcome run(Samples samples, OnnxModel fp32, OnnxModel int8, QuantizationReport quantization, boolean dynamic,
            int batchSize, int threads, GlobalOptions global) {
        if (samples == null) {
            global.info("note: fidelity and latency not checked: no samples (give --data or --eval)");
            return new Outcome(null, null);
        }
        FidelityCheck.Builder check = FidelityCheck.builder()
                .setFloatModel(fp32)
                .setQuantizedModel(int8)
                .setData(samples.data())
                .optCalibratedSamples(samples.calibrated())
                .optWarnBelow(warnBelow)
                .optMinFidelity(minFidelity)
                .optBatchSize(batchSize)
                .optProgress(global.progress());
        if (!samples.calibratedOn()) {
            check.optNotCalibratedOn();
        }
        FidelityReport fidelity = check.build().run();
        global.info(fidelity.summary());
        if (fidelity.belowThreshold()) {
            global.err().println("warning: " + fidelityWarning(fidelity, quantization, dynamic));
        }
        LatencyReport latency = null;
        if (!noLatencyCheck) {
            latency = LatencyCheck.builder()
                    .setFloatModel(fp32)
                    .setQuantizedModel(int8)
                    .setData(samples.data())
                    .optThreads(threads)
                    .optSeconds(latencySeconds)
                    .optBatchSize(batchSize)
                    .build()
                    .run();
            global.info(latency.summary());
            if (latency.kernels() != null) {
                global.info("latency: " + latency.kernels().summary());
            }
            if (latency.int8Slower()) {
                // static quantization does not enter If/Loop/Scan bodies: only Convs of the main graph would gain
                boolean mainGraphConvs = int8.graph().nodes().stream().anyMatch(n -> n.is("ConvInteger"));
                global.err().println("warning: " + slowerWarning(latency, quantization, dynamic, mainGraphConvs));
            }
        }
        global.err().flush();
        return new Outcome(fidelity, latency);
    }

    private static String fidelityWarning(FidelityReport fidelity, QuantizationReport quantization,
            boolean dynamic) {
        StringBuilder text = new StringBuilder(String.format(Locale.ROOT,
                "the INT8 model is far from the fp32 model: fidelity %.3f is below %s", fidelity.fidelity(),
                fidelity.passed() != null && !fidelity.passed()
                        ? String.format(Locale.ROOT, "--min-fidelity %s", fidelity.minFidelity())
                        : String.format(Locale.ROOT, "%s (--fidelity-warning)", fidelity.warnBelow())));
        List<String> exclude = new ArrayList<>();
        if (fidelity.errorGrowth() != null) {
            // the accumulated ranking names what comes after this point; the remedy is before it
            text.append("; the error grows most at ").append(fidelity.errorGrowth().describe());
            exclude.addAll(fidelity.errorGrowth().exclude());
        }
        if (fidelity.worstLayers() != null && !fidelity.worstLayers().isEmpty()) {
            text.append("; worst layers by SQNR against fp32: ").append(fidelity.worstLayers().stream()
                    .map(l -> String.format(Locale.ROOT, "%s (%s, %s dB)", l.node(), l.opType(),
                            Math.round(l.sqnrDb() * 10) / 10.0)) // not %.1f, which writes -0.0
                    .collect(Collectors.joining(", ")));
            fidelity.worstLayers().stream().filter(FidelityReport.Layer::excludable).map(FidelityReport.Layer::node)
                    .filter(node -> !exclude.contains(node)).forEach(exclude::add);
        } else if (fidelity.layerRanking() != null) {
            text.append("; ").append(fidelity.layerRanking());
        }
        List<String> remedies = new ArrayList<>();
        if (!exclude.isEmpty()) {
            remedies.add("--exclude " + String.join(",", exclude));
        }
        if (!dynamic) {
            remedies.add(quantization.method().equals("minmax") ? "--method percentile or mse"
                    : "another --method (now " + quantization.method() + ")");
            if (!quantization.perChannel()) {
                remedies.add("--upgrade-opset for per-channel weights");
            }
            // dynamic Convs lose more than static ones and run slower: point at the MatMuls only
            boolean convs = quantization.quantizedOps().containsKey("Conv");
            boolean matMuls = quantization.quantizedOps().containsKey("MatMul")
                    || quantization.quantizedOps().containsKey("Gemm");
            remedies.add(convs && matMuls ? "--dynamic --ops MatMul,Gemm,Gather (integer MatMuls, float Convs)"
                    : convs ? "--dynamic (slower than static on CNNs)" : "--dynamic (weights only, for transformers)");
        }
        remedies.add("compress debug for the whole ranking");
        return text.append("; try ").append(String.join(", ", remedies)).toString();
    }

    /** @param mainGraphConvs whether a dynamic model has ConvIntegers outside If/Loop/Scan bodies */
    static String slowerWarning(LatencyReport latency, QuantizationReport quantization, boolean dynamic,
            boolean mainGraphConvs) {
        String slower = String.format(Locale.ROOT, "the INT8 model is slower than the fp32 model here (%.2fx its time);",
                latency.int8OverFp32());
        if (dynamic) {
            // no Q/DQ pairs to move: the cost is quantizing every activation on each call, and ConvInteger's kernel
            boolean convs = quantization.quantizedOps().containsKey("Conv");
            // the op types quantized besides Conv, which --ops keeps integer while the Convs go float
            List<String> others = new java.util.TreeSet<>(quantization.quantizedOps().keySet()).stream()
                    .filter(op -> !op.equals("Conv")).toList();
            return slower + " dynamic quantization quantizes each activation on every call"
                    + (convs ? ", and ONNX Runtime's ConvInteger (NCHW im2col, no fused rescale) is slower than its"
                    + " float Conv; " + (mainGraphConvs ? "static quantization (--data without --dynamic) runs integer"
                    + " Convs faster" : "static quantization does not reach these Convs (they sit in If, Loop or Scan"
                    + " bodies)")
                    + (others.isEmpty() ? "" : ", and --ops " + String.join(",", others) + " keeps the Convs float")
                    : "")
                    // it tries each op type float, never all of them
                    + (quantization.quantizedOps().size() < 2 ? "" : "; --latency-fallback measures which op types"
                    + " run faster float and keeps them so")
                    + "; or keep the fp32 model";
        }
        int floatCount = quantization.floatOps().values().stream().mapToInt(Integer::intValue).sum();
        String runtime = latency.int8Graph().reasons();
        return slower
                + (floatCount == 0 ? "" : " " + floatCount + " nodes left in float (" + quantization.floatOps()
                        + ") cost a dequantize and a quantize where they sit between integer ones;")
                + (runtime.isEmpty() ? "" : " " + runtime + ";")
                + " --latency-fallback measures which regions run faster float and keeps them so; --ops or --exclude"
                + " keep regions float by hand; or keep the fp32 model";
    }
}
