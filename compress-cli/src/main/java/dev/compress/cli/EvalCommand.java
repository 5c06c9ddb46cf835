package dev.compress.cli;

import dev.compress.data.DataSources;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.eval.Gate;
import dev.compress.eval.GateResult;
import dev.compress.graph.OnnxModel;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code compress eval}: top-1/top-5 accuracy on labeled data, optionally against a baseline model and a gate. */
@Command(
        name = "eval",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Measure a classifier's top-1 and top-5 accuracy on labeled data.",
            "",
            "With --baseline, also runs the baseline model on the same samples and reports the drop, agreement and"
                    + " McNemar's test; with --max-drop, exits 4 if top-1 drops by more than that many points.",
            ""
        },
        footer = {
            "",
            "Example:",
            "  compress eval --model resnet-int8.onnx --data calibration-data/fashion-mnist/heldout \\",
            "      --baseline calibration-data/models/resnet-fp32.onnx --max-drop 1 --report eval.json"
        })
final class EvalCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "MODEL", order = 1,
            description = "The .onnx model to evaluate.")
    Path model;

    @Mixin
    DataOptions data;

    @Option(names = "--baseline", paramLabel = "MODEL", order = 3,
            description = "A reference model (e.g. the fp32 original) run on the same samples.")
    Path baseline;

    @Mixin
    MaxDropOption maxDrop;

    @Mixin
    ReportOption report;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() {
        if (maxDrop.maxDrop() != null && baseline == null) {
            throw usage("--max-drop needs --baseline MODEL (the model the drop is measured against)");
        }
        Path reportFile = report.report();
        data.addTo(Outputs.check(spec)).input("--model", model).input("--baseline", baseline)
                .output("--report", reportFile).run();
        OnnxModel candidate = OnnxModel.load(model);
        if (baseline != null) {
            OnnxModel.load(baseline); // same clear error for a missing, non-ONNX or truncated baseline
        }
        DataSources.Opened opened = data.open(candidate);
        Evaluator.Builder evaluator = Evaluator.builder()
                .setModel(model)
                .setData(opened.dataset())
                .optBatchSize(run.batchSize(candidate, opened.dataset(), global))
                .optProgress(global.progress());
        if (baseline != null) {
            evaluator.optBaseline(baseline);
        }
        EvalReport result = evaluator.build().evaluate().withPreprocessing(opened.preprocessingMap());
        GateResult gate = maxDrop.maxDrop() == null ? null : Gate.check(result, maxDrop.maxDrop());
        if (reportFile != null) {
            result.writeJson(reportFile);
        }
        global.out().print(result.summary());
        if (gate != null) {
            global.out().println(gate.message());
        }
        if (reportFile != null) {
            global.out().println("report: " + reportFile);
        }
        global.out().flush();
        return gate != null && !gate.passed() ? ExitCode.GATE_FAILED : ExitCode.OK;
    }
}
