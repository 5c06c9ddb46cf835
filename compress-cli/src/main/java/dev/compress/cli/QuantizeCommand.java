package dev.compress.cli;

import dev.compress.Json;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.check.FidelityCheck;
import dev.compress.data.DataSources;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.inspect.ModelSummary;
import dev.compress.quantize.ActivationType;
import dev.compress.quantize.DynamicFormat;
import dev.compress.quantize.QuantizationReport;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import dev.compress.recipe.Recipe;
import dev.compress.recipe.RecipeSteps;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code compress quantize}: static INT8 quantization calibrated on sample data (or dynamic INT8), optionally
 * followed by an evaluation against the fp32 model and an accuracy gate.
 */
@Command(
        name = "quantize",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Quantize an fp32 ONNX model to INT8, calibrated on sample data.",
            "",
            "Writes a QDQ model (int8 weights per channel, uint8 or int8 activations) and a JSON report. Then checks"
                    + " the INT8 model against the fp32 model on calibration samples it was not calibrated on"
                    + " (fidelity; warns below " + FidelityCheck.DEFAULT_WARN_BELOW + ", exits 4 below"
                    + " --min-fidelity) and times both (warns when INT8 is slower). With --eval, also evaluates it on"
                    + " labeled data; with --max-drop, exits 4 if top-1 accuracy drops by more than that many points.",
            ""
        },
        footer = {
            "",
            "Example:",
            "  compress quantize --model calibration-data/models/resnet-fp32.onnx \\",
            "      --data calibration-data/fashion-mnist/calib --out resnet-int8.onnx \\",
            "      --eval calibration-data/fashion-mnist/heldout --max-drop 1"
        })
final class QuantizeCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "MODEL", order = 1,
            description = "The fp32 .onnx model.")
    Path model;

    @Mixin
    CalibDataOptions data;

    @Option(names = "--tokenizer", paramLabel = "tokenizer.json", order = 4,
            description = "With a text file as --data: the HuggingFace tokenizer.json that turns each line into the "
                    + "model's input_ids, attention_mask and token_type_ids.")
    Path tokenizer;

    @Option(names = "--dynamic", order = 5,
            description = "Dynamic quantization: 8-bit MatMul, Gemm and Conv weights (per channel) and Gather tables"
                    + " (per row); ONNX Runtime quantizes activations on each call. Needs no calibration data; --data,"
                    + " if given, feeds only the fidelity and latency checks. On CNNs static quantization is faster"
                    + " (ONNX Runtime's ConvInteger is slower than its float Conv).")
    boolean dynamic;

    @Option(names = "--dynamic-format", paramLabel = "FORMAT", order = 5, converter = Converters.Dynamic.class,
            description = "With --dynamic: matmul-integer (default: MatMulInteger and ConvInteger, as ONNX Runtime's"
                    + " quantize_dynamic writes them; fastest here for transformers, see docs/transformers.md), qdq,"
                    + " or weight-only (8-bit storage, float arithmetic).")
    DynamicFormat dynamicFormat;

    @Option(names = "--reduce-range", order = 5,
            description = "With --dynamic: 7-bit weights [-64, 64] for CPUs without VNNI (AVX2 only), whose"
                    + " integer kernels can saturate with full-range weights.")
    boolean reduceRange;

    @Option(names = "--table", paramLabel = "FILE.json", order = 6,
            description = "Take activation statistics from this calibration table (from --save-table or compress"
                    + " calibrate) instead of running the model over --data; it must be of the same model.")
    Path table;

    @Option(names = "--zipped-size", order = 8,
            description = "Also report the models' zipped sizes (Deflate, highest level). Off by default: on a large"
                    + " float model it takes minutes, longer than quantizing.")
    boolean zippedSize;

    @Option(names = "--save-table", paramLabel = "FILE.json", order = 6,
            description = "Also write the calibration table, for later runs with --table and any --method,"
                    + " --activations or --exclude.")
    Path saveTable;

    @Mixin
    OutputOptions output;

    @Option(names = "--activations", paramLabel = "uint8|int8", order = 10, defaultValue = "uint8",
            converter = Converters.Activations.class,
            description = "Activation type: uint8 (asymmetric) or int8 (symmetric). Default: ${DEFAULT-VALUE}.")
    ActivationType activations;

    @Option(names = "--symmetric", order = 10,
            description = "Symmetric ranges [-t, t] for uint8 activations too (zero point 128); int8 always is.")
    boolean symmetric;

    @Option(names = "--exclude", paramLabel = "NODE", split = ",", order = 11,
            description = "Node names to keep in float, comma-separated (see: compress inspect).")
    List<String> exclude = new ArrayList<>();

    @Option(names = "--ops", paramLabel = "OP", split = ",", order = 11,
            description = "Quantize only these op types, comma-separated (e.g. MatMul for a transformer). Default:"
                    + " every op that can be (static: Conv, ConvTranspose, Gemm, MatMul, LSTM, Add, Mul, pooling,"
                    + " reshapes; --dynamic: MatMul, Gemm, Conv, LSTM, GRU, RNN, Gather).")
    List<String> ops = new ArrayList<>();

    @Option(names = "--upgrade-opset", order = 11,
            description = "Static: convert an opset 6-12 model to opset 13 first (docs/opset.md), so weights are"
                    + " quantized per channel. The default unless --keep-opset; giving it also switches off the"
                    + " encoder defaults.")
    boolean upgradeOpset;

    @Option(names = "--keep-opset", order = 11,
            description = "Static: keep the model's opset: an opset 10-12 model with per-tensor weights (for"
                    + " runtimes older than opset 13), an opset 13-19 one with its GELUs as Div/Erf/Add/Mul (for"
                    + " runtimes older than opset 20). Default: convert to 13 for per-channel weights, and to 20"
                    + " where a GELU follows a Conv, Gemm or MatMul, so it runs as one Gelu op (a warning says so).")
    boolean keepOpset;

    @Option(names = "--latency-fallback", paramLabel = "S", arity = "0..1", fallbackValue = "1", order = 11,
            description = "After quantizing, time variants with regions kept float (each op type's integer"
                    + " nodes; static: four segments of the graph too) against the all-INT8 model on samples of"
                    + " --data, about S seconds each (default 1), and keep float what runs at least 5%% faster in"
                    + " float. The choice depends on timings: the report lists the nodes, which --exclude pins for"
                    + " byte-identical runs.")
    Double latencyFallback;

    @Option(names = "--weight-only", paramLabel = "NODE", split = ",", order = 11,
            description = "Static: MatMul/Gemm node names that get int8 weights but keep float activations (layers"
                    + " whose inputs 8-bit static ranges cannot hold).")
    List<String> weightOnly = new ArrayList<>();

    @Option(names = "--no-encoder-defaults", order = 11,
            description = "Static, transformers (models fed token ids only, or with self-attention): plan every op"
                    + " as for other models instead of the transformer defaults (MatMul only, with Conv and Gemm for"
                    + " vision transformers; per-channel weights; GELU-fed MatMuls weight-only; docs/transformers.md),"
                    + " which apply when --ops, --weight-only and --upgrade-opset are not given.")
    boolean noEncoderDefaults;

    @Option(names = "--no-prepare", order = 12,
            description = "Skip graph preparation (Identity/Dropout removal, constant and BatchNormalization folding;"
                    + " docs/prepare.md), which runs before quantization by default and changes no output.")
    boolean noPrepare;

    @Option(names = "--equalize", negatable = true, order = 12,
            description = "Static: cross-layer equalization of consecutive Convs (Relu or nothing between them)"
                    + " before calibration; the fp32 function is unchanged (docs/calibration.md). Default: "
                    + Quantizer.EQUALIZE_BY_DEFAULT + ".")
    Boolean equalize;

    @Option(names = "--bias-correction", negatable = true, order = 12,
            description = "Static: subtract from each quantized Conv/Gemm bias the mean output shift its int8"
                    + " weights cause, measured on --data (docs/calibration.md). Default: on with --data; off with"
                    + " --table, which holds no data.")
    Boolean biasCorrection;

    @Mixin
    CalibrationOptions calibrationOptions;

    @Mixin
    EvalGateOptions evalGate;

    @Mixin
    QuantizeCheckOptions checks;

    @Mixin
    RunOptions run;

    @Option(names = "--print-recipe", order = 90,
            description = "Print the one-step recipe (YAML) that 'compress run' takes for the same work, with these"
                    + " flags' checks and gates, and exit; nothing is read or written.")
    boolean printRecipe;

    @Override
    public Integer call() {
        evalGate.check();
        // flags given together that cannot work, found before any file is read (the core rejects them too)
        if (dynamic && (table != null || saveTable != null)) {
            throw usage("--dynamic needs no calibration; drop --table and --save-table");
        }
        if (data.data() != null && table != null) {
            throw usage("--data and --table are alternatives: the table already holds the calibration");
        }
        if (dynamic && (equalize != null || biasCorrection != null)) {
            throw usage("--equalize and --bias-correction apply to static quantization, not --dynamic");
        }
        if (table != null && Boolean.TRUE.equals(biasCorrection)) {
            throw usage("--bias-correction measures on --data, and --table holds no data: pass --data instead");
        }
        if (tokenizer != null && data.data() == null) {
            throw usage("--tokenizer needs --data TEXT-FILE");
        }
        if (dynamicFormat != null && !dynamic) {
            throw usage("--dynamic-format applies to --dynamic only");
        }
        if (latencyFallback != null && (data.data() == null || table != null)) {
            throw usage("--latency-fallback times its variants on the samples of --data: it needs --data, not"
                    + " --table");
        }
        if (latencyFallback != null && !(latencyFallback > 0)) {
            throw usage("--latency-fallback takes seconds above 0, got " + latencyFallback);
        }
        if (dynamic && (upgradeOpset || keepOpset || !weightOnly.isEmpty())) {
            throw usage("--upgrade-opset, --keep-opset and --weight-only apply to static quantization; --dynamic is"
                    + " per channel at any opset");
        }
        if (reduceRange && !dynamic) {
            throw usage("--reduce-range applies to --dynamic only");
        }
        CalibrationSettings settings = calibrationOptions.settings(); // its usage errors come first
        if (printRecipe) {
            return printRecipe();
        }
        CalibrationTable calibrationTable = table == null ? null : CalibrationTable.load(table);
        output.addTo(data.addTo(Outputs.check(spec)))
                .input("--model", model).input("--table", table).input("--tokenizer", tokenizer)
                .input("--eval", evalGate.eval)
                .output("--save-table", saveTable)
                .run();
        checks.check(data.data() != null || evalGate.eval != null);
        if (!dynamic && data.data() == null && table == null) {
            throw usage("Missing required option: '--data=DIR' (or --table FILE.json from an earlier calibration, or"
                    + " --dynamic, which needs no calibration data)");
        }

        global.debug("loading " + model);
        OnnxModel fp32 = OnnxModel.load(model);
        DataSources.Opened calibration = data.data() == null ? null
                : tokenizer != null ? DataSources.text(data.data(), tokenizer, fp32)
                : data.open(fp32);
        DataSources.Opened evaluation = evalGate.open(data, fp32);
        if (calibration != null && !dynamic) {
            global.debug("calibration data: " + calibration.dataset().size() + " samples from " + data.data()
                    + (calibration.preprocessing() == null ? "" : ", preprocessing " + calibration.preprocessing()));
        }
        // dynamic quantization calibrates nothing; its latency fallback times on the samples
        Dataset calibrationData = calibration == null || dynamic && latencyFallback == null ? null
                : calibration.dataset();
        int batchSize = run.batchSize(fp32, calibrationData != null ? calibrationData
                : evaluation != null ? evaluation.dataset() : null, global);
        QuantizationResult result = RecipeSteps.quantize(step(), fp32, calibrationData, batchSize,
                global.progress(), new RecipeSteps.QuantizeExtras(calibrationTable,
                        saveTable != null, settings.movingAverage(), settings.perTensor(),
                        calibrationOptions.sampling().sessions(), !noEncoderDefaults));
        result.report().warnings().forEach(warning -> global.err().println("warning: " + warning));
        if (result.fallback() != null) {
            global.info(result.fallback().summary());
        }
        QuantizeCheckOptions.Outcome checked = checks.run(
                QuantizeCheckOptions.samples(calibration, evaluation, dynamic, calibrationOptions.sampling()), fp32,
                result.model(), result.report(), dynamic, batchSize,
                calibrationOptions.sampling().sessions(), global);
        EvalGateOptions.Outcome outcome = evalGate.evaluate(evaluation, result.model(), model, output.out(), run,
                global);

        Path out = output.out();
        result.model().save(out);
        FileReports.Sizes sizes = FileReports.Sizes.of(model, out, zippedSize);
        Json.write(output.report(), new FileReports.Quantize(model.toString(), out.toString(),
                new FileReports.QuantizeSize(sizes),
                calibration == null ? null : calibration.preprocessingMap(),
                result.preparation() != null && result.preparation().changed() ? result.preparation() : null,
                result.report(), result.fallback(), checked.fidelity(), checked.latency(),
                outcome == null ? null : outcome.report(), outcome == null ? null : outcome.gate()));
        if (saveTable != null) {
            result.table().save(saveTable, settings, symmetric || activations == ActivationType.INT8);
        }
        printSummary(result.report(), sizes, outcome);
        if (checked.failed()) {
            global.err().println(String.format(Locale.ROOT, "error: fidelity %.3f is below --min-fidelity %s",
                    checked.fidelity().fidelity(), checked.fidelity().minFidelity()));
        }
        return (outcome != null && outcome.failed()) || checked.failed() ? ExitCode.GATE_FAILED : ExitCode.OK;
    }

    /** The quantize step of these flags: what --print-recipe prints and what runs, through {@link RecipeSteps}. */
    private Recipe.Step step() {
        return dynamic
                ? new Recipe.QuantizeDynamic("quantize", (dynamicFormat == null ? DynamicFormat.MATMUL_INTEGER
                        : dynamicFormat).cliName(), reduceRange, exclude, ops, noPrepare ? false : null,
                        latencyFallback)
                : new Recipe.QuantizeStatic("quantize", calibrationOptions.method.id(), calibrationOptions.percentile,
                        calibrationOptions.bins, activations.name().toLowerCase(Locale.ROOT), symmetric,
                        calibrationOptions.sampling().maxSamples(), calibrationOptions.histogramSamples, exclude, ops,
                        weightOnly, !noPrepare, upgradeOpset, keepOpset, equalize, biasCorrection, latencyFallback);
    }

    /** The recipe of these flags: the quantize step, the fidelity and latency checks, --eval and the gates. */
    private int printRecipe() {
        RecipePrinter printer = new RecipePrinter(spec)
                .refuse(table != null, "--table")
                .refuse(saveTable != null, "--save-table")
                .refuse(tokenizer != null, "--tokenizer")
                .refuse(noEncoderDefaults, "--no-encoder-defaults")
                .refuse(!calibrationOptions.tensorMethods.isEmpty(), "--tensor-method")
                .refuse(calibrationOptions.movingAverage != 0, "--moving-average");
        checks.check(data.data() != null || evalGate.eval != null);
        if (!dynamic && data.data() == null && table == null) {
            throw usage("Missing required option: '--data=DIR' (or --dynamic, which needs no calibration data)");
        }
        List<Recipe.Check> recipeChecks = new ArrayList<>();
        List<Recipe.Gate> gates = new ArrayList<>();
        String samples = data.data() != null ? "calibration" : "evaluation";
        if (data.data() != null || evalGate.eval != null) {
            recipeChecks.add(new Recipe.Fidelity("fidelity", samples, null));
            if (!checks.noLatencyCheck) {
                recipeChecks.add(new Recipe.Latency("latency", samples, checks.latencySeconds(),
                        calibrationOptions.threads));
            }
        }
        if (evalGate.eval != null) {
            recipeChecks.add(new Recipe.Eval("eval"));
        }
        if (evalGate.maxDrop.maxDrop() != null) {
            gates.add(new Recipe.Gate("max-drop", "eval.top1-drop", null, evalGate.maxDrop.maxDrop(), null, null));
        }
        if (checks.minFidelity() != null) {
            gates.add(new Recipe.Gate("min-fidelity", "fidelity.score", null, null, checks.minFidelity(), null));
        }
        return printer.print(global, new Recipe(RecipePrinter.text(model), null, null,
                RecipePrinter.data(data.data(), evalGate.eval, data), List.of(step()),
                recipeChecks.isEmpty() ? null : recipeChecks, gates.isEmpty() ? null : gates, null));
    }

    private void printSummary(QuantizationReport quantization, FileReports.Sizes sizes,
            EvalGateOptions.Outcome outcome) {
        var stdout = global.out();
        stdout.println("wrote " + output.out());
        stdout.println(String.format(Locale.ROOT, "size: %s -> %s (%.2fx smaller)%s",
                ModelSummary.bytes(sizes.inputBytes()), ModelSummary.bytes(sizes.outputBytes()), sizes.ratio(),
                sizes.inputZippedBytes() == null ? "" : "; zipped: " + ModelSummary.bytes(sizes.inputZippedBytes())
                        + " -> " + ModelSummary.bytes(sizes.outputZippedBytes())));
        int floatCount = quantization.floatOps().values().stream().mapToInt(Integer::intValue).sum();
        stdout.println("quantized: " + quantization.quantizedNodeCount() + " nodes " + counts(quantization.quantizedOps())
                + "; left in float: " + floatCount + " nodes" + (floatCount == 0 ? "" : " " + counts(quantization.floatOps())));
        stdout.println((dynamic ? "dynamic: no calibration, " : "calibration: " + quantization.method() + " over "
                + quantization.calibrationSamples() + " samples" + (table != null ? " (from " + table + ")" : "") + ", ")
                + quantization.activationType() + " activations, int8 weights "
                + (quantization.perChannel() ? "per channel" : "per tensor"));
        EvalGateOptions.print(outcome, global);
        stdout.println("report: " + output.report());
        if (saveTable != null) {
            stdout.println("calibration table: " + saveTable);
        }
        stdout.flush();
    }

    private static String counts(Map<String, Integer> ops) {
        StringBuilder text = new StringBuilder("(");
        ops.forEach((op, n) -> text.append(text.length() > 1 ? ", " : "").append(op).append(' ').append(n));
        return text.append(')').toString();
    }
}
