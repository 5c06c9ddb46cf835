package dev.compress.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.OnnxModel;
import dev.compress.inspect.ModelSummary;
import dev.compress.prune.PruneMasks;
import dev.compress.prune.PruneResult;
import dev.compress.prune.Pruner;
import dev.compress.prune.SensitivityReport;
import dev.compress.prune.SensitivityScan;
import dev.compress.prune.TorchScriptMasks;
import dev.compress.torch.TorchScriptModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code compress prune}: L1 magnitude pruning (unstructured or structured), re-applying a mask file, or a
 * sensitivity scan.
 */
@Command(
        name = "prune",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Prune the Conv, Gemm and MatMul weights of an ONNX model by L1 magnitude.",
            "",
            "Unstructured (default) zeroes the smallest weights of each layer (or, with --global, below one threshold"
                    + " for all layers): the file keeps its size, only its zipped size shrinks. --structured removes"
                    + " whole output channels and rewrites the graph so the model is really smaller and faster."
                    + " Writes the model, a mask file to re-apply the same pruning to another checkpoint"
                    + " (--apply-masks) and a JSON report. --scan instead measures the accuracy of every layer"
                    + " pruned alone and of the whole model, and writes JSON and a PNG plot.",
            ""
        },
        footer = {
            "",
            "Examples:",
            "  compress prune --model resnet-fp32.onnx --sparsity 0.5 --exclude /stem/stem.0/Conv,/fc/Gemm \\",
            "      --out resnet-sparse.onnx",
            "  compress prune --model resnet-fp32.onnx --sparsity 0.1 --structured --out resnet-small.onnx \\",
            "      --calib calibration-data/fashion-mnist/calib --eval calibration-data/fashion-mnist/heldout",
            "  compress prune --model tuned.onnx --apply-masks resnet-sparse.masks.json --out tuned-sparse.onnx",
            "  compress prune --model resnet-fp32.pt --apply-masks resnet-sparse.masks.json --out resnet-sparse.pt",
            "  compress prune --model resnet-fp32.onnx --scan --eval calibration-data/fashion-mnist/heldout \\",
            "      --out scan.json"
        })
final class PruneCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GlobalOptions global;

    @Option(names = "--model", required = true, paramLabel = "MODEL", order = 1,
            description = "The .onnx model to prune; or a TorchScript .pt checkpoint to apply --apply-masks to.")
    Path model;

    private Double sparsity;

    @Option(names = "--sparsity", paramLabel = "S", order = 2,
            description = "Fraction in [0, 1) of weights (unstructured) or of output channels (--structured) to "
                    + "prune.")
    void setSparsity(double value) {
        sparsity = checkSparsity(value, "--sparsity");
    }

    @Option(names = "--out", required = true, paramLabel = "OUT", order = 3,
            description = "Where to write the pruned model (.onnx); with --scan, the scan report (.json).")
    Path out;

    @Option(names = "--masks", paramLabel = "FILE.json", order = 4,
            description = "Where to write the mask file. Default: OUT with .masks.json instead of .onnx.")
    Path masks;

    @Option(names = "--global", order = 5,
            description = "One magnitude threshold over all layers (unstructured) instead of each layer reaching "
                    + "the sparsity.")
    boolean globalScope;

    @Option(names = "--structured", order = 6,
            description = "Remove whole output channels / neurons with the smallest L1 norm and shrink the graph; "
                    + "channels tied by residual Adds or Concat go together.")
    boolean structured;

    @Option(names = "--calib", paramLabel = "DIR", order = 7,
            description = "With --structured: sample data (labels not needed); each removed channel is replaced by "
                    + "its mean on it, folded into the biases of the layers reading it.")
    Path calib;

    private final Map<String, Double> layerSparsity = new LinkedHashMap<>();

    @Option(names = "--layer-sparsity", paramLabel = "LAYER=S", split = ",", order = 7,
            description = "Sparsity of single layers (node or weight name), e.g. /fc/Gemm=0.2; repeatable.")
    void setLayerSparsity(Map<String, Double> values) {
        values.forEach((layer, value) -> layerSparsity.put(layer, checkSparsity(value, "--layer-sparsity " + layer)));
    }

    @Option(names = "--exclude", paramLabel = "LAYER", split = ",", order = 8,
            description = "Layers (node or weight names) left untouched, comma-separated; see compress inspect.")
    List<String> exclude = new ArrayList<>();

    @Option(names = "--apply-masks", paramLabel = "FILE.json", order = 9,
            description = "Re-apply a mask file written by an earlier run (same architecture, e.g. a fine-tuned "
                    + "checkpoint) instead of choosing weights.")
    Path applyMasks;

    @Option(names = "--eval", paramLabel = "DIR", order = 10,
            description = "Labeled held-out data: evaluates the pruned model against the original one; required "
                    + "by --scan.")
    Path eval;

    @Option(names = "--scan", order = 11,
            description = "Sensitivity scan: accuracy on --eval data of each layer pruned alone at each of "
                    + "--scan-sparsities, and of the whole model at those global sparsities.")
    boolean scan;

    private List<Double> scanSparsities = List.of(0.25, 0.5, 0.75, 0.9);

    @Option(names = "--scan-sparsities", paramLabel = "S,S,...", split = ",", order = 12,
            description = "Sparsities of the scan. Default: 0.25,0.5,0.75,0.9.")
    void setScanSparsities(List<Double> values) {
        values.forEach(v -> checkSparsity(v, "--scan-sparsities"));
        scanSparsities = List.copyOf(values);
    }

    @Option(names = "--plot", paramLabel = "FILE.png", order = 13,
            description = "With --scan: where to write the plot. Default: OUT with .png instead of .json.")
    Path plot;

    @Option(names = "--labels", paramLabel = "FILE", order = 14,
            description = "Class names, one per line, in the model's output order."
                    + " Default: labels.txt beside the data or in its parent folder.")
    Path labels;

    private int batchSize = 32;

    @Option(names = "--batch-size", paramLabel = "N", order = 15, defaultValue = "32",
            description = "Samples per ONNX Runtime call for evaluation. Default: ${DEFAULT-VALUE}.")
    void setBatchSize(int value) {
        batchSize = Checks.batchSize(spec, value);
    }

    @Option(names = "--report", paramLabel = "FILE.json", order = 16,
            description = "Where to write the JSON report. Default: OUT with .json instead of .onnx.")
    Path report;

    @Mixin
    PreprocessingOptions preprocessing;

    private double checkSparsity(double value, String option) {
        if (!(value >= 0 && value < 1)) {
            throw new ParameterException(spec.commandLine(), option + " must be in [0, 1), got " + value);
        }
        return value;
    }

    @Override
    public Integer call() {
        checkOptions();
        if (isTorchScript(model)) {
            return applyToTorchScript();
        }
        return scan ? scan() : prune();
    }

    private static boolean isTorchScript(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".pt") || name.endsWith(".pth");
    }

    /** Masks computed on an ONNX export, applied to the TorchScript checkpoint's named parameters. */
    private Integer applyToTorchScript() {
        if (applyMasks == null || scan || eval != null || masks != null || calib != null) {
            throw usage("a TorchScript checkpoint (" + model + ") takes --apply-masks FILE only: prune its ONNX "
                    + "export, then apply the mask file here");
        }
        Path reportFile = report != null ? report : beside(out, ".json");
        for (Path p : List.of(out, reportFile)) {
            Outputs.checkCanWrite(p);
            Outputs.checkNotSame(p, model);
        }
        if (distinct(List.of(out, reportFile)) < 2) {
            throw usage("--out and --report must name different files");
        }
        PruneMasks given = PruneMasks.read(applyMasks);
        Map<String, String> applied;
        try (TorchScriptModel checkpoint = TorchScriptModel.loadEditable(model)) {
            applied = TorchScriptMasks.apply(checkpoint, given, applyMasks);
            checkpoint.save(out);
        }
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("model", model.toString());
        root.put("output", out.toString());
        root.put("masks", applyMasks.toString());
        root.set("appliedTo", Json.MAPPER.valueToTree(applied));
        ObjectNode size = root.putObject("size");
        size.put("inputBytes", Outputs.modelBytes(model));
        size.put("outputBytes", Outputs.modelBytes(out));
        size.put("inputZippedBytes", Outputs.zippedBytes(model));
        size.put("outputZippedBytes", Outputs.zippedBytes(out));
        try {
            Json.write(reportFile, root);
        } catch (RuntimeException e) {
            deleteQuietly(out);
            throw e;
        }
        var stdout = global.out();
        stdout.println("wrote " + out);
        applied.forEach((from, to) -> stdout.println("  " + from + " -> " + to));
        stdout.println("report: " + reportFile);
        stdout.flush();
        return ExitCode.OK;
    }

    private void checkOptions() {
        if (scan) {
            if (eval == null) {
                throw usage("--scan needs --eval DIR (labeled data to measure accuracy on)");
            }
            if (sparsity != null || structured || globalScope || applyMasks != null || masks != null
                    || !layerSparsity.isEmpty() || report != null || calib != null) {
                throw usage("--scan takes --model, --eval, --out, --plot, --scan-sparsities and --exclude only");
            }
            return;
        }
        if (plot != null) {
            throw usage("--plot applies to --scan");
        }
        if (applyMasks != null) {
            if (sparsity != null || structured || globalScope || !layerSparsity.isEmpty() || !exclude.isEmpty()) {
                throw usage("--apply-masks fixes what is pruned; --sparsity, --structured, --global, "
                        + "--layer-sparsity and --exclude do not apply");
            }
        } else if (sparsity == null) {
            throw usage("--sparsity S is required (or --apply-masks FILE, or --scan)");
        } else if (calib != null && !structured) {
            throw usage("--calib applies to --structured pruning (removed channels are compensated by their mean)");
        }
        if (structured && globalScope) {
            throw usage("--global applies to unstructured pruning; --structured prunes each group of tied "
                    + "channels to --sparsity");
        }
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    private Integer prune() {
        Path reportFile = report != null ? report : Outputs.jsonBeside(out);
        Path masksFile = masks != null ? masks : beside(out, ".masks.json");
        List<Path> outputs = List.of(out, reportFile, masksFile);
        for (Path p : outputs) {
            Outputs.checkCanWrite(p);
            Outputs.checkNotSame(p, model);
        }
        if (distinct(outputs) < outputs.size()) {
            throw usage("--out, --masks and --report must name different files");
        }
        global.debug("loading " + model);
        OnnxModel original = OnnxModel.load(model);
        PruneMasks given = applyMasks == null ? null : PruneMasks.read(applyMasks);
        Datasets.Opened evaluation = eval == null ? null : Datasets.open(eval, original, preprocessing, labels);
        Datasets.Opened calibration = calib == null ? null : Datasets.open(calib, original, preprocessing, labels);

        Pruner.Builder builder = Pruner.builder().setModel(original).optBatchSize(batchSize)
                .optProgress(global.progress());
        if (calibration != null) {
            builder.optCalibrationData(calibration.dataset());
        }
        if (given != null) {
            builder.optMasks(given, applyMasks);
        } else {
            builder.setSparsity(sparsity).optStructured(structured)
                    .optScope(globalScope ? Pruner.Scope.GLOBAL : Pruner.Scope.PER_LAYER)
                    .optLayerSparsity(layerSparsity).optExclude(exclude);
        }
        PruneResult result = builder.build().prune();

        EvalReport evalReport = null;
        if (evaluation != null) {
            evalReport = Evaluator.builder()
                    .setModel(result.model())
                    .setData(evaluation.dataset())
                    .optBaseline(model)
                    .optBatchSize(batchSize)
                    .optProgress(global.progress())
                    .build()
                    .evaluate()
                    .withPreprocessing(evaluation.preprocessingMap());
            evalReport = new EvalReport(out.toString(), evalReport.data(), evalReport.samples(), evalReport.classes(),
                    evalReport.top1(), evalReport.top5(), evalReport.perClass(), evalReport.baseline(),
                    evalReport.preprocessing());
        }

        result.model().save(out);
        ObjectNode root;
        try {
            result.masks().write(masksFile);
            root = report(result, evalReport, masksFile);
            Json.write(reportFile, root);
        } catch (RuntimeException e) {
            // a model without its masks and report is not a finished run
            Outputs.deleteModel(out);
            deleteQuietly(masksFile);
            throw e;
        }
        printSummary(result, evalReport, root, masksFile, reportFile);
        return ExitCode.OK;
    }

    private ObjectNode report(PruneResult result, EvalReport evaluation, Path masksFile) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("model", model.toString());
        root.put("output", out.toString());
        root.put("masks", masksFile.toString());
        ObjectNode size = root.putObject("size");
        size.put("inputBytes", Outputs.modelBytes(model));
        size.put("outputBytes", Outputs.modelBytes(out));
        size.put("inputZippedBytes", Outputs.zippedBytes(model));
        size.put("outputZippedBytes", Outputs.zippedBytes(out));
        root.set("pruning", Json.MAPPER.valueToTree(result.report()));
        if (evaluation != null) {
            root.set("evaluation", Reports.toTree(evaluation));
        }
        return root;
    }

    private void printSummary(PruneResult result, EvalReport evaluation, ObjectNode root, Path masksFile,
            Path reportFile) {
        var stdout = global.out();
        stdout.println("wrote " + out);
        ObjectNode size = (ObjectNode) root.get("size");
        stdout.println(String.format(Locale.ROOT, "size: %s -> %s; zipped: %s -> %s",
                ModelSummary.bytes(size.get("inputBytes").asLong()), ModelSummary.bytes(size.get("outputBytes").asLong()),
                ModelSummary.bytes(size.get("inputZippedBytes").asLong()),
                ModelSummary.bytes(size.get("outputZippedBytes").asLong())));
        stdout.print(result.report().summary());
        if (evaluation != null) {
            stdout.print(evaluation.summary());
        }
        stdout.println("masks: " + masksFile);
        stdout.println("report: " + reportFile);
        stdout.flush();
    }

    private Integer scan() {
        Path plotFile = plot != null ? plot : beside(out, ".png");
        for (Path p : List.of(out, plotFile)) {
            Outputs.checkCanWrite(p);
            Outputs.checkNotSame(p, model);
        }
        if (distinct(List.of(out, plotFile)) < 2) {
            throw usage("--out and --plot must name different files");
        }
        OnnxModel original = OnnxModel.load(model);
        Datasets.Opened evaluation = Datasets.open(eval, original, preprocessing, labels);
        if (evaluation.dataset().classNames().isEmpty()) {
            throw CompressException.badInput(eval, "has no labels; --scan needs labeled samples");
        }
        SensitivityReport result = SensitivityScan.builder()
                .setModel(original)
                .setData(evaluation.dataset())
                .optLayerSparsities(scanSparsities)
                .optGlobalSparsities(scanSparsities)
                .optExclude(exclude)
                .optBatchSize(batchSize)
                .optProgress(global.progress())
                .build()
                .scan();
        Json.write(out, result);
        try {
            result.writePlot(plotFile);
        } catch (RuntimeException e) {
            deleteQuietly(out);
            throw e;
        }
        var stdout = global.out();
        stdout.print(result.summary());
        stdout.println("report: " + out);
        stdout.println("plot: " + plotFile);
        stdout.flush();
        return ExitCode.OK;
    }

    private static long distinct(List<Path> paths) {
        return paths.stream().map(p -> p.toAbsolutePath().normalize()).distinct().count();
    }

    /** {@code model.onnx} → {@code model<suffix>}; other names get the suffix appended. */
    private static Path beside(Path file, String suffix) {
        String name = file.getFileName().toString();
        String lower = name.toLowerCase(Locale.ROOT);
        String base = lower.endsWith(".onnx") || lower.endsWith(".json") ? name.substring(0, name.length() - 5)
                : lower.endsWith(".pt") ? name.substring(0, name.length() - 3) : name;
        return file.resolveSibling(base + suffix);
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // the original error is the one to report
        }
    }
}
