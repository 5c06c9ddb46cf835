package dev.compress.recipe;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Statistics;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Arrays;
import java.util.Locale;

/**
 * A recipe gate decided on its check's figures: against the source model (the check's own comparison), or against
 * the recipe's baseline (an earlier run), where accuracy is compared sample by sample when the baseline has the
 * predictions, and the other figures by their change.
 */
final class RecipeGates {
    private RecipeGates() {}

    /**
     * @param current this run's figures of the gate's check
     * @param baseline the baseline's figures of that check when the gate is {@code against: baseline}, else null
     * @throws CompressException BAD_INPUT when the baseline cannot be compared (other data or classes)
     */
    static RecipeRun.GateOutcome decide(Recipe.Gate gate, CheckFigures current, CheckFigures baseline) {
        String metric = gate.measure();
        return switch (current.kind()) {
            case "eval" -> accuracy(gate, metric, compare(current, baseline));
            case "score" -> teacher(gate, metric, current, baseline);
            default -> figure(gate, metric, current, baseline);
        };
    }

    /** Top-1 of the model against a reference model on the same samples. */
    record Comparison(String reference, long samples, long referenceCorrect, long correct,
            Statistics.Interval difference, EvalReport.Proportion agreement, EvalReport.McNemar mcnemar) {
        double dropPoints() {
            return 100.0 * (referenceCorrect - correct) / samples;
        }

        double referenceTop1() {
            return (double) referenceCorrect / samples;
        }

        double top1() {
            return (double) correct / samples;
        }
    }

    /** This run's eval figures against the source model ({@code baseline} null) or against the baseline's. */
    static Comparison compare(CheckFigures current, CheckFigures baseline) {
        EvalReport report = current.eval();
        long n = report.samples();
        if (baseline == null) {
            EvalReport.Baseline source = report.baseline();
            if (source == null) {
                throw CompressException.badInput(current.file(), "has no comparison with the source model");
            }
            long b = source.mcnemar().b();
            long c = source.mcnemar().c();
            long both = source.top1().count() - b;
            return new Comparison("source", n, source.top1().count(), report.top1().count(),
                    Statistics.pairedDifference(both, b, c, n - both - b - c), source.agreement(), source.mcnemar());
        }
        EvalReport earlier = baseline.eval();
        if (!earlier.classes().equals(report.classes()) || earlier.samples() != n) {
            throw CompressException.badInput(baseline.file(), "was evaluated on other data (" + earlier.samples()
                    + " samples of " + earlier.classes().size() + " classes, this run " + n + " of "
                    + report.classes().size() + "); a baseline is compared on the same evaluation data");
        }
        CheckReports.Predictions now = current.predictions();
        CheckReports.Predictions then = baseline.predictions();
        if (now == null || then == null) {
            long referenceCorrect = earlier.top1().count();
            long correct = report.top1().count();
            return new Comparison("baseline", n, referenceCorrect, correct,
                    Statistics.difference(referenceCorrect, n, correct, n), null, null);
        }
        if (!now.samplesSha256().equals(then.samplesSha256()) || !Arrays.equals(now.labels(), then.labels())) {
            throw CompressException.badInput(baseline.file(), "was evaluated on other samples (their SHA-256"
                    + " differs from this run's evaluation data); a baseline is compared on the same samples");
        }
        long both = 0;
        long referenceOnly = 0;
        long modelOnly = 0;
        long agree = 0;
        for (int i = 0; i < now.size(); i++) {
            boolean reference = then.model()[i] == then.labels()[i];
            boolean model = now.model()[i] == now.labels()[i];
            both += reference && model ? 1 : 0;
            referenceOnly += reference && !model ? 1 : 0;
            modelOnly += model && !reference ? 1 : 0;
            agree += now.model()[i] == then.model()[i] ? 1 : 0;
        }
        return new Comparison("baseline", n, both + referenceOnly, both + modelOnly,
                Statistics.pairedDifference(both, referenceOnly, modelOnly, n - both - referenceOnly - modelOnly),
                EvalReport.Proportion.of(agree, n), EvalReport.McNemar.of(referenceOnly, modelOnly));
    }

    private static RecipeRun.GateOutcome accuracy(Recipe.Gate gate, String metric, Comparison compared) {
        String reference = compared.reference().equals("source") ? "the source" : "the baseline";
        switch (metric) {
            case "top1-drop", "top1-relative-drop" -> {
                boolean relative = metric.equals("top1-relative-drop");
                // the reference's top-1 is taken as fixed for the relative drop's interval
                double scale = relative ? (compared.referenceTop1() > 0 ? 1 / compared.referenceTop1() : 0) : 1;
                double value = round(scale * compared.dropPoints());
                double low = round(100 * scale * compared.difference().low());
                double high = round(100 * scale * compared.difference().high());
                boolean passed = value <= gate.max();
                String unit = relative ? "%" : " points";
                String test = compared.mcnemar() != null ? compared.mcnemar().describe()
                        : "McNemar not available (the baseline has no per-sample predictions; a run's run.json has)";
                String message = String.format(Locale.ROOT, "%s: top-1 %s %s%s (95%% CI %s to %s; %s %.2f%%,"
                        + " model %.2f%%), limit %s%s; %s", verdict(passed), relative ? "relative drop" : "drop",
                        plain(relative ? round3(value) : value), unit, plain(round2(low)), plain(round2(high)),
                        reference.substring(4),
                        100 * compared.referenceTop1(), 100 * compared.top1(), plain(gate.max()), unit, test);
                return outcome(gate, passed, value, low, high, gate.max(), message);
            }
            case "agreement" -> {
                double agreement = compared.agreement().fraction();
                boolean passed = agreement >= gate.min();
                return outcome(gate, passed, agreement, compared.agreement().ci95Low(),
                        compared.agreement().ci95High(), gate.min(), String.format(Locale.ROOT,
                                "%s: top-1 agreement with %s %s, minimum %.2f%%", verdict(passed), reference,
                                compared.agreement().describe(), 100 * gate.min()));
            }
            default -> {
                // fails only when the model is worse (b > c: more samples only the reference gets right) and the
                // difference is significant at the recipe's alpha, not merely when the models differ
                EvalReport.McNemar test = compared.mcnemar();
                boolean worse = test.b() > test.c() && test.pValue() < gate.alpha();
                return outcome(gate, !worse, test.pValue(), null, null, gate.alpha(), String.format(Locale.ROOT,
                        "%s: %s %s at alpha %s (McNemar b=%d c=%d, %s, %s)", verdict(!worse),
                        worse ? "significantly worse than" : "not significantly worse than", reference,
                        CiReports.plain(gate.alpha()), test.b(), test.c(), test.pValue() < 0.0001 ? "p < 0.0001"
                                : String.format(Locale.ROOT, "p = %.4f", test.pValue()), test.method()));
            }
        }
    }

    /** A figure of a fidelity, latency or size check; against a baseline, its change from the baseline's. */
    private static RecipeRun.GateOutcome figure(Recipe.Gate gate, String metric, CheckFigures current,
            CheckFigures baseline) {
        Double now = value(metric, current);
        boolean higherIsBetter = metric.equals("cosine") || metric.equals("sqnr") || metric.equals("score");
        double limit = higherIsBetter ? gate.min() : gate.max();
        String what = switch (metric) {
            case "cosine" -> "lowest mean output cosine to the source";
            case "sqnr" -> "lowest output SQNR against the source";
            case "score" -> "fidelity to the source (top-1 agreement for class scores, else cosine)";
            case "ratio" -> current.kind().equals("latency") ? "time per call over the source's" : "size over the"
                    + " source's";
            default -> "model size";
        };
        String bound = higherIsBetter ? "minimum" : "maximum";
        if (baseline == null) {
            // an exact output (no noise) has no finite SQNR and meets any minimum
            boolean passed = now == null || (higherIsBetter ? now >= limit : now <= limit);
            String detail = switch (metric) {
                case "cosine", "score" -> String.format(Locale.ROOT, "%.4f", now);
                case "sqnr" -> now == null ? "exact" : String.format(Locale.ROOT, "%.1f dB", now);
                case "ratio" -> current.kind().equals("latency")
                        ? String.format(Locale.ROOT, "%.3fx (%.3g ms vs %.3g ms per call)", now,
                                current.number(current.node(), "int8Ms"), current.number(current.node(), "fp32Ms"))
                        : String.format(Locale.ROOT, "%.4f", now);
                default -> String.format(Locale.ROOT, "%,d bytes", current.bytes());
            };
            return outcome(gate, passed, now == null ? null : round(now), null, null, limit,
                    String.format(Locale.ROOT, "%s: %s %s, %s %s", verdict(passed), what, detail, bound,
                            metric.equals("bytes") ? String.format(Locale.ROOT, "%,d", (long) limit) : plain(limit)));
        }
        Double then = value(metric, baseline);
        if (now == null || then == null) {
            // exact against anything: no change to speak of when both are exact, else exact is the better one
            boolean passed = now == null || limit < 0 && higherIsBetter;
            return outcome(gate, passed, null, null, null, limit, String.format(Locale.ROOT,
                    "%s: %s %s now, %s in the baseline", verdict(passed), what, now == null ? "exact" : plain(now),
                    then == null ? "exact" : plain(then)));
        }
        double change = round(now - then);
        boolean passed = higherIsBetter ? change >= limit : change <= limit;
        return outcome(gate, passed, change, null, null, limit, String.format(Locale.ROOT,
                "%s: %s %s now, %s in the baseline: change %s, %s change %s", verdict(passed), what,
                plain(round(now)), plain(round(then)), signed(change), bound, signed(limit)));
    }

    /** A score check's figure against its teacher; against a baseline, its change from the baseline's. */
    private static RecipeRun.GateOutcome teacher(Recipe.Gate gate, String metric, CheckFigures current,
            CheckFigures baseline) {
        double now = current.teacherFigure(metric);
        boolean higherIsBetter = metric.equals("agreement") || metric.equals("cosine");
        double limit = higherIsBetter ? gate.min() : gate.max();
        String what = switch (metric) {
            case "agreement" -> "top-1 agreement with the teacher";
            case "kl" -> "KL divergence from the teacher at T="
                    + plain(current.number(current.node().path("kl").path(0), "temperature"));
            case "cosine" -> "mean output cosine to the teacher";
            default -> "relative max difference from the teacher";
        };
        String bound = higherIsBetter ? "minimum" : "maximum";
        if (baseline == null) {
            boolean passed = higherIsBetter ? now >= limit : now <= limit;
            // agreement and KL have intervals in the report; its figures are rounded already (7 significant digits)
            JsonNode interval = switch (metric) {
                case "agreement" -> current.node().path("agreement");
                case "kl" -> current.node().path("kl").path(0).path("kl");
                default -> null;
            };
            Double low = interval == null ? null : current.number(interval, "ci95Low");
            Double high = interval == null ? null : current.number(interval, "ci95High");
            String detail = metric.equals("agreement")
                    ? String.format(Locale.ROOT, "%.2f%% (95%% CI %.2f-%.2f%%), minimum %.2f%%", 100 * now,
                            100 * low, 100 * high, 100 * limit)
                    : String.format(Locale.ROOT, "%s%s, %s %s", plain(now), low == null ? ""
                            : " (95% CI " + plain(low) + " to " + plain(high) + ")", bound, plain(limit));
            return outcome(gate, passed, now, low, high, limit, verdict(passed) + ": " + what + " " + detail);
        }
        double then = baseline.teacherFigure(metric);
        // significant digits, not decimals: a relative max difference is about 1e-6
        double change = new BigDecimal(now - then, new java.math.MathContext(7)).doubleValue();
        boolean passed = higherIsBetter ? change >= limit : change <= limit;
        return outcome(gate, passed, change, null, null, limit, String.format(Locale.ROOT,
                "%s: %s %s now, %s in the baseline: change %s, %s change %s", verdict(passed), what,
                plain(now), plain(then), signed(change), bound, signed(limit)));
    }

    private static Double value(String metric, CheckFigures figures) {
        return switch (metric) {
            case "cosine" -> figures.cosine();
            case "sqnr" -> figures.sqnr();
            case "score" -> figures.score();
            case "ratio" -> figures.kind().equals("latency") ? figures.latencyRatio() : figures.sizeRatio();
            default -> (double) figures.bytes();
        };
    }

    private static RecipeRun.GateOutcome outcome(Recipe.Gate gate, boolean passed, Double value, Double low,
            Double high, double limit, String message) {
        return new RecipeRun.GateOutcome(gate.name(), gate.metric(), gate.againstBaseline() ? "baseline" : null,
                passed, value, low, high, limit, message);
    }

    private static String verdict(boolean passed) {
        return passed ? "PASS" : "FAIL";
    }

    /** To 6 decimals, so that gate files are byte-stable. */
    static double round(double value) {
        return BigDecimal.valueOf(value).setScale(6, RoundingMode.HALF_EVEN).doubleValue();
    }

    private static double round3(double value) {
        return BigDecimal.valueOf(value).setScale(3, RoundingMode.HALF_EVEN).doubleValue();
    }

    private static double round2(double value) {
        return BigDecimal.valueOf(value).setScale(2, RoundingMode.HALF_EVEN).doubleValue();
    }

    private static String plain(double value) {
        return CiReports.plain(value);
    }

    private static String signed(double value) {
        return (value > 0 ? "+" : "") + plain(value);
    }
}
