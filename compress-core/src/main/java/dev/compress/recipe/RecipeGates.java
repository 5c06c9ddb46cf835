package dev.compress.recipe;

import dev.compress.eval.EvalReport;
import dev.compress.eval.Gate;
import dev.compress.eval.GateResult;
import java.util.Locale;

/** A recipe gate decided on an eval check's report (evaluated against the source model). */
final class RecipeGates {
    private RecipeGates() {}

    static RecipeRun.GateOutcome decide(Recipe.Gate gate, EvalReport report) {
        EvalReport.Baseline source = report.baseline();
        String metric = gate.metric().substring(gate.metric().lastIndexOf('.') + 1);
        switch (metric) {
            case "top1-drop" -> {
                GateResult result = Gate.check(report, gate.max());
                return new RecipeRun.GateOutcome(gate.name(), gate.metric(), result.passed(), result.dropPoints(),
                        gate.max(), result.message());
            }
            case "agreement" -> {
                double agreement = source.agreement().fraction();
                boolean passed = agreement >= gate.min();
                return new RecipeRun.GateOutcome(gate.name(), gate.metric(), passed, agreement, gate.min(),
                        String.format(Locale.ROOT, "%s: top-1 agreement with the source %s, minimum %.2f%%",
                                passed ? "PASS" : "FAIL", source.agreement().describe(), 100 * gate.min()));
            }
            default -> {
                // fails only when the model is worse (b > c: more samples only the source gets right) and the
                // difference is significant at the recipe's alpha, not merely when the models differ
                EvalReport.McNemar test = source.mcnemar();
                boolean worse = test.b() > test.c() && test.pValue() < gate.alpha();
                return new RecipeRun.GateOutcome(gate.name(), gate.metric(), !worse, test.pValue(), gate.alpha(),
                        String.format(Locale.ROOT, "%s: %s the source at alpha %s (McNemar b=%d c=%d, p = %.4f, %s)",
                                worse ? "FAIL" : "PASS", worse ? "significantly worse than" : "not significantly"
                                        + " worse than", CiReports.plain(gate.alpha()), test.b(), test.c(), test.pValue(),
                                test.method()));
            }
        }
    }
}
