package dev.compress.recipe;

import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.check.HeldApart;
import dev.compress.data.DataSources;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.debug.LayerDebugger;
import dev.compress.debug.LayerReport;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.prune.Pruner;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/** The recipe checks that feed the HTML report: layer debugging with activation histograms, and the prune scan. */
final class RecipeChecks {
    /** Bins of an activation histogram. */
    static final int BINS = 80;

    private RecipeChecks() {}

    /** The prune step a prune-scan check scans: the one it names, else the first. */
    static Recipe.Prune pruneStep(Recipe recipe, Recipe.PruneScan scan) {
        return recipe.steps().stream()
                .filter(s -> s instanceof Recipe.Prune && (scan.step() == null || s.name().equals(scan.step())))
                .map(Recipe.Prune.class::cast)
                .findFirst()
                .orElseThrow(() -> new IllegalStateException("checked when the recipe was read"));
    }

    /**
     * Top-1 of {@code input} pruned as {@code step} does at each sparsity (and at the step's own), on the evaluation
     * data.
     */
    static CheckReports.Scan scan(RecipeRun run, Recipe.PruneScan scan, Recipe.Prune step, Path input) {
        OnnxModel model = OnnxModel.load(input);
        Recipe recipe = run.file().recipe();
        DataSources.Opened data = run.open(recipe.data().evaluation(), model);
        if (data.dataset().classNames().isEmpty()) {
            throw CompressException.badInput(run.file().resolve(recipe.data().evaluation()),
                    "has no labels; a prune-scan check needs labeled samples");
        }
        TreeSet<Double> sparsities = new TreeSet<>(scan.sparsities());
        sparsities.add(0.0);
        sparsities.add(step.sparsity());
        List<CheckReports.Scan.Point> points = new ArrayList<>();
        int batchSize = ModelInputs.defaultBatchSize(model, data.dataset());
        for (double sparsity : sparsities) {
            OnnxModel pruned = model;
            if (sparsity > 0) {
                Pruner.Builder builder = Pruner.builder()
                        .setModel(model)
                        .setSparsity(sparsity)
                        .optScope("global".equals(step.scope()) ? Pruner.Scope.GLOBAL : Pruner.Scope.PER_LAYER)
                        .optStructured(step.structured())
                        .optExclude(step.exclude())
                        .optBatchSize(batchSize);
                if (step.structured()) {
                    builder.optCalibrationData(run.open(recipe.data().calibration(), model).dataset());
                }
                pruned = builder.build().prune().model();
            }
            EvalReport report = Evaluator.builder()
                    .setModel(pruned)
                    .setData(data.dataset())
                    .optBatchSize(batchSize)
                    .optProgress(run.progress())
                    .build()
                    .evaluate();
            points.add(new CheckReports.Scan.Point(sparsity, report.top1()));
        }
        return new CheckReports.Scan(input.getFileName().toString(), data.dataset().source().toString(),
                data.dataset().size(), step.name(), step.sparsity(), points);
    }

    /**
     * The layer ranking of {@code candidate} against {@code reference} on an even spread of the check's samples, and
     * histograms of the worst layers' fp32 activations with their INT8 ranges.
     */
    static void debug(RecipeRun run, Recipe.Debug check, Path reference, Path candidate, Path reportOut,
            Path histogramsOut) {
        OnnxModel fp32 = OnnxModel.load(reference);
        OnnxModel int8 = OnnxModel.load(candidate);
        Dataset samples = HeldApart.of(run.open(run.dataPath(check.data()), fp32).dataset(), 0, check.samples(),
                false);
        int batchSize = ModelInputs.defaultBatchSize(fp32, samples);
        LayerReport report = LayerDebugger.builder()
                .setFloatModel(fp32)
                .setQuantizedModel(int8)
                .setData(samples)
                .optBatchSize(batchSize)
                .optProgress(run.progress())
                .build()
                .run();
        Map<String, LayerReport.Layer> worst = new LinkedHashMap<>();
        Map<String, double[]> ranges = new LinkedHashMap<>();
        for (LayerReport.Layer layer : report.layers()) {
            if (worst.size() == check.histograms()) {
                break;
            }
            Optional<double[]> range = clipRange(int8.graph(), layer.tensor());
            if (layer.sqnrDb() != null && range.isPresent() && !worst.containsKey(layer.tensor())) {
                worst.put(layer.tensor(), layer);
                ranges.put(layer.tensor(), range.get());
            }
        }
        List<CheckReports.Histograms.Layer> layers = new ArrayList<>();
        if (!worst.isEmpty()) {
            double[][] extremes = new double[worst.size()][];
            long[][] counts = new long[worst.size()][];
            List<String> tensors = new ArrayList<>(worst.keySet());
            try (OrtModel session = OrtModel.open(fp32.withExtraOutputs(new LinkedHashSet<>(tensors)),
                    RuntimeOptions.defaults())) {
                // first the value range, then the counts: no sample's activations are held
                for (int i = 0; i < tensors.size(); i++) {
                    double[] range = ranges.get(tensors.get(i));
                    extremes[i] = new double[] {Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, range[0],
                        range[1]};
                }
                samples.forEachBatch(batchSize, run.progress(), "activation ranges",
                        batch -> {
                            Map<String, OrtModel.FloatOutput> out = session.run(batch, new LinkedHashSet<>(tensors));
                            for (int i = 0; i < tensors.size(); i++) {
                                for (float v : out.get(tensors.get(i)).values()) {
                                    extremes[i][0] = Math.min(extremes[i][0], v);
                                    extremes[i][1] = Math.max(extremes[i][1], v);
                                }
                            }
                        });
                long[] clipped = new long[tensors.size()];
                for (int i = 0; i < tensors.size(); i++) {
                    counts[i] = new long[BINS];
                }
                samples.forEachBatch(batchSize, run.progress(), "activation histograms",
                        batch -> {
                            Map<String, OrtModel.FloatOutput> out = session.run(batch, new LinkedHashSet<>(tensors));
                            for (int i = 0; i < tensors.size(); i++) {
                                double low = Math.min(extremes[i][0], extremes[i][2]);
                                double high = Math.max(extremes[i][1], extremes[i][3]);
                                double width = high > low ? (high - low) / BINS : 1;
                                for (float v : out.get(tensors.get(i)).values()) {
                                    int bin = (int) Math.min(BINS - 1, Math.max(0, Math.floor((v - low) / width)));
                                    counts[i][bin]++;
                                    if (v < extremes[i][2] || v > extremes[i][3]) {
                                        clipped[i]++;
                                    }
                                }
                            }
                        });
                for (int i = 0; i < tensors.size(); i++) {
                    LayerReport.Layer layer = worst.get(tensors.get(i));
                    double low = Math.min(extremes[i][0], extremes[i][2]);
                    double high = Math.max(extremes[i][1], extremes[i][3]);
                    layers.add(new CheckReports.Histograms.Layer(layer.node(), layer.tensor(), layer.sqnrDb(),
                            round(extremes[i][2]), round(extremes[i][3]), round(extremes[i][0]),
                            round(extremes[i][1]), round(low), round(high), counts[i], clipped[i]));
                }
            }
        }
        report.writeJson(reportOut);
        Json.write(histogramsOut, new CheckReports.Histograms(samples.size(), layers));
    }

    /**
     * The values {@code tensor}'s QuantizeLinear in the INT8 graph can represent: {@code [(qmin - zp) * scale, (qmax -
     * zp) * scale]} for a per-tensor scale; empty when it has no such QuantizeLinear.
     */
    static Optional<double[]> clipRange(Graph graph, String tensor) {
        for (Node node : graph.consumers(tensor)) {
            if (!node.opType().equals("QuantizeLinear") || !node.input(0).equals(tensor)) {
                continue;
            }
            Optional<Tensor> scale = graph.initializer(node.input(1));
            Optional<Tensor> zeroPoint = node.inputs().size() > 2 && !node.input(2).isEmpty()
                    ? graph.initializer(node.input(2)) : Optional.empty();
            if (scale.isEmpty() || scale.get().elementCount() != 1
                    || zeroPoint.isPresent() && zeroPoint.get().elementCount() != 1) {
                return Optional.empty();
            }
            boolean signed = zeroPoint.isPresent() && zeroPoint.get().dataType() == DataType.INT8;
            double zp = zeroPoint.map(z -> z.value(0)).orElse(0.0);
            double s = scale.get().value(0);
            return Optional.of(new double[] {((signed ? -128 : 0) - zp) * s, ((signed ? 127 : 255) - zp) * s});
        }
        return Optional.empty();
    }

    private static double round(double value) {
        return Double.isFinite(value) ? RecipeGates.round(value) : 0;
    }
}
