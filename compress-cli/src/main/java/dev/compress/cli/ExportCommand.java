package dev.compress.cli;

import dev.compress.eval.EvalReport;
import dev.compress.export.Budget;
import dev.compress.export.BudgetCheck;
import dev.compress.export.Bundle;
import dev.compress.export.BundleExporter;
import dev.compress.graph.OnnxModel;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code compress export}: the edge bundle of a model (docs/export.md). */
@Command(
        name = "export",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Write a model's edge bundle: a reproducible zip with the model, an ORT-format copy, the operator list"
                    + " of a reduced ONNX Runtime build, labels, a manifest with the SHA-256 of every file, a model"
                    + " card and a single-file Java example.",
            ""
        },
        footer = {
            "",
            "Example:",
            "  compress export --model resnet-int8.onnx --labels labels.txt --labels-zh labels-zh.txt"
                    + " --eval-report resnet-int8.json --out resnet-int8.zip"
        })
final class ExportCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "MODEL", order = 1, description = "The .onnx model.")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "BUNDLE.zip", order = 2,
            description = "Where to write the bundle. Its folder must exist.")
    Path out;

    @Option(names = "--labels", paramLabel = "FILE", order = 3,
            description = "Class names, UTF-8, one per line in output order. Default: the model's compress.labels.")
    Path labels;

    @Option(names = "--labels-zh", paramLabel = "FILE", order = 4,
            description = "Chinese class names, likewise (labels-zh.txt in the bundle).")
    Path labelsZh;

    @Option(names = "--eval-report", paramLabel = "REPORT.json", order = 5,
            description = "An evaluation of this model (eval --report, or a quantize report with --eval): its figures"
                    + " go into the manifest and the model card.")
    Path evalReport;

    @Option(names = "--budget", paramLabel = "LIMITS|PROFILE", order = 6,
            description = "Check the model against a device budget, e.g. size=8MB,memory=600MB,latency=50ms@4threads,"
                    + " or a profile: rpi5, jetson-nano-2gb, npu-box-4gb (docs/export.md). Exit 4 when a limit is"
                    + " exceeded; the bundle is still written.")
    String budget;

    @Option(names = "--budget-profiles", paramLabel = "FILE.json", order = 7,
            description = "More budget profiles, in the form of the built-in ones; its names win.")
    Path budgetProfiles;

    @Option(names = "--include-source", paramLabel = "MODEL", order = 8,
            description = "Also bundle this model (the fp32 source it was made from) unchanged as source.onnx, a"
                    + " fallback listed in the manifest's variants. It must take the same input and give the same"
                    + " classes.")
    Path includeSource;

    @Option(names = "--measure-latency", paramLabel = "THREADS", order = 9,
            description = "Measure latency and peak memory on this host with THREADS threads into measurements.json,"
                    + " declared by the manifest but not hashed: the zip then differs from run to run"
                    + " (docs/export.md).")
    Integer measureLatency;

    @Mixin
    PreprocessingOptions preprocessing;

    @Override
    public Integer call() {
        if (budgetProfiles != null && budget == null) {
            throw usage("--budget-profiles needs --budget");
        }
        if (measureLatency != null && measureLatency < 1) {
            throw usage("--measure-latency takes a thread count of at least 1, got " + measureLatency);
        }
        Budget limits = budget == null ? null : Budget.parse(budget, budgetProfiles);
        Outputs.check(spec).input("--model", model).input("--labels", labels).input("--labels-zh", labelsZh)
                .input("--eval-report", evalReport).input("--budget-profiles", budgetProfiles)
                .input("--include-source", includeSource)
                .output("--out", out).run();
        EvalReport evaluation = evalReport == null ? null : Reports.read(evalReport);
        Bundle bundle = BundleExporter.builder()
                .setModel(OnnxModel.load(model))
                .optLabels(labels)
                .optLabelsZh(labelsZh)
                .optEvaluation(evaluation)
                .optPreprocessing(preprocessing.overrides())
                .optSource(includeSource)
                .optMeasureLatency(measureLatency == null ? 0 : measureLatency)
                .build()
                .export();
        bundle.write(out);
        global.out().println("wrote " + out);
        bundle.files().forEach((name, content) -> global.out().printf("  %9d  %s%n", content.length, name));
        if (limits == null) {
            global.out().flush();
            return ExitCode.OK;
        }
        BudgetCheck.Result result = BudgetCheck.check(bundle, limits);
        result.figures().forEach(figure -> global.out().println(figure.describe()));
        global.out().println(result.passed() ? "PASS: budget " + limits.name()
                : "FAIL: budget " + limits.name() + ": " + result.failures());
        global.out().flush();
        return result.passed() ? ExitCode.OK : ExitCode.GATE_FAILED;
    }
}
