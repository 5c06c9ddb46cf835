package dev.compress.cli;

import dev.compress.Json;
import dev.compress.data.DataSources;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.inspect.ModelSummary;
import dev.compress.prune.PruneMasks;
import dev.compress.prune.PruneResult;
import dev.compress.prune.TorchScriptMasks;
import dev.compress.recipe.Recipe;
import dev.compress.recipe.RecipeSteps;
import dev.compress.torch.TorchScriptModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code compress prune}: L1 magnitude pruning (unstructured or structured) or re-applying a mask file, onto an ONNX
 * model or a TorchScript checkpoint; the sensitivity scan is its subcommand {@code compress prune scan}.
 */
@Command(
        name = "prune",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        subcommands = PruneScanCommand.class,
        description = {
            "Prune the Conv, Gemm and MatMul weights of an ONNX model by L1 magnitude.",
            "",
            "Unstructured (default) zeroes the smallest weights of each layer (or, with --global, below one threshold"
                    + " for all layers): the file keeps its size, only its zipped size shrinks. --structured removes"
                    + " whole output channels and rewrites the graph so the model is really smaller and faster."
                    + " Writes the model, a mask file to re-apply the same pruning to another checkpoint"
                    + " (--apply-masks) and a JSON report. 'compress prune scan' instead measures the accuracy of"
                    + " every layer pruned alone and of the whole model, and writes JSON and a PNG plot.",
            ""
        },
        footer = {
            "",
            "Examples:",
            "  compress prune --model resnet-fp32.onnx --sparsity 0.5 --exclude /stem/stem.0/Conv,/fc/Gemm \\",
            "      --out resnet-sparse.onnx",
            "  compress prune --model resnet-fp32.onnx --sparsity 0.1 --structured --out resnet-small.onnx \\",
            "      --data calibration-data/fashion-mnist/calib --eval calibration-data/fashion-mnist/heldout",
            "  compress prune --model tuned.onnx --apply-masks resnet-sparse.masks.json --out tuned-sparse.onnx",
            "  compress prune --model resnet-fp32.pt --apply-masks resnet-sparse.masks.json --out resnet-sparse.pt",
            "  compress prune scan --model resnet-fp32.onnx --data calibration-data/fashion-mnist/heldout \\",
            "      --out scan.json"
        })
final class PruneCommand extends BaseCommand {
    @Option(names = "--model", paramLabel = "MODEL", order = 1,
            description = "Required. The .onnx model to prune; or a TorchScript .pt checkpoint to apply --apply-masks"
                    + " to.")
    Path model;

    private Double sparsity;

    @Option(names = "--sparsity", paramLabel = "S", order = 2,
            description = "Fraction in [0, 1) of weights (unstructured) or of output channels (--structured) to "
                    + "prune.")
    void setSparsity(double value) {
        sparsity = checkSparsity(value, "--sparsity");
    }

    @Mixin
    OutputOptions output;

    @Option(names = "--masks", paramLabel = "FILE.json", order = 4,
            description = "Where to write the mask file. Default: OUT with .masks.json instead of .onnx.")
    Path masks;

    @Option(names = "--global", order = 5,
            description = "One magnitude threshold over all layers (unstructured) instead of each layer reaching "
                    + "the sparsity.")
    boolean globalScope;

    @Option(names = "--structured", order = 6,
            description = "Remove whole output channels / neurons with the smallest L1 norm and shrink the graph; "
                    + "channels tied by residual Adds or Concat go together. With --data, each removed channel is"
                    + " replaced by its mean on those samples, folded into the biases of the layers reading it.")
    boolean structured;

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

    @Mixin
    CalibDataOptions data;

    @Mixin
    EvalGateOptions evalGate;

    @Mixin
    RunOptions run;

    @Option(names = "--print-recipe", order = 90,
            description = "Print the one-step recipe (YAML) that 'compress run' takes for the same work, with --eval"
                    + " and --max-drop as its check and gate, and exit; nothing is read or written.")
    boolean printRecipe;

    @Option(names = "--scan", hidden = true)
    boolean scan;

    @Option(names = "--scan-sparsities", paramLabel = "S,S,...", split = ",", hidden = true)
    List<Double> scanSparsities;

    @Option(names = "--plot", paramLabel = "FILE.png", hidden = true)
    Path plot;

    private double checkSparsity(double value, String option) {
        if (!(value >= 0 && value < 1)) {
            throw usage(option + " must be in [0, 1), got " + value);
        }
        return value;
    }

    @Override
    public Integer call() {
        if (model == null) {
            throw usage("Missing required option: '--model=MODEL'");
        }
        if (scan) {
            return scanAlias();
        }
        if (scanSparsities != null || plot != null) {
            throw usage("--scan-sparsities and --plot belong to 'compress prune scan'");
        }
        evalGate.check();
        if (printRecipe) {
            return printRecipe();
        }
        return TorchScriptModel.isTorchScriptName(model) ? applyToTorchScript() : prune();
    }

    /** The prune step of these flags: what --print-recipe prints and what runs, through {@link RecipeSteps}. */
    private Recipe.Prune step() {
        return new Recipe.Prune("prune", sparsity, globalScope ? "global" : "per-layer", structured, exclude);
    }

    /** The recipe of these flags: one prune step, an eval check with --eval, a top-1 drop gate with --max-drop. */
    private Integer printRecipe() {
        RecipePrinter printer = new RecipePrinter(spec)
                .refuse(TorchScriptModel.isTorchScriptName(model), "a TorchScript --model")
                .refuse(applyMasks != null, "--apply-masks")
                .refuse(!layerSparsity.isEmpty(), "--layer-sparsity");
        if (sparsity == null && applyMasks == null) {
            throw usage("Missing required option: '--sparsity=S'");
        }
        if (structured && data.data() == null) {
            throw usage("--print-recipe: a structured prune step needs --data (the recipe's data.calibration)");
        }
        List<Recipe.Check> checks = evalGate.eval == null ? null : List.of(new Recipe.Eval("eval"));
        List<Recipe.Gate> gates = evalGate.maxDrop.maxDrop() == null ? null
                : List.of(new Recipe.Gate("max-drop", "eval.top1-drop", null, evalGate.maxDrop.maxDrop(), null, null));
        return printer.print(global, new Recipe(RecipePrinter.text(model), null, null,
                RecipePrinter.data(data.data(), evalGate.eval, data), List.of(step()), checks, gates, null));
    }

    /** The old spelling {@code prune --scan --eval DIR}: the same as {@code prune scan --data DIR}. */
    private Integer scanAlias() {
        Deprecation.warn(spec, "prune --scan --eval DIR", "prune scan --data DIR");
        if (sparsity != null || structured || globalScope || applyMasks != null || masks != null
                || !layerSparsity.isEmpty() || output.report != null || data.data() != null) {
            throw usage("--scan takes --model, --eval, --out, --plot, --scan-sparsities and --exclude only");
        }
        if (evalGate.eval == null) {
            throw usage("--scan needs --eval DIR (labeled data to measure accuracy on)");
        }
        PruneScanCommand scanCommand = new PruneScanCommand();
        scanCommand.spec = spec;
        scanCommand.global = global;
        scanCommand.model = model;
        scanCommand.out = output.out();
        scanCommand.plot = plot;
        scanCommand.exclude = exclude;
        scanCommand.data = data;
        scanCommand.data.data = evalGate.eval;
        scanCommand.run = run;
        if (scanSparsities != null) {
            scanCommand.setSparsities(scanSparsities);
        }
        return scanCommand.call();
    }

    /** Masks computed on an ONNX export, applied to the TorchScript checkpoint's named parameters. */
    private Integer applyToTorchScript() {
        if (applyMasks == null || evalGate.eval != null || masks != null || data.data() != null) {
            throw usage("a TorchScript checkpoint (" + model + ") takes --apply-masks FILE only: prune its ONNX "
                    + "export, then apply the mask file here");
        }
        output.addTo(Outputs.check(spec)).input("--model", model).input("--apply-masks", applyMasks).run();
        PruneMasks given = PruneMasks.read(applyMasks);
        Map<String, String> applied;
        Path out = output.out();
        try (TorchScriptModel checkpoint = TorchScriptModel.loadEditable(model)) {
            applied = TorchScriptMasks.apply(checkpoint, given, applyMasks);
            checkpoint.save(out);
        }
        Json.write(output.report(), new FileReports.TorchScriptMasks(model.toString(), out.toString(),
                applyMasks.toString(), applied, FileReports.Sizes.of(model, out)));
        var stdout = global.out();
        stdout.println("wrote " + out);
        applied.forEach((from, to) -> stdout.println("  " + from + " -> " + to));
        stdout.println("report: " + output.report());
        stdout.flush();
        return ExitCode.OK;
    }

    private Integer prune() {
        Path masksFile = masks != null ? masks : OutputOptions.beside(output.out(), ".masks.json");
        output.addTo(data.addTo(Outputs.check(spec))).input("--model", model).input("--apply-masks", applyMasks)
                .input("--eval", evalGate.eval).output("--masks", masksFile).run();
        PruneMasks given = applyMasks == null ? null : PruneMasks.read(applyMasks);
        global.debug("loading " + model);
        OnnxModel original = OnnxModel.load(model);
        DataSources.Opened evaluation = evalGate.open(data, original);
        Dataset calibration = data.data() == null ? null : data.open(original).dataset();
        int batchSize = run.batchSize(original, calibration != null ? calibration
                : evaluation != null ? evaluation.dataset() : null, global);
        PruneResult result = RecipeSteps.prune(step(), original, calibration, batchSize, global.progress(),
                new RecipeSteps.PruneExtras(given, applyMasks, layerSparsity));
        EvalGateOptions.Outcome outcome = evalGate.evaluate(evaluation, result.model(), model, output.out(), run,
                global);

        Path out = output.out();
        result.model().save(out);
        result.masks().write(masksFile);
        FileReports.Sizes sizes = FileReports.Sizes.of(model, out);
        Json.write(output.report(), new FileReports.Prune(model.toString(), out.toString(), masksFile.toString(),
                sizes, result.report(), outcome == null ? null : outcome.report(),
                outcome == null ? null : outcome.gate()));
        var stdout = global.out();
        stdout.println("wrote " + out);
        stdout.println(String.format(Locale.ROOT, "size: %s -> %s; zipped: %s -> %s",
                ModelSummary.bytes(sizes.inputBytes()), ModelSummary.bytes(sizes.outputBytes()),
                ModelSummary.bytes(sizes.inputZippedBytes()), ModelSummary.bytes(sizes.outputZippedBytes())));
        stdout.print(result.report().summary());
        EvalGateOptions.print(outcome, global);
        stdout.println("masks: " + masksFile);
        stdout.println("report: " + output.report());
        stdout.flush();
        return outcome != null && outcome.failed() ? ExitCode.GATE_FAILED : ExitCode.OK;
    }
}
