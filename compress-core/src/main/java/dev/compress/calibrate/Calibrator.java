package dev.compress.calibrate;

import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.data.ModelInputs;
import dev.compress.graph.Attribute;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.pipeline.ModelCheck;
import dev.compress.pipeline.PassContext;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.FloatBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

/**
 * Runs a model over calibration data with ONNX Runtime and collects, for each named tensor, the statistics every
 * calibration method needs, in one pass and in memory that does not grow with the number of samples.
 *
 * <pre>{@code
 * CalibrationTable table = Calibrator.builder()
 *         .setModel(model)
 *         .setData(dataset)
 *         .setTensors(activations)
 *         .build()
 *         .calibrate();
 * Map<String, TensorRange> ranges = table.ranges(CalibrationSettings.of(CalibrationMethod.ENTROPY), activations, false);
 * }</pre>
 *
 * <p>Batches run on several ONNX Runtime sessions at once, their statistics merged in the order the batches were
 * formed (sample order, which the moving average needs). Extremes are measured inside ONNX Runtime
 * ({@link ExtremesProbe}); histograms are built from an evenly spread subset of the samples
 * ({@link Builder#optHistogramSamples}), fetched whole. Every statistic is an exact function of the set of values
 * (see {@link Histogram}), so the table is byte-identical whatever the batch size, the number of sessions or threads.
 */
public final class Calibrator implements ModelCheck<CalibrationTable> {
    private final OnnxModel model;
    private final Dataset data;
    private final Set<String> tensors;
    private final int bins;
    private final double movingAverage;
    private final int batchSize;
    private final int maxSamples;
    private final int histogramSamples;
    private final int sessions;
    private final int intraOpThreads;
    private final Progress progress;

    private Calibrator(Builder builder) {
        this.model = builder.model;
        this.data = builder.data;
        this.tensors = builder.tensors;
        this.bins = builder.bins;
        this.movingAverage = builder.movingAverage;
        // ONNX Runtime's memory grows with batch and input size: without a given batch size, the model decides
        this.batchSize = builder.batchSizeGiven() ? builder.batchSize() : ModelInputs.defaultBatchSize(builder.model,
                builder.data);
        this.maxSamples = builder.sampling().maxSamples();
        this.histogramSamples = builder.sampling().histogramSamples();
        this.sessions = builder.sampling().sessions();
        this.intraOpThreads = builder.sampling().intraOpThreads();
        this.progress = builder.progress();
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Calibrates.
     *
     * @throws CompressException BAD_INPUT for unreadable data, no samples, or a model ONNX Runtime cannot run
     */
    public CalibrationTable calibrate() {
        return run(PassContext.of(progress));
    }

    @Override
    public String id() {
        return "calibrate";
    }

    /** Calibrates, with the context's progress instead of the builder's. */
    @Override
    public CalibrationTable run(PassContext context) {
        Progress progress = context.progress();
        Set<String> graphInputs = new LinkedHashSet<>();
        for (ValueInfo input : model.graph().inputs()) {
            graphInputs.add(input.name());
        }
        // a reshaped copy holds the very same values: observe it once (per-sample extremes may split differently)
        Map<String, String> copies = movingAverage > 0 ? Map.of() : sameValues(model.graph(), tensors);
        Set<String> measured = new LinkedHashSet<>(tensors);
        measured.removeAll(copies.keySet());
        Set<String> fetched = new LinkedHashSet<>(measured);
        fetched.removeAll(graphInputs);
        Map<String, TensorStatistics> totals = newStatistics(measured);
        int total = maxSamples > 0 ? Math.min(maxSamples, data.size()) : data.size();
        int histogramTotal = bins == 0 ? 0 : histogramSamples == 0 ? total : Math.min(histogramSamples, total);
        boolean whole = bins > 0 || movingAverage > 0;
        Probe probe = whole ? Probe.of(model, fetched) : null;
        ExtremesProbe extremes = movingAverage == 0 && histogramTotal < total ? extremesProbe(fetched) : null;
        Sessions pools = new Sessions();
        ExecutorService workers = Executors.newFixedThreadPool(sessions, runnable -> {
            Thread thread = new Thread(runnable, "compress-calibrate");
            thread.setDaemon(true);
            return thread;
        });
        long samples = 0;
        progress.start("calibrating", total);
        try {
            RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(intraOpThreads);
            if (probe != null) {
                pools.whole = pools.open(probe.model, options);
            }
            if (extremes != null) {
                pools.extremes = pools.open(extremes.model, options);
            }
            Deque<Future<Chunk>> inFlight = new ArrayDeque<>();
            Iterator<Batch> batches = new SampleSelection(data, batchSize, total);
            // samples that feed histograms are gathered into full batches of their own: one or two per batch,
            // fetched whole with the rest, would make every call a slow one
            List<Batch> gatheredFrom = new ArrayList<>();
            List<Integer> gatheredRows = new ArrayList<>();
            long next = 0;
            while (batches.hasNext() || !gatheredRows.isEmpty()) {
                List<Callable<Chunk>> work = new ArrayList<>();
                if (batches.hasNext()) {
                    Batch batch = batches.next();
                    long first = next;
                    next += batch.size();
                    if (extremes == null) {
                        work.add(() -> observe(batch, measured, probe, pools.whole));
                    } else {
                        int[] chosen = IntStream.range(0, batch.size())
                                .filter(row -> feedsHistogram(first + row, total, histogramTotal)).toArray();
                        int[] rest = IntStream.range(0, batch.size())
                                .filter(row -> !feedsHistogram(first + row, total, histogramTotal)).toArray();
                        if (chosen.length > 0) {
                            // a copy of the chosen rows only: holding whole batches until enough rows are gathered
                            // would keep up to batch-size batches alive
                            Batch rows = batch.rows(chosen);
                            for (int row = 0; row < rows.size(); row++) {
                                gatheredFrom.add(rows);
                                gatheredRows.add(row);
                            }
                        }
                        if (rest.length > 0) {
                            Batch part = rest.length == batch.size() ? batch : batch.rows(rest);
                            work.add(() -> observe(part, measured, extremes, pools.extremes));
                        }
                    }
                }
                if (gatheredRows.size() >= batchSize || (!batches.hasNext() && !gatheredRows.isEmpty())) {
                    Batch gathered = Batch.gather(gatheredFrom, gatheredRows);
                    gatheredFrom = new ArrayList<>();
                    gatheredRows = new ArrayList<>();
                    work.add(() -> observe(gathered, measured, probe, pools.whole));
                }
                for (Callable<Chunk> task : work) {
                    inFlight.add(workers.submit(task));
                    // one batch queued per session beyond the running ones bounds memory; statistics are exact
                    // functions of the values, so merging in any grouping gives the same table
                    while (inFlight.size() > sessions) {
                        samples += merge(inFlight.removeFirst(), totals, progress);
                    }
                }
            }
            while (!inFlight.isEmpty()) {
                samples += merge(inFlight.removeFirst(), totals, progress);
            }
        } finally {
            // after a failure, batches still running must end before their sessions close
            workers.shutdownNow();
            try {
                workers.awaitTermination(1, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            progress.finish();
            pools.opened.forEach(OrtModel::close);
        }
        if (samples == 0) {
            throw CompressException.badInput(data.source(), "no calibration samples");
        }
        recordNonNegativeLowerExtremes(totals);
        Map<String, TensorStatistics> all = new LinkedHashMap<>();
        for (String tensor : tensors) {
            all.put(tensor, copies.containsKey(tensor) ? totals.get(copies.get(tensor)).copy() : totals.get(tensor));
        }
        // without the extremes probe (moving averages, or a subset as large as the data) every sample was fetched whole
        long histogramCount = bins == 0 ? 0 : extremes == null ? samples : Math.min(histogramTotal, samples);
        return new CalibrationTable(model.displayName(), CalibrationTable.modelHash(model), samples, histogramCount,
                bins, movingAverage, all, null);
    }

    /**
     * Every range contains 0, so the lower extreme of a tensor that cannot be negative changes no range; it is
     * recorded as 0 whichever way it was observed, and MinMax calibration does not measure it.
     */
    private void recordNonNegativeLowerExtremes(Map<String, TensorStatistics> totals) {
        Graph graph = model.graph();
        Graph.Index index = graph.index();
        Map<String, Boolean> memo = new LinkedHashMap<>();
        totals.forEach((tensor, stats) -> {
            if (stats.seen() && ExtremesProbe.isNonNegative(graph, index, tensor, memo)) {
                stats.min = 0;
            }
        });
    }

    /** The fast probe, built on the shapes ONNX Runtime infers for these tensors. */
    private ExtremesProbe extremesProbe(Set<String> fetched) {
        try (OrtModel shapes = OrtModel.open(model.withExtraOutputs(fetched),
                RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE).withIntraOpThreads(1))) {
            return ExtremesProbe.of(model, fetched, shapes.outputShapes(), shapes.outputDimensionNames());
        }
    }

    /**
     * Tensors that are another observed tensor with its shape changed (Identity, Flatten, Reshape, Squeeze, Unsqueeze,
     * Transpose), mapped to the tensor first in that chain.
     */
    static Map<String, String> sameValues(Graph graph, Set<String> tensors) {
        Graph.Index index = graph.index();
        Map<String, String> copies = new LinkedHashMap<>();
        for (String tensor : tensors) {
            String source = tensor;
            while (true) {
                Optional<Node> producer = index.producer(source);
                if (producer.isEmpty() || !producer.get().domain().isEmpty()
                        || !RESHAPING.contains(producer.get().opType())
                        || !tensors.contains(producer.get().input(0))) {
                    break;
                }
                source = producer.get().input(0);
            }
            if (!source.equals(tensor)) {
                copies.put(tensor, source);
            }
        }
        return copies;
    }

    private static final Set<String> RESHAPING = Set.of("Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze",
            "Transpose");

    private Map<String, TensorStatistics> newStatistics(Set<String> measured) {
        Map<String, TensorStatistics> stats = new LinkedHashMap<>();
        for (String tensor : measured) {
            stats.put(tensor, new TensorStatistics(bins, movingAverage));
        }
        return stats;
    }

    /** The statistics of one batch, and its size. */
    private record Chunk(Map<String, TensorStatistics> stats, int samples) {}

    /** ONNX Runtime sessions of the two probes, each pool one session per parallel batch. */
    private final class Sessions {
        final List<OrtModel> opened = new ArrayList<>();
        BlockingQueue<OrtModel> whole;
        BlockingQueue<OrtModel> extremes;

        BlockingQueue<OrtModel> open(OnnxModel probeModel, RuntimeOptions options) {
            BlockingQueue<OrtModel> idle = new ArrayBlockingQueue<>(sessions);
            for (int i = 0; i < sessions; i++) {
                OrtModel session = OrtModel.open(probeModel, options);
                opened.add(session);
                idle.add(session);
            }
            return idle;
        }
    }

    /** Sample i of n is one of the k evenly spread ones when floor((i + 1) k / n) > floor(i k / n). */
    static boolean feedsHistogram(long sample, int total, int histogramTotal) {
        return (sample + 1) * histogramTotal / total > sample * histogramTotal / total;
    }

    /** Whole tensors: histograms, or per-sample extremes for a moving average. */
    private Chunk observe(Batch batch, Set<String> measured, Probe probe, BlockingQueue<OrtModel> idle)
            throws InterruptedException {
        Map<String, TensorStatistics> stats = newStatistics(measured);
        observeInputs(batch, stats, true);
        OrtModel session = idle.take();
        try {
            if (movingAverage > 0) {
                // per-sample extremes need the whole tensors
                session.run(batch, probe.reductions.keySet())
                        .forEach((name, output) -> observe(stats, name, output.values(), batch.size(), true));
                return new Chunk(stats, batch.size());
            }
            Map<String, OrtModel.FloatOutput> outputs = session.run(batch, probe.requested());
            probe.reductions.forEach((tensor, r) -> {
                float[] values = outputs.get(tensor).values();
                boolean clean = stats.get(tensor).observeReduced(scalar(outputs, r.min()), scalar(outputs, r.max()),
                        scalar(outputs, r.sum()), values.length, values);
                if (!clean) {
                    observe(stats, tensor, values, batch.size(), true);
                }
            });
        } finally {
            idle.add(session);
        }
        return new Chunk(stats, batch.size());
    }

    /** The fast path: extremes measured inside ONNX Runtime, see {@link ExtremesProbe}. */
    private Chunk observe(Batch batch, Set<String> measured, ExtremesProbe probe, BlockingQueue<OrtModel> idle)
            throws InterruptedException {
        Map<String, TensorStatistics> stats = newStatistics(measured);
        boolean finiteInputs = observeInputs(batch, stats, false);
        Map<String, ExtremesProbe.Extremes> figures;
        OrtModel session = idle.take();
        try {
            figures = probe.read(session.run(batch, probe.outputs()));
        } finally {
            idle.add(session);
        }
        Set<String> unclean = new LinkedHashSet<>();
        // on a NaN-safe graph NaN comes from non-finite inputs, or from an infinity (an overflow) meeting another
        // inside the graph; max-pooling may have skipped it in every other tensor, so all are observed again
        boolean suspect = probe.nanSafe() && (!finiteInputs || figures.values().stream().anyMatch(e -> !e.clean()));
        figures.forEach((tensor, e) -> {
            if (e.clean() && !suspect) {
                stats.get(tensor).observeReduced(e.min(), e.max(), 0, e.count(), null);
            } else {
                unclean.add(tensor);
            }
        });
        observeWhole(batch, unclean, stats);
        return new Chunk(stats, batch.size());
    }

    /**
     * Observes the float graph inputs that are calibrated, in Java.
     *
     * @param histogram whether their values go into histograms (this batch's samples feed them)
     * @return whether every float input value of the batch is finite, calibrated or not
     */
    private boolean observeInputs(Batch batch, Map<String, TensorStatistics> stats, boolean histogram) {
        boolean finite = true;
        for (Map.Entry<String, HostTensor> input : batch.inputs().entrySet()) {
            if (input.getValue().type() != HostTensor.ElementType.FLOAT) {
                continue;
            }
            FloatBuffer values = input.getValue().floats();
            float[] copy = new float[values.remaining()];
            values.get(copy);
            if (stats.containsKey(input.getKey())) {
                observe(stats, input.getKey(), copy, batch.size(), histogram);
                finite &= stats.get(input.getKey()).nonFinite == 0;
            } else {
                for (float v : copy) {
                    finite &= Float.isFinite(v);
                }
            }
        }
        return finite;
    }

    /**
     * NaN or infinities: runs the batch again, fetching these tensors whole to count them and leave them out; the
     * values go into no histogram (only the fast path, for samples that do not feed histograms, comes here).
     */
    private void observeWhole(Batch batch, Set<String> tensors, Map<String, TensorStatistics> stats) {
        if (tensors.isEmpty()) {
            return;
        }
        try (OrtModel full = OrtModel.open(model.withExtraOutputs(tensors), RuntimeOptions.defaults()
                .withIntraOpThreads(intraOpThreads))) {
            full.run(batch, tensors).forEach((name, output) -> observe(stats, name, output.values(), batch.size(),
                    false));
        }
    }

    private static float scalar(Map<String, OrtModel.FloatOutput> outputs, String name) {
        return outputs.get(name).values()[0];
    }

    private void observe(Map<String, TensorStatistics> stats, String name, float[] values, int samples,
            boolean histogram) {
        if (!stats.get(name).observe(values, samples, histogram)) {
            throw CompressException.badInput(model.source().orElse(null), "tensor '" + name + "' does not have the"
                    + " batch as its first dimension, which the moving average needs; calibrate it without one");
        }
    }

    private long merge(Future<Chunk> future, Map<String, TensorStatistics> totals, Progress progress) {
        Chunk chunk;
        try {
            chunk = future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw CompressException.internal("calibration was interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw CompressException.internal("calibration failed: " + e.getCause(), e.getCause());
        }
        chunk.stats().forEach((name, stats) -> totals.get(name).merge(stats));
        progress.advance(chunk.samples());
        return chunk.samples();
    }

    /** Names of the outputs ONNX Runtime computes from one tensor: its extremes and sum. */
    private record Reduction(String min, String max, String sum) {}

    /**
     * The model extended to fetch whole tensors (for histograms and moving averages), with each tensor's min, max and
     * sum computed by ONNX Runtime; the sum is NaN or infinite exactly when a value is, which sends the tensor to
     * the slow path that counts those values and leaves them out.
     */
    private record Probe(OnnxModel model, Map<String, Reduction> reductions) {
        static Probe of(OnnxModel original, Collection<String> tensors) {
            OnnxModel model = original.withExtraOutputs(tensors);
            Graph graph = model.graph();
            Map<String, Reduction> reductions = new LinkedHashMap<>();
            for (String tensor : tensors) {
                Reduction r = new Reduction(graph.uniqueName(tensor + "/calibration_min"),
                        graph.uniqueName(tensor + "/calibration_max"), graph.uniqueName(tensor + "/calibration_sum"));
                // no axes: every axis is reduced, in every opset
                graph.nodes().add(reduce(graph, "ReduceMin", tensor, r.min()));
                graph.nodes().add(reduce(graph, "ReduceMax", tensor, r.max()));
                graph.nodes().add(reduce(graph, "ReduceSum", tensor, r.sum()));
                for (String output : List.of(r.min(), r.max(), r.sum())) {
                    graph.outputs().add(ValueInfo.named(output));
                }
                reductions.put(tensor, r);
            }
            return new Probe(model, reductions);
        }

        private static Node reduce(Graph graph, String op, String tensor, String output) {
            return Node.of(op, graph.uniqueName(output), List.of(tensor), List.of(output))
                    .set(Attribute.of("keepdims", 0));
        }

        /** The tensors and their reductions. */
        Set<String> requested() {
            Set<String> names = new LinkedHashSet<>();
            reductions.forEach((tensor, r) -> {
                names.add(tensor);
                names.addAll(List.of(r.min(), r.max(), r.sum()));
            });
            return names;
        }
    }

    /** Configures a {@link Calibrator}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder extends CalibrationBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }

        private OnnxModel model;
        private Dataset data;
        private Set<String> tensors;
        private int bins = CalibrationSettings.DEFAULT_BINS;
        private double movingAverage;

        private Builder() {}

        /** The fp32 model. */
        public Builder setModel(OnnxModel model) {
            this.model = model;
            return this;
        }

        /** Representative samples; labels are not needed. */
        public Builder setData(Dataset data) {
            this.data = data;
            return this;
        }

        /** Float tensors to observe: graph inputs or values computed by the graph. */
        public Builder setTensors(Collection<String> tensors) {
            this.tensors = new LinkedHashSet<>(tensors);
            return this;
        }

        /** Histogram bins per side of zero (default 2048), or 0 to keep extremes only (enough for MinMax). */
        public Builder optBins(int bins) {
            if (bins != 0 && (bins < CalibrationSettings.MIN_BINS || bins > CalibrationSettings.MAX_BINS)) {
                throw CompressException.invalidSettings("histogram bins must be between " + CalibrationSettings.MIN_BINS
                        + " and " + CalibrationSettings.MAX_BINS + ", got " + bins);
            }
            this.bins = bins;
            return this;
        }

        /** Also keep a moving average of per-sample extremes with this constant in (0, 1]; 0 (default) = off. */
        public Builder optMovingAverage(double constant) {
            if (!(constant >= 0 && constant <= 1)) {
                throw CompressException.invalidSettings("moving-average constant must be in (0, 1], got " + constant);
            }
            this.movingAverage = constant;
            return this;
        }








        public Calibrator build() {
            if (model == null || data == null || tensors == null) {
                throw new IllegalStateException("setModel, setData and setTensors are required");
            }
            return new Calibrator(this);
        }
    }
}
