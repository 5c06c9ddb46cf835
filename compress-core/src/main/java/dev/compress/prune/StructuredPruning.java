package dev.compress.prune;

import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.Dataset;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Structured pruning: removes whole output channels (Conv) or neurons (Gemm, MatMul) with the smallest L1 norm and
 * shrinks every tensor that depends on them, so the model file and its compute really get smaller.
 *
 * <p>{@link ChannelGraph} finds which channels may go and which are tied: channels added together by a residual
 * Add (or joined by Concat and then added) form one class and are removed together or not at all. Each group of
 * layers tied this way loses the requested fraction of its free classes, those with the smallest summed L1 norm
 * over the tied layers.
 */
final class StructuredPruning {
    private StructuredPruning() {}

    /** Calibration data for mean compensation: removed input channels replaced by their mean on this data. */
    record Calibration(Dataset data, int batchSize, Progress progress) {}

    static PruneResult prune(OnnxModel original, OnnxModel target, List<Layer> layers, double sparsity,
            Map<Layer, Double> requested, Set<Layer> excluded, Calibration calibration) {
        ChannelGraph channels = ChannelGraph.analyze(target, layers, excluded);
        Map<Layer, int[]> removed = channels.choose(requested);
        return rewrite(original, target, layers, channels, removed, sparsity, requested, excluded, "per-group",
                calibration);
    }

    static PruneResult apply(OnnxModel original, OnnxModel target, List<Layer> layers, PruneMasks masks,
            Path source, Calibration calibration) {
        ChannelGraph channels = ChannelGraph.analyze(target, layers, Set.of());
        Map<Layer, int[]> removed = new LinkedHashMap<>();
        for (PruneMasks.Entry entry : masks.tensors()) {
            Layer layer = matchMaskEntry(target, layers, entry, source);
            if (entry.axis() != layer.outAxis()) {
                throw CompressException.badInput(source, "was made for another model: it removes channels of '"
                        + entry.weight() + "' along axis " + entry.axis() + ", the output axis here is "
                        + layer.outAxis());
            }
            removed.put(layer, entry.removedChannels().stream().mapToInt(Integer::intValue).sorted().distinct()
                    .toArray());
        }
        channels.checkConsistent(removed, source);
        return rewrite(original, target, layers, channels, removed, null, Map.of(), Set.of(), "masks",
                calibration);
    }

    /**
     * The layer a mask entry is about, by weight name and shape.
     *
     * @throws CompressException BAD_INPUT naming the mask file when the model has no such weight or it has another
     *     shape
     */
    static Layer matchMaskEntry(OnnxModel target, List<Layer> layers, PruneMasks.Entry entry, Path source) {
        Layer layer = layers.stream().filter(l -> l.weight().equals(entry.weight())).findFirst().orElse(null);
        String model = target.displayName();
        if (layer == null) {
            throw CompressException.badInput(source, "was made for another model: it prunes '" + entry.weight()
                    + "', which is not a prunable weight of " + model);
        }
        List<Long> shape = Pruner.shape(layer.dims());
        if (!shape.equals(entry.shape())) {
            throw CompressException.badInput(source, "was made for another model: '" + entry.weight()
                    + "' has shape " + entry.shape() + " in the mask file and " + shape + " in " + model);
        }
        return layer;
    }

    private static PruneResult rewrite(OnnxModel original, OnnxModel target, List<Layer> layers,
            ChannelGraph channels, Map<Layer, int[]> removed, Double sparsity, Map<Layer, Double> requested,
            Set<Layer> excluded, String scope, Calibration calibration) {
        Graph graph = target.graph();
        Graph.Index index = graph.index();
        boolean[] gone = channels.removedAtoms(removed);
        // computed on the dense weights, before anything shrinks
        Map<Layer, float[]> compensation = calibration == null ? Map.of()
                : compensation(target, channels, layers, gone, calibration);
        Map<Layer, long[]> newDims = new IdentityHashMap<>();
        for (Layer layer : layers) {
            int[] keepOut = channels.isProducer(layer) ? channels.keptOutputs(layer, gone) : null;
            int[] keepIn = channels.keptInputs(layer, gone);
            if ((keepOut == null || keepOut.length == layer.dims()[layer.outAxis()])
                    && (keepIn == null || keepIn.length == layer.dims()[layer.inAxis()])) {
                continue;
            }
            String fix = "; structured pruning cannot shrink it for one node only";
            Layers.checkNotShared(target, index, layer.node(), layer.weight(), fix);
            int[] keep0 = layer.outAxis() == 0 ? keepOut : keepIn;
            int[] keep1 = layer.outAxis() == 0 ? keepIn : keepOut;
            Tensor weight = graph.initializers().get(layer.weight());
            long[] dims = weight.dims();
            float[] sliced = slice(weight.floats(), dims, keep0, keep1);
            long[] shrunk = dims.clone();
            if (keep0 != null) {
                shrunk[0] = keep0.length;
            }
            if (keep1 != null) {
                shrunk[1] = keep1.length;
            }
            graph.putInitializer(Tensor.floats(layer.weight(), shrunk, sliced));
            newDims.put(layer, shrunk);
            String bias = layer.node().input(2);
            if (keepOut != null && !bias.isEmpty() && graph.initializers().get(bias).elementCount() > 1) {
                Layers.checkNotShared(target, index, layer.node(), bias, fix);
                slice1d(graph, bias, keepOut);
            }
            float[] delta = compensation.get(layer);
            if (delta != null) {
                Layers.checkNotShared(target, index, layer.node(), bias, fix);
                addToBias(graph, layer, bias, keepOut == null ? delta : pick(delta, keepOut));
            }
        }
        for (Map.Entry<Node, int[]> bn : channels.keptNormalized(gone).entrySet()) {
            for (int i = 1; i <= 4; i++) {
                Layers.checkNotShared(target, index, bn.getKey(), bn.getKey().input(i),
                        "; structured pruning cannot shrink it for one node only");
                slice1d(graph, bn.getKey().input(i), bn.getValue());
            }
        }
        // recorded shapes of shrunk tensors are stale; ONNX Runtime infers them again
        Set<String> shrunkTensors = channels.tensorsWithLayout();
        graph.valueInfos().removeIf(info -> shrunkTensors.contains(info.name()));

        List<PruneMasks.Entry> entries = new ArrayList<>();
        List<PruneReport.LayerResult> results = new ArrayList<>();
        long elements = 0;
        long prunedElements = 0;
        for (Layer layer : layers) {
            long[] after = newDims.getOrDefault(layer, layer.dims());
            long afterElements = Arrays.stream(after).reduce(1, (a, b) -> a * b);
            long channelCount = layer.dims()[layer.outAxis()];
            int[] cut = removed.getOrDefault(layer, new int[0]);
            if (channels.isProducer(layer)) {
                entries.add(new PruneMasks.Entry(layer.name(), layer.weight(), Pruner.shape(layer.dims()),
                        PruneReport.ratio(cut.length, channelCount), null, null, layer.outAxis(),
                        Arrays.stream(cut).boxed().toList(), layers.indexOf(layer)));
            }
            long pruned = layer.elements() - afterElements;
            results.add(new PruneReport.LayerResult(layer.name(), layer.node().opType(), layer.weight(),
                    Pruner.shape(layer.dims()), newDims.containsKey(layer) ? Pruner.shape(after) : null,
                    requested.get(layer), excluded.contains(layer), layer.elements(), pruned,
                    PruneReport.ratio(pruned, layer.elements()), channelCount, (long) cut.length));
            elements += layer.elements();
            prunedElements += pruned;
        }
        PruneMasks masks = new PruneMasks(PruneMasks.FORMAT, PruneMasks.VERSION, PruneMasks.STRUCTURED,
                original.displayName(), entries);
        PruneReport report = new PruneReport(original.displayName(), PruneMasks.STRUCTURED, scope, sparsity,
                calibration == null ? null : "channel means on " + calibration.data().size() + " samples", results,
                elements, prunedElements, PruneReport.ratio(prunedElements, elements));
        return new PruneResult(target, masks, report);
    }

    /**
     * Per layer whose input loses channels, what those channels contributed on average to each output: the mean of
     * each removed input channel on the calibration data times its weights. Added to the bias, it replaces the
     * removed channel by its mean instead of by zero (exact up to zero padding at the borders). MatMul has no bias
     * to take it and is left out.
     */
    private static Map<Layer, float[]> compensation(OnnxModel dense, ChannelGraph channels, List<Layer> layers,
            boolean[] gone, Calibration calibration) {
        Map<Layer, String> shrunk = new LinkedHashMap<>(channels.shrunkInputs(gone));
        shrunk.keySet().removeIf(l -> l.node().opType().equals("MatMul"));
        Map<String, double[]> means = ChannelMeans.of(dense, new LinkedHashSet<>(shrunk.values()),
                calibration.data(), calibration.batchSize(), calibration.progress());
        Map<Layer, float[]> deltas = new IdentityHashMap<>();
        for (Map.Entry<Layer, String> entry : shrunk.entrySet()) {
            Layer layer = entry.getKey();
            double[] mean = means.get(entry.getValue());
            long[] dims = layer.dims();
            int features = (int) dims[layer.inAxis()];
            if (mean == null || mean.length != features) {
                continue; // not a per-channel tensor ONNX Runtime could report; no compensation
            }
            boolean[] kept = new boolean[features];
            for (int f : channels.keptInputs(layer, gone)) {
                kept[f] = true;
            }
            float[] w = dense.graph().initializers().get(layer.weight()).floats();
            int d1 = (int) dims[1];
            int inner = (int) (w.length / (dims[0] * dims[1]));
            int outputs = (int) dims[layer.outAxis()];
            double[] delta = new double[outputs];
            for (int o = 0; o < outputs; o++) {
                for (int f = 0; f < features; f++) {
                    if (kept[f] || mean[f] == 0) {
                        continue;
                    }
                    int row = layer.outAxis() == 0 ? o : f;
                    int col = layer.outAxis() == 0 ? f : o;
                    double sum = 0;
                    for (int k = 0; k < inner; k++) {
                        sum += w[(row * d1 + col) * inner + k];
                    }
                    delta[o] += sum * mean[f];
                }
            }
            float[] out = new float[outputs];
            for (int o = 0; o < outputs; o++) {
                out[o] = (float) delta[o];
            }
            deltas.put(layer, out);
        }
        return deltas;
    }

    private static float[] pick(float[] values, int[] keep) {
        float[] kept = new float[keep.length];
        for (int i = 0; i < keep.length; i++) {
            kept[i] = values[keep[i]];
        }
        return kept;
    }

    /** Adds {@code delta} (one value per output) to the layer's bias, creating or widening the bias as needed. */
    private static void addToBias(Graph graph, Layer layer, String bias, float[] delta) {
        float[] values = new float[delta.length];
        if (!bias.isEmpty()) {
            float[] old = graph.initializers().get(bias).floats();
            for (int i = 0; i < values.length; i++) {
                values[i] = old.length == 1 ? old[0] : old[i];
            }
        }
        for (int i = 0; i < values.length; i++) {
            values[i] += delta[i];
        }
        String name = bias.isEmpty() ? graph.uniqueName(layer.weight() + "_bias") : bias;
        graph.putInitializer(Tensor.floats(name, new long[] {values.length}, values));
        if (bias.isEmpty()) {
            layer.node().inputs().add(name);
        }
    }

    private static void slice1d(Graph graph, String name, int[] keep) {
        Tensor tensor = graph.initializers().get(name);
        if (tensor == null) {
            throw new IllegalStateException("not an initializer: " + name);
        }
        float[] values = tensor.floats();
        float[] kept = new float[keep.length];
        for (int i = 0; i < keep.length; i++) {
            kept[i] = values[keep[i]];
        }
        long[] dims = tensor.dims();
        long[] shrunk = dims.length == 0 ? dims : dims.clone();
        shrunk[shrunk.length - 1] = keep.length;
        graph.putInitializer(Tensor.floats(name, shrunk, kept));
    }

    /** The elements of a row-major tensor kept along axes 0 and 1 ({@code null} = all of that axis). */
    static float[] slice(float[] values, long[] dims, int[] keep0, int[] keep1) {
        int d0 = (int) dims[0];
        int d1 = (int) dims[1];
        int inner = 1;
        for (int i = 2; i < dims.length; i++) {
            inner *= (int) dims[i];
        }
        int[] rows = keep0 != null ? keep0 : range(d0);
        int[] cols = keep1 != null ? keep1 : range(d1);
        float[] out = new float[rows.length * cols.length * inner];
        int at = 0;
        for (int r : rows) {
            for (int c : cols) {
                System.arraycopy(values, (r * d1 + c) * inner, out, at, inner);
                at += inner;
            }
        }
        return out;
    }

    static int[] range(int n) {
        int[] all = new int[n];
        Arrays.setAll(all, i -> i);
        return all;
    }
}
