package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.calibrate.CalibrationBuilder;
import dev.compress.calibrate.CalibrationMethod;
import dev.compress.calibrate.CalibrationSettings;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** Calibration options shared by {@code quantize} and {@code calibrate}; see docs/calibration.md. */
final class CalibrationOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = "--method", paramLabel = "minmax|percentile|entropy|mse", defaultValue = "minmax",
            converter = Converters.Method.class,
            description = "How activation ranges are chosen: minmax (observed extremes), percentile (clips the rarest"
                    + " values), entropy (least KL divergence, TensorRT's), mse (least squared error)."
                    + " Default: ${DEFAULT-VALUE}.")
    CalibrationMethod method;

    @Option(names = "--tensor-method", paramLabel = "TENSOR=METHOD", mapFallbackValue = "",
            description = "A method for one tensor instead of --method; repeatable. Tensor names are in the report's"
                    + " activations.")
    Map<String, String> tensorMethods = new LinkedHashMap<>();

    @Option(names = "--percentile", paramLabel = "P", defaultValue = "99.99",
            description = "For --method percentile: the share of values kept, in (0, 100]. Default: ${DEFAULT-VALUE}.")
    double percentile;

    @Option(names = "--bins", paramLabel = "N", defaultValue = "2048",
            description = "Histogram bins on each side of zero, at least 128. Default: ${DEFAULT-VALUE}.")
    int bins;

    @Option(names = "--moving-average", paramLabel = "C", defaultValue = "0",
            description = "For --method minmax: average per-sample extremes, avg += C * (x - avg), in sample order;"
                    + " C in (0, 1]. Default: off (true extremes).")
    double movingAverage;

    @Option(names = "--max-samples", paramLabel = "N",
            description = "Calibrate on at most N samples (N >= 1), spread evenly over the data's fixed order."
                    + " Default: all.")
    Integer maxSamples;

    @Option(names = "--histogram-samples", paramLabel = "N",
            defaultValue = "" + CalibrationBuilder.DEFAULT_HISTOGRAM_SAMPLES,
            description = "Percentile, entropy and mse build their histograms from at most N samples, spread evenly"
                    + " over the calibration samples; extremes always use every sample. 0 = all (slower: every value"
                    + " of every sample is binned). Default: ${DEFAULT-VALUE}.")
    int histogramSamples;

    /** Each session holds a copy of the model and its buffers in native memory: 2,000 took 1.97 GB for a small one. */
    static final int MAX_THREADS = 64;

    @Option(names = "--threads", paramLabel = "N",
            description = "ONNX Runtime sessions run in parallel for calibration, one thread each (and the threads of"
                    + " quantize's latency check), at most " + MAX_THREADS + ". Results do not depend on it."
                    + " Default: the number of cores.")
    Integer threads;

    /** The settings, or a usage error (exit 2) naming the bad option. */
    CalibrationSettings settings() {
        Map<String, CalibrationMethod> perTensor = new LinkedHashMap<>();
        tensorMethods.forEach((tensor, name) -> {
            if (tensor.isBlank() || name.isBlank()) {
                throw new ParameterException(spec.commandLine(),
                        "--tensor-method needs TENSOR=METHOD, got '" + tensor + "=" + name + "'");
            }
            perTensor.put(tensor, parse(name));
        });
        // 0 used to mean "all" without a word; leaving the option out says that
        if (maxSamples != null && maxSamples < 1) {
            throw new ParameterException(spec.commandLine(), "--max-samples must be at least 1 (leave it out for all"
                    + " samples), got " + maxSamples);
        }
        if (histogramSamples < 0) {
            throw new ParameterException(spec.commandLine(),
                    "--histogram-samples must be at least 1 (or 0 for all), got " + histogramSamples);
        }
        if (threads != null && (threads < 1 || threads > MAX_THREADS)) {
            throw new ParameterException(spec.commandLine(), "--threads must be in 1.." + MAX_THREADS
                    + " (each thread runs its own ONNX Runtime session), got " + threads);
        }
        try {
            return new CalibrationSettings(method, percentile, bins, movingAverage, perTensor);
        } catch (CompressException e) {
            throw new ParameterException(spec.commandLine(), "--" + option(e.getMessage()) + ": " + e.getMessage());
        }
    }

    private static String option(String message) {
        if (message.startsWith("percentile")) {
            return "percentile";
        }
        if (message.startsWith("histogram bins")) {
            return "bins";
        }
        return message.startsWith("moving-average") ? "moving-average" : "method";
    }

    /** Which samples are calibrated on, by how many sessions; a usage error for bad values (call after settings). */
    CalibrationBuilder.Sampling sampling() {
        return new CalibrationBuilder.Sampling(maxSamples == null ? 0 : maxSamples, histogramSamples,
                threads != null ? threads : CalibrationBuilder.defaultSessions(), 1);
    }

    private CalibrationMethod parse(String name) {
        try {
            return CalibrationMethod.parse(name);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--tensor-method: " + e.getMessage());
        }
    }
}
