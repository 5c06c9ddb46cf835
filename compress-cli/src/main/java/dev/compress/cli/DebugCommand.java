package dev.compress.cli;

import dev.compress.data.DataSources;
import dev.compress.debug.LayerDebugger;
import dev.compress.debug.LayerReport;
import dev.compress.graph.OnnxModel;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

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
            "  compress debug --model resnet-int8.onnx --baseline calibration-data/models/resnet-fp32.onnx \\",
            "      --data calibration-data/fashion-mnist/heldout --report layers.json --chart layers.png",
            "  compress debug --model ... --baseline ... --data calibration-data/fashion-mnist/heldout \\",
            "      --sensitivity --calib calibration-data/fashion-mnist/calib"
        })
final class DebugCommand extends BaseCommand {
    private Path int8;
    private Path fp32;

    @Option(names = "--model", paramLabel = "MODEL", order = 1,
            description = "The QDQ .onnx model (e.g. written by compress quantize).")
    void setModel(Path int8) {
        this.int8 = int8;
    }

    @Option(names = "--baseline", paramLabel = "MODEL", order = 1,
            description = "The fp32 .onnx model that was quantized.")
    void setBaseline(Path fp32) {
        this.fp32 = fp32;
    }

    @Option(names = "--int8", paramLabel = "MODEL", hidden = true)
    void setInt8(Path int8) {
        Deprecation.warn(spec, "--int8", "--model");
        this.int8 = int8;
    }

    @Option(names = "--fp32", paramLabel = "MODEL", hidden = true)
    void setFp32(Path fp32) {
        Deprecation.warn(spec, "--fp32", "--baseline");
        this.fp32 = fp32;
    }

    @Mixin
    DataOptions data;

    @Mixin
    ReportOption report;

    @Option(names = "--chart", paramLabel = "FILE.png", order = 5,
            description = "Write a PNG bar chart of the worst --top layers.")
    Path chart;

    private int top = 10;

    @Option(names = "--top", paramLabel = "N", order = 6, defaultValue = "10",
            description = "Layers printed and charted. Default: ${DEFAULT-VALUE}.")
    void setTop(int value) {
        if (value < 1) {
            throw usage("--top must be at least 1, got " + value);
        }
        top = value;
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
    RunOptions run;

    @Override
    public Integer call() {
        if (int8 == null || fp32 == null) {
            throw usage("Missing required options: '--model=MODEL' (the INT8 model) and '--baseline=MODEL' (its fp32"
                    + " source)");
        }
        if (sensitivity != (calib != null)) {
            throw usage(sensitivity
                    ? "--sensitivity needs --calib DIR (the INT8 model's calibration data)"
                    : "--calib is only used with --sensitivity");
        }
        data.addTo(Outputs.check(spec)).input("--model", int8).input("--baseline", fp32).input("--calib", calib)
                .output("--report", report.report()).output("--chart", chart).run();
        OnnxModel reference = OnnxModel.load(fp32);
        OnnxModel quantized = OnnxModel.load(int8);
        DataSources.Opened opened = data.open(reference);
        LayerDebugger.Builder debugger = LayerDebugger.builder()
                .setFloatModel(reference)
                .setQuantizedModel(quantized)
                .setData(opened.dataset())
                // one sample a run: each run holds up to 64 layers' activations of both models, on the heap and in
                // ONNX Runtime (a 48x320 OCR recogniser at 5: 7.1 GB peak RSS; at 1: 0.9 GB with -Xmx1g)
                .optBatchSize(run.batchSize(reference, global, 1))
                .optProgress(global.progress());
        if (sensitivity) {
            debugger.optSensitivity(data.open(calib, reference).dataset());
        }
        LayerReport layers = debugger.build().run();
        if (report.report() != null) {
            layers.writeJson(report.report());
        }
        if (chart != null) {
            layers.writeChart(chart, top);
        }
        global.out().print(layers.summary(top));
        List<String> worst = layers.suggestions(1);
        if (sensitivity) {
            global.out().println(layers.bestExclusion()
                    .map(g -> String.format(Locale.ROOT, "largest gain (%s dB at the output on this data): compress"
                            + " quantize ... --exclude %s", g.gainDb() == null ? "exact" : String.format(Locale.ROOT,
                                    "%+.2f", g.gainDb()), g.node()))
                    .orElse("no single exclusion raises output SQNR on this data; keep the model as it is"));
        } else if (layers.errorGrowth() != null && !layers.errorGrowth().exclude().isEmpty()) {
            LayerReport.ErrorGrowth growth = layers.errorGrowth();
            global.out().println((growth.excludable()
                    ? "to try its weights in float (its input and output stay 8-bit; re-measure after)"
                    : "to keep what it reads in float (re-measure after)")
                    + ": compress quantize ... --exclude " + String.join(",", growth.exclude()));
        } else if (!worst.isEmpty()) {
            // --exclude removes only the layer's weight rounding; its 8-bit input and output stay (docs/scoring.md)
            global.out().println("to try the worst layer's weights in float (its input and output stay 8-bit; "
                    + "re-measure after): compress quantize ... --exclude " + worst.get(0));
        }
        global.out().flush();
        return ExitCode.OK;
    }
}
