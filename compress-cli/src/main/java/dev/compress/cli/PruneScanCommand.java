package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.data.DataSources;
import dev.compress.graph.OnnxModel;
import dev.compress.prune.SensitivityReport;
import dev.compress.prune.SensitivityScan;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code compress prune scan}: how much accuracy each layer loses when pruned alone, before choosing sparsities. */
@Command(
        name = "scan",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Sensitivity scan: accuracy on labeled data of each layer pruned alone at each sparsity, and of the whole"
                    + " model at those global sparsities. Writes JSON and a PNG plot.",
            ""
        },
        footer = {
            "",
            "Example:",
            "  compress prune scan --model resnet-fp32.onnx --data calibration-data/fashion-mnist/heldout \\",
            "      --out scan.json"
        })
final class PruneScanCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "MODEL", order = 1,
            description = "The .onnx model to scan.")
    Path model;

    @Mixin
    DataOptions data;

    @Option(names = "--out", required = true, paramLabel = "FILE.json", order = 3,
            description = "Where to write the scan report (.json).")
    Path out;

    @Option(names = "--plot", paramLabel = "FILE.png", order = 4,
            description = "Where to write the plot. Default: OUT with .png instead of .json.")
    Path plot;

    private List<Double> sparsities = List.of(0.25, 0.5, 0.75, 0.9);

    @Option(names = "--sparsities", paramLabel = "S,S,...", split = ",", order = 5,
            description = "Sparsities of the scan, each in [0, 1). Default: 0.25,0.5,0.75,0.9.")
    void setSparsities(List<Double> values) {
        for (double v : values) {
            if (!(v >= 0 && v < 1)) {
                throw usage("--sparsities must be in [0, 1), got " + v);
            }
        }
        sparsities = List.copyOf(values);
    }

    @Option(names = "--exclude", paramLabel = "LAYER", split = ",", order = 6,
            description = "Layers (node or weight names) left out of the scan, comma-separated.")
    List<String> exclude = new ArrayList<>();

    @Mixin
    RunOptions run;

    @Override
    public Integer call() {
        Path plotFile = plot != null ? plot : OutputOptions.beside(out, ".png");
        data.addTo(Outputs.check(spec)).input("--model", model).output("--out", out).output("--plot", plotFile)
                .run();
        OnnxModel original = OnnxModel.load(model);
        DataSources.Opened evaluation = data.open(original);
        if (evaluation.dataset().classNames().isEmpty()) {
            throw CompressException.badInput(data.data(), "has no labels; the scan needs labeled samples");
        }
        SensitivityReport result = SensitivityScan.builder()
                .setModel(original)
                .setData(evaluation.dataset())
                .optLayerSparsities(sparsities)
                .optGlobalSparsities(sparsities)
                .optExclude(exclude)
                .optBatchSize(run.batchSize(original, evaluation.dataset(), global))
                .optProgress(global.progress())
                .build()
                .scan();
        Json.write(out, result);
        result.writePlot(plotFile);
        var stdout = global.out();
        stdout.print(result.summary());
        stdout.println("report: " + out);
        stdout.println("plot: " + plotFile);
        stdout.flush();
        return ExitCode.OK;
    }
}
