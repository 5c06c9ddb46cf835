package dev.compress.prune;

import dev.compress.BaseBuilder;
import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.eval.Evaluator;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.ModelCheck;
import dev.compress.pipeline.PassContext;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * How much accuracy each layer loses to unstructured L1 pruning: every layer pruned alone at several sparsities, and
 * the whole model at several global sparsities, each evaluated on held-out data. Tells which layers to exclude or
 * prune less ({@link Pruner.Builder#optLayerSparsity}).
 *
 * <pre>{@code
 * SensitivityReport report = SensitivityScan.builder()
 *         .setModel(OnnxModel.load(model))
 *         .setData(heldout)
 *         .build()
 *         .scan();
 * report.writePlot(Path.of("scan.png"));
 * }</pre>
 */
public final class SensitivityScan implements ModelCheck<SensitivityReport> {
    static final List<Double> DEFAULT_SPARSITIES = List.of(0.25, 0.5, 0.75, 0.9);

    private final OnnxModel model;
    private final Dataset data;
    private final List<Double> layerSparsities;
    private final List<Double> globalSparsities;
    private final Set<String> excluded;
    private final int batchSize;
    private final Progress progress;

    private SensitivityScan(Builder b) {
        this.model = b.model;
        this.data = b.data;
        this.layerSparsities = b.layerSparsities;
        this.globalSparsities = b.globalSparsities;
        this.excluded = b.excluded;
        this.batchSize = ModelInputs.batchSize(b, b.model, b.data);
        this.progress = b.progress();
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Runs the scan: {@code 1 + layers x sparsities + global sparsities} evaluations over the data.
     *
     * @throws CompressException BAD_INPUT as {@link Pruner#prune} and {@link Evaluator#evaluate} do
     */
    public SensitivityReport scan() {
        return run(PassContext.of(progress));
    }

    @Override
    public String id() {
        return "prune-scan";
    }

    /** Runs with the context's progress instead of the builder's. */
    @Override
    public SensitivityReport run(PassContext context) {
        List<Layer> layers = Layers.find(model);
        Set<String> skip = new LinkedHashSet<>(excluded);
        // names are checked (and shared weights refused) by a dry run before any evaluation
        Pruner.builder().setModel(model).setSparsity(0).optExclude(skip).build().prune();
        List<Layer> scanned = layers.stream()
                .filter(l -> !skip.contains(l.name()) && !skip.contains(l.weight())).toList();
        int evaluations = 1 + scanned.size() * layerSparsities.size() + globalSparsities.size();
        context.progress().start("sensitivity scan (evaluations)", evaluations);
        try {
            double baseline = top1(model);
            context.progress().advance(1);
            List<SensitivityReport.LayerCurve> curves = new ArrayList<>();
            for (Layer layer : scanned) {
                List<SensitivityReport.Point> points = new ArrayList<>();
                for (double s : layerSparsities) {
                    OnnxModel pruned = Pruner.builder().setModel(model).setSparsity(0)
                            .optLayerSparsity(Map.of(layer.weight(), s)).build().prune().model();
                    points.add(new SensitivityReport.Point(s, top1(pruned)));
                    context.progress().advance(1);
                }
                curves.add(new SensitivityReport.LayerCurve(layer.name(), layer.node().opType(), layer.weight(),
                        layer.elements(), points));
            }
            List<SensitivityReport.Point> global = new ArrayList<>();
            for (double s : globalSparsities) {
                OnnxModel pruned = Pruner.builder().setModel(model).setSparsity(s).optScope(Pruner.Scope.GLOBAL)
                        .optExclude(skip).build().prune().model();
                global.add(new SensitivityReport.Point(s, top1(pruned)));
                context.progress().advance(1);
            }
            return new SensitivityReport(model.displayName(), data.source().toString(), data.size(), baseline,
                    curves, global);
        } finally {
            context.progress().finish();
        }
    }

    private double top1(OnnxModel candidate) {
        return Evaluator.builder().setModel(candidate).setData(data).optBatchSize(batchSize).build().evaluate()
                .top1().fraction();
    }

    /** Configures a {@link SensitivityScan}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder extends BaseBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }

        private OnnxModel model;
        private Dataset data;
        private List<Double> layerSparsities = DEFAULT_SPARSITIES;
        private List<Double> globalSparsities = DEFAULT_SPARSITIES;
        private Set<String> excluded = Set.of();

        private Builder() {}

        public Builder setModel(OnnxModel model) {
            this.model = model;
            return this;
        }

        /** Labeled held-out samples. */
        public Builder setData(Dataset data) {
            this.data = data;
            return this;
        }

        /** Sparsities each layer is pruned to alone. Default: 0.25, 0.5, 0.75, 0.9. */
        public Builder optLayerSparsities(List<Double> sparsities) {
            this.layerSparsities = checked(sparsities);
            return this;
        }

        /** Global sparsities of the whole model. Default: 0.25, 0.5, 0.75, 0.9. */
        public Builder optGlobalSparsities(List<Double> sparsities) {
            this.globalSparsities = checked(sparsities);
            return this;
        }

        /** Layers (node or weight names) neither scanned nor pruned globally. */
        public Builder optExclude(Collection<String> layers) {
            this.excluded = new LinkedHashSet<>(layers);
            return this;
        }



        private static List<Double> checked(List<Double> sparsities) {
            for (double s : sparsities) {
                if (!(s >= 0 && s < 1)) {
                    throw CompressException.badInput("sparsity must be in [0, 1), got " + s);
                }
            }
            return sparsities.stream().distinct().sorted().toList();
        }

        public SensitivityScan build() {
            if (model == null || data == null) {
                throw new IllegalStateException("setModel and setData are required");
            }
            return new SensitivityScan(this);
        }
    }
}
