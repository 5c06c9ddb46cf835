package dev.compress.prune;

import dev.compress.BaseBuilder;
import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.graph.Graph;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.pipeline.ModelPass;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Pipeline;
import dev.compress.pipeline.Provenance;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * L1 (magnitude) pruning of the Conv, Gemm and MatMul weights of an ONNX model.
 *
 * <ul>
 *   <li>Unstructured, per layer: each weight tensor loses the fraction {@code sparsity} of its elements with the
 *       smallest absolute value (as {@code torch.nn.utils.prune.l1_unstructured}). The file keeps its size; the
 *       zeros only make it compress better.
 *   <li>Unstructured, global: one threshold over all layers together (as {@code global_unstructured}).
 *   <li>Structured: whole output channels / neurons with the smallest L1 norm are removed and the graph is rewritten
 *       so it is really smaller; channels tied by residual Adds or Concat are removed jointly.
 *   <li>Masks: the pruning recorded by an earlier run ({@link PruneMasks}) re-applied to this model.
 * </ul>
 *
 * <pre>{@code
 * PruneResult result = Pruner.builder()
 *         .setModel(OnnxModel.load(model))
 *         .setSparsity(0.5)
 *         .optExclude(List.of("/conv1/Conv"))
 *         .build()
 *         .prune();
 * result.model().save(pruned);
 * result.masks().write(masksFile);
 * }</pre>
 */
public final class Pruner implements ModelPass<PruneResult> {
    /** Where one unstructured threshold applies. */
    public enum Scope {
        /** Each layer reaches the sparsity on its own. */
        PER_LAYER,
        /** One threshold over all layers that have no override. */
        GLOBAL
    }

    private final OnnxModel model;
    private final double sparsity;
    private final Scope scope;
    private final boolean structured;
    private final Map<String, Double> overrides;
    private final Set<String> excluded;
    private final PruneMasks masks;
    private final Path masksSource;
    private final Dataset calibration;
    private final int batchSize;
    private final Progress progress;

    private Pruner(Builder b) {
        this.model = b.model;
        this.sparsity = b.sparsity;
        this.scope = b.scope;
        this.structured = b.structured;
        this.overrides = b.overrides;
        this.excluded = b.excluded;
        this.masks = b.masks;
        this.masksSource = b.masksSource;
        this.calibration = b.calibration;
        this.batchSize = b.calibration == null ? b.batchSize() : ModelInputs.batchSize(b, b.model, b.calibration);
        this.progress = b.progress();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public String id() {
        return masks != null ? "prune-masks" : structured ? "prune-structured" : "prune-unstructured";
    }

    /**
     * Prunes a copy of the model set on the builder, through a {@link Pipeline} (which records the provenance); the
     * input model is not changed.
     *
     * @throws CompressException BAD_INPUT for an unknown layer name, a weight shared by several nodes, a mask file
     *     made for another model, or a model without prunable layers
     */
    public PruneResult prune() {
        if (model == null) {
            throw new IllegalStateException("prune() needs setModel; as a pass, use apply(model, context)");
        }
        return Pipeline.of(this).run(model, PassContext.of(progress)).report(PruneResult.class);
    }

    /** Prunes a copy of {@code model}; the report is the whole {@link PruneResult} (with the masks). */
    @Override
    public PassResult<PruneResult> apply(OnnxModel model, PassContext context) {
        OnnxModel pruned = model.copy();
        // weights in Constant nodes (paddle2onnx, tf2onnx: PP-OCRv4 rec's 47 Convs) are pruned like initializers,
        // as quantization does: the Constants become initializers of the same names, computing the same
        pruned.graph().promoteConstants();
        // one list of layers throughout: layers are compared by identity. Unstructured pruning zeroes weights
        // wherever they are, If/Loop/Scan bodies included; structured pruning reshapes the main graph's layers only
        boolean structuredRun = masks != null ? PruneMasks.STRUCTURED.equals(masks.kind()) : structured;
        List<Layer> targets = structuredRun ? Layers.find(pruned) : Layers.findWithBodies(pruned);
        if (targets.isEmpty()) {
            int inBodies = structuredRun ? Layers.findWithBodies(pruned.copy()).size() : 0;
            throw CompressException.badInput(model.source().orElse(null),
                    "nothing to prune: no Conv, Gemm or MatMul with a float constant weight" + Layers.whyNone(pruned)
                            + (inBodies == 0 ? "" : "; " + inBodies + " sit inside If, Loop or Scan subgraphs,"
                            + " which structured pruning does not enter (unstructured pruning prunes them)"));
        }
        PruneResult result;
        if (masks != null) {
            result = PruneMasks.STRUCTURED.equals(masks.kind())
                    ? StructuredPruning.apply(model, pruned, targets, masks, masksSource, calibration(context))
                    : applyUnstructured(pruned, targets);
        } else {
            Set<Layer> skip = excludedLayers(pruned, targets);
            Map<Layer, Double> requested = requestedSparsities(pruned, targets, skip);
            result = structured
                    ? StructuredPruning.prune(model, pruned, targets, sparsity, requested, skip, calibration(context))
                    : unstructured(pruned, targets, requested, skip);
        }
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("kind", result.report().kind());
        provenance.put("scope", result.report().scope());
        if (result.report().requestedSparsity() != null) {
            provenance.put("sparsity", result.report().requestedSparsity());
        }
        provenance.put("excludedLayers", excluded.stream().sorted().toList());
        provenance.put("layerSparsity", overrides);
        return new PassResult<>(result.model(), result, new Provenance("compress.pruning", provenance));
    }

    private StructuredPruning.Calibration calibration(PassContext context) {
        return calibration == null ? null
                : new StructuredPruning.Calibration(calibration, batchSize, context.progress());
    }

    /** Sparsity per layer, excluded layers left out. */
    private Map<Layer, Double> requestedSparsities(OnnxModel target, List<Layer> layers, Set<Layer> skip) {
        Map<Layer, Double> byOverride = Layers.resolve(target, layers, overrides, "a layer sparsity override");
        for (Layer layer : byOverride.keySet()) {
            if (skip.contains(layer)) {
                throw CompressException.badInput(target.source().orElse(null), "layer " + layer.name()
                        + " is both excluded and given a sparsity; choose one");
            }
        }
        Map<Layer, Double> requested = new LinkedHashMap<>();
        for (Layer layer : layers) {
            if (!skip.contains(layer)) {
                requested.put(layer, byOverride.getOrDefault(layer, sparsity));
            }
        }
        return requested;
    }

    private Set<Layer> excludedLayers(OnnxModel target, List<Layer> layers) {
        Map<String, Boolean> names = excluded.stream().sorted()
                .collect(Collectors.toMap(Function.identity(), n -> true, (a, b) -> a, LinkedHashMap::new));
        return new LinkedHashSet<>(Layers.resolve(target, layers, names, "--exclude").keySet());
    }

    private PruneResult unstructured(OnnxModel target, List<Layer> layers, Map<Layer, Double> requested,
            Set<Layer> skip) {
        Map<Graph, Graph.Index> indexes = new java.util.IdentityHashMap<>();
        for (Layer layer : requested.keySet()) {
            Layers.checkNotShared(target, indexes.computeIfAbsent(layer.graph(), Graph::index), layer.node(),
                    layer.weight(), "; exclude the layer (--exclude " + layer.name() + ") or untie the weight");
        }
        Layers.checkDistinctWeights(target, requested.keySet());
        // layers without an override share the global threshold; the others reach their own sparsity
        Set<Layer> overridden = Layers.resolve(target, layers, overrides, "a layer sparsity override").keySet();
        Map<Layer, boolean[]> masksByLayer = new LinkedHashMap<>();
        List<Layer> pooled = new ArrayList<>();
        for (Map.Entry<Layer, Double> entry : requested.entrySet()) {
            Layer layer = entry.getKey();
            if (scope == Scope.GLOBAL && !overridden.contains(layer)) {
                pooled.add(layer);
            } else {
                float[] w = weights(layer);
                masksByLayer.put(layer, Magnitude.smallest(List.of(w), Magnitude.count(entry.getValue(), w.length))[0]);
            }
        }
        if (!pooled.isEmpty()) {
            List<float[]> values = pooled.stream().map(Pruner::weights).toList();
            long total = values.stream().mapToLong(v -> v.length).sum();
            boolean[][] selected = Magnitude.smallest(values, Magnitude.count(sparsity, total));
            for (int i = 0; i < pooled.size(); i++) {
                masksByLayer.put(pooled.get(i), selected[i]);
            }
        }
        List<PruneMasks.Entry> entries = new ArrayList<>();
        for (Layer layer : layers) {
            boolean[] mask = masksByLayer.get(layer);
            if (mask != null) {
                entries.add(new PruneMasks.Entry(layer.name(), layer.weight(), shape(layer.dims()),
                        zero(layer, mask), (long) count(mask), PruneMasks.Entry.pack(mask), null, null,
                        layers.indexOf(layer)));
            }
        }
        PruneMasks out = new PruneMasks(PruneMasks.FORMAT, PruneMasks.VERSION, PruneMasks.UNSTRUCTURED,
                target.displayName(), entries);
        String scopeName = scope == Scope.GLOBAL ? "global" : "per-layer";
        Map<Layer, Double> asked = new LinkedHashMap<>(requested);
        // a layer's share of a global threshold is not asked, it results
        asked.keySet().removeAll(pooled);
        return new PruneResult(target, out, report(target, layers, masksByLayer, asked, skip, scopeName, sparsity));
    }

    private PruneResult applyUnstructured(OnnxModel target, List<Layer> layers) {
        Map<Graph, Graph.Index> indexes = new java.util.IdentityHashMap<>();
        Map<Layer, boolean[]> masksByLayer = new LinkedHashMap<>();
        for (PruneMasks.Entry entry : masks.tensors()) {
            Layer layer = StructuredPruning.matchMaskEntry(target, layers, entry, masksSource);
            Layers.checkNotShared(target, indexes.computeIfAbsent(layer.graph(), Graph::index), layer.node(),
                    layer.weight(), "");
            boolean[] mask;
            try {
                mask = entry.prunedElements();
            } catch (IllegalArgumentException e) {
                throw CompressException.badInput(masksSource, "not a valid mask file (" + e.getMessage() + ")", e);
            }
            zero(layer, mask);
            masksByLayer.put(layer, mask);
        }
        return new PruneResult(target, masks, report(target, layers, masksByLayer, Map.of(), Set.of(), "masks", null));
    }

    /** Zeroes the masked weights of {@code layer}; returns the fraction of its weights the mask prunes. */
    private static double zero(Layer layer, boolean[] mask) {
        float[] w = weights(layer);
        for (int i = 0; i < w.length; i++) {
            if (mask[i]) {
                w[i] = 0f;
            }
        }
        layer.graph().putInitializer(Tensor.floats(layer.weight(), layer.dims(), w));
        return PruneReport.ratio(count(mask), mask.length);
    }

    private PruneReport report(OnnxModel target, List<Layer> layers, Map<Layer, boolean[]> masksByLayer, Map<Layer, Double> requested,
            Set<Layer> skip, String scopeName, Double requestedSparsity) {
        List<PruneReport.LayerResult> results = new ArrayList<>();
        long elements = 0;
        long prunedElements = 0;
        for (Layer layer : layers) {
            boolean[] mask = masksByLayer.get(layer);
            long pruned = mask == null ? 0 : count(mask);
            results.add(new PruneReport.LayerResult(layer.name(), layer.node().opType(), layer.weight(),
                    shape(layer.dims()), null, requested.get(layer), skip.contains(layer), layer.elements(),
                    pruned, PruneReport.ratio(pruned, layer.elements()), null, null));
            elements += layer.elements();
            prunedElements += pruned;
        }
        return new PruneReport(target.displayName(), PruneMasks.UNSTRUCTURED, scopeName, requestedSparsity, null, results,
                elements, prunedElements, PruneReport.ratio(prunedElements, elements));
    }

    static float[] weights(Layer layer) {
        return layer.graph().initializers().get(layer.weight()).floats();
    }

    static List<Long> shape(long[] dims) {
        return Arrays.stream(dims).boxed().toList();
    }

    private static int count(boolean[] mask) {
        int n = 0;
        for (boolean b : mask) {
            if (b) {
                n++;
            }
        }
        return n;
    }

    /** Configures a {@link Pruner}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder extends BaseBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }

        private OnnxModel model;
        private double sparsity = Double.NaN;
        private Scope scope = Scope.PER_LAYER;
        private boolean structured;
        private Map<String, Double> overrides = Map.of();
        private Set<String> excluded = Set.of();
        private PruneMasks masks;
        private Path masksSource;
        private Dataset calibration;

        private Builder() {}

        /** The model {@link #prune()} works on; not needed to use it as a pass. */
        public Builder setModel(OnnxModel model) {
            this.model = model;
            return this;
        }

        /**
         * Fraction of weights (unstructured) or of output channels (structured) to prune, in [0, 1). Required
         * unless masks are re-applied.
         *
         * @throws CompressException BAD_INPUT outside [0, 1)
         */
        public Builder setSparsity(double sparsity) {
            this.sparsity = checkSparsity(sparsity, "sparsity");
            return this;
        }

        /** Per-layer (default) or one global threshold; unstructured pruning only. */
        public Builder optScope(Scope scope) {
            this.scope = scope;
            return this;
        }

        /** Remove whole channels and shrink the graph instead of zeroing single weights. Default: false. */
        public Builder optStructured(boolean structured) {
            this.structured = structured;
            return this;
        }

        /**
         * Sparsity for single layers, by node or weight name, instead of the model-wide one. With the global scope
         * these layers are pruned on their own and the others share the global threshold.
         *
         * @throws CompressException BAD_INPUT for a sparsity outside [0, 1)
         */
        public Builder optLayerSparsity(Map<String, Double> overrides) {
            Map<String, Double> copy = new LinkedHashMap<>();
            overrides.forEach((name, value) -> copy.put(name, checkSparsity(value, "sparsity of " + name)));
            this.overrides = copy;
            return this;
        }

        /** Layers (node or weight names) left untouched, e.g. the first conv and the classifier. */
        public Builder optExclude(Collection<String> layers) {
            this.excluded = new LinkedHashSet<>(layers);
            return this;
        }

        /**
         * Re-applies masks recorded by an earlier run instead of computing new ones.
         *
         * @param source the mask file, named in errors (may be null)
         */
        public Builder optMasks(PruneMasks masks, Path source) {
            this.masks = masks;
            this.masksSource = source;
            return this;
        }

        /**
         * Structured pruning only: representative samples (labels not needed) on which the mean of every removed
         * channel is measured and folded into the biases of the layers reading it, so those layers see the
         * channel's average instead of zero. Default: none (removed channels count as zero).
         */
        public Builder optCalibrationData(Dataset calibration) {
            this.calibration = calibration;
            return this;
        }

        private static double checkSparsity(double value, String what) {
            if (!(value >= 0 && value < 1)) {
                throw CompressException.invalidSettings(what + " must be in [0, 1), got " + value);
            }
            return value;
        }

        /**
         * @throws CompressException INVALID_SETTINGS for settings that contradict each other: no sparsity and no
         *     masks, masks with a sparsity or layer choices, calibration data for unstructured pruning, the global
         *     scope for structured pruning
         */
        public Pruner build() {
            if (masks == null && Double.isNaN(sparsity)) {
                throw CompressException.invalidSettings("pruning needs a sparsity, or masks to re-apply");
            }
            if (masks != null && (!Double.isNaN(sparsity) || structured || !overrides.isEmpty()
                    || !excluded.isEmpty())) {
                throw CompressException.invalidSettings("re-applied masks fix what is pruned; a sparsity, structured"
                        + " pruning, layer sparsities and exclusions do not apply");
            }
            boolean structuredRun = masks != null ? PruneMasks.STRUCTURED.equals(masks.kind()) : structured;
            if (calibration != null && !structuredRun) {
                throw CompressException.invalidSettings("calibration data compensates removed channels in structured"
                        + " pruning; unstructured pruning does not use it");
            }
            if (structured && scope == Scope.GLOBAL) {
                throw CompressException.invalidSettings("structured pruning is per group of tied channels; the"
                        + " global scope applies to unstructured pruning only");
            }
            return new Pruner(this);
        }
    }
}
