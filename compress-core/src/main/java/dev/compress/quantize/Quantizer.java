package dev.compress.quantize;

import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.Progress;
import dev.compress.Version;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.graph.Graph;
import dev.compress.graph.Nodes;
import dev.compress.graph.OnnxModel;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
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
public final class Quantizer {
    /** QuantizeLinear exists from opset 10; its per-axis form from opset 13. */
    static final long MIN_OPSET = 10;
    static final long PER_CHANNEL_OPSET = 13;
    /** Largest activation magnitude quantized; beyond it a tensor stays float (see {@link #tooWide}). */
    static final float MAX_ACTIVATION = 1000f;

    private final OnnxModel model;
    private final Dataset calibration;
    private final ActivationType activationType;
    private final Set<String> excluded;
    private final int batchSize;
    private final Progress progress;
    private final DynamicFormat dynamic;
    private final Set<String> opTypes;
    private final boolean upgradeOpset;
    private final Set<String> weightOnly;
    private final boolean reduceRange;

    private Quantizer(Builder builder) {
        this.model = builder.model;
        this.calibration = builder.calibration;
        this.activationType = builder.activationType;
        this.excluded = builder.excluded;
        this.batchSize = builder.batchSize;
        this.progress = builder.progress;
        this.dynamic = builder.dynamic;
        this.opTypes = builder.opTypes;
        this.upgradeOpset = builder.upgradeOpset;
        this.weightOnly = builder.weightOnly;
        this.reduceRange = builder.reduceRange;
    }

    /** Op types static quantization can run in integer arithmetic (see {@link Builder#optOpTypes}). */
    public static Set<String> supportedOpTypes() {
        Set<String> ops = new LinkedHashSet<>(QuantizationPlan.WEIGHTED_OPS);
        ops.addAll(QuantizationPlan.ELEMENTWISE_OPS);
        ops.addAll(QuantizationPlan.POOLING_OPS);
        ops.addAll(QuantizationPlan.PASS_THROUGH_OPS);
        return ops;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Calibrates and rewrites a copy of the model; the input model is not changed.
     *
     * @throws CompressException BAD_INPUT for a model that cannot be quantized or unreadable calibration data
     */
    public QuantizationResult quantize() {
        if (dynamic != null) {
            checkExcludedNodesExist();
            return DynamicQuantization.quantize(model, excluded, dynamic, reduceRange);
        }
        long opset = model.opset(OnnxModel.DEFAULT_DOMAIN);
        if (opset < MIN_OPSET) {
            throw CompressException.badInput(model.source().orElse(null), "opset " + opset
                    + " is too old to quantize (QuantizeLinear needs opset " + MIN_OPSET + " or later)");
        }
        checkExcludedNodesExist();
        Set<String> excluded = new java.util.HashSet<>(this.excluded);
        excluded.addAll(weightOnly); // planned as float; their weights are stored int8 after the QDQ rewrite
        OnnxModel quantized = model.copy();
        Graph graph = quantized.graph();
        graph.promoteConstants();
        String upgrade = upgradeOpset && opset < PER_CHANNEL_OPSET ? PerChannelUpgrade.apply(quantized) : null;
        opset = quantized.opset(OnnxModel.DEFAULT_DOMAIN);
        List<QuantizationPlan.FoldedRelu> folds = activationType == ActivationType.UINT8
                ? QuantizationPlan.foldRelus(graph, excluded)
                : List.of();
        QuantizationPlan plan;
        long samples;
        MinMaxCalibrator calibrator;
        QuantizationPlan guess = QuantizationPlan.of(graph, excluded, opTypes, Set.of(), Map.of());
        if (guess.quantizedNodes.isEmpty()) {
            Map<NodeProto, String> weighted = new LinkedHashMap<>(guess.floatNodes);
            weighted.keySet().removeIf(n -> !QuantizationPlan.WEIGHTED_OPS.contains(n.getOpType()));
            throw CompressException.badInput(model.source().orElse(null),
                    "nothing to quantize: no Conv, ConvTranspose, Gemm or MatMul with float weights was found"
                            + (weighted.isEmpty() ? "" : " (" + describeReasons(weighted) + ")"));
        }
        try (OrtModel probe = OrtModel.open(withOutputs(model, guess.activations), RuntimeOptions.defaults())) {
            // the plan guessed tensor types; ONNX Runtime knows them, so drop what is not float and plan again
            Set<String> notFloat = probe.nonFloatOutputs();
            plan = notFloat.isEmpty() ? guess : QuantizationPlan.of(graph, excluded, opTypes, notFloat, Map.of());
            calibrator = new MinMaxCalibrator(plan.activations);
            samples = calibrate(probe, plan.activations, calibrator);
            Map<String, String> tooWide = tooWide(plan.activations, calibrator);
            if (!tooWide.isEmpty()) {
                // planned again without them; the new plan's activations are a subset, all calibrated
                plan = QuantizationPlan.of(graph, excluded, opTypes, notFloat, tooWide);
            }
        }
        Map<String, QuantParams> params = new LinkedHashMap<>();
        List<QuantizationReport.ActivationRange> ranges = new ArrayList<>();
        for (String tensor : plan.activations) {
            String source = plan.sharedParams.get(tensor);
            float[] range = calibrator.range(tensor);
            if (!Float.isFinite(range[0]) || !Float.isFinite(range[1])) {
                throw CompressException.badInput(calibration.source(), "tensor '" + tensor
                        + "' reached infinity during calibration; the model overflows on these samples");
            }
            QuantParams p = source != null
                    ? params.get(source)
                    : QuantParams.forRange(range[0], range[1], activationType);
            params.put(tensor, p);
            ranges.add(new QuantizationReport.ActivationRange(
                    tensor, range[0], range[1], p.scale(), p.zeroPoint(), source));
        }
        List<String> folded = plan.restoreRelus(graph, folds);
        boolean perChannel = opset >= PER_CHANNEL_OPSET;
        QdqRewriter.rewrite(graph, plan, params, perChannel);
        // after the QDQ rewrite, so the Cast/Mul that dequantize gathered rows are not planned as integer Muls
        EmbeddingQuantizer.Result embeddings = EmbeddingQuantizer.rewrite(graph, excluded);
        List<NodeProto> quantizedNodes = new ArrayList<>(plan.quantizedNodes);
        quantizedNodes.addAll(embeddings.quantized());
        Map<NodeProto, String> floatNodes = new LinkedHashMap<>(plan.floatNodes);
        embeddings.quantized().forEach(floatNodes::remove);
        floatNodes.putAll(embeddings.keptFloat());
        if (!weightOnly.isEmpty()) {
            Map<NodeProto, String> notDone = new LinkedHashMap<>();
            // planned as "excluded"; the QDQ rewrite may have renamed their inputs, so match by name
            floatNodes.keySet().removeIf(node -> weightOnly.contains(node.getName()));
            for (NodeProto node : DynamicQuantization.weightOnly(graph, weightOnly, perChannel, notDone)) {
                floatNodes.put(node, "weight-only: int8 weight, float activations");
            }
            floatNodes.putAll(notDone);
        }
        quantized.setProducer("compress", Version.get());
        QuantizationReport report = new QuantizationReport(
                model.displayName(),
                "minmax",
                activationType.name().toLowerCase(),
                "int8 symmetric",
                perChannel,
                samples,
                countByOp(quantizedNodes),
                countByOp(floatNodes.keySet()),
                describe(floatNodes),
                folded,
                ranges);
        // the exported model says how it was made, for whoever deploys it
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("method", report.method());
        provenance.put("activations", report.activationType());
        provenance.put("weights", "int8 symmetric " + (perChannel ? "per-channel" : "per-tensor"));
        provenance.put("calibrationSamples", samples);
        if (upgradeOpset) {
            provenance.put("opsetUpgrade", upgrade == null ? "to " + opset : "not done: " + upgrade);
        }
        provenance.put("excludedNodes", this.excluded.stream().sorted().toList());
        if (!weightOnly.isEmpty()) {
            provenance.put("weightOnlyNodes", weightOnly.stream().sorted().toList());
        }
        quantized.metadata().put("compress.quantization", Json.compact(provenance));
        return new QuantizationResult(quantized, report);
    }

    /**
     * Activations whose calibrated magnitude exceeds {@link #MAX_ACTIVATION}: 8 bits spread over such a range leave
     * nothing for ordinary values. Transformer exporters add attention masks of -10000 or -3.4e38 to the scores;
     * quantizing that sum destroys every score, so those tensors stay float.
     */
    private static Map<String, String> tooWide(Set<String> activations, MinMaxCalibrator calibrator) {
        Map<String, String> wide = new LinkedHashMap<>();
        for (String tensor : activations) {
            float[] range = calibrator.range(tensor);
            // infinite ranges are left to the overflow error below
            if (Float.isFinite(range[0]) && Float.isFinite(range[1])
                    && Math.max(-range[0], range[1]) > MAX_ACTIVATION) {
                wide.put(tensor, String.format(java.util.Locale.ROOT,
                        "has calibrated range [%.3g, %.3g], too wide for 8 bits (attention mask?)", range[0], range[1]));
            }
        }
        return wide;
    }

    private void checkExcludedNodesExist() {
        Set<String> names = model.graph().nodes().stream().map(NodeProto::getName).collect(Collectors.toSet());
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
    static Map<String, String> describe(Map<NodeProto, String> floatNodes) {
        return floatNodes.entrySet().stream().collect(Collectors.toMap(
                e -> Nodes.describe(e.getKey()), Map.Entry::getValue, (a, b) -> a, TreeMap::new));
    }

    /** The distinct reasons with a count, e.g. "2x weight is FLOAT16", for one-line errors. */
    static String describeReasons(Map<NodeProto, String> floatNodes) {
        Map<String, Integer> counts = new TreeMap<>();
        floatNodes.values().forEach(reason -> counts.merge(reason, 1, Integer::sum));
        return counts.entrySet().stream().map(e -> e.getValue() + "x " + e.getKey())
                .collect(Collectors.joining("; "));
    }

    static Map<String, Integer> countByOp(Collection<NodeProto> nodes) {
        Map<String, Integer> counts = new TreeMap<>();
        for (NodeProto node : nodes) {
            counts.merge(node.getOpType(), 1, Integer::sum);
        }
        return counts;
    }

    /** A copy of {@code model} that also outputs {@code tensors}: ONNX Runtime only returns graph outputs. */
    static OnnxModel withOutputs(OnnxModel model, Set<String> tensors) {
        OnnxModel probe = model.copy();
        Graph graph = probe.graph();
        Set<String> present = new LinkedHashSet<>();
        graph.declaredInputs().forEach(input -> present.add(input.getName()));
        graph.outputs().forEach(output -> present.add(output.getName()));
        for (String tensor : tensors) {
            if (!present.contains(tensor)) {
                // ONNX Runtime infers the type and shape; only the name is needed
                graph.outputs().add(ValueInfoProto.newBuilder().setName(tensor).build());
            }
        }
        return probe;
    }

    /** Runs the probe model over the calibration set and records the range of every planned activation. */
    private long calibrate(OrtModel probe, Set<String> activations, MinMaxCalibrator calibrator) {
        Set<String> graphInputs = new LinkedHashSet<>();
        for (ValueInfoProto input : model.graph().inputs()) {
            graphInputs.add(input.getName());
        }
        Set<String> fetched = new LinkedHashSet<>(activations);
        fetched.removeAll(graphInputs);
        long samples = 0;
        progress.start("calibrating", calibration.size());
        try {
            Iterator<Batch> batches = calibration.batches(batchSize);
            while (batches.hasNext()) {
                Batch batch = batches.next();
                for (Map.Entry<String, HostTensor> input : batch.inputs().entrySet()) {
                    if (activations.contains(input.getKey())) {
                        FloatBuffer values = input.getValue().floats();
                        float[] copy = new float[values.remaining()];
                        values.get(copy);
                        calibrator.observe(input.getKey(), copy);
                    }
                }
                probe.run(batch, fetched).forEach((name, output) -> calibrator.observe(name, output.values()));
                samples += batch.size();
                progress.advance(batch.size());
            }
        } finally {
            progress.finish();
        }
        if (samples == 0) {
            throw CompressException.badInput(calibration.source(), "no calibration samples");
        }
        return samples;
    }

    /** Configures a {@link Quantizer}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder {
        private OnnxModel model;
        private Dataset calibration;
        private ActivationType activationType = ActivationType.UINT8;
        private Set<String> excluded = Set.of();
        private int batchSize = 32;
        private Progress progress = Progress.NONE;
        private DynamicFormat dynamic;
        private Set<String> opTypes = Set.of();
        private boolean upgradeOpset;
        private Set<String> weightOnly = Set.of();
        private boolean reduceRange;

        private Builder() {}

        /** The fp32 model to quantize. */
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

        /**
         * Static quantization of only these op types (e.g. {@code MatMul} for a transformer, whose residual Adds
         * and LayerNorm inputs lose most in 8 bits); empty (the default) quantizes every op that can be.
         */
        public Builder optOpTypes(Collection<String> opTypes) {
            for (String op : opTypes) {
                if (!supportedOpTypes().contains(op)) {
                    throw new IllegalArgumentException("cannot quantize op type '" + op + "'; supported: "
                            + new java.util.TreeSet<>(supportedOpTypes()));
                }
            }
            this.opTypes = Set.copyOf(opTypes);
            return this;
        }

        /**
         * Moves an opset 11/12 model to opset 13 first, when every op means the same there, so weights get
         * per-channel scales (DequantizeLinear has no axis before 13). Off by default: the output then needs an
         * opset-13 runtime (ONNX Runtime 1.6 or later).
         */
        public Builder optUpgradeOpset(boolean upgradeOpset) {
            this.upgradeOpset = upgradeOpset;
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

        /** Samples per ONNX Runtime call during calibration (default 32); ranges do not depend on it. */
        public Builder optBatchSize(int batchSize) {
            if (batchSize < 1) {
                throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
            }
            this.batchSize = batchSize;
            return this;
        }

        public Builder optProgress(Progress progress) {
            this.progress = progress;
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
         * Dynamic mode: 7-bit weights in [-64, 64], as ONNX Runtime suggests for CPUs without VNNI (AVX2 only),
         * whose uint8 x int8 kernels can saturate 16-bit pair sums with full-range weights. Default off.
         */
        public Builder optReduceRange(boolean reduceRange) {
            this.reduceRange = reduceRange;
            return this;
        }

        /** Dynamic quantization written in the given form (for measuring the alternatives). */
        public Builder optDynamic(DynamicFormat format) {
            this.dynamic = format;
            return this;
        }

        public Quantizer build() {
            if (model == null || calibration == null && dynamic == null) {
                throw new IllegalStateException("setModel and setCalibrationData (or optDynamic) are required");
            }
            return new Quantizer(this);
        }
    }
}
