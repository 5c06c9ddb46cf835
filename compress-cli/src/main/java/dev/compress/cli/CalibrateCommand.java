package dev.compress.cli;

import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.Quantizer;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

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
            "      --calib calibration-data/fashion-mnist/calib --out resnet-table.json",
            "  compress quantize --model calibration-data/models/resnet-fp32.onnx \\",
            "      --table resnet-table.json --method entropy --out resnet-int8.onnx"
        })
final class CalibrateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GlobalOptions global;

    @Option(names = "--model", required = true, paramLabel = "MODEL", order = 1,
            description = "The fp32 .onnx model.")
    Path model;

    @Option(names = "--calib", required = true, paramLabel = "DIR", order = 2,
            description = "Calibration samples: a folder of images (class sub-folders or loose images), a .csv of "
                    + "path,label lines, or a folder of .npy files.")
    Path calib;

    @Option(names = "--out", required = true, paramLabel = "FILE.json", order = 3,
            description = "Where to write the calibration table. Its folder must exist.")
    Path out;

    @Option(names = "--labels", paramLabel = "FILE", order = 4,
            description = "Class names, one per line (only used to read labeled data layouts).")
    Path labels;

    private int batchSize = 32;

    @Option(names = "--batch-size", paramLabel = "N", order = 5, defaultValue = "32",
            description = "Samples per ONNX Runtime call. The table does not depend on it. Default: ${DEFAULT-VALUE}.")
    void setBatchSize(int value) {
        batchSize = Checks.batchSize(spec, value);
    }

    @Option(names = "--symmetric", order = 6,
            description = "Show symmetric ranges in the table's range fields (statistics are the same either way).")
    boolean symmetric;

    @Mixin
    CalibrationOptions calibrationOptions;

    @Mixin
    PreprocessingOptions preprocessing;

    @Override
    public Integer call() {
        CalibrationSettings settings = calibrationOptions.settings();
        Outputs.checkCanWrite(out);
        Outputs.checkNotSame(out, model);
        OnnxModel fp32 = OnnxModel.load(model);
        Datasets.Opened calibration = Datasets.open(calib, fp32, preprocessing, labels);
        CalibrationTable table = Quantizer.builder()
                .setModel(fp32)
                .setCalibrationData(calibration.dataset())
                .optCalibration(settings)
                .optMaxSamples(calibrationOptions.maxSamples)
                .optHistogramSamples(calibrationOptions.histogramSamples)
                .optThreads(calibrationOptions.sessions(), 1)
                .optBatchSize(batchSize)
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
