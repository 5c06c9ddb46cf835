package dev.compress.cli;

import dev.compress.debug.LayerDebugger;
import dev.compress.debug.LayerReport;
import dev.compress.graph.OnnxModel;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code compress debug}: where a quantized model loses fidelity, layer by layer. */
@Command(
        name = "debug",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Rank the layers of an INT8 model by the SQNR of their activations against the fp32 model.",
            "",
            "Runs both models on the same samples, matches activations by name across the QDQ rewrite and prints"
                    + " the worst layers; their names are what 'compress quantize --exclude' takes. Writes the full"
                    + " ranking as JSON and a PNG bar chart on request.",
            ""
        },
        footer = {
            "",
            "Example:",
            "  compress debug --fp32 calibration-data/models/resnet-fp32.onnx --int8 resnet-int8.onnx \\",
            "      --data calibration-data/fashion-mnist/heldout --json layers.json --chart layers.png",
            "  compress debug --fp32 ... --int8 ... --data calibration-data/fashion-mnist/heldout \\",
            "      --sensitivity --calib calibration-data/fashion-mnist/calib"
        })
final class DebugCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GlobalOptions global;

    @Option(names = "--fp32", required = true, paramLabel = "MODEL", order = 1,
            description = "The fp32 .onnx model that was quantized.")
    Path fp32;

    @Option(names = "--int8", required = true, paramLabel = "MODEL", order = 2,
            description = "The QDQ .onnx model (e.g. written by compress quantize).")
    Path int8;

    @Option(names = "--data", required = true, paramLabel = "DIR", order = 3,
            description = "Samples: a folder of images, a .csv of path,label lines, or a folder of .npy files."
                    + " Labels are not needed.")
    Path data;

    @Option(names = "--json", paramLabel = "FILE.json", order = 4, description = "Write the full ranking as JSON.")
    Path json;

    @Option(names = "--chart", paramLabel = "FILE.png", order = 5,
            description = "Write a PNG bar chart of the worst --top layers.")
    Path chart;

    private int top = 10;

    @Option(names = "--top", paramLabel = "N", order = 6, defaultValue = "10",
            description = "Layers printed and charted. Default: ${DEFAULT-VALUE}.")
    void setTop(int value) {
        if (value < 1) {
            throw new ParameterException(spec.commandLine(), "--top must be at least 1, got " + value);
        }
        top = value;
    }

    private int batchSize = 32;

    @Option(names = "--batch-size", paramLabel = "N", order = 7, defaultValue = "32",
            description = "Samples per ONNX Runtime call. Default: ${DEFAULT-VALUE}.")
    void setBatchSize(int value) {
        batchSize = Checks.batchSize(spec, value);
    }

    @Option(names = "--sensitivity", order = 8,
            description = "Also rank the weighted layers by what excluding each gains at the output: re-quantizes"
                    + " the fp32 model once per layer with the INT8 model's recorded settings and ranges from"
                    + " --calib (one model run per layer and sample). The suggested --exclude is then the layer"
                    + " with the largest gain.")
    boolean sensitivity;

    @Option(names = "--calib", paramLabel = "DIR", order = 9,
            description = "Calibration samples for --sensitivity: the data the INT8 model was calibrated on.")
    Path calib;

    @Mixin
    PreprocessingOptions preprocessing;

    @Override
    public Integer call() {
        if (sensitivity != (calib != null)) {
            throw new ParameterException(spec.commandLine(), sensitivity
                    ? "--sensitivity needs --calib DIR (the INT8 model's calibration data)"
                    : "--calib is only used with --sensitivity");
        }
        for (Path out : new Path[] {json, chart}) {
            if (out != null) {
                Outputs.checkCanWrite(out);
            }
        }
        OnnxModel reference = OnnxModel.load(fp32);
        OnnxModel quantized = OnnxModel.load(int8);
        Datasets.Opened opened = Datasets.open(data, reference, preprocessing, null);
        LayerDebugger.Builder debugger = LayerDebugger.builder()
                .setFloatModel(reference)
                .setQuantizedModel(quantized)
                .setData(opened.dataset())
                .optBatchSize(batchSize)
                .optProgress(global.progress());
        if (sensitivity) {
            debugger.optSensitivity(Datasets.open(calib, reference, preprocessing, null).dataset());
        }
        LayerReport report = debugger.build().run();
        if (json != null) {
            report.writeJson(json);
        }
        if (chart != null) {
            report.writeChart(chart, top);
        }
        global.out().print(report.summary(top));
        List<String> worst = report.suggestions(1);
        if (sensitivity) {
            global.out().println(report.bestExclusion()
                    .map(g -> String.format(Locale.ROOT, "largest gain (%s dB at the output on this data): compress"
                            + " quantize ... --exclude %s", g.gainDb() == null ? "exact" : String.format(Locale.ROOT,
                                    "%+.2f", g.gainDb()), g.node()))
                    .orElse("no single exclusion raises output SQNR on this data; keep the model as it is"));
        } else if (!worst.isEmpty()) {
            // --exclude removes only the layer's weight rounding; its 8-bit input and output stay (docs/scoring.md)
            global.out().println("to try the worst layer's weights in float (its input and output stay 8-bit; "
                    + "re-measure after): compress quantize ... --exclude " + worst.get(0));
        }
        global.out().flush();
        return ExitCode.OK;
    }
}
