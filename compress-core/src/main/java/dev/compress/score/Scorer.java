package dev.compress.score;

import dev.compress.BaseBuilder;
import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.Dataset;
import dev.compress.pipeline.ModelCheck;
import dev.compress.pipeline.PassContext;
import dev.compress.runtime.OrtModel.FloatOutput;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Scores a student model against its teacher on the same samples: KL divergence of softened outputs, top-1
 * agreement, top-5 overlap, cosine similarity and MSE of the outputs, per-class agreement when the data has labels,
 * and the elementwise differences that judge an export (TorchScript against its ONNX export).
 *
 * <p>Teacher and student are each an ONNX model ({@code .onnx}, run by ONNX Runtime) or a TorchScript checkpoint
 * ({@code .pt}, {@code .pth}, {@code .ts}; run by DJL's PyTorch engine, offline). Both get the same batches; each
 * model's first output is compared. Only running statistics are kept, so memory does not grow with the number of
 * samples.
 *
 * <pre>{@code
 * ScoreReport report = Scorer.builder()
 *         .setTeacher(Path.of("resnet-fp32.pt"))
 *         .setStudent(Path.of("cnn-fp32.onnx"))
 *         .setData(dataset)
 *         .optTemperatures(1, 4)
 *         .build()
 *         .score();
 * }</pre>
 */
public final class Scorer implements ModelCheck<ScoreReport> {
    /** What the compared outputs are. */
    public enum Outputs {
        /** Class scores ({@code [N, C]} or {@code [N, C, 1, 1]}): every metric. */
        LOGITS,
        /** Any other vectors ({@code [N, ...]}, flattened per sample): cosine, MSE and differences only. */
        EMBEDDING
    }

    /** Default relative tolerance of export parity: max |Δ| / max |teacher|. */
    public static final double DEFAULT_PARITY_TOLERANCE = 1e-4;

    private final Path teacher;
    private final Path student;
    private final Dataset data;
    private final double[] temperatures;
    private final Outputs outputs;
    private final double parityTolerance;
    private final int batchSize;
    private final Progress progress;
    private final RuntimeOptions runtimeOptions;

    private Scorer(Builder b) {
        this.teacher = b.teacher;
        this.student = b.student;
        this.data = b.data;
        this.temperatures = b.temperatures;
        this.outputs = b.outputs;
        this.parityTolerance = b.parityTolerance;
        this.batchSize = b.batchSize();
        this.progress = b.progress();
        this.runtimeOptions = b.runtimeOptions;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Runs both models over the data once.
     *
     * @throws CompressException BAD_INPUT naming the data if it has no samples, naming a model if its inputs or
     *     output shape do not fit the other model or the data, or if it cannot be loaded
     */
    public ScoreReport score() {
        return run(PassContext.of(progress));
    }

    @Override
    public String id() {
        return "score";
    }

    /** Runs with the context's progress instead of the builder's. */
    @Override
    public ScoreReport run(PassContext context) {
        if (data.size() == 0) {
            throw CompressException.badInput(data.source(), "has no samples to score");
        }
        try (Checkpoint t = Checkpoint.open(teacher, runtimeOptions);
                Checkpoint s = Checkpoint.open(student, runtimeOptions)) {
            checkInputs(t, s);
            // sized by the first batch's output shape
            ScoreTally[] tally = new ScoreTally[1];
            List<List<Long>> sampleShape = new ArrayList<>(1);
            data.forEachBatch(batchSize, context.progress(), "score", batch -> {
                FloatOutput teacherOut = t.run(batch);
                FloatOutput studentOut = s.run(batch);
                long[] shape = checkShapes(teacherOut, studentOut, batch.size());
                if (tally[0] == null) {
                    sampleShape.add(sampleShape(shape));
                    tally[0] = new ScoreTally(width(shape), outputs == Outputs.LOGITS, temperatures,
                            data.classNames());
                } else if (!sampleShape.get(0).equals(sampleShape(shape))) {
                    throw CompressException.badInput(teacher, "output shape changed between batches, from "
                            + sampleShape.get(0) + " to " + sampleShape(shape) + " per sample");
                }
                int width = width(shape);
                int[] labels = batch.labels();
                for (int i = 0; i < batch.size(); i++) {
                    tally[0].add(teacherOut.values(), studentOut.values(), i * width,
                            checkLabel(labels[i], batch.sources().get(i)));
                }
            });
            return tally[0].report(teacher.toString(), student.toString(), data.source().toString(),
                    sampleShape.get(0), parityTolerance);
        }
    }

    private void checkInputs(Checkpoint t, Checkpoint s) {
        Optional<Set<String>> teacherInputs = t.inputNames();
        Optional<Set<String>> studentInputs = s.inputNames();
        if (teacherInputs.isPresent() && studentInputs.isPresent()
                && !teacherInputs.get().equals(studentInputs.get())) {
            throw CompressException.badInput(student, "takes inputs " + studentInputs.get() + " but the teacher "
                    + teacher + " takes " + teacherInputs.get() + "; both must read the same inputs");
        }
    }

    private long[] checkShapes(FloatOutput teacherOut, FloatOutput studentOut, int samples) {
        long[] shape = teacherOut.shape();
        if (!Arrays.equals(shape, studentOut.shape())) {
            throw CompressException.badInput(student, "output shape " + Arrays.toString(studentOut.shape())
                    + " differs from the teacher's " + Arrays.toString(shape) + " (" + teacher + ")");
        }
        if (shape.length < 2 || shape[0] != samples) {
            throw CompressException.badInput(teacher, "output shape " + Arrays.toString(shape) + " for " + samples
                    + " samples; expected [N, ...] with N the batch size");
        }
        if (outputs == Outputs.LOGITS) {
            boolean classifier = shape.length == 2 || (shape.length == 4 && shape[2] == 1 && shape[3] == 1);
            if (!classifier) {
                throw CompressException.badInput(teacher, "output shape " + Arrays.toString(shape) + " is not class"
                        + " scores ([N, C] or [N, C, 1, 1]); score it as an embedding");
            }
            int classes = data.classNames().size();
            if (classes > 0 && shape[1] != classes) {
                throw CompressException.badInput(teacher, "output has " + shape[1] + " classes, the data ("
                        + data.source() + ") has " + classes);
            }
        }
        return shape;
    }

    private static List<Long> sampleShape(long[] shape) {
        List<Long> dims = new ArrayList<>();
        for (int i = 1; i < shape.length; i++) {
            dims.add(shape[i]);
        }
        return dims;
    }

    private static int width(long[] shape) {
        long width = 1;
        for (int i = 1; i < shape.length; i++) {
            width *= shape[i];
        }
        return Math.toIntExact(width);
    }

    private int checkLabel(int label, Path source) {
        if (label >= 0 && label >= data.classNames().size()) {
            throw CompressException.badInput(source, "label " + label + " is outside the "
                    + data.classNames().size() + " classes");
        }
        return label;
    }

    /** Configures a {@link Scorer}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder extends BaseBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }

        private Path teacher;
        private Path student;
        private Dataset data;
        private double[] temperatures = {1};
        private Outputs outputs = Outputs.LOGITS;
        private double parityTolerance = DEFAULT_PARITY_TOLERANCE;
        private RuntimeOptions runtimeOptions = RuntimeOptions.defaults();

        private Builder() {}

        /** The reference model: {@code .onnx}, or TorchScript {@code .pt}/{@code .pth}/{@code .ts}. */
        public Builder setTeacher(Path teacher) {
            this.teacher = Objects.requireNonNull(teacher, "teacher");
            return this;
        }

        /** The model judged against the teacher, in either format. */
        public Builder setStudent(Path student) {
            this.student = Objects.requireNonNull(student, "student");
            return this;
        }

        /** Samples whose batches carry the models' inputs; labels are optional. */
        public Builder setData(Dataset data) {
            this.data = Objects.requireNonNull(data, "data");
            return this;
        }

        /**
         * Softening temperatures of the KL divergence, each reported with its T² scaling. Default: 1.
         *
         * @throws CompressException BAD_INPUT for none, or a temperature that is not a positive finite number
         */
        public Builder optTemperatures(double... temperatures) {
            if (temperatures.length == 0) {
                throw CompressException.badInput("give at least one temperature");
            }
            for (double t : temperatures) {
                if (!(t > 0) || Double.isInfinite(t)) {
                    throw CompressException.badInput("temperature must be a positive number, got " + t);
                }
            }
            this.temperatures = temperatures.clone();
            return this;
        }

        /** Class scores (default) or embeddings. */
        public Builder optOutputs(Outputs outputs) {
            this.outputs = Objects.requireNonNull(outputs, "outputs");
            return this;
        }

        /**
         * The largest max |Δ| / max |teacher| of a faithful export. Default: {@value #DEFAULT_PARITY_TOLERANCE}.
         *
         * @throws CompressException BAD_INPUT unless positive and finite
         */
        public Builder optParityTolerance(double tolerance) {
            if (!(tolerance > 0) || Double.isInfinite(tolerance)) {
                throw CompressException.badInput("parity tolerance must be a positive number, got " + tolerance);
            }
            this.parityTolerance = tolerance;
            return this;
        }



        /** ONNX Runtime settings for ONNX models. Default: {@link RuntimeOptions#defaults()}. */
        public Builder optRuntimeOptions(RuntimeOptions runtimeOptions) {
            this.runtimeOptions = Objects.requireNonNull(runtimeOptions, "runtimeOptions");
            return this;
        }

        /** @throws IllegalStateException if the teacher, student or data is not set */
        public Scorer build() {
            if (teacher == null || student == null || data == null) {
                throw new IllegalStateException("setTeacher, setStudent and setData are required");
            }
            return new Scorer(this);
        }
    }
}
