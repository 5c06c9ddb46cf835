package dev.compress.score;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.compress.Json;
import dev.compress.StagedFile;
import dev.compress.eval.EvalReport.Proportion;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * How faithfully a student reproduces its teacher on one dataset: the result of a {@link Scorer} run.
 *
 * <p>Means come with a 95% normal-approximation interval (mean ± 1.96 s/√n over per-sample values); proportions with
 * the 95% Wilson interval of {@link dev.compress.eval.Statistics}. Numbers are rounded to 7 significant digits, so
 * the same inputs give byte-identical JSON and Markdown.
 *
 * @param teacher the teacher file
 * @param student the student file
 * @param data where the samples came from
 * @param samples number of samples scored
 * @param outputs {@code logits} (classifier scores: all metrics) or {@code embedding} (cosine, MSE and parity only)
 * @param outputShape shape of one sample's output (without the batch axis)
 * @param kl KL divergence of the student from the teacher per temperature; {@code null} for embeddings
 * @param agreement samples whose top-1 class is the same for both; {@code null} for embeddings
 * @param top5Overlap mean share of the teacher's top-5 classes also in the student's top-5; {@code null} for embeddings
 * @param cosine cosine similarity of the two outputs, per sample
 * @param mse mean squared difference of the outputs per sample (mean over output elements)
 * @param parity elementwise differences, for judging an export against its source
 * @param labeled accuracies and per-class agreement; {@code null} when the data has no labels or for embeddings
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"teacher", "student", "data", "samples", "outputs", "outputShape", "kl", "agreement",
    "top5Overlap", "cosine", "mse", "parity", "labeled"})
public record ScoreReport(
        String teacher,
        String student,
        String data,
        long samples,
        String outputs,
        List<Long> outputShape,
        List<Divergence> kl,
        Proportion agreement,
        Mean top5Overlap,
        Cosine cosine,
        Mean mse,
        Parity parity,
        Labeled labeled) {

    public ScoreReport {
        outputShape = List.copyOf(outputShape);
        kl = kl == null ? null : List.copyOf(kl);
    }

    /** {@code value} to 7 significant digits, as reports hold it. */
    static double round(double value) {
        if (!Double.isFinite(value) || value == 0) {
            return value == 0 ? 0 : value;
        }
        return new BigDecimal(value).round(new MathContext(7)).doubleValue();
    }

    /**
     * A mean over samples with its 95% interval.
     *
     * @param mean the sample mean
     * @param ci95Low mean − 1.96 standard errors
     * @param ci95High mean + 1.96 standard errors
     */
    @JsonPropertyOrder({"mean", "ci95Low", "ci95High"})
    public record Mean(double mean, double ci95Low, double ci95High) {
        public Mean {
            mean = round(mean);
            ci95Low = round(ci95Low);
            ci95High = round(ci95High);
        }

        String describe() {
            return String.format(Locale.ROOT, "%.6g (95%% CI %.6g-%.6g)", mean, ci95Low, ci95High);
        }
    }

    /**
     * KL(teacher ‖ student) of the softmax of the outputs divided by {@code temperature}.
     *
     * @param temperature the softening temperature T
     * @param kl the mean divergence, in nats
     * @param klScaled T² times {@code kl}: the magnitude a distillation loss sees, as gradients of the softened
     *     loss shrink with 1/T²
     */
    @JsonPropertyOrder({"temperature", "kl", "klScaled"})
    public record Divergence(double temperature, Mean kl, Mean klScaled) {}

    /**
     * Cosine similarity per sample.
     *
     * @param mean the mean with its interval
     * @param p5 the 5th percentile (nearest rank), from a fixed log-spaced histogram of 1 − cosine: within 1.2% of
     *     the exact 1 − p5 (see docs/scoring.md)
     * @param min the lowest cosine seen, exact
     */
    @JsonPropertyOrder({"mean", "p5", "min"})
    public record Cosine(Mean mean, double p5, double min) {
        public Cosine {
            p5 = round(p5);
            min = round(min);
        }
    }

    /**
     * Elementwise differences of the outputs: what export parity is judged by.
     *
     * @param maxAbsDiff largest |teacher − student| over all output elements
     * @param meanAbsDiff mean |teacher − student|
     * @param relativeMaxDiff {@code maxAbsDiff} divided by the largest |teacher| output
     * @param tolerance the largest {@code relativeMaxDiff} of a faithful export
     * @param withinTolerance {@code relativeMaxDiff <= tolerance}; false flags a broken export
     */
    @JsonPropertyOrder({"maxAbsDiff", "meanAbsDiff", "relativeMaxDiff", "tolerance", "withinTolerance"})
    public record Parity(double maxAbsDiff, double meanAbsDiff, double relativeMaxDiff, double tolerance,
            boolean withinTolerance) {
        public Parity {
            maxAbsDiff = round(maxAbsDiff);
            meanAbsDiff = round(meanAbsDiff);
            relativeMaxDiff = round(relativeMaxDiff);
        }
    }

    /**
     * With labeled data: each model's top-1 accuracy and the agreement within each true class.
     *
     * @param teacherTop1 teacher top-1 accuracy
     * @param studentTop1 student top-1 accuracy
     * @param perClass agreement per true class, in label order
     */
    @JsonPropertyOrder({"teacherTop1", "studentTop1", "perClass"})
    public record Labeled(Proportion teacherTop1, Proportion studentTop1, List<ClassAgreement> perClass) {
        public Labeled {
            perClass = List.copyOf(perClass);
        }
    }

    /**
     * Top-1 agreement among the samples of one class.
     *
     * @param name class name
     * @param samples samples with this label
     * @param agreement of those, where teacher and student predict the same class; {@code null} without samples
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "samples", "agreement"})
    public record ClassAgreement(String name, long samples, Proportion agreement) {}

    /** Pretty-printed JSON ending with a newline. */
    public String toJson() {
        return Json.pretty(this);
    }

    /** This report with other names for the teacher, the student and the data (e.g. file names instead of paths). */
    public ScoreReport withNames(String teacherName, String studentName, String dataName) {
        return new ScoreReport(teacherName, studentName, dataName, samples, outputs, outputShape, kl, agreement,
                top5Overlap, cosine, mse, parity, labeled);
    }

    /** Writes {@link #toJson()} atomically. */
    public void writeJson(Path file) {
        StagedFile.writeString(file, toJson());
    }

    /** Writes {@link #toMarkdown()} atomically. */
    public void writeMarkdown(Path file) {
        StagedFile.writeString(file, toMarkdown());
    }

    /** A Markdown report: one table of metrics, then per-class agreement when there are labels. */
    public String toMarkdown() {
        StringBuilder md = new StringBuilder();
        md.append("# Teacher-student score\n\n");
        md.append("| | |\n|---|---|\n");
        md.append("| teacher | `").append(teacher).append("` |\n");
        md.append("| student | `").append(student).append("` |\n");
        md.append("| data | `").append(data).append("` (").append(samples).append(" samples) |\n");
        md.append("| outputs | ").append(outputs).append(' ').append(outputShape).append(" |\n\n");
        md.append("| metric | value | 95% CI |\n|---|---|---|\n");
        if (kl != null) {
            for (Divergence d : kl) {
                row(md, "KL(teacher‖student), T=" + plain(d.temperature()), d.kl());
                row(md, "T² · KL, T=" + plain(d.temperature()), d.klScaled());
            }
            md.append(String.format(Locale.ROOT, "| top-1 agreement | %.2f%% | %.2f-%.2f%% |\n",
                    100 * agreement.fraction(), 100 * agreement.ci95Low(), 100 * agreement.ci95High()));
            row(md, "top-5 overlap", top5Overlap);
        }
        row(md, "cosine similarity (mean)", cosine.mean());
        md.append(String.format(Locale.ROOT, "| cosine similarity p5 / min | %.6g / %.6g | |\n", cosine.p5(),
                cosine.min()));
        row(md, "MSE", mse);
        md.append(String.format(Locale.ROOT, "| max / mean \\|Δ\\| | %.6g / %.6g | |\n", parity.maxAbsDiff(),
                parity.meanAbsDiff()));
        md.append(String.format(Locale.ROOT, "| relative max \\|Δ\\| (tolerance %s) | %.6g | %s |\n",
                plain(parity.tolerance()), parity.relativeMaxDiff(),
                parity.withinTolerance() ? "within" : "**exceeded**"));
        if (labeled != null) {
            md.append(String.format(Locale.ROOT, "| teacher top-1 | %.2f%% | %.2f-%.2f%% |\n",
                    100 * labeled.teacherTop1().fraction(), 100 * labeled.teacherTop1().ci95Low(),
                    100 * labeled.teacherTop1().ci95High()));
            md.append(String.format(Locale.ROOT, "| student top-1 | %.2f%% | %.2f-%.2f%% |\n",
                    100 * labeled.studentTop1().fraction(), 100 * labeled.studentTop1().ci95Low(),
                    100 * labeled.studentTop1().ci95High()));
            md.append("\n## Agreement per class\n\n| class | samples | agreement | 95% CI |\n|---|---|---|---|\n");
            for (ClassAgreement c : labeled.perClass()) {
                if (c.agreement() == null) {
                    md.append("| ").append(c.name()).append(" | 0 | | |\n");
                } else {
                    md.append(String.format(Locale.ROOT, "| %s | %d | %.2f%% | %.2f-%.2f%% |\n", c.name(),
                            c.samples(), 100 * c.agreement().fraction(), 100 * c.agreement().ci95Low(),
                            100 * c.agreement().ci95High()));
                }
            }
        }
        return md.toString();
    }

    private static void row(StringBuilder md, String name, Mean mean) {
        md.append(String.format(Locale.ROOT, "| %s | %.6g | %.6g-%.6g |\n", name, mean.mean(), mean.ci95Low(),
                mean.ci95High()));
    }

    private static String plain(double value) {
        return BigDecimal.valueOf(value).stripTrailingZeros().toPlainString();
    }

    /**
     * A few lines for the terminal; the verdict against the parity tolerance only when {@code parity} was asked for
     * (an INT8 student always "exceeds" a tolerance meant for a float export).
     */
    public String summary(boolean parity) {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%s (teacher) vs %s (student) on %s, %d samples\n", teacher, student,
                data, samples));
        if (kl != null) {
            for (Divergence d : kl) {
                out.append(String.format(Locale.ROOT, "KL at T=%s: %s; T²·KL %.6g\n", plain(d.temperature()),
                        d.kl().describe(), d.klScaled().mean()));
            }
            out.append("top-1 agreement ").append(agreement.describe()).append(", top-5 overlap ")
                    .append(top5Overlap.describe()).append('\n');
        }
        out.append(String.format(Locale.ROOT, "cosine mean %s, p5 %.6g, min %.6g; MSE %s\n", cosine.mean().describe(),
                cosine.p5(), cosine.min(), mse.describe()));
        out.append(String.format(Locale.ROOT, "max |diff| %.6g, mean |diff| %.6g, relative %.6g",
                this.parity.maxAbsDiff(), this.parity.meanAbsDiff(), this.parity.relativeMaxDiff()));
        out.append(parity ? (this.parity.withinTolerance() ? ": within" : ": EXCEEDS") + " tolerance "
                + plain(this.parity.tolerance()) + "\n" : "\n");
        if (labeled != null) {
            out.append("teacher top-1 ").append(labeled.teacherTop1().describe()).append(", student top-1 ")
                    .append(labeled.studentTop1().describe()).append('\n');
        }
        return out.toString();
    }
}
