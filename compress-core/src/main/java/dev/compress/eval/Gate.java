package dev.compress.eval;

import dev.compress.CompressException;
import java.util.Locale;

/**
 * Accepts or rejects a compressed model by how many percentage points of top-1 accuracy it loses against its
 * baseline. The decision rests on the drop alone; McNemar's p-value is reported in the message to show whether the
 * difference is more than noise, but does not decide.
 */
public final class Gate {
    private Gate() {}

    /**
     * Checks a report that was evaluated with a baseline model (paired on the same samples).
     *
     * @throws CompressException BAD_INPUT if the report has no baseline, or the limit is negative or not a number
     */
    public static GateResult check(EvalReport report, double maxDropPoints) {
        checkLimit(maxDropPoints);
        EvalReport.Baseline baseline = report.baseline();
        if (baseline == null) {
            throw CompressException.badInput("the report on " + report.model()
                    + " has no baseline; the gate needs a baseline (evaluate with a baseline model)");
        }
        // from the counts, not the stored dropPoints: a report read from a file may have been edited
        double drop = EvalReport.dropPoints(baseline.top1().count(), report.top1().count(), report.samples());
        return decide(ReportJson.round(drop), maxDropPoints, baseline.top1(), report.top1(),
                baseline.mcnemar().describe());
    }

    /**
     * Compares two reports on the same data ({@code compress gate BASE.json CAND.json}). Two separate reports cannot
     * be paired sample by sample, so McNemar's p-value is quoted only when the candidate report was itself
     * evaluated against the same baseline model.
     *
     * @throws CompressException BAD_INPUT if the reports differ in classes or sample count, or the limit is invalid
     */
    public static GateResult compare(EvalReport baseline, EvalReport candidate, double maxDropPoints) {
        checkLimit(maxDropPoints);
        if (!baseline.classes().equals(candidate.classes())) {
            int base = baseline.classes().size();
            int cand = candidate.classes().size();
            String how = base == cand ? base + " each, named or ordered differently" : base + " vs " + cand;
            throw CompressException.badInput("the reports have different classes (" + how + "; baseline "
                    + baseline.model() + ", candidate " + candidate.model()
                    + "); compare reports evaluated on the same data");
        }
        if (baseline.samples() != candidate.samples()) {
            throw CompressException.badInput("the reports cover different data (baseline " + baseline.model() + ": "
                    + baseline.samples() + " samples, candidate " + candidate.model() + ": " + candidate.samples()
                    + " samples); compare reports evaluated on the same data");
        }
        // from the counts, not the rounded fractions, so the drop is exact
        double drop = EvalReport.dropPoints(baseline.top1().count(), candidate.top1().count(), baseline.samples());
        EvalReport.Baseline paired = candidate.baseline();
        String test = paired != null && paired.model().equals(baseline.model())
                ? paired.mcnemar().describe()
                : "McNemar not available (unpaired reports; evaluate the candidate with --baseline for it)";
        return decide(ReportJson.round(drop), maxDropPoints, baseline.top1(), candidate.top1(), test);
    }

    private static void checkLimit(double maxDropPoints) {
        if (!(maxDropPoints >= 0) || Double.isInfinite(maxDropPoints)) {
            throw CompressException.badInput("the maximum top-1 drop must be a number of points >= 0, got "
                    + maxDropPoints);
        }
    }

    private static GateResult decide(double drop, double maxDropPoints, EvalReport.Proportion baselineTop1,
            EvalReport.Proportion candidateTop1, String test) {
        boolean passed = drop <= maxDropPoints;
        String message = String.format(Locale.ROOT, "%s: top-1 drop %s points (baseline %.2f%%, candidate %.2f%%), "
                        + "limit %s points; %s", passed ? "PASS" : "FAIL", ReportJson.plain(drop),
                100 * baselineTop1.fraction(), 100 * candidateTop1.fraction(), ReportJson.plain(maxDropPoints), test);
        return new GateResult(passed, drop, maxDropPoints, message);
    }
}
