package dev.compress.quantize;

import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.calibrate.CalibrationBuilder;
import dev.compress.calibrate.CalibrationMethod;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.calibrate.Calibrator;
import dev.compress.calibrate.TensorRange;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.ModelPass;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Pipeline;
import dev.compress.pipeline.PipelineResult;
import dev.compress.pipeline.Provenance;
import dev.compress.prepare.GraphPreparation;
import dev.compress.prepare.PreparationReport;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Static post-training quantization to ONNX QDQ format: calibrates activation ranges over a dataset with ONNX Runtime,
 * then rewrites the model so ONNX Runtime runs Conv, Gemm, MatMul, Add and pooling in 8-bit integer kernels.
 *
 * <pre>{@code
 * QuantizationResult result = Quantizer.builder()
 *         .setModel(OnnxModel.load(fp32))
 *         .setCalibrationData(dataset)
 *         .build()
 *         .quantize();
 * result.model().save(int8);
 * }</pre>
 */
public final class Quantizer implements ModelPass<QuantizationResult> {
    /** QuantizeLinear exists from opset 10; its per-axis form from opset 13. */
    static final long MIN_OPSET = 10;
    static final long PER_CHANNEL_OPSET = 13;
    /** Largest activation magnitude quantized; beyond it a tensor stays float (see {@link #tooWide}). */
    static final float MAX_ACTIVATION = 1000f;
    /** The metadata entry both static and dynamic quantization record. */
    static final String PROVENANCE = "compress.quantization";
    /** Whether static quantization equalizes Conv pairs unless told ({@link Builder#optEqualize}). */
    public static final boolean EQUALIZE_BY_DEFAULT = false;
    /**
     * Whether static quantization with calibration data corrects biases unless told ({@link Builder#optBiasCorrection});
     * with a table there is no data to measure on, and it does not.
     */
    public static final boolean BIAS_CORRECTION_BY_DEFAULT = true;

    private final OnnxModel model;
    private final Dataset calibration;
    /** What the latency fallback times on: the calibration data, or for dynamic quantization data given for it. */
    private final Dataset timing;
    private final ActivationType activationType;
    private final Set<String> excluded;
    private final Integer batchSize;
    private final Progress progress;
    private final CalibrationSettings settings;
    private final CalibrationTable table;
    private final boolean reusableTable;
    private final boolean symmetricActivations;
    private final CalibrationBuilder.Sampling sampling;
    private final DynamicFormat dynamic;
    private final Set<String> opTypes;
    private final boolean upgradeOpset;
    private final boolean keepOpset;
    private final boolean prepare;
    private final Set<String> weightOnly;
    private final boolean reduceRange;
    private final boolean encoderDefaults;
    private final double fallbackSeconds;
    private final boolean equalize;
    private final boolean biasCorrection;

    private Quantizer(Builder builder) {
        this.model = builder.model;
        this.calibration = builder.calibration;
        this.timing = builder.calibration != null ? builder.calibration : builder.timing;
        this.activationType = builder.activationType;
        this.excluded = builder.excluded;
        this.batchSize = builder.batchSizeGiven() ? builder.batchSize() : null;
        this.progress = builder.progress();
        this.settings = builder.settings;
        this.table = builder.table;
        this.reusableTable = builder.reusableTable;
        this.symmetricActivations = builder.symmetricActivations;
        this.sampling = builder.sampling();
        this.dynamic = builder.dynamic;
        this.opTypes = builder.opTypes;
        this.upgradeOpset = builder.upgradeOpset;
        this.keepOpset = builder.keepOpset;
        this.prepare = builder.prepare;
        this.weightOnly = builder.weightOnly;
        this.reduceRange = builder.reduceRange;
        this.encoderDefaults = builder.encoderDefaults;
        this.fallbackSeconds = builder.fallbackSeconds;
        this.equalize = builder.equalize;
        this.biasCorrection = builder.biasCorrection == null
                ? BIAS_CORRECTION_BY_DEFAULT && builder.calibration != null : builder.biasCorrection;
    }

    /** Op types static quantization can run in integer arithmetic (see {@link Builder#optOpTypes}). */
    public static Set<String> supportedOpTypes() {
        Set<String> ops = new LinkedHashSet<>(QuantizationPlan.WEIGHTED_OPS);
        ops.add("LSTM"); // DynamicQuantizeLSTM: int8 weights, activations per call
        ops.addAll(QuantizationPlan.ELEMENTWISE_OPS);
        ops.addAll(QuantizationPlan.VARIADIC_OPS);
        ops.addAll(QuantizationPlan.UNARY_OPS);
        ops.addAll(QuantizationPlan.PASS_THROUGH_OPS);
        return ops;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public String id() {
        return dynamic != null ? "quantize-dynamic" : "quantize-static";
    }

    /**
     * Prepares (unless {@link Builder#optPrepare} said not to), calibrates and rewrites a copy of the model set on the
     * builder, through a {@link Pipeline} (which records the provenance); the input model is not changed.
     *
     * @throws CompressException BAD_INPUT for a model that cannot be quantized or unreadable calibration data
     */
    public QuantizationResult quantize() {
        if (model == null) {
            throw new IllegalStateException("quantize() needs setModel; as a pass, use apply(model, context)");
        }
        Pipeline.Builder pipeline = Pipeline.builder();
        if (prepare) {
            pipeline.add(new GraphPreparation());
        }
        PipelineResult result = pipeline.add(this).build().run(model, PassContext.of(progress));
        QuantizationResult quantized = result.report(QuantizationResult.class);
        return prepare ? quantized.withPreparation(result.report(PreparationReport.class)) : quantized;
    }

    /**
     * Calibrates and rewrites a copy of {@code model}; the report is the whole {@link QuantizationResult} (with the
     * calibration table).
     */
    @Override
    public PassResult<QuantizationResult> apply(OnnxModel model, PassContext context) {
        if (dynamic != null) {
            checkExcludedNodesExist(model);
            DynamicQuantization.Result all = DynamicQuantization.quantize(model, excluded, Set.of(), opTypes,
                    dynamic, reduceRange);
            checkLoads(all.result().model(), model);
            if (fallbackSeconds <= 0) {
                return all.result();
            }
            // each op type a region: ConvInteger and its rescaling passes can be slower than float Convs while
            // MatMulInteger is faster (docs/benchmarks.md), and a recurrent layer gains little at batch 1
            LatencyFallback.Outcome outcome = new LatencyFallback(sampling.sessions(),
                    timing.firstBatches(batchSize != null ? batchSize : 1, LatencyFallback.BATCHES),
                    fallbackSeconds, context.progress(), Set.of()).search(all.result().model(),
                            all.quantizedNodes(), node -> node.output(0),
                            keptFloat -> DynamicQuantization.quantize(model, excluded, keptFloat, opTypes, dynamic,
                                    reduceRange).result().model());
            PassResult<QuantizationResult> result = outcome.keptFloat().isEmpty() ? all.result()
                    : DynamicQuantization.quantize(model, excluded, outcome.keptFloat(), opTypes, dynamic,
                            reduceRange).result();
            return new PassResult<>(result.model(), result.report().withFallback(outcome.report()),
                    result.provenance());
        }
        if (fallbackSeconds <= 0) {
            return quantizeStatic(model, context, Set.of(), table, true).result();
        }
        // calibrated for every activation (calibratesAll), so variants with some nodes float find their ranges in it
        Static all = quantizeStatic(model, context, Set.of(), table, true);
        CalibrationTable calibrated = all.result().report().table();
        List<Batch> batches = calibration.firstBatches(batchSize != null ? batchSize : 1, LatencyFallback.BATCHES);
        LatencyFallback.Outcome outcome = new LatencyFallback(sampling.sessions(), batches, fallbackSeconds,
                context.progress(), QuantizationPlan.WEIGHTED_OPS).search(all.result().model(), all.quantizedNodes(), all.key(),
                        keptFloat -> quantizeStatic(model, PassContext.silent(), keptFloat, calibrated, false)
                                .result().model());
        PassResult<QuantizationResult> result = outcome.keptFloat().isEmpty()
                ? all.result() : quantizeStatic(model, context, outcome.keptFloat(), calibrated, true).result();
        return new PassResult<>(result.model(), result.report().withFallback(outcome.report()),
                result.provenance());
    }

    /**
     * Dynamic quantization never runs the model, so a source that ONNX's checker passes (even with full_check) but
     * ONNX Runtime cannot load, e.g. a Gemm whose inner dimensions disagree, became an INT8 copy nothing can load:
     * found by fuzzing. Nothing that cannot load is handed over.
     *
     * @throws CompressException BAD_INPUT naming the source model with ONNX Runtime's message when the source does not
     *     load either; INTERNAL when only the rewrite fails (a defect here)
     */
    private static void checkLoads(OnnxModel quantized, OnnxModel source) {
        try (OrtModel session = OrtModel.open(quantized, RuntimeOptions.defaults())) {
            session.inputShapes();
        } catch (CompressException e) {
            OrtModel.open(source, RuntimeOptions.defaults()).close();
            throw CompressException.internal("the dynamic INT8 rewrite of " + source.displayName() + " does not load"
                    + " in ONNX Runtime though the model does (" + e.problem() + ")", e);
        }
    }

    /** Whether calibration covers every activation: for a reusable table, and for the latency fallback's variants. */
    private boolean calibratesAll() {
        return reusableTable || fallbackSeconds > 0;
    }

    /** A static quantization's result and the nodes its plan quantized (in the rewritten graph, graph order). */
    private record Static(PassResult<QuantizationResult> result, List<Node> quantizedNodes,
            Function<Node, String> key) {}

    /**
     * Calibrates (unless {@code table} is given) and rewrites a copy of {@code model}.
     *
     * @param keptFloat first outputs of nodes kept float besides the excluded ones (the latency fallback's choice)
     * @param correctBiases false for the latency fallback's variants, which are only timed (biases change no speed)
     */
    private Static quantizeStatic(OnnxModel model, PassContext context, Set<String> keptFloat,
            CalibrationTable table, boolean correctBiases) {
        // the caller's choices, or for a token-id model none given, the encoder defaults (reported)
        EncoderDefaults encoder = encoderDefaults(model);
        Set<String> opTypes = encoder != null ? encoder.opTypes() : this.opTypes;
        Set<String> weightOnly = encoder != null ? Set.of() : this.weightOnly;
        Set<String> dynamicNodes = new LinkedHashSet<>(encoder != null ? encoder.dynamic() : Set.of());
        boolean upgradeOpset = this.upgradeOpset || encoder != null;
        // before anything reads the model: calibration must see the tensors the converted graph has
        String upgrade = null;
        long sourceOpset = model.opset(OnnxModel.DEFAULT_DOMAIN);
        // below opset 10 there is no QuantizeLinear: converting is the only way, so it happens without being asked
        boolean automatic = !upgradeOpset && sourceOpset < MIN_OPSET;
        List<String> warnings = new ArrayList<>();
        if (encoder != null) {
            warnings.add(encoder.describe());
        }
        boolean converts = convertsOpset(model);
        if (converts) {
            model = model.copy();
            upgrade = OpsetUpgrade.apply(model);
            if (automatic && upgrade == null) {
                warnings.add("converted from opset " + sourceOpset + " to " + PER_CHANNEL_OPSET + " first:"
                        + " QuantizeLinear needs opset " + MIN_OPSET + " (docs/opset.md); the output needs an opset-13"
                        + " runtime");
            } else if (!upgradeOpset && upgrade == null) {
                warnings.add("converted from opset " + sourceOpset + " to " + PER_CHANNEL_OPSET + " for per-channel"
                        + " weights (docs/opset.md; --keep-opset keeps opset " + sourceOpset + " with per-tensor"
                        + " weights); the output needs an opset-13 runtime");
            } else if (upgrade != null) {
                warnings.add("kept opset " + sourceOpset + " with per-tensor weights: the conversion to "
                        + PER_CHANNEL_OPSET + " was refused: " + upgrade);
            }
        }
        long geluFrom = model.opset(OnnxModel.DEFAULT_DOMAIN);
        model = forGelu(model, warnings);
        boolean geluUpgrade = model.opset(OnnxModel.DEFAULT_DOMAIN) != geluFrom;
        long opset = checkOpset(model);
        Rewritten rewritten = rewritten(model, opset);
        model = rewritten.model();
        // after the HardSigmoid rewrite, whose first node keeps the HardSigmoid's name: its other nodes can be named
        // too, as the latency fallback's report names them
        checkExcludedNodesExist(model);
        Equalized equalized = equalized(model);
        model = equalized.model();
        QuantizationReport.Equalization equalization = equalized.report();
        Set<String> excluded = new HashSet<>(this.excluded);
        dynamicNodes.addAll(lstms(model, opTypes, excluded));
        // planned as float; rewritten after the QDQ rewrite with int8 weights
        excluded.addAll(weightOnly);
        excluded.addAll(dynamicNodes);
        OnnxModel quantized = model.copy();
        Graph graph = quantized.graph();
        graph.promoteConstants();
        graph.bypassInitializerIdentities();
        // nodes are known to the latency fallback by their first output as the graph had it before folding
        Map<String, String> unfolded = new HashMap<>();
        Function<Node, String> key = node -> unfolded.getOrDefault(node.output(0), node.output(0));
        Function<Node, String> exclusion = node -> excluded.contains(node.name()) ? "excluded"
                : keptFloat.contains(key.apply(node)) ? LatencyFallback.REASON : null;
        List<QuantizationPlan.FoldedClamp> folds = activationType == ActivationType.UINT8 && !symmetricActivations
                ? QuantizationPlan.foldClamps(graph, exclusion)
                : List.of();
        folds.forEach(fold -> unfolded.put(fold.node().output(0), fold.input()));
        QuantizationPlan guess = QuantizationPlan.of(graph, exclusion, opTypes, Set.of(), Map.of());
        if (guess.quantizedNodes.isEmpty()) {
            Map<Node, String> weighted = new LinkedHashMap<>(guess.floatNodes);
            weighted.keySet().removeIf(n -> !QuantizationPlan.WEIGHTED_OPS.contains(n.opType()));
            long lstms = graph.nodes().stream().filter(n -> dynamicNodes.contains(n.name())
                    && n.opType().equals("LSTM")).count();
            throw CompressException.badInput(model.source().orElse(null),
                    "nothing to quantize: no Conv, ConvTranspose, Gemm or MatMul with float weights was found"
                            + (weighted.isEmpty() ? "" : " (" + describeReasons(weighted) + ")")
                            + inSubgraphs(graph)
                            + (lstms == 0 ? "" : "; --dynamic quantizes its " + lstms
                                    + (lstms == 1 ? " LSTM" : " LSTMs")));
        }
        Set<String> candidates = new LinkedHashSet<>(guess.activations);
        if (calibratesAll()) {
            candidates.addAll(allActivations(model, Set.of()));
        }
        Set<String> notFloat = nonFloat(model, candidates);
        QuantizationPlan plan = notFloat.isEmpty()
                ? guess : QuantizationPlan.of(graph, exclusion, opTypes, notFloat, Map.of());
        checkPerTensorMethods(model, plan.activations);
        // pass-through outputs take their input's parameters, so only the other activations need statistics
        Set<String> own = new LinkedHashSet<>(plan.activations);
        own.removeAll(plan.sharedParams.keySet());
        own.removeAll(plan.scaled.keySet());
        if (table != null) {
            table.checkModel(model);
        } else {
            table = runCalibration(model, calibratesAll() ? allActivations(model, notFloat) : own, calibratesAll(),
                    context.progress());
        }
        boolean symmetric = symmetricActivations || activationType == ActivationType.INT8;
        Map<String, TensorRange> calibrated = new LinkedHashMap<>(
                table.ranges(boundedKeepTheirRange(graph, folds, own, warnings), own, symmetric));
        Map<String, String> tooWide = tooWide(table, own, maskReach(graph));
        maskDerived(graph, own).forEach(tooWide::putIfAbsent);
        while (!tooWide.isEmpty()) {
            // planned again without them; an activation that shared a now-float tensor's parameters has no range
            // of its own, so it stays float too
            plan = QuantizationPlan.of(graph, exclusion, opTypes, notFloat, tooWide);
            Set<String> uncalibrated = new LinkedHashSet<>(plan.activations);
            uncalibrated.removeAll(plan.sharedParams.keySet());
            uncalibrated.removeAll(plan.scaled.keySet());
            uncalibrated.removeAll(calibrated.keySet());
            if (uncalibrated.isEmpty()) {
                break;
            }
            uncalibrated.forEach(tensor -> tooWide.put(tensor, "was not calibrated on its own: it shared the"
                    + " parameters of a tensor that stays float"));
        }
        Map<String, QuantParams> params = new LinkedHashMap<>();
        List<QuantizationReport.ActivationRange> ranges = new ArrayList<>();
        for (String tensor : plan.activations) {
            QuantizationPlan.Scaled scaled = plan.scaled.get(tensor);
            String source = scaled != null ? scaled.source() : plan.sharedParams.get(tensor);
            TensorRange range = source != null
                    ? calibrated.get(source) : QuantizationPlan.withinFoldedBounds(folds, calibrated.get(tensor));
            QuantParams p = source != null
                    ? params.get(source)
                    : QuantParams.forRange(range.min(), range.max(), activationType);
            if (scaled != null) {
                range = new TensorRange(tensor, range.method(), range.min() * scaled.factor(),
                        range.max() * scaled.factor());
                p = new QuantParams(p.scale() * scaled.factor(), p.zeroPoint(), p.type());
            }
            calibrated.put(tensor, range);
            params.put(tensor, p);
        }
        plan.concatShared.forEach((input, concat) -> {
            params.put(input, params.get(concat));
            calibrated.put(input, calibrated.get(concat));
        });
        for (String tensor : plan.activations) {
            TensorRange range = calibrated.get(tensor);
            QuantParams p = params.get(tensor);
            QuantizationPlan.Scaled scaled = plan.scaled.get(tensor);
            String source = scaled != null ? scaled.source()
                    : plan.sharedParams.getOrDefault(tensor, plan.concatShared.get(tensor));
            ranges.add(new QuantizationReport.ActivationRange(
                    tensor, range.min(), range.max(), p.scale(), p.zeroPoint(), source));
        }
        long samples = table.samples();
        List<String> folded = plan.restoreClamps(graph, folds, params);
        boolean perChannel = opset >= PER_CHANNEL_OPSET;
        QuantizationReport.BiasCorrected corrected = null;
        if (biasCorrection && correctBiases) {
            corrected = BiasCorrection.apply(model, graph, plan, perChannel, calibration,
                    batchSize != null ? batchSize : ModelInputs.defaultBatchSize(model, calibration),
                    sampling.maxSamples() > 0 ? Math.min(sampling.maxSamples(), calibration.size())
                            : calibration.size(), context.progress());
        }
        List<String> widened = ChannelWidths.widen(graph, new HashSet<>(plan.quantizedNodes));
        QdqRewriter.rewrite(graph, plan, params, perChannel);
        List<String> paddedInputs = opset >= ConvKernelShapes.PAD_MIN_OPSET
                ? ConvKernelShapes.padInputChannels(graph) : List.of();
        List<String> expandedGroups = ConvKernelShapes.expandGroups(graph);
        // after the QDQ rewrite, so the Cast/Mul that dequantize gathered rows are not planned as integer Muls
        EmbeddingQuantizer.Result embeddings = EmbeddingQuantizer.rewrite(graph,
                node -> excluded.contains(node.name()) ? "excluded" : null, true);
        List<Node> quantizedNodes = new ArrayList<>(plan.quantizedNodes);
        quantizedNodes.addAll(embeddings.quantized());
        Map<Node, String> floatNodes = new LinkedHashMap<>(plan.floatNodes);
        embeddings.quantized().forEach(floatNodes::remove);
        floatNodes.putAll(embeddings.keptFloat());
        for (DynamicFormat format : List.of(DynamicFormat.WEIGHT_ONLY, DynamicFormat.MATMUL_INTEGER)) {
            Set<String> names = format == DynamicFormat.WEIGHT_ONLY ? weightOnly : dynamicNodes;
            if (names.isEmpty()) {
                continue;
            }
            Map<Node, String> notDone = new LinkedHashMap<>();
            // planned as "excluded"; the QDQ rewrite may have renamed their inputs, so match by name
            floatNodes.keySet().removeIf(node -> names.contains(node.name()));
            List<Node> done = DynamicQuantization.rewriteNodes(graph, names, format, perChannel, notDone);
            if (done.stream().anyMatch(node -> node.opType().equals("LSTM"))) {
                quantized.setOpset(DynamicQuantization.MICROSOFT, 1);
            }
            if (format == DynamicFormat.WEIGHT_ONLY) { // activations float: reported as float with the reason
                done.forEach(node -> floatNodes.put(node, "weight-only: int8 weight, float activations"));
            } else {
                quantizedNodes.addAll(done);
            }
            floatNodes.putAll(notDone);
        }
        QuantizationReport report = new QuantizationReport(
                model.displayName(),
                settings.method().id(),
                activationType.name().toLowerCase()
                        + (symmetricActivations && activationType == ActivationType.UINT8 ? " symmetric" : ""),
                "int8 symmetric",
                perChannel,
                samples,
                countByOp(quantizedNodes),
                countByOp(floatNodes.keySet()),
                describe(floatNodes),
                folded,
                ranges,
                concat(warnings, table.warnings())).withDataFree(equalization, corrected)
                .withConvShapes(paddedInputs.isEmpty() && expandedGroups.isEmpty() && rewritten.shuffles().isEmpty()
                        && widened.isEmpty() ? null : new QuantizationReport.ConvShapes(paddedInputs, expandedGroups,
                                rewritten.shuffles().isEmpty() ? null : rewritten.shuffles(),
                                widened.isEmpty() ? null : widened));
        // what the ranges depend on besides the samples, so that they can be calibrated again alike
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("method", report.method());
        provenance.put("activations", report.activationType());
        provenance.put("weights", "int8 symmetric " + (perChannel ? "per-channel" : "per-tensor"));
        provenance.put("calibrationSamples", samples);
        if (settings.needsHistograms()) {
            provenance.put("percentile", settings.percentile());
            provenance.put("bins", settings.bins());
            provenance.put("histogramSamples", table.histogramSamples());
        }
        if (settings.movingAverage() > 0) {
            provenance.put("movingAverage", settings.movingAverage());
        }
        if (!settings.perTensor().isEmpty()) {
            provenance.put("methodPerTensor", settings.perTensorIds());
        }
        if (converts || geluUpgrade) {
            provenance.put("opsetUpgrade", upgrade == null ? "to " + opset : "not done: " + upgrade);
        }
        if (rewritten.gelus() > 0) {
            provenance.put("gelusFused", rewritten.gelus());
        }
        if (rewritten.integerForms() > 0) {
            provenance.put("integerForms", rewritten.integerForms());
        }
        if (!paddedInputs.isEmpty()) {
            provenance.put("inputChannelsPadded", paddedInputs);
        }
        if (!expandedGroups.isEmpty()) {
            provenance.put("groupedConvsMadeDense", expandedGroups);
        }
        if (!rewritten.shuffles().isEmpty()) {
            provenance.put("channelShufflesFolded", rewritten.shuffles());
        }
        if (!widened.isEmpty()) {
            // the layer ranking compares these spaces' leading channels with the source's
            provenance.put("channelsWidened", widened);
        }
        provenance.put("excludedNodes", this.excluded.stream().sorted().toList());
        if (!keptFloat.isEmpty()) {
            provenance.put("latencyFallbackFloatNodes", plan.floatNodes.entrySet().stream()
                    .filter(e -> e.getValue().equals(LatencyFallback.REASON)).map(e -> e.getKey().describe())
                    .sorted().toList());
        }
        if (!weightOnly.isEmpty()) {
            provenance.put("weightOnlyNodes", weightOnly.stream().sorted().toList());
        }
        if (!dynamicNodes.isEmpty()) {
            provenance.put("dynamicNodes", dynamicNodes.stream().sorted().toList());
        }
        if (encoder != null) {
            provenance.put("encoderDefaults", true);
        }
        if (equalization != null) {
            provenance.put("equalizedPairs", equalization.pairs().size());
        }
        if (corrected != null) {
            provenance.put("biasCorrectedLayers", corrected.layers().size());
        }
        return new Static(new PassResult<>(quantized, new QuantizationResult(quantized, report, table),
                new Provenance(PROVENANCE, provenance)), plan.quantizedNodes, key);
    }

    private static List<String> concat(List<String> first, List<String> second) {
        List<String> all = new ArrayList<>(first);
        all.addAll(second);
        return all;
    }

    private static long checkOpset(OnnxModel model) {
        long opset = model.opset(OnnxModel.DEFAULT_DOMAIN);
        if (opset < MIN_OPSET) {
            throw CompressException.badInput(model.source().orElse(null), "opset " + opset
                    + " is too old to quantize (QuantizeLinear needs opset " + MIN_OPSET + " or later)");
        }
        return opset;
    }

    /**
     * Activations that reached a magnitude beyond {@link #MAX_ACTIVATION}, or held infinite values, during
     * calibration, where a mask can reach them: 8 bits spread over such a range leave nothing for ordinary values.
     * Transformer exporters add attention masks of -10000, -3.4e38 or -inf to the scores; quantizing that sum
     * destroys every score, so those tensors stay float. Judged on the exact observed extremes, not on the method's
     * range: a percentile or entropy range would clip the mask (padding is a small share of the values) and quantize
     * it all the same. A wide tensor no mask reaches (audio fed as int16-scaled samples) is quantized over its range.
     *
     * @param maskReach tensors computed, directly or further on, from a non-float model input or a huge scalar
     */
    private static Map<String, String> tooWide(CalibrationTable table, Set<String> tensors, Set<String> maskReach) {
        Map<String, String> wide = new LinkedHashMap<>();
        table.observed(tensors).forEach((tensor, range) -> {
            long nonFinite = table.nonFinite(tensor);
            String mask = maskReach.contains(tensor) ? " (attention mask?)" : "";
            if (nonFinite > 0) {
                wide.put(tensor, "held " + nonFinite + " NaN or infinite values during calibration, which 8 bits"
                        + " cannot hold" + mask);
            } else if (!mask.isEmpty() && Math.max(-range.min(), range.max()) > MAX_ACTIVATION) {
                wide.put(tensor, String.format(java.util.Locale.ROOT,
                        "has calibrated range [%.3g, %.3g], too wide for 8 bits (attention mask?)",
                        range.min(), range.max()));
            }
        });
        return wide;
    }

    /**
     * Tensors a mask can reach: everything computed, directly or further on, from a non-float model input or from a
     * scalar constant of magnitude beyond {@link #MAX_ACTIVATION} (or not finite), as additive masks are written.
     */
    private static Set<String> maskReach(Graph graph) {
        Set<String> reached = new HashSet<>();
        graph.inputs().stream().filter(input -> input.elementType() != DataType.FLOAT)
                .forEach(input -> reached.add(input.name()));
        graph.initializers().forEach((name, tensor) -> {
            if (tensor.elementCount() == 1 && (tensor.dataType() == DataType.FLOAT
                    || tensor.dataType() == DataType.DOUBLE)) {
                double value = tensor.value(0);
                if (!Double.isFinite(value) || Math.abs(value) > MAX_ACTIVATION) {
                    reached.add(name);
                }
            }
        });
        for (Node node : graph.nodes()) { // topological order
            if (node.inputs().stream().anyMatch(reached::contains)) {
                reached.addAll(node.outputs());
            }
        }
        return reached;
    }

    /**
     * Entropy's KL criterion compares histogram shapes, not values: clipping a bounded output moves its large values
     * into the edge bin at almost no cost in divergence. So it cut squeeze-excite gates (Sigmoid or HardSigmoid
     * outputs, dense near zero, whose rare large values open whole channels) from 0.78 to 0.18, and the
     * EfficientNet- and MobileNetV3-style fixtures collapsed to 11% and 18% agreement with fp32; it cut ReLU6
     * outputs from 6 to 2.2 (MobileNetV2-style: 0.9 points lost). Outputs bounded by their op (Sigmoid,
     * HardSigmoid, Clip, folded ReLU6) take their observed range instead, which their bound keeps short. A
     * per-tensor method the user chose is kept.
     */
    private CalibrationSettings boundedKeepTheirRange(Graph graph, List<QuantizationPlan.FoldedClamp> folds,
            Set<String> tensors, List<String> warnings) {
        Map<String, CalibrationMethod> perTensor = new LinkedHashMap<>(settings.perTensor());
        Graph.Index index = graph.index();
        Set<String> bounded = new HashSet<>();
        folds.stream().filter(f -> Float.isFinite(f.max())).forEach(f -> bounded.add(f.output()));
        int kept = 0;
        for (String tensor : tensors) {
            if (settings.methodFor(tensor) == CalibrationMethod.ENTROPY && !perTensor.containsKey(tensor)
                    && (bounded.contains(tensor) || index.producer(tensor)
                            .filter(p -> p.is("Sigmoid") || p.is("HardSigmoid") || p.is("Clip")).isPresent())) {
                perTensor.put(tensor, CalibrationMethod.MINMAX);
                kept++;
            }
        }
        if (kept > 0) {
            warnings.add(kept + " outputs of bounded ops (Sigmoid, HardSigmoid, Clip/ReLU6) take their observed"
                    + " (minmax) range: entropy would clip them (docs/calibration.md)");
        }
        return settings.withPerTensor(perTensor);
    }

    /**
     * Float activations computed from non-float model inputs and scalar constants alone, such as the additive
     * attention mask {@code (1 - float(attention_mask)) * -3.4e38}. Their range depends only on which input values
     * calibration happened to see: calibrated without padding (batch size 1, or sentences of one length) the mask
     * term is all zeros, and quantized with that range it would wipe out every mask at run time. So they stay float.
     */
    private static Map<String, String> maskDerived(Graph graph, Set<String> tensors) {
        Set<String> derived = new HashSet<>();
        graph.inputs().stream()
                .filter(input -> input.elementType() != DataType.FLOAT)
                .forEach(input -> derived.add(input.name()));
        if (derived.isEmpty()) {
            return Map.of();
        }
        graph.initializers().forEach((name, tensor) -> {
            if (tensor.elementCount() <= 1) {
                derived.add(name);
            }
        });
        boolean any = false;
        for (Node node : graph.nodes()) { // topological order
            if (node.inputs().size() > 0 && node.inputs().stream()
                    .allMatch(input -> input.isEmpty() || derived.contains(input))) {
                derived.addAll(node.outputs());
                any = true;
            }
        }
        Map<String, String> keep = new LinkedHashMap<>();
        if (any) {
            for (String tensor : tensors) {
                if (derived.contains(tensor)) {
                    keep.put(tensor, "is computed from non-float model inputs alone (attention mask?): its range"
                            + " depends on which masks calibration saw");
                }
            }
        }
        return keep;
    }

    private void checkExcludedNodesExist(OnnxModel model) {
        Set<String> names = model.graph().nodes().stream().map(Node::name).collect(Collectors.toSet());
        Set<String> named = new LinkedHashSet<>(excluded);
        named.addAll(weightOnly);
        for (String name : named) {
            if (!names.contains(name)) {
                throw CompressException.badInput(model.source().orElse(null),
                        (excluded.contains(name) ? "--exclude" : "--weight-only") + " names node '" + name
                                + "', which the model does not have"
                                + " (list them with: compress inspect --nodes)");
            }
        }
    }

    /** Node name to reason, sorted by name, for reports. */
    static Map<String, String> describe(Map<Node, String> floatNodes) {
        return floatNodes.entrySet().stream().collect(Collectors.toMap(
                e -> e.getKey().describe(), Map.Entry::getValue, (a, b) -> a, TreeMap::new));
    }

    /**
     * The named LSTMs of the main graph that {@code opTypes} selects (all when empty) and that are not excluded:
     * ONNX Runtime has no QDQ form of an LSTM that it runs in integer, so their weights go int8 through
     * DynamicQuantizeLSTM (activations quantized per call), as with {@link #optDynamic}; a CRNN's LSTMs hold most of
     * its weights. Unnamed ones stay float: the rewrite selects nodes by name.
     */
    private static List<String> lstms(OnnxModel model, Set<String> opTypes, Set<String> excluded) {
        if (!opTypes.isEmpty() && !opTypes.contains("LSTM")) {
            return List.of();
        }
        return model.graph().nodes().stream()
                .filter(n -> n.inDefaultDomain() && n.is("LSTM") && !n.name().isEmpty()
                        && !excluded.contains(n.name()))
                .map(Node::name).toList();
    }

    /** Why a model whose weighted layers all sit in If/Loop/Scan bodies has nothing to quantize, or "". */
    private static String inSubgraphs(Graph graph) {
        int[] count = new int[1];
        graph.nodes().forEach(node -> node.subgraphs().forEach(body -> countWeighted(body, count)));
        return count[0] == 0 ? "" : "; " + count[0] + " Conv, ConvTranspose, Gemm or MatMul sit inside If, Loop or"
                + " Scan subgraphs, which static quantization does not enter (ONNX Runtime cannot return their"
                + " activations for calibration)";
    }

    private static void countWeighted(Graph body, int[] count) {
        for (Node node : body.nodes()) {
            count[0] += QuantizationPlan.WEIGHTED_OPS.contains(node.opType()) ? 1 : 0;
            node.subgraphs().forEach(inner -> countWeighted(inner, count));
        }
    }

    /** The distinct op types and reasons with a count, e.g. "2 Conv: weight is FLOAT16", for one-line errors. */
    static String describeReasons(Map<Node, String> floatNodes) {
        Map<String, Integer> counts = new TreeMap<>();
        floatNodes.forEach((node, reason) -> counts.merge(node.opType() + ": " + reason, 1, Integer::sum));
        return counts.entrySet().stream().map(e -> e.getValue() + " " + e.getKey())
                .collect(Collectors.joining("; "));
    }

    static Map<String, Integer> countByOp(Collection<Node> nodes) {
        Map<String, Integer> counts = new TreeMap<>();
        for (Node node : nodes) {
            counts.merge(node.opType(), 1, Integer::sum);
        }
        return counts;
    }

    /**
     * Calibrates without quantizing: a table that later runs reuse ({@link Builder#optTable}) with any method,
     * activation type or exclusion, since it holds histograms of every activation either activation type quantizes.
     */
    public CalibrationTable calibrate() {
        if (model == null || calibration == null) {
            throw new IllegalStateException("calibrate() needs setModel and setCalibrationData");
        }
        // the table must describe the graph quantize() will rewrite, prepared alike: through a pipeline too, whose
        // provenance metadata is part of the model the table's hash names; and converted alike
        OnnxModel target = prepare
                ? Pipeline.of(new GraphPreparation()).run(model, PassContext.of(progress)).model() : model;
        if (convertsOpset(target)) {
            target = target.copy();
            OpsetUpgrade.apply(target);
        }
        target = forGelu(target, new ArrayList<>());
        target = equalized(rewritten(target, checkOpset(target)).model()).model();
        return runCalibration(target, allActivations(target, nonFloat(target, allActivations(target, Set.of()))),
                true, progress);
    }

    /**
     * A model after the rewrites before planning, how many GELUs became one op, how many BatchNormalizations and
     * ReduceMeans took an integer form, and the shuffles folded.
     */
    private record Rewritten(OnnxModel model, int gelus, int integerForms, List<String> shuffles) {}

    /**
     * {@code model}, or a copy with its HardSigmoids rewritten ({@link HardSigmoidDecomposition}), its standalone
     * BatchNormalizations, spatial ReduceMeans and AveragePools in integer forms ({@link IntegerForms}), from opset
     * 20 its decomposed GELUs fused ({@link GeluFusion}) except those with a node the caller excluded, and its channel
     * shuffles folded into the Convs that read them ({@link ChannelShuffles}).
     */
    private Rewritten rewritten(OnnxModel model, long opset) {
        List<GeluFusion.Match> gelus = opset >= GeluFusion.MIN_OPSET
                ? GeluFusion.find(model.graph(), excluded) : List.of();
        if (gelus.isEmpty() && !HardSigmoidDecomposition.appliesTo(model.graph(), opset)
                && !ChannelShuffles.present(model.graph()) && !IntegerForms.appliesTo(model.graph())) {
            return new Rewritten(model, 0, 0, List.of());
        }
        OnnxModel copy = model.copy();
        HardSigmoidDecomposition.rewrite(copy.graph(), opset);
        int integerForms = IntegerForms.rewrite(copy);
        if (opset >= GeluFusion.MIN_OPSET) { // the Gelu op exists from opset 20 only
            GeluFusion.rewrite(copy.graph(), GeluFusion.find(copy.graph(), excluded));
        }
        List<String> shuffles = ChannelShuffles.rewrite(copy.graph());
        return new Rewritten(copy, gelus.size(), integerForms, shuffles);
    }

    /**
     * {@code model}, or a copy converted to opset 20 when a decomposed GELU reads the output of a Conv, Gemm or MatMul
     * (so it can run as one op between 8-bit tensors: {@link GeluFusion}), unless the caller keeps the opset; the
     * conversion, or why it was refused, is added to {@code warnings}.
     */
    private OnnxModel forGelu(OnnxModel model, List<String> warnings) {
        long opset = model.opset(OnnxModel.DEFAULT_DOMAIN);
        if (keepOpset || opset >= GeluFusion.MIN_OPSET || opset < PER_CHANNEL_OPSET) {
            return model;
        }
        List<GeluFusion.Match> gelus = GeluFusion.find(model.graph(), excluded);
        if (!GeluFusion.readsQuantizableOutput(model.graph(), gelus)) {
            return model;
        }
        OnnxModel copy = model.copy();
        String refused = OpsetUpgrade.apply(copy, GeluFusion.MIN_OPSET);
        if (refused != null) {
            warnings.add(gelus.size() + " GELUs stay decomposed (Div, Erf, Add, Mul: slower between 8-bit tensors):"
                    + " converting to opset " + GeluFusion.MIN_OPSET + " for the Gelu op was refused: " + refused);
            return model;
        }
        warnings.add("converted from opset " + opset + " to " + GeluFusion.MIN_OPSET + " so that " + gelus.size()
                + " GELUs run as one Gelu op each between 8-bit tensors (docs/opset.md; --keep-opset keeps opset "
                + opset + " and the decomposed GELUs); the output needs an opset-20 runtime (ONNX Runtime 1.16 or"
                + " later)");
        return copy;
    }

    /** A model and what cross-layer equalization did to it (null when it is off). */
    private record Equalized(OnnxModel model, QuantizationReport.Equalization report) {}

    /**
     * A copy of {@code model} with its Conv pairs equalized ({@link CrossLayerEqualization}) when that is on and
     * changes something, else {@code model}: calibration and quantization must see the same weights.
     */
    private Equalized equalized(OnnxModel model) {
        if (!equalize) {
            return new Equalized(model, null);
        }
        OnnxModel copy = model.copy();
        QuantizationReport.Equalization report = CrossLayerEqualization.apply(copy.graph());
        return new Equalized(report.pairs().isEmpty() ? model : copy, report);
    }

    /** The encoder defaults when they apply to {@code model}: a token-id model, and the caller chose none of them. */
    private EncoderDefaults encoderDefaults(OnnxModel model) {
        return encoderDefaults && opTypes.isEmpty() && weightOnly.isEmpty() && !upgradeOpset
                ? EncoderDefaults.of(model.graph()) : null;
    }

    /**
     * Whether static quantization converts {@code model} to opset 13 first: below 13, unless the caller keeps the
     * opset of a 10-12 model (below 10 there is no QuantizeLinear; encoder defaults need opset 13).
     */
    private boolean convertsOpset(OnnxModel model) {
        long opset = model.opset(OnnxModel.DEFAULT_DOMAIN);
        return opset < PER_CHANNEL_OPSET
                && (!keepOpset || upgradeOpset || opset < MIN_OPSET || encoderDefaults(model) != null);
    }

    /** Tensors among {@code candidates} that ONNX Runtime reports as not float (the graph's own types may be missing). */
    private static Set<String> nonFloat(OnnxModel model, Set<String> candidates) {
        try (OrtModel probe = OrtModel.open(model.withExtraOutputs(candidates), RuntimeOptions.defaults())) {
            return probe.nonFloatOutputs();
        }
    }

    private CalibrationTable runCalibration(OnnxModel model, Set<String> tensors, boolean reusable,
            Progress progress) {
        return Calibrator.builder()
                .setModel(model)
                .setData(calibration)
                .setTensors(tensors)
                .optBins(reusable || settings.needsHistograms() ? settings.bins() : 0)
                .optMovingAverage(settings.movingAverage())
                .optBatchSizeIfGiven(batchSize)
                .optSampling(sampling)
                .optProgress(progress)
                .build()
                .calibrate();
    }

    /**
     * The activations a plan would quantize with either activation type (Relu and Clip folded for uint8, not for
     * int8) and no exclusions: what a calibration table must hold to serve any later setting.
     */
    private static Set<String> allActivations(OnnxModel model, Set<String> notFloat) {
        Graph plain = model.copy().graph();
        plain.promoteConstants();
        plain.bypassInitializerIdentities();
        Set<String> all = new LinkedHashSet<>(QuantizationPlan.of(plain, Set.of(), notFloat).activations);
        Graph folded = model.copy().graph();
        folded.promoteConstants();
        folded.bypassInitializerIdentities();
        QuantizationPlan.foldClamps(folded, QuantizationPlan.byName(Set.of()));
        all.addAll(QuantizationPlan.of(folded, Set.of(), notFloat).activations);
        return all;
    }

    private void checkPerTensorMethods(OnnxModel model, Set<String> activations) {
        for (String tensor : settings.perTensor().keySet()) {
            if (!activations.contains(tensor)) {
                throw CompressException.badInput(model.source().orElse(null), "a per-tensor calibration method names '"
                        + tensor + "', which is not a quantized activation of this model (the report lists them)");
            }
        }
    }

    /** Configures a {@link Quantizer}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder extends CalibrationBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }

        private OnnxModel model;
        private Dataset calibration;
        private Dataset timing;
        private ActivationType activationType = ActivationType.UINT8;
        private Set<String> excluded = Set.of();
        private CalibrationSettings settings = CalibrationSettings.defaults();
        private CalibrationTable table;
        private boolean reusableTable;
        private double fallbackSeconds;
        private boolean symmetricActivations;
        private DynamicFormat dynamic;
        private Set<String> opTypes = Set.of();
        private boolean upgradeOpset;
        private boolean keepOpset;
        private boolean prepare = true;
        private Set<String> weightOnly = Set.of();
        private boolean reduceRange;
        private boolean encoderDefaults = true;
        private boolean equalize = EQUALIZE_BY_DEFAULT;
        private Boolean biasCorrection;

        private Builder() {}

        /** The fp32 model {@link #quantize()} and {@link #calibrate()} work on; not needed to use it as a pass. */
        public Builder setModel(OnnxModel model) {
            this.model = model;
            return this;
        }

        /** Representative samples; labels are not needed. */
        public Builder setCalibrationData(Dataset calibration) {
            this.calibration = calibration;
            return this;
        }

        /** uint8 asymmetric (default) or int8 symmetric activations. */
        public Builder optActivationType(ActivationType activationType) {
            this.activationType = activationType;
            return this;
        }

        /** Node names kept in float. */
        public Builder optExclude(Collection<String> nodeNames) {
            this.excluded = Set.copyOf(nodeNames);
            return this;
        }

        /** How ranges are chosen (default: MinMax); see {@link CalibrationSettings}. */
        public Builder optCalibration(CalibrationSettings settings) {
            this.settings = settings;
            return this;
        }

        /**
         * Quantization of only these op types (e.g. {@code MatMul} for a transformer, whose residual Adds
         * and LayerNorm inputs lose most in 8 bits; with {@link #optDynamic}, of {@code MatMul, Gemm, Conv, LSTM,
         * GRU, RNN, Gather}); empty (the default) quantizes every op that can be.
         */
        public Builder optOpTypes(Collection<String> opTypes) {
            this.opTypes = Set.copyOf(opTypes); // checked by build(), which knows static from dynamic
            return this;
        }

        /**
         * Takes ranges from a calibration table instead of running the model over data; the table must belong to this
         * model ({@link CalibrationTable#checkModel}). Calibration data is then not needed.
         */
        public Builder optTable(CalibrationTable table) {
            this.table = table;
            return this;
        }

        /**
         * Whether {@link #quantize()} and {@link #calibrate()} first run {@link GraphPreparation} (Identity and
         * Dropout removal, constant folding, BatchNormalization folding, ...), which makes exported graphs
         * quantizable and changes no output. Default: on. As a pass in a {@link Pipeline}, the quantizer never
         * prepares; add the preparation pass before it.
         */
        public Builder optPrepare(boolean prepare) {
            this.prepare = prepare;
            return this;
        }

        /**
         * Converts an opset 6-12 model to opset 13 first ({@link dev.compress.convert.OpsetConversion}), so weights
         * get per-channel scales (DequantizeLinear has no axis before 13); the output then needs an opset-13 runtime
         * (ONNX Runtime 1.6 or later). That is the default unless {@link #optKeepOpset}; asking for it also switches
         * off the encoder defaults, as any explicit setting does.
         */
        public Builder optUpgradeOpset(boolean upgradeOpset) {
            this.upgradeOpset = upgradeOpset;
            return this;
        }

        /**
         * Keeps the model's opset: an opset 10-12 model with per-tensor weights, for runtimes older than opset 13, and
         * an opset 13-19 one with its decomposed GELUs ({@link GeluFusion}), for runtimes older than opset 20. Off by
         * default: per-tensor weights cost depthwise nets most (PP-OCRv4 det: probability-map cosine 0.91 against
         * 0.94 per channel). Models below opset 10 are converted anyway, and encoder defaults still convert to 13.
         */
        public Builder optKeepOpset(boolean keepOpset) {
            this.keepOpset = keepOpset;
            return this;
        }

        /**
         * Calibrates for a table to keep: histograms for every method, and the activations of both activation types
         * with no exclusions, at some extra calibration time (the result carries the table).
         */
        public Builder optReusableTable(boolean reusable) {
            this.reusableTable = reusable;
            return this;
        }

        /** Symmetric ranges [-t, t] for uint8 activations too (zero point 128); int8 activations always are. */
        public Builder optSymmetricActivations(boolean symmetric) {
            this.symmetricActivations = symmetric;
            return this;
        }




        /**
         * MatMul/Gemm node names that get int8 weights but keep float activations: for the few layers whose inputs
         * static 8-bit ranges cannot hold (e.g. a transformer's feed-forward output MatMuls). Static mode only.
         */
        public Builder optWeightOnly(Collection<String> nodeNames) {
            this.weightOnly = Set.copyOf(nodeNames);
            return this;
        }



        /**
         * Dynamic quantization: int8 weights only, activations quantized by ONNX Runtime on each call; no
         * calibration data is needed (it is ignored if set). Written as {@link DynamicFormat#MATMUL_INTEGER}.
         */
        public Builder optDynamic(boolean dynamic) {
            this.dynamic = dynamic ? DynamicFormat.MATMUL_INTEGER : null;
            return this;
        }

        /**
         * Static: for a model fed token ids only (a transformer encoder), when no op types, weight-only nodes or
         * opset upgrade are given, quantize as docs/transformers.md says for encoders (reported). Default: true;
         * false plans every op as for any other model.
         */
        public Builder optEncoderDefaults(boolean encoderDefaults) {
            this.encoderDefaults = encoderDefaults;
            return this;
        }

        /**
         * Dynamic mode: 7-bit weights in [-64, 64], as ONNX Runtime suggests for CPUs without VNNI (AVX2 only),
         * whose uint8 x int8 kernels can saturate 16-bit pair sums with full-range weights. Default off.
         */
        public Builder optReduceRange(boolean reduceRange) {
            this.reduceRange = reduceRange;
            return this;
        }

        /**
         * After quantizing, time variants with regions of the graph kept float against the all-INT8 model, about
         * {@code secondsPerRegion} each, on the first batches of the calibration data (static) or of
         * {@link #optTimingData} (dynamic), and keep float what is faster in float ({@link LatencyFallback};
         * reported in {@link QuantizationResult#fallback}). The model then depends on timings: pin its choice with
         * {@link #optExclude} for byte-identical runs. 0 (the default) turns it off.
         */
        public Builder optLatencyFallback(double secondsPerRegion) {
            if (!(secondsPerRegion >= 0) || Double.isInfinite(secondsPerRegion)) {
                throw CompressException.invalidSettings("latency fallback seconds must be 0 (off) or a positive"
                        + " number, got " + secondsPerRegion);
            }
            this.fallbackSeconds = secondsPerRegion;
            return this;
        }

        /**
         * Static: cross-layer equalization of consecutive Convs before calibration ({@link CrossLayerEqualization};
         * the fp32 function is unchanged). Default: off (docs/calibration.md has the measurements).
         */
        public Builder optEqualize(boolean equalize) {
            this.equalize = equalize;
            return this;
        }

        /**
         * Static: subtract from each quantized Conv's and Gemm's bias the mean output shift its 8-bit weights cause,
         * measured on the calibration data ({@link BiasCorrection}). Default: on with calibration data, off with a
         * table; asked for with a table, it needs the data too, which then serves bias correction alone
         * (docs/calibration.md has the measurements).
         */
        public Builder optBiasCorrection(boolean biasCorrection) {
            this.biasCorrection = biasCorrection;
            return this;
        }

        /**
         * Dynamic: the samples the latency fallback times on (static quantization times on its calibration data).
         * Nothing is calibrated on them.
         */
        public Builder optTimingData(Dataset timing) {
            this.timing = timing;
            return this;
        }

        /** Dynamic quantization written in the given form (for measuring the alternatives). */
        public Builder optDynamic(DynamicFormat format) {
            this.dynamic = format;
            return this;
        }

        /**
         * @throws CompressException INVALID_SETTINGS for settings that contradict each other: dynamic quantization
         *     with calibration data, a table or static-only options; static quantization with neither data nor
         *     table, or with both
         */
        public Quantizer build() {
            if (upgradeOpset && keepOpset) {
                throw CompressException.invalidSettings("upgrading and keeping the opset exclude each other");
            }
            if (fallbackSeconds > 0 && dynamic == null && calibration == null) {
                throw CompressException.invalidSettings("the latency fallback times static variants on the"
                        + " calibration data: it needs calibration data, not a table");
            }
            if (fallbackSeconds > 0 && dynamic != null && timing == null) {
                throw CompressException.invalidSettings("the latency fallback times dynamic variants on samples:"
                        + " give them with optTimingData");
            }
            if (timing != null && (dynamic == null || fallbackSeconds <= 0)) {
                throw CompressException.invalidSettings("timing data serves the latency fallback of dynamic"
                        + " quantization only");
            }
            if (dynamic != null) {
                if (calibration != null || table != null || reusableTable) {
                    throw CompressException.invalidSettings("dynamic quantization calibrates nothing: it takes no"
                            + " calibration data or table, and makes no table to save");
                }
                if (upgradeOpset || keepOpset || !weightOnly.isEmpty()) {
                    throw CompressException.invalidSettings("opset choices and weight-only nodes apply to static"
                            + " quantization; dynamic quantization is per channel at any opset");
                }
                Set<String> unknown = new java.util.TreeSet<>(opTypes);
                unknown.removeAll(DynamicQuantization.OP_TYPES);
                if (!unknown.isEmpty()) {
                    throw CompressException.invalidSettings("dynamic quantization cannot quantize op type "
                            + String.join(", ", unknown) + "; it quantizes "
                            + String.join(", ", DynamicQuantization.OP_TYPES));
                }
            } else {
                for (String op : new java.util.TreeSet<>(opTypes)) {
                    if (!supportedOpTypes().contains(op)) {
                        throw CompressException.invalidSettings("cannot quantize op type '" + op + "'; supported: "
                                + String.join(", ", new java.util.TreeSet<>(supportedOpTypes())));
                    }
                }
                if (calibration == null && table == null) {
                    throw CompressException.invalidSettings("static quantization needs calibration data or a"
                            + " calibration table (dynamic quantization needs neither)");
                }
                // with a table, data serves bias correction alone
                if (calibration != null && table != null && !Boolean.TRUE.equals(biasCorrection)) {
                    throw CompressException.invalidSettings("calibration data and a calibration table are"
                            + " alternatives: the table already holds the calibration");
                }
                if (Boolean.TRUE.equals(biasCorrection) && calibration == null) {
                    throw CompressException.invalidSettings("bias correction measures on calibration data, and a"
                            + " table holds none: pass the data too, or leave bias correction off");
                }
                if (reusableTable && table != null) {
                    throw CompressException.invalidSettings("a reusable table comes from calibration data; with a"
                            + " table given there is nothing new to save");
                }
                if (reduceRange) {
                    throw CompressException.invalidSettings("the 7-bit weight range applies to dynamic"
                            + " quantization only");
                }
            }
            return new Quantizer(this);
        }
    }
}
