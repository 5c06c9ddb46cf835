package dev.compress.recipe;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.compress.calibrate.CalibrationBuilder;
import dev.compress.calibrate.CalibrationSettings;
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
@JsonPropertyOrder({"model", "data", "steps", "checks", "gates"})
public record Recipe(String model, Data data, List<Step> steps, List<Check> checks, List<Gate> gates) {

    /** Every optional field with its default. */
    public Recipe withDefaults() {
        List<Check> allChecks = checks == null ? List.of() : checks;
        return new Recipe(model, data == null ? new Data(null, null, null, null) : data,
                steps.stream().map(step -> step instanceof Export e && e.metrics() == null && !allChecks.isEmpty()
                        ? new Export(e.name(), e.labels(), e.labelsZh(), allChecks.get(0).name(), e.budget(),
                                e.budgetProfiles(), e.includeSource()).withDefaults()
                        : step.withDefaults()).toList(), allChecks,
                gates == null ? List.of() : gates.stream().map(Gate::withDefaults).toList());
    }

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

    /** Dynamic INT8 quantization (docs/transformers.md). */
    @JsonPropertyOrder({"name", "format", "reduceRange", "exclude", "ops"})
    public record QuantizeDynamic(String name, String format, Boolean reduceRange, List<String> exclude,
            List<String> ops) implements Step {
        @Override
        public Step withDefaults() {
            return new QuantizeDynamic(name, format == null ? "matmul-integer" : format,
                    reduceRange != null && reduceRange, exclude == null ? List.of() : exclude,
                    ops == null ? List.of() : ops);
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

    /**
     * A measurement of the last step's model. {@code eval}: top-1 against the source model on the evaluation data,
     * producing the metrics {@code NAME.top1-drop}, {@code NAME.agreement} and {@code NAME.mcnemar}.
     */
    @JsonPropertyOrder({"name", "check"})
    public record Check(String name, String check) {}

    /**
     * A verdict on one metric of a check: {@code max} for top1-drop (points), {@code min} for agreement (a fraction),
     * {@code alpha} for mcnemar (fails when the model is significantly worse at that level).
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "metric", "max", "min", "alpha"})
    public record Gate(String name, String metric, Double max, Double min, Double alpha) {
        Gate withDefaults() {
            return metric != null && metric.endsWith(".mcnemar") && alpha == null
                    ? new Gate(name, metric, max, min, Statistics.ALPHA)
                    : this;
        }
    }
}
