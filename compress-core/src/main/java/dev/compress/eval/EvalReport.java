package dev.compress.eval;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.annotation.JsonSerialize;
import dev.compress.Json;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The result of one {@link Evaluator} run: accuracy of a model on labeled data, with 95% Wilson intervals, and,
 * when a baseline model was run on the same batches, the paired comparison (drop, agreement, McNemar's test).
 *
 * <p>Proportions are fractions in [0, 1]; every non-count number is rounded to 6 decimals on construction and
 * written with exactly 6, so the same evaluation always gives byte-identical JSON, and a report read back from
 * its JSON equals the one written.
 *
 * @param model the evaluated model (its file, or graph name when built in memory)
 * @param data where the samples came from
 * @param samples number of samples evaluated
 * @param classes class names in label order
 * @param top1 samples whose highest-scoring class is the label
 * @param top5 samples whose label is among the 5 highest-scoring classes (all of them when there are fewer than 5)
 * @param perClass top-1 accuracy per class, in label order
 * @param baseline the comparison with the baseline model, or {@code null} when none was given
 * @param preprocessing how images were turned into model input (free-form, recorded by front ends), or {@code null}
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"model", "data", "samples", "classes", "top1", "top5", "perClass", "baseline", "preprocessing"})
public record EvalReport(
        String model,
        String data,
        @JsonProperty(required = true) long samples,
        List<String> classes,
        Proportion top1,
        Proportion top5,
        List<ClassAccuracy> perClass,
        Baseline baseline,
        Map<String, Object> preprocessing) {

    /**
     * Checks the report is complete and consistent; a report read from JSON goes through here too, so a damaged
     * file is rejected on reading rather than producing a wrong gate decision later.
     */
    public EvalReport {
        Objects.requireNonNull(model, "missing 'model'");
        Objects.requireNonNull(data, "missing 'data'");
        Objects.requireNonNull(top1, "missing 'top1'");
        Objects.requireNonNull(top5, "missing 'top5'");
        classes = List.copyOf(Objects.requireNonNull(classes, "missing 'classes'"));
        perClass = List.copyOf(Objects.requireNonNull(perClass, "missing 'perClass'"));
        if (samples <= 0) {
            throw new IllegalArgumentException("'samples' must be positive, got " + samples);
        }
        if (classes.isEmpty() || perClass.size() != classes.size()) {
            throw new IllegalArgumentException("'perClass' has " + perClass.size() + " entries for "
                    + classes.size() + " classes");
        }
        checkCount("top1", top1.count(), samples);
        checkCount("top5", top5.count(), samples);
        if (baseline != null) {
            checkCount("baseline.top1", baseline.top1().count(), samples);
            checkCount("baseline.top5", baseline.top5().count(), samples);
            checkCount("baseline.agreement", baseline.agreement().count(), samples);
        }
        preprocessing = ReportJson.normalize(preprocessing);
    }

    private static void checkCount(String name, long count, long samples) {
        if (count < 0 || count > samples) {
            throw new IllegalArgumentException("'" + name + ".count' is " + count + ", outside 0.." + samples);
        }
    }

    /** This report under another model name, e.g. the file an in-memory model is about to be written to. */
    public EvalReport withModel(String model) {
        return new EvalReport(model, data, samples, classes, top1, top5, perClass, baseline, preprocessing);
    }

    /** This report with {@code preprocessing} recorded (e.g. {@code Preprocessing.toMap()}); {@code null} clears it. */
    public EvalReport withPreprocessing(Map<String, Object> preprocessing) {
        return new EvalReport(model, data, samples, classes, top1, top5, perClass, baseline, preprocessing);
    }

    /** Pretty-printed JSON ({@link Json#pretty}), fields in a fixed order. */
    public String toJson() {
        return Json.pretty(this);
    }

    /**
     * Writes {@link #toJson()} to {@code file} atomically (a temporary file in the same folder, then moved), so a
     * failure never leaves a partial report that a later gate would read.
     *
     * @throws dev.compress.CompressException BAD_INPUT naming the path if its folder does not exist or cannot be
     *     written
     */
    public void writeJson(Path file) {
        Json.write(file, this);
    }

    /**
     * The report held by {@code node} (parsed from {@code file}, e.g. the {@code "evaluation"} of a larger report),
     * with the same checks as {@link #readJson}.
     *
     * @throws dev.compress.CompressException BAD_INPUT naming {@code file} if it is not a complete, consistent report
     */
    public static EvalReport fromJson(Path file, JsonNode node) {
        return ReportJson.fromJson(file, node);
    }

    /**
     * What contradicts itself in this report, or null: each fraction must be its count over the samples, and the
     * baseline's drop, agreement and McNemar counts must follow from the two top-1 counts. A hand-edited report
     * cannot then pass a gate its counts fail.
     */
    String inconsistency() {
        List<String> problems = new ArrayList<>();
        fraction("top1", top1, problems);
        fraction("top5", top5, problems);
        if (top5.count() < top1.count()) {
            problems.add("top5.count " + top5.count() + " is below top1.count " + top1.count());
        }
        if (baseline != null) {
            fraction("baseline.top1", baseline.top1(), problems);
            fraction("baseline.top5", baseline.top5(), problems);
            fraction("baseline.agreement", baseline.agreement(), problems);
            double drop = ReportJson.round(dropPoints(baseline.top1().count(), top1.count(), samples));
            if (Math.abs(drop - baseline.dropPoints()) > 1e-6) {
                problems.add("baseline.dropPoints is " + ReportJson.plain(baseline.dropPoints()) + " but the top-1"
                        + " counts (" + baseline.top1().count() + " and " + top1.count() + " of " + samples
                        + ") give " + ReportJson.plain(drop));
            }
            long b = baseline.mcnemar().b();
            long c = baseline.mcnemar().c();
            if (b < 0 || c < 0 || b - c != baseline.top1().count() - top1.count()) {
                problems.add("baseline.mcnemar b=" + b + " c=" + c + " do not match the top-1 counts ("
                        + baseline.top1().count() + " and " + top1.count() + ")");
            }
        }
        return problems.isEmpty() ? null : String.join("; ", problems);
    }

    private void fraction(String name, Proportion proportion, List<String> problems) {
        double expected = ReportJson.round((double) proportion.count() / samples);
        if (Math.abs(expected - proportion.fraction()) > 1e-6) {
            problems.add(name + ".fraction is " + ReportJson.plain(proportion.fraction()) + " but "
                    + name + ".count " + proportion.count() + " of " + samples + " samples gives "
                    + ReportJson.plain(expected));
        }
    }

    /** Baseline top-1 minus model top-1 in percentage points, from the counts. */
    static double dropPoints(long baselineCorrect, long correct, long samples) {
        return 100.0 * (baselineCorrect - correct) / samples;
    }

    /**
     * Reads a report written by {@link #writeJson}.
     *
     * @throws dev.compress.CompressException BAD_INPUT naming the file if it is missing, unreadable or not a report
     */
    public static EvalReport readJson(Path file) {
        return ReportJson.read(file);
    }

    /**
     * A few lines for people: top-1 and top-5 with intervals and, with a baseline, drop, agreement and McNemar. Top-5
     * is left out for 5 classes or fewer, where it is 100% by definition.
     */
    public String summary() {
        boolean top5Says = classes.size() > Tally.TOP_K;
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%s on %s (%d samples, %d classes)\n", model, data, samples,
                classes.size()));
        out.append("top-1 ").append(top1.describe()).append(top5Says ? ", top-5 " + top5.describe() : "")
                .append('\n');
        if (baseline != null) {
            out.append("baseline ").append(baseline.model()).append(": top-1 ").append(baseline.top1().describe())
                    .append(top5Says ? ", top-5 " + baseline.top5().describe() : "").append('\n');
            out.append(String.format(Locale.ROOT, "top-1 drop %s points; top-1 agreement %s\n",
                    ReportJson.plain(baseline.dropPoints()), baseline.agreement().describe()));
            out.append(baseline.mcnemar().describe()).append('\n');
        }
        return out.toString();
    }

    /**
     * A proportion of the samples with its 95% Wilson score interval.
     *
     * @param count samples counted (correct ones for accuracy, agreeing ones for agreement)
     * @param fraction {@code count / samples}
     * @param ci95Low lower end of the interval
     * @param ci95High upper end of the interval
     */
    @JsonPropertyOrder({"count", "fraction", "ci95Low", "ci95High"})
    public record Proportion(
            @JsonProperty(required = true) long count,
            @JsonProperty(required = true) @JsonSerialize(using = ReportJson.SixDecimals.class) double fraction,
            @JsonProperty(required = true) @JsonSerialize(using = ReportJson.SixDecimals.class) double ci95Low,
            @JsonProperty(required = true) @JsonSerialize(using = ReportJson.SixDecimals.class) double ci95High) {
        public Proportion {
            fraction = ReportJson.round(fraction);
            ci95Low = ReportJson.round(ci95Low);
            ci95High = ReportJson.round(ci95High);
        }

        /** {@code count} of {@code samples}, with its interval. */
        public static Proportion of(long count, long samples) {
            Statistics.Interval interval = Statistics.wilson(count, samples);
            return new Proportion(count, (double) count / samples, interval.low(), interval.high());
        }

        /** e.g. {@code 89.55% (95% CI 88.14-90.81%)}. */
        public String describe() {
            return String.format(Locale.ROOT, "%.2f%% (95%% CI %.2f-%.2f%%)", 100 * fraction, 100 * ci95Low,
                    100 * ci95High);
        }
    }

    /**
     * Top-1 accuracy of one class.
     *
     * @param name class name
     * @param samples samples labeled with this class
     * @param correct of those, predicted as this class
     * @param accuracy {@code correct / samples}, or {@code null} (omitted in JSON) for a class without samples
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "samples", "correct", "accuracy"})
    public record ClassAccuracy(
            String name,
            @JsonProperty(required = true) long samples,
            @JsonProperty(required = true) long correct,
            @JsonSerialize(using = ReportJson.SixDecimals.class) Double accuracy) {
        public ClassAccuracy {
            Objects.requireNonNull(name, "missing class 'name'");
            accuracy = accuracy == null ? null : ReportJson.round(accuracy);
        }
    }

    /**
     * The baseline model run on the same batches, and how the evaluated model compares with it sample by sample.
     *
     * @param model the baseline model
     * @param top1 baseline top-1 accuracy
     * @param top5 baseline top-5 accuracy
     * @param dropPoints baseline top-1 minus model top-1, in percentage points (negative: the model is better)
     * @param agreement samples where both models predict the same class (right or wrong)
     * @param mcnemar McNemar's test on which samples each model gets right
     */
    @JsonPropertyOrder({"model", "top1", "top5", "dropPoints", "agreement", "mcnemar"})
    public record Baseline(
            String model,
            Proportion top1,
            Proportion top5,
            @JsonProperty(required = true) @JsonSerialize(using = ReportJson.SixDecimals.class) double dropPoints,
            Proportion agreement,
            McNemar mcnemar) {
        public Baseline {
            Objects.requireNonNull(model, "missing 'baseline.model'");
            Objects.requireNonNull(top1, "missing 'baseline.top1'");
            Objects.requireNonNull(top5, "missing 'baseline.top5'");
            Objects.requireNonNull(agreement, "missing 'baseline.agreement'");
            Objects.requireNonNull(mcnemar, "missing 'baseline.mcnemar'");
            dropPoints = ReportJson.round(dropPoints);
        }
    }

    /**
     * McNemar's paired test: do the two models differ in accuracy beyond chance, judged only on the samples where
     * exactly one of them is right?
     *
     * @param b samples the baseline gets right and the model wrong
     * @param c samples the baseline gets wrong and the model right
     * @param method {@code exact-binomial} when {@code b + c < 25}, else {@code chi-square-continuity-corrected}
     * @param pValue two-sided p-value
     * @param significant {@code pValue < 0.05}
     */
    @JsonPropertyOrder({"b", "c", "method", "pValue", "significant"})
    public record McNemar(
            @JsonProperty(required = true) long b,
            @JsonProperty(required = true) long c,
            String method,
            @JsonProperty(required = true) @JsonSerialize(using = ReportJson.SixDecimals.class) double pValue,
            @JsonProperty(required = true) boolean significant) {
        public McNemar {
            Objects.requireNonNull(method, "missing 'mcnemar.method'");
            pValue = ReportJson.round(pValue);
        }

        /** The test for {@code b} and {@code c} discordant samples. */
        public static McNemar of(long b, long c) {
            double p = Statistics.mcNemarP(b, c);
            return new McNemar(b, c, Statistics.mcNemarMethod(b, c), p, p < Statistics.ALPHA);
        }

        /** e.g. {@code McNemar b=60 c=27: p = 0.0006 (chi-square-continuity-corrected), significant at 0.05}. */
        public String describe() {
            return String.format(Locale.ROOT, "McNemar b=%d c=%d: %s (%s), %s at %.2f", b, c, ReportJson.pValue(pValue),
                    method, significant ? "significant" : "not significant", Statistics.ALPHA);
        }
    }
}
