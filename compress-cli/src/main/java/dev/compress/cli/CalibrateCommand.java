package dev.compress.cli;

import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.data.DataSources;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.Quantizer;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code compress calibrate}: runs the model over calibration data once and writes a calibration table, which
 * {@code compress quantize --table} then turns into ranges for any method, activation type or exclusion.
 */
@Command(
        name = "calibrate",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Collect activation statistics of an fp32 ONNX model into a reusable calibration table.",
            "",
            "The table (JSON) holds, per activation, the exact extremes and a histogram, plus the model's SHA-256;"
                    + " compress quantize --table reads it instead of calibrating again. See docs/calibration.md.",
            ""
        },
        footer = {
            "",
            "Example:",
            "  compress calibrate --model calibration-data/models/resnet-fp32.onnx \\",
            "      --data calibration-data/fashion-mnist/calib --out resnet-table.json",
            "  compress quantize --model calibration-data/models/resnet-fp32.onnx \\",
            "      --table resnet-table.json --method entropy --out resnet-int8.onnx"
        })
final class CalibrateCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "MODEL", order = 1,
            description = "The fp32 .onnx model.")
    Path model;

    @Mixin
    CalibDataOptions data;

    @Option(names = "--out", required = true, paramLabel = "FILE.json", order = 3,
            description = "Where to write the calibration table. Its folder must exist.")
    Path out;

    @Option(names = "--symmetric", order = 6,
            description = "Show symmetric ranges in the table's range fields (statistics are the same either way).")
    boolean symmetric;

    @Option(names = "--no-prepare", order = 7,
            description = "Skip graph preparation (docs/prepare.md); give it to quantize --table too.")
    boolean noPrepare;

    @Option(names = "--equalize", negatable = true, order = 7,
            description = "Cross-layer equalization first, as quantize does (docs/calibration.md); give quantize"
                    + " --table the same choice. Default: " + Quantizer.EQUALIZE_BY_DEFAULT + ".")
    boolean equalize = Quantizer.EQUALIZE_BY_DEFAULT;

    @Mixin
    CalibrationOptions calibrationOptions;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() {
        CalibrationSettings settings = calibrationOptions.settings();
        data.addTo(Outputs.check(spec)).input("--model", model).output("--out", out).run();
        OnnxModel fp32 = OnnxModel.load(model);
        DataSources.Opened calibration = data.open(fp32);
        CalibrationTable table = Quantizer.builder()
                .setModel(fp32)
                .setCalibrationData(calibration.dataset())
                .optCalibration(settings)
                .optSampling(calibrationOptions.sampling())
                .optPrepare(!noPrepare)
                .optEqualize(equalize)
                .optBatchSize(run.batchSize(fp32, calibration.dataset(), global))
                .optProgress(global.progress())
                .build()
                .calibrate();
        table.warnings().forEach(warning -> global.err().println("warning: " + warning));
        table.save(out, settings, symmetric);
        var stdout = global.out();
        String histograms = table.histogramSamples() < table.samples() && table.bins() > 0
                ? " (histograms from " + table.histogramSamples() + ")" : "";
        stdout.println("wrote " + out + ": " + table.tensors().size() + " tensors, " + table.samples()
                + " samples" + histograms + ", " + table.bins() + " bins per side, model sha256 "
                + table.modelSha256());
        stdout.flush();
        return ExitCode.OK;
    }
}
