package dev.compress.recipe;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.compress.calibrate.CalibrationBuilder;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.check.FidelityCheck;
import dev.compress.check.LatencyCheck;
import dev.compress.convert.OpsetConversion;
import dev.compress.eval.Statistics;
import dev.compress.quantize.Quantizer;
import java.util.List;

/**
 * What {@code compress run RECIPE.yaml} does, as written in the file: the source model, its data, ordered steps that
 * rewrite it, checks that measure the result and gates on their figures. Optional fields are {@code null} as read;
 * {@link #withDefaults()} fills them, and that form is what {@code --explain} prints and what cache keys hash. Paths
 * are as written, relative to the recipe's folder. See docs/recipes.md.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"model", "teacher", "baseline", "data", "steps", "checks", "gates", "report"})
public record Recipe(String model, String teacher, String baseline, Data data, List<Step> steps, List<Check> checks,
        List<Gate> gates, Report report) {

    /** Every optional field with its default. */
    public Recipe withDefaults() {
        Data d = data == null ? new Data(null, null, null, null) : data;
        List<Check> allChecks = checks == null ? List.of() : checks.stream().map(c -> c.withDefaults(d)).toList();
        // an export step's manifest carries the figures of the first eval check unless it names one
        String firstEval = allChecks.stream().filter(c -> c instanceof Eval).map(Check::name).findFirst()
                .orElse(null);
        return new Recipe(model, teacher, baseline, d, steps.stream().map(step -> step instanceof Export e
                        && e.metrics() == null && firstEval != null
                        ? new Export(e.name(), e.labels(), e.labelsZh(), firstEval, e.budget(), e.budgetProfiles(),
                                e.includeSource()).withDefaults()
                        : step.withDefaults()).toList(), allChecks,
                gates == null ? List.of() : gates.stream().map(Gate::withDefaults).toList(), report);
    }

    /**
     * What the HTML report shows beside the figures.
     *
     * @param title the page's heading (default: the recipe's file name)
     * @param classNames a file of display names for the classes, one per line in class order (e.g. Chinese names
     *     beside English folder names), shown next to the data's names
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"title", "classNames"})
    public record Report(String title, String classNames) {}

    /**
     * Sample data: calibration for static quantization (and structured pruning), evaluation for checks; both take
     * the same class names and preprocessing.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"calibration", "evaluation", "labels", "preprocessing"})
    public record Data(String calibration, String evaluation, String labels, Preprocessing preprocessing) {}

    /** Overrides of the model's own preprocessing, as the command line's flags (docs/cli.md). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"file", "imageSize", "channels", "mean", "std", "layout"})
    public record Preprocessing(String file, String imageSize, Integer channels, List<Float> mean, List<Float> std,
            String layout) {}

    /** A step that rewrites the model; {@code pass} in the file picks the kind. */
    @JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.PROPERTY, property = "pass")
    @JsonSubTypes({
        @JsonSubTypes.Type(value = Prepare.class, name = "prepare"),
        @JsonSubTypes.Type(value = Prune.class, name = "prune"),
        @JsonSubTypes.Type(value = QuantizeStatic.class, name = "quantize-static"),
        @JsonSubTypes.Type(value = QuantizeDynamic.class, name = "quantize-dynamic"),
        @JsonSubTypes.Type(value = ConvertOpset.class, name = "convert-opset"),
        @JsonSubTypes.Type(value = Export.class, name = "export")
    })
    public sealed interface Step permits Prepare, Prune, QuantizeStatic, QuantizeDynamic, ConvertOpset, Export {
        String name();

        Step withDefaults();
    }

    /** Graph preparation (docs/prepare.md). */
    public record Prepare(String name) implements Step {
        @Override
        public Step withDefaults() {
            return this;
        }
    }

    /** L1 pruning (docs/pruning.md); {@code scope} per-layer or global, or {@code structured}. */
    @JsonPropertyOrder({"name", "sparsity", "scope", "structured", "exclude"})
    public record Prune(String name, Double sparsity, String scope, Boolean structured, List<String> exclude)
            implements Step {
        @Override
        public Step withDefaults() {
            return new Prune(name, sparsity, scope == null ? "per-layer" : scope, structured != null && structured,
                    exclude == null ? List.of() : exclude);
        }
    }

    /** Static INT8 quantization as {@code compress quantize} does it, with its defaults (docs/calibration.md). */
    @JsonPropertyOrder({"name", "method", "percentile", "bins", "activations", "symmetric", "maxSamples",
        "histogramSamples", "exclude", "ops", "weightOnly", "prepare", "upgradeOpset", "keepOpset", "equalize",
        "biasCorrection", "latencyFallback"})
    public record QuantizeStatic(String name, String method, Double percentile, Integer bins, String activations,
            Boolean symmetric, Integer maxSamples, Integer histogramSamples, List<String> exclude, List<String> ops,
            List<String> weightOnly, Boolean prepare, Boolean upgradeOpset, Boolean keepOpset, Boolean equalize,
            Boolean biasCorrection, Double latencyFallback) implements Step {
        @Override
        public Step withDefaults() {
            return new QuantizeStatic(name, method == null ? "minmax" : method,
                    percentile == null ? CalibrationSettings.DEFAULT_PERCENTILE : percentile,
                    bins == null ? CalibrationSettings.DEFAULT_BINS : bins, activations == null ? "uint8" : activations,
                    symmetric != null && symmetric, maxSamples == null ? 0 : maxSamples,
                    histogramSamples == null ? CalibrationBuilder.DEFAULT_HISTOGRAM_SAMPLES : histogramSamples,
                    exclude == null ? List.of() : exclude, ops == null ? List.of() : ops,
                    weightOnly == null ? List.of() : weightOnly, prepare == null || prepare,
                    upgradeOpset != null && upgradeOpset, keepOpset != null && keepOpset,
                    equalize == null ? Quantizer.EQUALIZE_BY_DEFAULT : equalize,
                    // recipes calibrate on data
                    biasCorrection == null ? Quantizer.BIAS_CORRECTION_BY_DEFAULT : biasCorrection,
                    latencyFallback == null ? 0 : latencyFallback);
        }
    }

    /**
     * Dynamic INT8 quantization (docs/transformers.md); {@code prepare} as for static quantization; a
     * {@code latencyFallback} times its variants on {@code data.calibration}.
     */
    @JsonPropertyOrder({"name", "format", "reduceRange", "exclude", "ops", "prepare", "latencyFallback"})
    public record QuantizeDynamic(String name, String format, Boolean reduceRange, List<String> exclude,
            List<String> ops, Boolean prepare, Double latencyFallback) implements Step {
        @Override
        public Step withDefaults() {
            return new QuantizeDynamic(name, format == null ? "matmul-integer" : format,
                    reduceRange != null && reduceRange, exclude == null ? List.of() : exclude,
                    ops == null ? List.of() : ops, prepare == null || prepare,
                    latencyFallback == null ? 0 : latencyFallback);
        }
    }

    /** Opset conversion (docs/opset.md). */
    public record ConvertOpset(String name, Long opset) implements Step {
        @Override
        public Step withDefaults() {
            return new ConvertOpset(name, opset == null ? OpsetConversion.DEFAULT_TARGET : opset);
        }
    }

    /**
     * The edge bundle of the last model (docs/export.md). Only as the last step, and it runs after the checks: the
     * manifest carries the figures of the eval check {@code metrics} (default: the first). {@code labels} default to
     * {@code data.labels}, else the eval check's class names; a {@code budget} (limits or a profile, as
     * {@code compress export --budget}) adds a gate per limit; {@code includeSource} bundles the recipe's source model
     * as the fallback {@code source.onnx}.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "labels", "labelsZh", "metrics", "budget", "budgetProfiles", "includeSource"})
    public record Export(String name, String labels, String labelsZh, String metrics, String budget,
            String budgetProfiles, Boolean includeSource) implements Step {
        @Override
        public Step withDefaults() {
            return new Export(name, labels, labelsZh, metrics, budget, budgetProfiles,
                    includeSource != null && includeSource);
        }
    }

    /** {@code which} samples a check reads, by default the calibration data when the recipe has some. */
    private static String dataOf(String which, Data data) {
        return which != null ? which : data.calibration() != null ? "calibration" : "evaluation";
    }

    /**
     * A measurement of the last step's model; {@code check} in the file picks the kind. Each produces the metrics
     * {@code NAME.METRIC} gates take ({@link #metrics()}).
     */
    @JsonTypeInfo(use = JsonTypeInfo.Id.NAME, include = JsonTypeInfo.As.PROPERTY, property = "check")
    @JsonSubTypes({
        @JsonSubTypes.Type(value = Eval.class, name = "eval"),
        @JsonSubTypes.Type(value = Fidelity.class, name = "fidelity"),
        @JsonSubTypes.Type(value = Latency.class, name = "latency"),
        @JsonSubTypes.Type(value = Size.class, name = "size"),
        @JsonSubTypes.Type(value = Debug.class, name = "debug"),
        @JsonSubTypes.Type(value = PruneScan.class, name = "prune-scan"),
        @JsonSubTypes.Type(value = Score.class, name = "score")
    })
    public sealed interface Check permits Eval, Fidelity, Latency, Size, Debug, PruneScan, Score {
        String name();

        /** This check with every default filled in; {@code data} picks the samples of checks that take either. */
        Check withDefaults(Data data);

        /** The metrics gates can take, without the check's name. */
        @JsonIgnore
        default List<String> metrics() {
            return List.of();
        }
    }

    /**
     * Top-1 of the last step's model against the source model on {@code data.evaluation} (as {@code compress eval
     * --baseline}): per class, agreement, McNemar's test; also every sample's predictions, so that a later run can
     * compare with this one sample by sample.
     */
    public record Eval(String name) implements Check {
        @Override
        public Check withDefaults(Data data) {
            return this;
        }

        @Override
        public List<String> metrics() {
            return List.of("top1-drop", "top1-relative-drop", "agreement", "mcnemar");
        }
    }

    /**
     * Outputs of the last step's model against the source model's (as {@code compress quantize}'s fidelity check):
     * mean cosine and SQNR per float output, top-1 agreement for class scores; for any model, classifier or not.
     * Metrics: the lowest {@code cosine} and {@code sqnr} over the outputs, and {@code score}, what {@code compress
     * quantize --min-fidelity} checks (agreement for class scores, cosine otherwise; the lowest).
     *
     * @param data {@code calibration} (the samples calibration left out, the default when there is calibration data)
     *     or {@code evaluation}
     * @param samples at most this many samples (100)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "data", "samples"})
    public record Fidelity(String name, String data, Integer samples) implements Check {
        @Override
        public Check withDefaults(Data data) {
            return new Fidelity(name, dataOf(this.data, data),
                    samples == null ? FidelityCheck.DEFAULT_SAMPLES : samples);
        }

        @Override
        public List<String> metrics() {
            return List.of("cosine", "sqnr", "score");
        }
    }

    /**
     * Time per call of the last step's model against the source model's in ONNX Runtime (as {@code compress
     * quantize}'s latency check). Timings differ from run to run; the check is cached like any other.
     *
     * @param data {@code calibration} (default when there is calibration data) or {@code evaluation}
     * @param seconds about how long both are timed (3)
     * @param threads ONNX Runtime intra-op threads (default: one per core of this machine)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "data", "seconds", "threads"})
    public record Latency(String name, String data, Double seconds, Integer threads) implements Check {
        @Override
        public Check withDefaults(Data data) {
            return new Latency(name, dataOf(this.data, data),
                    seconds == null ? LatencyCheck.DEFAULT_SECONDS : seconds,
                    threads == null ? Runtime.getRuntime().availableProcessors() : threads);
        }

        @Override
        public List<String> metrics() {
            return List.of("ratio");
        }
    }

    /** Bytes of the last step's model file (with its external data) against the source model's. */
    public record Size(String name) implements Check {
        @Override
        public Check withDefaults(Data data) {
            return this;
        }

        @Override
        public List<String> metrics() {
            return List.of("bytes", "ratio");
        }
    }

    /**
     * Layer-wise SQNR of the last step's model against the fp32 model the last quantize step read (as {@code compress
     * debug}), and activation histograms of the worst layers with their INT8 clipping ranges, for the HTML report.
     *
     * @param data {@code calibration} (default when there is calibration data) or {@code evaluation}
     * @param samples samples compared (32)
     * @param histograms layers (worst first) whose fp32 activations are histogrammed (4)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "data", "samples", "histograms"})
    public record Debug(String name, String data, Integer samples, Integer histograms) implements Check {
        @Override
        public Check withDefaults(Data data) {
            return new Debug(name, dataOf(this.data, data), samples == null ? 32 : samples,
                    histograms == null ? 4 : histograms);
        }
    }

    /**
     * Top-1 of the model a prune step read, pruned as that step does to each of several sparsities, on {@code
     * data.evaluation}: the accuracy-vs-sparsity curve of the HTML report.
     *
     * @param step the prune step (default: the first)
     * @param sparsities the sparsities (0.25, 0.5, 0.75, 0.9; the step's own is always added)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "step", "sparsities"})
    public record PruneScan(String name, String step, List<Double> sparsities) implements Check {
        @Override
        public Check withDefaults(Data data) {
            return new PruneScan(name, step, sparsities == null ? List.of(0.25, 0.5, 0.75, 0.9) : sparsities);
        }
    }

    /**
     * A student against the recipe's {@code teacher} (as {@code compress score}; without a teacher, the source model
     * is the teacher): KL divergence of the softened outputs, top-1 agreement, cosine, and the relative max difference
     * that judges an export. Metrics: {@code agreement} (a fraction, with its 95% interval), {@code kl} (at the first
     * temperature), {@code cosine} (mean) and {@code relative-max-diff}; embeddings have no agreement or KL.
     *
     * @param student {@code last} (default): the last step's model; {@code source}: the recipe's model, e.g. to check
     *     that it is a faithful ONNX export of a TorchScript teacher
     * @param data {@code evaluation} (default when there is evaluation data) or {@code calibration}
     * @param temperatures softening temperatures of the KL divergence ([1])
     * @param outputs {@code logits} (default) or {@code embedding}: what the first output holds
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "student", "data", "temperatures", "outputs"})
    public record Score(String name, String student, String data, List<Double> temperatures, String outputs)
            implements Check {
        @Override
        public Check withDefaults(Data data) {
            return new Score(name, student == null ? "last" : student,
                    this.data != null ? this.data : data.evaluation() != null ? "evaluation" : "calibration",
                    temperatures == null ? List.of(1.0) : temperatures, outputs == null ? "logits" : outputs);
        }

        @Override
        public List<String> metrics() {
            return "embedding".equals(outputs) ? List.of("cosine", "relative-max-diff")
                    : List.of("agreement", "kl", "cosine", "relative-max-diff");
        }
    }

    /**
     * A verdict on one metric of a check. Limits: {@code max} for top1-drop (points), top1-relative-drop (percent of
     * the reference's top-1), latency ratio and size; {@code min} for agreement (a fraction), cosine and SQNR (dB);
     * {@code alpha} for mcnemar (fails when the model is significantly worse at that level).
     *
     * @param against {@code source} (default): the figure of this run, measured against the source model; {@code
     *     baseline}: against the recipe's baseline report, an earlier run: accuracy metrics compare with the
     *     baseline's model, the others gate this run's figure minus the baseline's
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "metric", "against", "max", "min", "alpha"})
    public record Gate(String name, String metric, String against, Double max, Double min, Double alpha) {
        /** The gate's check's name. */
        public String check() {
            return metric.substring(0, metric.lastIndexOf('.'));
        }

        /** The metric without the check's name. */
        public String measure() {
            return metric.substring(metric.lastIndexOf('.') + 1);
        }

        /** Whether the reference is the recipe's baseline. */
        public boolean againstBaseline() {
            return "baseline".equals(against);
        }

        Gate withDefaults() {
            return new Gate(name, metric, against == null ? "source" : against, max, min,
                    metric != null && metric.endsWith(".mcnemar") && alpha == null
                            ? Double.valueOf(Statistics.ALPHA) : alpha);
        }
    }
}
