package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.data.DataSources;
import dev.compress.graph.OnnxModel;
import dev.compress.recipe.Recipe;
import dev.compress.recipe.RecipeSteps;
import dev.compress.score.ScoreReport;
import dev.compress.score.Scorer;
import dev.compress.torch.TorchScriptModel;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code compress score}: how faithfully a student imitates its teacher, and TorchScript-vs-ONNX export parity. */
@Command(
        name = "score",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Score a student model against its teacher on the same samples.",
            "",
            "Reports KL divergence of the softened outputs at temperature T (with the T² scaling of distillation"
                    + " losses), top-1 agreement, top-5 overlap, cosine similarity and MSE of the outputs, per-class"
                    + " agreement when the data has labels (each with a 95%% interval), and the max/mean absolute"
                    + " difference that judges an export. Teacher and student are .onnx models or TorchScript"
                    + " checkpoints (.pt, run offline through DJL's PyTorch engine). With --parity, exits 4 when the"
                    + " student is not a faithful export of the teacher.",
            ""
        },
        footer = {
            "",
            "Examples:",
            "  compress score --teacher calibration-data/models/resnet-fp32.pt \\",
            "      --student calibration-data/models/cnn-fp32.onnx --data calibration-data/fashion-mnist/heldout \\",
            "      --temperature 1,4 --json score.json --markdown score.md",
            "  compress score --teacher calibration-data/models/resnet-fp32.pt \\",
            "      --student calibration-data/models/resnet-fp32.onnx --data calibration-data/fashion-mnist/heldout"
                    + " --parity"
        })
final class ScoreCommand extends BaseCommand {
    @Option(names = "--teacher", required = true, paramLabel = "MODEL", order = 1,
            description = "The reference model: .onnx, or a TorchScript checkpoint (.pt, .pth, .ts).")
    Path teacher;

    @Option(names = "--student", required = true, paramLabel = "MODEL", order = 2,
            description = "The model judged against the teacher, in either format.")
    Path student;

    @Mixin
    DataOptions data;

    private double[] temperatures = {1};

    @Option(names = "--temperature", paramLabel = "T[,T...]", split = ",", order = 5, defaultValue = "1",
            description = "Softening temperature(s) of the KL divergence, each > 0. Default: ${DEFAULT-VALUE}.")
    void setTemperatures(List<Double> values) {
        for (double t : values) {
            if (!(t > 0) || Double.isInfinite(t)) {
                throw usage("--temperature must be a number > 0, got " + t);
            }
        }
        temperatures = values.stream().mapToDouble(Double::doubleValue).toArray();
    }

    @Option(names = "--outputs", paramLabel = "logits|embedding", order = 6, defaultValue = "logits",
            description = "What the first model output holds: class scores (all metrics) or an embedding (cosine,"
                    + " MSE and differences). Default: ${DEFAULT-VALUE}.")
    String outputs;

    @Option(names = "--parity", order = 7,
            description = "The student is an export of the teacher (e.g. TorchScript to ONNX): exit 4 when the"
                    + " relative max difference exceeds --parity-tolerance.")
    boolean parity;

    private double parityTolerance = Scorer.DEFAULT_PARITY_TOLERANCE;

    @Option(names = "--parity-tolerance", paramLabel = "REL", order = 8,
            description = "Largest max|teacher - student| / max|teacher| of a faithful export. Default: 1e-4.")
    void setParityTolerance(double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw usage("--parity-tolerance must be a number > 0, got " + value);
        }
        parityTolerance = value;
    }

    @Mixin
    ReportOption report;

    @Option(names = "--markdown", paramLabel = "FILE.md", order = 10, description = "Write the report as Markdown.")
    Path markdown;

    @Mixin
    RunOptions run;

    /** The recipe's score check of these flags, which runs through {@link RecipeSteps} as in a recipe. */
    private Recipe.Score check(Scorer.Outputs kind) {
        return new Recipe.Score("score", null, null, Arrays.stream(temperatures).boxed().toList(),
                kind.name().toLowerCase(Locale.ROOT));
    }

    @Override
    public Integer call() {
        Scorer.Outputs kind = switch (outputs.toLowerCase(Locale.ROOT)) {
            case "logits" -> Scorer.Outputs.LOGITS;
            case "embedding" -> Scorer.Outputs.EMBEDDING;
            default -> throw usage("--outputs must be logits or embedding, got " + outputs);
        };
        data.addTo(Outputs.check(spec)).input("--teacher", teacher).input("--student", student)
                .output("--report", report.report()).output("--markdown", markdown).run();
        // the ONNX side names the input and carries the preprocessing metadata; TorchScript has neither
        Path onnx = !TorchScriptModel.isTorchScriptName(student) ? student
                : !TorchScriptModel.isTorchScriptName(teacher) ? teacher : null;
        if (onnx == null) {
            throw CompressException.badInput("at least one of --teacher and --student must be an .onnx model: its"
                    + " input name and metadata define how the data is fed (both are TorchScript here)");
        }
        if (onnx == student && !TorchScriptModel.isTorchScriptName(teacher)) {
            OnnxModel.load(teacher); // a broken teacher is reported before the data is read
        }
        OnnxModel fed = OnnxModel.load(onnx);
        DataSources.Opened opened = data.open(fed);
        ScoreReport scores = RecipeSteps.score(check(kind), teacher, student, opened.dataset(),
                run.batchSize(fed, opened.dataset(), global), global.progress(), parityTolerance);
        if (report.report() != null) {
            scores.writeJson(report.report());
        }
        if (markdown != null) {
            scores.writeMarkdown(markdown);
        }
        global.out().print(scores.summary(parity));
        if (parity) {
            global.out().println(scores.parity().withinTolerance()
                    ? "export parity: OK" : "export parity: BROKEN (relative max difference above tolerance)");
        }
        global.out().flush();
        return parity && !scores.parity().withinTolerance() ? ExitCode.GATE_FAILED : ExitCode.OK;
    }
}
