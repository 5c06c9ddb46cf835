package dev.compress.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.eval.Gate;
import dev.compress.eval.GateResult;
import dev.compress.graph.OnnxModel;
import dev.compress.inspect.ModelSummary;
import dev.compress.quantize.ActivationType;
import dev.compress.quantize.DynamicFormat;
import dev.compress.quantize.QuantizationReport;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code compress quantize}: static INT8 quantization calibrated on sample data, optionally followed by an
 * evaluation against the fp32 model and an accuracy gate.
 */
@Command(
        name = "quantize",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Quantize an fp32 ONNX model to INT8, calibrated on sample data.",
            "",
            "Writes a QDQ model (int8 weights per channel, uint8 or int8 activations) and a JSON report. With --eval,"
                    + " also evaluates the INT8 model against the fp32 model on labeled data; with --max-drop, exits"
                    + " 4 if top-1 accuracy drops by more than that many points.",
            ""
        },
        footer = {
            "",
            "Example:",
            "  compress quantize --model calibration-data/models/resnet-fp32.onnx \\",
            "      --calib calibration-data/fashion-mnist/calib --out resnet-int8.onnx \\",
            "      --eval calibration-data/fashion-mnist/heldout --max-drop 1"
        })
final class QuantizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GlobalOptions global;

    @Option(names = "--model", required = true, paramLabel = "MODEL", order = 1,
            description = "The fp32 .onnx model.")
    Path model;

    @Option(names = "--calib", paramLabel = "DIR", order = 2,
            description = "Calibration samples: a folder of images (class sub-folders or loose images), a .csv of "
                    + "path,label lines, a folder of .npy files, a .jsonl file of token ids (one JSON object of named "
                    + "integer arrays per line), or with --tokenizer a text file (one text per line). Labels are not "
                    + "needed. Not used with --dynamic or --table.")
    Path calib;

    @Option(names = "--tokenizer", paramLabel = "tokenizer.json", order = 2,
            description = "With a text file as --calib: the HuggingFace tokenizer.json that turns each line into the "
                    + "model's input_ids, attention_mask and token_type_ids.")
    Path tokenizer;

    @Option(names = "--dynamic", order = 2,
            description = "Dynamic quantization: int8 MatMul/Gemm weights (per channel) and Gather tables (per row); "
                    + "ONNX Runtime quantizes activations on each call. Needs no calibration data.")
    boolean dynamic;

    @Option(names = "--dynamic-format", paramLabel = "FORMAT", order = 2, converter = DynamicFormatConverter.class,
            description = "With --dynamic: matmul-integer (default; fastest here, see docs/transformers.md), qdq, "
                    + "or weight-only.")
    DynamicFormat dynamicFormat;

    @Option(names = "--reduce-range", order = 2,
            description = "With --dynamic: 7-bit weights [-64, 64] for CPUs without VNNI (AVX2 only), whose"
                    + " integer kernels can saturate with full-range weights.")
    boolean reduceRange;

    @Option(names = "--table", paramLabel = "FILE.json", order = 2,
            description = "Take activation statistics from this calibration table (from --save-table or compress"
                    + " calibrate) instead of running the model over --calib; it must be of the same model.")
    Path table;

    @Option(names = "--save-table", paramLabel = "FILE.json", order = 2,
            description = "Also write the calibration table, for later runs with --table and any --method,"
                    + " --activations or --exclude.")
    Path saveTable;

    @Option(names = "--out", required = true, paramLabel = "OUT", order = 3,
            description = "Where to write the INT8 model (.onnx). Its folder must exist.")
    Path out;

    @Option(names = "--labels", paramLabel = "FILE", order = 4,
            description = "Class names, one per line, in the model's output order."
                    + " Default: labels.txt beside the data or in its parent folder.")
    Path labels;

    @Option(names = "--activations", paramLabel = "uint8|int8", order = 5, defaultValue = "uint8",
            converter = ActivationTypeConverter.class,
            description = "Activation type: uint8 (asymmetric) or int8 (symmetric). Default: ${DEFAULT-VALUE}.")
    ActivationType activations;

    @Option(names = "--exclude", paramLabel = "NODE", split = ",", order = 6,
            description = "Node names to keep in float, comma-separated (see: compress inspect).")
    List<String> exclude = new ArrayList<>();

    @Option(names = "--ops", paramLabel = "OP", split = ",", order = 6,
            description = "Quantize only these op types, comma-separated (e.g. MatMul for a transformer). Default:"
                    + " every op that can be (Conv, ConvTranspose, Gemm, MatMul, Add, Mul, pooling, reshapes).")
    List<String> ops = new ArrayList<>();

    @Option(names = "--upgrade-opset", order = 6,
            description = "Static: convert an opset 7-12 model to opset 13 first (docs/opset.md), so weights are"
                    + " quantized per channel instead of per tensor; opset 7-9 models need it to be quantized at all.")
    boolean upgradeOpset;

    @Option(names = "--weight-only", paramLabel = "NODE", split = ",", order = 6,
            description = "Static: MatMul/Gemm node names that get int8 weights but keep float activations (layers"
                    + " whose inputs 8-bit static ranges cannot hold).")
    List<String> weightOnly = new ArrayList<>();

    private int batchSize = 32;

    @Option(names = "--batch-size", paramLabel = "N", order = 7, defaultValue = "32",
            description = "Samples per ONNX Runtime call for calibration and evaluation. Default: ${DEFAULT-VALUE}.")
    void setBatchSize(int value) {
        batchSize = Checks.batchSize(spec, value);
    }

    @Option(names = "--eval", paramLabel = "DIR", order = 8,
            description = "Labeled data to evaluate the INT8 model on, with the fp32 model as baseline.")
    Path eval;

    private Double maxDrop;

    @Option(names = "--max-drop", paramLabel = "PTS", order = 9,
            description = "With --eval: the largest top-1 accuracy drop allowed, in percentage points; above it "
                    + "the command exits 4 (the model and report are still written).")
    void setMaxDrop(double value) {
        maxDrop = Checks.maxDrop(spec, value);
    }

    @Option(names = "--report", paramLabel = "FILE.json", order = 10,
            description = "Where to write the JSON report. Default: OUT with .json instead of .onnx.")
    Path report;

    @Option(names = "--symmetric", order = 5,
            description = "Symmetric ranges [-t, t] for uint8 activations too (zero point 128); int8 always is.")
    boolean symmetric;

    @Mixin
    CalibrationOptions calibrationOptions;

    @Mixin
    PreprocessingOptions preprocessing;

    @Override
    public Integer call() {
        if (dynamic && (calib != null || table != null || saveTable != null)) {
            throw new ParameterException(spec.commandLine(), "--dynamic needs no calibration data; drop --calib,"
                    + " --table and --save-table");
        }
        if (!dynamic && calib == null && table == null) {
            throw new ParameterException(spec.commandLine(), "Missing required option: '--calib=DIR' (or --table"
                    + " FILE.json from an earlier calibration, or --dynamic, which needs no calibration data)");
        }
        if (calib != null && table != null) {
            throw new ParameterException(spec.commandLine(),
                    "--calib and --table are alternatives: the table already holds the calibration");
        }
        if (reduceRange && !dynamic) {
            throw new ParameterException(spec.commandLine(), "--reduce-range applies to --dynamic only");
        }
        if (dynamicFormat != null && !dynamic) {
            throw new ParameterException(spec.commandLine(), "--dynamic-format applies to --dynamic only");
        }
        if (upgradeOpset && dynamic) {
            throw new ParameterException(spec.commandLine(), "--upgrade-opset applies to static quantization;"
                    + " --dynamic is per channel at any opset");
        }
        if (!weightOnly.isEmpty() && dynamic) {
            throw new ParameterException(spec.commandLine(), "--weight-only applies to static quantization");
        }
        if (!ops.isEmpty() && dynamic) {
            throw new ParameterException(spec.commandLine(), "--ops applies to static quantization; --dynamic always"
                    + " quantizes MatMul, Gemm and Gather");
        }
        for (String op : ops) {
            if (!Quantizer.supportedOpTypes().contains(op)) {
                throw new ParameterException(spec.commandLine(), "--ops: cannot quantize op type '" + op
                        + "'; supported: " + String.join(", ", new java.util.TreeSet<>(Quantizer.supportedOpTypes())));
            }
        }
        if (tokenizer != null && calib == null) {
            throw new ParameterException(spec.commandLine(), "--tokenizer needs --calib TEXT-FILE");
        }
        if (maxDrop != null && eval == null) {
            throw new ParameterException(spec.commandLine(), "--max-drop needs --eval DIR (data to measure the drop on)");
        }
        Path reportFile = report != null ? report : Outputs.jsonBeside(out);
        if (reportFile.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new ParameterException(spec.commandLine(), "--report and --out name the same file: " + out);
        }
        if (saveTable != null && table != null) {
            throw new ParameterException(spec.commandLine(), "--save-table needs --calib: with --table there is"
                    + " nothing new to save");
        }
        CalibrationSettings settings = calibrationOptions.settings();
        Outputs.checkCanWrite(out);
        Outputs.checkCanWrite(reportFile);
        Outputs.checkNotSame(out, model);
        if (saveTable != null) {
            Outputs.checkCanWrite(saveTable);
            for (Path other : new Path[] {out, reportFile, model}) {
                Outputs.checkNotSame(saveTable, other);
            }
        }

        global.debug("loading " + model);
        OnnxModel fp32 = OnnxModel.load(model);
        CalibrationTable reused = table == null ? null : CalibrationTable.load(table);
        Datasets.Opened calibration = calib == null ? null
                : tokenizer != null ? Datasets.text(calib, tokenizer, fp32)
                : Datasets.open(calib, fp32, preprocessing, labels);
        Datasets.Opened evaluation = eval == null ? null : Datasets.open(eval, fp32, preprocessing, labels);
        if (evaluation != null && evaluation.dataset().classNames().isEmpty()) {
            // found now rather than after calibration
            throw CompressException.badInput(eval, "has no labels; --eval needs labeled samples (class folders, "
                    + "a .csv of path,label lines, or .npy data with labels.npy)");
        }
        if (calibration != null) {
            global.debug("calibration data: " + calibration.dataset().size() + " samples from " + calib
                    + (calibration.preprocessing() == null ? "" : ", preprocessing " + calibration.preprocessing()));
        }

        QuantizationResult result = Quantizer.builder()
                .setModel(fp32)
                .setCalibrationData(calibration == null ? null : calibration.dataset())
                .optTable(reused)
                .optReusableTable(saveTable != null)
                .optCalibration(settings)
                .optSymmetricActivations(symmetric)
                .optMaxSamples(calibrationOptions.maxSamples)
                .optHistogramSamples(calibrationOptions.histogramSamples)
                .optThreads(calibrationOptions.sessions(), 1)
                .optDynamic(dynamic ? (dynamicFormat == null ? DynamicFormat.MATMUL_INTEGER : dynamicFormat) : null)
                .optActivationType(activations)
                .optExclude(exclude)
                .optOpTypes(ops)
                .optUpgradeOpset(upgradeOpset)
                .optWeightOnly(weightOnly)
                .optReduceRange(reduceRange)
                .optBatchSize(batchSize)
                .optProgress(global.progress())
                .build()
                .quantize();
        result.report().warnings().forEach(warning -> global.err().println("warning: " + warning));

        EvalReport evalReport = null;
        GateResult gate = null;
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
            // evaluated in memory, before anything is written; name it by the file it is about to become
            evalReport = named(evalReport, out.toString());
            if (maxDrop != null) {
                gate = Gate.check(evalReport, maxDrop);
            }
        }

        result.model().save(out);
        long fp32Bytes = Outputs.modelBytes(model);
        long int8Bytes = Outputs.modelBytes(out);
        try {
            Json.write(reportFile,
                    report(result.report(), evalReport, gate, fp32Bytes, int8Bytes, calibration));
        } catch (RuntimeException e) {
            Outputs.deleteModel(out); // a model without its report is not a finished run
            throw e;
        }

        if (saveTable != null) {
            result.table().save(saveTable, settings, symmetric || activations == ActivationType.INT8);
        }
        printSummary(result.report(), evalReport, gate, fp32Bytes, int8Bytes, reportFile);
        return gate != null && !gate.passed() ? ExitCode.GATE_FAILED : ExitCode.OK;
    }

    private ObjectNode report(QuantizationReport quantization, EvalReport evaluation, GateResult gate,
            long fp32Bytes, long int8Bytes, Datasets.Opened calibration) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("model", model.toString());
        root.put("output", out.toString());
        ObjectNode size = root.putObject("size");
        size.put("fp32Bytes", fp32Bytes);
        size.put("int8Bytes", int8Bytes);
        size.put("ratio", ratio(fp32Bytes, int8Bytes));
        // zeros left by unstructured pruning shrink only the compressed size
        size.put("fp32ZippedBytes", Outputs.zippedBytes(model));
        size.put("int8ZippedBytes", Outputs.zippedBytes(out));
        if (calibration != null && calibration.preprocessing() != null) {
            root.set("preprocessing", Json.MAPPER.valueToTree(calibration.preprocessingMap()));
        }
        root.set("quantization", Json.MAPPER.valueToTree(quantization));
        if (evaluation != null) {
            root.set("evaluation", Reports.toTree(evaluation));
        }
        if (gate != null) {
            root.set("gate", Json.MAPPER.valueToTree(gate));
        }
        return root;
    }

    private static EvalReport named(EvalReport r, String model) {
        return new EvalReport(model, r.data(), r.samples(), r.classes(), r.top1(), r.top5(), r.perClass(),
                r.baseline(), r.preprocessing());
    }

    private static double ratio(long fp32Bytes, long int8Bytes) {
        return int8Bytes > 0 ? Math.round(1000.0 * fp32Bytes / int8Bytes) / 1000.0 : 0;
    }

    private void printSummary(QuantizationReport quantization, EvalReport evaluation, GateResult gate,
            long fp32Bytes, long int8Bytes, Path reportFile) {
        var stdout = global.out();
        stdout.println("wrote " + out);
        stdout.println(String.format(Locale.ROOT, "size: %s -> %s (%.2fx smaller); zipped: %s -> %s",
                ModelSummary.bytes(fp32Bytes), ModelSummary.bytes(int8Bytes), ratio(fp32Bytes, int8Bytes),
                ModelSummary.bytes(Outputs.zippedBytes(model)), ModelSummary.bytes(Outputs.zippedBytes(out))));
        int floatCount = quantization.floatOps().values().stream().mapToInt(Integer::intValue).sum();
        stdout.println("quantized: " + quantization.quantizedNodeCount() + " nodes " + counts(quantization.quantizedOps())
                + "; left in float: " + floatCount + " nodes" + (floatCount == 0 ? "" : " " + counts(quantization.floatOps())));
        stdout.println((dynamic ? "dynamic: no calibration, " : "calibration: " + quantization.method() + " over "
                + quantization.calibrationSamples() + " samples" + (table != null ? " (from " + table + ")" : "") + ", ")
                + quantization.activationType() + " activations, int8 weights "
                + (quantization.perChannel() ? "per channel" : "per tensor"));
        if (evaluation != null) {
            stdout.print(evaluation.summary());
        }
        if (gate != null) {
            stdout.println(gate.message());
        }
        stdout.println("report: " + reportFile);
        if (saveTable != null) {
            stdout.println("calibration table: " + saveTable);
        }
        stdout.flush();
    }

    private static String counts(java.util.Map<String, Integer> ops) {
        StringBuilder text = new StringBuilder("(");
        ops.forEach((op, n) -> text.append(text.length() > 1 ? ", " : "").append(op).append(' ').append(n));
        return text.append(')').toString();
    }

    /** {@code matmul-integer} / {@code qdq} / {@code weight-only}; anything else is a usage error. */
    static final class DynamicFormatConverter implements picocli.CommandLine.ITypeConverter<DynamicFormat> {
        @Override
        public DynamicFormat convert(String value) {
            try {
                return DynamicFormat.parse(value);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code uint8} / {@code int8}, any case; anything else is a usage error listing the choices. */
    static final class ActivationTypeConverter implements picocli.CommandLine.ITypeConverter<ActivationType> {
        @Override
        public ActivationType convert(String value) {
            try {
                return ActivationType.parse(value);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }
}
