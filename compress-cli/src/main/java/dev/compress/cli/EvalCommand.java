package dev.compress.cli;

import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.eval.Gate;
import dev.compress.eval.GateResult;
import dev.compress.graph.OnnxModel;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

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
final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GlobalOptions global;

    @Option(names = "--model", required = true, paramLabel = "MODEL", order = 1,
            description = "The .onnx model to evaluate.")
    Path model;

    @Option(names = "--data", required = true, paramLabel = "DIR", order = 2,
            description = "Labeled samples: a folder of class sub-folders of images, a .csv of path,label lines, "
                    + "or a folder of .npy files with labels.npy.")
    Path data;

    @Option(names = "--baseline", paramLabel = "MODEL", order = 3,
            description = "A reference model (e.g. the fp32 original) run on the same samples.")
    Path baseline;

    @Option(names = "--labels", paramLabel = "FILE", order = 4,
            description = "Class names, one per line, in the model's output order."
                    + " Default: labels.txt beside the data or in its parent folder.")
    Path labels;

    private Double maxDrop;

    @Option(names = "--max-drop", paramLabel = "PTS", order = 5,
            description = "With --baseline: the largest top-1 drop allowed, in percentage points; above it the "
                    + "command exits 4.")
    void setMaxDrop(double value) {
        maxDrop = Checks.maxDrop(spec, value);
    }

    @Option(names = "--report", paramLabel = "FILE.json", order = 6,
            description = "Write the evaluation report as JSON (input to compress gate). Default: none.")
    Path report;

    private int batchSize = 32;

    @Option(names = "--batch-size", paramLabel = "N", order = 7, defaultValue = "32",
            description = "Samples per ONNX Runtime call. Default: ${DEFAULT-VALUE}.")
    void setBatchSize(int value) {
        batchSize = Checks.batchSize(spec, value);
    }

    @Mixin
    PreprocessingOptions preprocessing;

    @Override
    public Integer call() {
        if (maxDrop != null && baseline == null) {
            throw new ParameterException(spec.commandLine(),
                    "--max-drop needs --baseline MODEL (the model the drop is measured against)");
        }
        if (report != null) {
            Outputs.checkCanWrite(report);
        }
        OnnxModel candidate = OnnxModel.load(model);
        if (baseline != null) {
            OnnxModel.load(baseline); // same clear error for a missing, non-ONNX or truncated baseline
        }
        Datasets.Opened opened = Datasets.open(data, candidate, preprocessing, labels);
        Evaluator.Builder evaluator = Evaluator.builder()
                .setModel(model)
                .setData(opened.dataset())
                .optBatchSize(batchSize)
                .optProgress(global.progress());
        if (baseline != null) {
            evaluator.optBaseline(baseline);
        }
        EvalReport result = evaluator.build().evaluate().withPreprocessing(opened.preprocessingMap());
        GateResult gate = maxDrop == null ? null : Gate.check(result, maxDrop);
        if (report != null) {
            result.writeJson(report);
        }
        global.out().print(result.summary());
        if (gate != null) {
            global.out().println(gate.message());
        }
        if (report != null) {
            global.out().println("report: " + report);
        }
        global.out().flush();
        return gate != null && !gate.passed() ? ExitCode.GATE_FAILED : ExitCode.OK;
    }
}
