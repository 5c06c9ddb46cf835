package dev.compress.eval;

import dev.compress.BaseBuilder;
import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.NpyDataset;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.ModelCheck;
import dev.compress.pipeline.PassContext;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Measures a classifier's accuracy on labeled data and, optionally, compares it with a baseline model sample by
 * sample.
 *
 * <p>The data is read once; each batch goes through the model and the baseline before the next is read, and only
 * counts are kept, so memory does not grow with the number of samples. The prediction is the argmax over the class
 * axis of the model output ({@code [N, C]} or {@code [N, C, 1, 1]}, C = number of classes of the data).
 *
 * <pre>{@code
 * EvalReport report = Evaluator.builder()
 *         .setModel(Path.of("model-int8.onnx"))
 *         .setData(dataset)
 *         .optBaseline(Path.of("model-fp32.onnx"))
 *         .build()
 *         .evaluate();
 * }</pre>
 */
public final class Evaluator implements ModelCheck<EvalReport> {
    private final ModelRef model;
    private final Dataset data;
    private final ModelRef baseline;
    private final int batchSize;
    private final Progress progress;
    private final RuntimeOptions runtimeOptions;
    private final String outputName;
    private final PredictionListener listener;

    private Evaluator(Builder b) {
        this.model = b.model;
        this.data = b.data;
        this.baseline = b.baseline;
        this.batchSize = b.batchSize();
        this.progress = b.progress();
        this.runtimeOptions = b.runtimeOptions;
        this.outputName = b.outputName;
        this.listener = b.listener;
    }

    /**
     * Receives every sample's label and top-1 predictions, in data order, as the evaluation counts it: for paired
     * comparisons later (another run's predictions on the same data) and confusion tables.
     */
    @FunctionalInterface
    public interface PredictionListener {
        /**
         * @param label the true class
         * @param predicted the model's highest-scoring class (the lowest index wins a tie)
         * @param baselinePredicted the baseline model's, or -1 without a baseline
         */
        void sample(int label, int predicted, int baselinePredicted);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Runs the evaluation. Each call opens the models afresh and reads the data again.
     *
     * @throws CompressException BAD_INPUT naming the data if it has no labels or no samples, naming the model if its
     *     output does not fit the data's classes, naming a sample file if it has no label or cannot be read
     */
    public EvalReport evaluate() {
        return run(PassContext.of(progress));
    }

    @Override
    public String id() {
        return "evaluate";
    }

    /** Runs with the context's progress instead of the builder's. */
    @Override
    public EvalReport run(PassContext context) {
        List<String> classes = data.classNames();
        if (classes.isEmpty()) {
            throw CompressException.badInput(data.source(), data instanceof NpyDataset
                    ? "has no labels; evaluation of .npy samples needs labels.npy beside them (a 1-D integer array,"
                            + " one class index per sample, in sample order)"
                    : "has no labels; evaluation needs labeled samples (class folders, or a labels file)");
        }
        if (data.size() == 0) {
            throw CompressException.badInput(data.source(), "has no samples to evaluate");
        }
        Tally tally = new Tally(classes.size());
        // a null baseline runner is skipped by try-with-resources
        try (Runner runner = new Runner(model, runtimeOptions, outputName);
                Runner baselineRunner = baseline == null ? null : new Runner(baseline, runtimeOptions, outputName)) {
            data.forEachBatch(batchSize, context.progress(), "evaluate", batch -> {
                float[] scores = runner.scores(batch, classes.size(), data);
                float[] baselineScores = baselineRunner == null
                        ? null : baselineRunner.scores(batch, classes.size(), data);
                int[] labels = batch.labels();
                for (int i = 0; i < batch.size(); i++) {
                    int label = checkLabel(labels[i], classes.size(), batch.sources().get(i));
                    tally.add(label, scores, baselineScores, i * classes.size());
                    if (listener != null) {
                        listener.sample(label, Tally.argmax(scores, i * classes.size(), classes.size()),
                                baselineScores == null ? -1
                                        : Tally.argmax(baselineScores, i * classes.size(), classes.size()));
                    }
                }
            });
        }
        return tally.report(model.name(), data.source().toString(), classes,
                baseline == null ? null : baseline.name());
    }

    private static int checkLabel(int label, int classes, Path source) {
        if (label < 0) {
            throw CompressException.badInput(source, "has no label; evaluation needs a label for every sample");
        }
        if (label >= classes) {
            throw CompressException.badInput(source, "label " + label + " is outside the " + classes + " classes");
        }
        return label;
    }

    /** A model to open: a file (opened by ONNX Runtime directly, so external data works) or one in memory. */
    private record ModelRef(Path file, OnnxModel inMemory) {
        String name() {
            return inMemory != null ? inMemory.displayName() : file.toString();
        }

        OrtModel open(RuntimeOptions options) {
            return inMemory != null ? OrtModel.open(inMemory, options) : OrtModel.open(file, options);
        }

        /** An error naming the model: by its file when it has one. */
        CompressException badInput(String problem) {
            Path source = inMemory != null ? inMemory.source().orElse(null) : file;
            return source != null
                    ? CompressException.badInput(source, problem)
                    : CompressException.badInput("model " + name() + ": " + problem);
        }
    }

    /** One open model and the output it is scored on. */
    private static final class Runner implements AutoCloseable {
        private final ModelRef ref;
        private final OrtModel session;
        private final String output;
        private final Set<String> inputs;

        Runner(ModelRef ref, RuntimeOptions options, String requestedOutput) {
            this.ref = ref;
            this.session = ref.open(options);
            try {
                List<String> outputs = session.outputNames();
                if (requestedOutput != null && !outputs.contains(requestedOutput)) {
                    throw ref.badInput("has no output '" + requestedOutput + "' (outputs: "
                            + String.join(", ", outputs) + ")");
                }
                this.output = requestedOutput != null ? requestedOutput : outputs.get(0);
                this.inputs = session.inputShapes().keySet();
            } catch (RuntimeException e) {
                // the caller's try-with-resources never sees a runner that failed to construct
                session.close();
                throw e;
            }
        }

        /** Class scores of the batch, row-major [N, classes]. */
        float[] scores(Batch batch, int classes, Dataset data) {
            if (!inputs.equals(batch.inputs().keySet())) {
                // caught here because ONNX Runtime's own message names neither the model nor the data
                throw ref.badInput("takes inputs " + inputs + " but the data provides " + batch.inputs().keySet());
            }
            OrtModel.FloatOutput out = session.run(batch, Set.of(output)).get(output);
            long[] shape = out.shape();
            boolean classifier = (shape.length == 2 || (shape.length == 4 && shape[2] == 1 && shape[3] == 1))
                    && shape[0] == batch.size();
            if (!classifier) {
                throw ref.badInput("output '" + output + "' has shape " + Arrays.toString(shape) + " for "
                        + batch.size() + " samples; a classifier output is [N, classes] or [N, classes, 1, 1]");
            }
            if (shape[1] != classes) {
                throw ref.badInput("output '" + output + "' has " + shape[1] + " classes, the data ("
                        + data.source() + ") has " + classes);
            }
            return out.values();
        }

        @Override
        public void close() {
            session.close();
        }
    }

    /** Builds an {@link Evaluator}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder extends BaseBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }

        private ModelRef model;
        private Dataset data;
        private ModelRef baseline;
        private RuntimeOptions runtimeOptions = RuntimeOptions.defaults();
        private String outputName;
        private PredictionListener listener;

        private Builder() {}

        /** Called with every sample's label and predictions, in data order. Default: none. */
        public Builder optPredictionListener(PredictionListener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /** The model to evaluate, in memory. */
        public Builder setModel(OnnxModel model) {
            this.model = new ModelRef(null, Objects.requireNonNull(model, "model"));
            return this;
        }

        /** The model to evaluate, as a file (external data beside it is found by ONNX Runtime). */
        public Builder setModel(Path model) {
            this.model = new ModelRef(Objects.requireNonNull(model, "model"), null);
            return this;
        }

        /** Labeled samples whose batches carry the model's inputs. */
        public Builder setData(Dataset data) {
            this.data = Objects.requireNonNull(data, "data");
            return this;
        }

        /** A reference model (typically the uncompressed one) run on the same batches. Default: none. */
        public Builder optBaseline(OnnxModel baseline) {
            this.baseline = new ModelRef(null, Objects.requireNonNull(baseline, "baseline"));
            return this;
        }

        /** A reference model file run on the same batches. Default: none. */
        public Builder optBaseline(Path baseline) {
            this.baseline = new ModelRef(Objects.requireNonNull(baseline, "baseline"), null);
            return this;
        }



        /** ONNX Runtime session settings for both models. Default: {@link RuntimeOptions#defaults()}. */
        public Builder optRuntimeOptions(RuntimeOptions runtimeOptions) {
            this.runtimeOptions = Objects.requireNonNull(runtimeOptions, "runtimeOptions");
            return this;
        }

        /**
         * The output holding class scores, for models with several outputs; the baseline must have it too.
         * Default: each model's first output.
         */
        public Builder optOutputName(String outputName) {
            this.outputName = Objects.requireNonNull(outputName, "outputName");
            return this;
        }

        /** @throws IllegalStateException if the model or the data is not set */
        public Evaluator build() {
            if (model == null || data == null) {
                throw new IllegalStateException("setModel and setData are required");
            }
            return new Evaluator(this);
        }
    }
}
