package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.data.DataSources;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.eval.Gate;
import dev.compress.eval.GateResult;
import dev.compress.graph.OnnxModel;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code --eval} and {@code --max-drop}: after a command rewrote a model, evaluate the result against the model it
 * came from on labeled data, and gate on the top-1 drop.
 */
final class EvalGateOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    @Option(names = "--eval", paramLabel = "DIR", order = 20,
            description = "Labeled data to evaluate the written model on, with the input model as baseline.")
    Path eval;

    @Mixin
    MaxDropOption maxDrop;

    /** An evaluation and, with --max-drop, its gate (null without). */
    record Outcome(EvalReport report, GateResult gate) {
        boolean failed() {
            return gate != null && !gate.passed();
        }
    }

    /** Usage errors found before any work. */
    void check() {
        if (maxDrop.maxDrop() != null && eval == null) {
            throw new ParameterException(mixee.commandLine(), "--max-drop needs --eval DIR (data to measure the drop on)");
        }
    }

    /** Opens --eval data now, so that unlabeled data fails before the long part of the run; null without --eval. */
    DataSources.Opened open(DataOptions data, OnnxModel model) {
        if (eval == null) {
            return null;
        }
        DataSources.Opened opened = data.open(eval, model);
        if (opened.dataset().classNames().isEmpty()) {
            throw CompressException.badInput(eval, "has no labels; --eval needs labeled samples (class folders, "
                    + "a .csv of path,label lines, or .npy data with labels.npy)");
        }
        return opened;
    }

    /**
     * Evaluates {@code candidate} (not yet written; reported under the name {@code output}) against the model file
     * {@code baseline}; null when {@code opened} is null.
     */
    Outcome evaluate(DataSources.Opened opened, OnnxModel candidate, Path baseline, Path output, RunOptions run,
            GlobalOptions global) {
        if (opened == null) {
            return null;
        }
        EvalReport report = Evaluator.builder()
                .setModel(candidate)
                .setData(opened.dataset())
                .optBaseline(baseline)
                .optBatchSize(run.batchSize(candidate, opened.dataset(), global))
                .optProgress(global.progress())
                .build()
                .evaluate()
                .withPreprocessing(opened.preprocessingMap())
                .withModel(output.toString());
        return new Outcome(report, maxDrop.maxDrop() == null ? null : Gate.check(report, maxDrop.maxDrop()));
    }

    /** Prints the evaluation summary and gate line, if there was an evaluation. */
    static void print(Outcome outcome, GlobalOptions global) {
        if (outcome == null) {
            return;
        }
        global.out().print(outcome.report().summary());
        if (outcome.gate() != null) {
            global.out().println(outcome.gate().message());
        }
    }
}
