package dev.compress.cli;

import dev.compress.eval.EvalReport;
import dev.compress.eval.Gate;
import dev.compress.eval.GateResult;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code compress gate}: pass or fail a model on the accuracy drop recorded in evaluation reports. */
@Command(
        name = "gate",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {
            "Pass (exit 0) or fail (exit 4) on the top-1 accuracy drop in evaluation reports.",
            "",
            "With one report, it must have been evaluated with a baseline (eval --baseline, or a quantize report"
                    + " written with --eval). With two, the first is the baseline's and the second the candidate's,"
                    + " both on the same data. Prints a one-line verdict.",
            ""
        },
        footer = {
            "",
            "Examples:",
            "  compress gate resnet-int8.json --max-drop 1",
            "  compress gate fp32-eval.json int8-eval.json --max-drop 0.5"
        })
final class GateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GlobalOptions global;

    @Parameters(index = "0", paramLabel = "REPORT.json",
            description = "A report evaluated with a baseline; or, with a second report, the baseline's report.")
    Path first;

    @Parameters(index = "1", arity = "0..1", paramLabel = "CANDIDATE.json",
            description = "The candidate's report, evaluated on the same data as the first.")
    Path second;

    private double maxDrop;

    @Option(names = "--max-drop", required = true, paramLabel = "PTS",
            description = "The largest top-1 accuracy drop allowed, in percentage points.")
    void setMaxDrop(double value) {
        maxDrop = Checks.maxDrop(spec, value);
    }

    @Override
    public Integer call() {
        GateResult result;
        if (second == null) {
            result = Gate.check(Reports.read(first), maxDrop);
        } else {
            EvalReport base = Reports.read(first);
            EvalReport candidate = Reports.read(second);
            result = Gate.compare(base, candidate, maxDrop);
        }
        global.out().println(result.message());
        global.out().flush();
        return result.passed() ? ExitCode.OK : ExitCode.GATE_FAILED;
    }
}
