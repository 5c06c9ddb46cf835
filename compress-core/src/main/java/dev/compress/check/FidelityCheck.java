package dev.compress.check;

import dev.compress.BaseBuilder;
import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.data.ModelInputs;
import dev.compress.debug.LayerDebugger;
import dev.compress.debug.LayerReport;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.ModelCheck;
import dev.compress.pipeline.PassContext;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.OrtModel.FloatOutput;
import dev.compress.runtime.RuntimeOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Compares a quantized model with the fp32 model it came from on calibration samples that calibration did not use,
 * so that a destroyed model never passes silently: per float output, top-1 agreement when it looks like class scores
 * ({@code [N, C]}, or {@code [N, T, C]} rows of probabilities, agreeing only when every row does), and always the mean
 * cosine and the SQNR. The lowest score (agreement for classifiers, cosine
 * otherwise) is the model's fidelity; below a threshold the report names the worst layers of the layer-wise debug
 * ranking ({@link LayerDebugger}, run on a few of the samples) so the user knows what to exclude.
 *
 * <p>Samples: those of the calibration data that calibration left out (it used {@code calibratedSamples} spread
 * evenly), else, when it used them all, a fixed subset of them (or any of held-out data, {@link
 * Builder#optNotCalibratedOn}); at most {@link #DEFAULT_SAMPLES} by default, spread
 * evenly (see {@link HeldApart}). The data is read once more.
 *
 * <pre>{@code
 * FidelityReport report = FidelityCheck.builder()
 *         .setFloatModel(fp32)
 *         .setQuantizedModel(result.model())
 *         .setData(calibrationData)
 *         .build()
 *         .run(PassContext.silent());
 * }</pre>
 */
public final class FidelityCheck implements ModelCheck<FidelityReport> {
    /**
     * Fidelity below which the report warns. Working INT8 models agree with fp32 on 99.5-99.8% of the Fashion-MNIST
     * fixtures' top-1 classes (docs/benchmarks.md); text-encoder cosines of 0.76-0.92 and an OCR output cosine of
     * 0.48 were the silent failures this check exists for (issue 12).
     */
    public static final double DEFAULT_WARN_BELOW = 0.95;
    /** Samples compared unless told otherwise. */
    public static final int DEFAULT_SAMPLES = 100;
    /** Samples the layer ranking runs on: it fetches every activation of both models. */
    static final int RANKING_SAMPLES = 16;
    /** Layers named when below a threshold. */
    static final int WORST_LAYERS = 3;

    private final OnnxModel fp32;
    private final OnnxModel int8;
    private final Dataset data;
    private final int calibratedSamples;
    private final boolean calibratedOn;
    private final int maxSamples;
    private final double warnBelow;
    private final Double minFidelity;
    private final boolean layerRanking;
    private final RuntimeOptions runtimeOptions;
    private final int batchSize;
    private final Progress progress;

    private FidelityCheck(Builder b) {
        this.fp32 = b.fp32;
        this.int8 = b.int8;
        this.data = b.data;
        this.calibratedSamples = b.calibratedSamples;
        this.calibratedOn = b.calibratedOn;
        this.maxSamples = b.maxSamples;
        this.warnBelow = b.warnBelow;
        this.minFidelity = b.minFidelity;
        this.layerRanking = b.layerRanking;
        this.runtimeOptions = b.runtimeOptions;
        this.batchSize = ModelInputs.batchSize(b, b.fp32, b.data);
        this.progress = b.progress();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public String id() {
        return "fidelity";
    }

    /** Runs with the builder's progress. */
    public FidelityReport run() {
        return run(PassContext.of(progress));
    }

    /**
     * @throws CompressException BAD_INPUT if the data has no samples or ONNX Runtime fails on them
     */
    @Override
    public FidelityReport run(PassContext context) {
        HeldApart samples = HeldApart.of(data, calibratedSamples, maxSamples, calibratedOn);
        if (samples.size() == 0) {
            throw CompressException.badInput(data.source(), "has no samples to check fidelity on");
        }
        Map<String, OutputTally> tallies = new LinkedHashMap<>();
        try (OrtModel a = OrtModel.open(fp32, runtimeOptions); OrtModel b = OrtModel.open(int8, runtimeOptions)) {
            Set<String> names = new LinkedHashSet<>(a.outputNames());
            names.removeAll(a.nonFloatOutputs());
            names.retainAll(b.outputNames());
            names.removeAll(b.nonFloatOutputs());
            samples.forEachBatch(batchSize, context.progress(), "check fidelity", batch -> {
                Map<String, FloatOutput> reference = a.run(batch, names);
                Map<String, FloatOutput> quantized = b.run(batch, names);
                for (String name : names) {
                    tallies.computeIfAbsent(name, n -> new OutputTally(ModelInputs.outputBatchAxis(fp32, name)))
                            .add(name, reference.get(name), quantized.get(name), batch.size());
                }
            });
        }
        List<FidelityReport.Output> outputs = new ArrayList<>();
        tallies.forEach((name, tally) -> outputs.add(tally.output(name)));
        Double fidelity = outputs.stream().mapToDouble(FidelityReport.Output::score).boxed()
                .min(Double::compare).orElse(null);
        boolean below = fidelity != null
                && (fidelity < warnBelow || (minFidelity != null && fidelity < minFidelity));
        Boolean passed = minFidelity == null ? null : fidelity == null || fidelity >= minFidelity;
        LayerReport ranking = null;
        String rankingNote = null;
        if (below && layerRanking) {
            try {
                ranking = rankLayers(HeldApart.of(data, calibratedSamples, RANKING_SAMPLES, calibratedOn), context);
            } catch (CompressException e) {
                rankingNote = "the layer ranking could not match the models: " + e.getMessage();
            }
        }
        List<FidelityReport.Layer> worst = ranking == null ? null : ranking.layers().stream()
                .filter(l -> l.sqnrDb() != null)
                .limit(WORST_LAYERS)
                .map(l -> new FidelityReport.Layer(l.node(), l.opType(), l.sqnrDb(), l.excludable()))
                .toList();
        return new FidelityReport(data.source().toString(), samples.size(), samples.heldOut(), fidelity, warnBelow,
                minFidelity, below, passed, outputs, ranking == null ? null : ranking.errorGrowth(), worst,
                rankingNote);
    }

    private LayerReport rankLayers(Dataset few, PassContext context) {
        return LayerDebugger.builder()
                .setFloatModel(fp32)
                .setQuantizedModel(int8)
                .setData(few)
                .optBatchSize(1) // it fetches every activation of both models: a transformer's fill the heap at 32
                .build()
                .run(context);
    }

    /** Running sums of one output over all samples. */
    private static final class OutputTally {
        /** The axis the output holds its samples on (an RNN state [layers, batch, hidden]: 1). */
        private final int batchAxis;
        private long[] sampleShape;
        /** Rows of class probabilities per sample ([N, T, C], e.g. a CTC recogniser): decided on the first batch. */
        private boolean probabilitySequence;
        private long samples;
        private long agreements;
        private double cosineSum;
        private double signal;
        private double noise;
        /** Σ x·y and Σ y² over all values: the cosine of an output of one value per sample is taken over samples. */
        private double crossSum;
        private double quantizedEnergy;

        OutputTally(int batchAxis) {
            this.batchAxis = batchAxis;
        }

        void add(String name, FloatOutput reference, FloatOutput quantized, int batch) {
            long[] shape = reference.shape();
            int batchAxis = axisOf(shape, batch);
            // one sample's output is the whole tensor, whichever axis its batch would be on
            boolean single = batch == 1 && (shape.length <= batchAxis || shape[batchAxis] != 1);
            if (!Arrays.equals(shape, quantized.shape()) || !single && (shape.length <= batchAxis
                    || shape[batchAxis] != batch)) {
                throw CompressException.badInput("output '" + name + "' has shape " + Arrays.toString(shape)
                        + " in the fp32 model and " + Arrays.toString(quantized.shape()) + " in the quantized one"
                        + " for " + batch + " samples; expected the same, with the samples on axis " + batchAxis);
            }
            long[] perSample = single ? shape : new long[shape.length - 1];
            if (!single) {
                System.arraycopy(shape, 0, perSample, 0, batchAxis);
                System.arraycopy(shape, batchAxis + 1, perSample, batchAxis, shape.length - batchAxis - 1);
            }
            float[] x = single ? reference.values() : batchFirst(reference.values(), shape, batchAxis);
            float[] y = single ? quantized.values() : batchFirst(quantized.values(), shape, batchAxis);
            if (sampleShape == null) {
                sampleShape = perSample;
                probabilitySequence = perSample.length == 2 && perSample[1] > 1 && rowsAreProbabilities(x,
                        (int) perSample[1]);
            }
            boolean classifier = classifier();
            int width = reference.values().length / batch;
            for (int s = 0; s < batch; s++) {
                int from = s * width;
                double dot = 0;
                double xx = 0;
                double yy = 0;
                int argX = 0;
                int argY = 0;
                for (int i = 0; i < width; i++) {
                    double xi = x[from + i];
                    double yi = y[from + i];
                    dot += xi * yi;
                    xx += xi * xi;
                    yy += yi * yi;
                    noise += (xi - yi) * (xi - yi);
                    if (xi > x[from + argX]) {
                        argX = i;
                    }
                    if (yi > y[from + argY]) {
                        argY = i;
                    }
                }
                signal += xx;
                crossSum += dot;
                quantizedEnergy += yy;
                cosineSum += cosine(dot, xx, yy);
                if (probabilitySequence ? everyRowAgrees(x, y, from, width, (int) sampleShape[1])
                        : classifier && argX == argY) {
                    agreements++;
                }
            }
            samples += batch;
        }

        /**
         * Class scores: one vector of more than one class per sample, or rows of class probabilities, where a sample
         * agrees only when its top-1 agrees in every row: a recogniser's decoded string changes with any row, and
         * the rows' cosine hides that (PP-OCRv4 rec: cosine 0.956 while 17.5% of the strings differed).
         */
        private boolean classifier() {
            return sampleShape.length == 1 && sampleShape[0] > 1 || probabilitySequence;
        }

        /**
         * The model's batch axis of this output when it holds {@code batch}; else the one axis that does (unnamed
         * dims: the user said where the inputs' samples are, not the outputs').
         */
        private int axisOf(long[] shape, int batch) {
            if (shape.length > batchAxis && shape[batchAxis] == batch) {
                return batchAxis;
            }
            int found = -1;
            for (int a = 0; a < shape.length; a++) {
                if (shape[a] == batch) {
                    if (found >= 0) {
                        return batchAxis;
                    }
                    found = a;
                }
            }
            return found >= 0 ? found : batchAxis;
        }

        /** {@code values} of {@code shape} reordered so that each sample's values are contiguous. */
        private static float[] batchFirst(float[] values, long[] shape, int axis) {
            if (axis == 0) {
                return values;
            }
            int outer = (int) HostTensor.elementCount(Arrays.copyOfRange(shape, 0, axis));
            int n = (int) shape[axis];
            int inner = values.length / outer / n;
            float[] moved = new float[values.length];
            for (int o = 0; o < outer; o++) {
                for (int s = 0; s < n; s++) {
                    System.arraycopy(values, (o * n + s) * inner, moved, (s * outer + o) * inner, inner);
                }
            }
            return moved;
        }

        private static boolean rowsAreProbabilities(float[] values, int classes) {
            for (int row = 0; row < values.length / classes; row++) {
                double sum = 0;
                for (int c = 0; c < classes; c++) {
                    float v = values[row * classes + c];
                    if (!(v >= 0 && v <= 1)) {
                        return false;
                    }
                    sum += v;
                }
                if (Math.abs(sum - 1) > 1e-3) {
                    return false;
                }
            }
            return true;
        }

        private static boolean everyRowAgrees(float[] x, float[] y, int from, int width, int classes) {
            for (int row = from; row < from + width; row += classes) {
                int argX = row;
                int argY = row;
                for (int i = row; i < row + classes; i++) {
                    argX = x[i] > x[argX] ? i : argX;
                    argY = y[i] > y[argY] ? i : argY;
                }
                if (argX != argY) {
                    return false;
                }
            }
            return true;
        }

        FidelityReport.Output output(String name) {
            double sqnr = 10 * Math.log10(signal / noise);
            // one value per sample (a wake-word score, a regression): its own cosine is 1 whenever the signs agree
            // (openWakeWord's hey_jarvis scored 1.0000), so the samples' values make the vector
            boolean scalar = HostTensor.elementCount(sampleShape) == 1;
            return new FidelityReport.Output(name, classifier(),
                    classifier() ? (double) agreements / samples : null,
                    scalar ? cosine(crossSum, signal, quantizedEnergy) : cosineSum / samples,
                    noise == 0 || !Double.isFinite(sqnr) ? null : sqnr);
        }

        /** Two zero vectors are the same output; one zero vector shares no direction with the other. */
        private static double cosine(double dot, double xx, double yy) {
            return xx == 0 && yy == 0 ? 1 : xx == 0 || yy == 0 ? 0 : dot / Math.sqrt(xx * yy);
        }
    }

    /** Configures a {@link FidelityCheck}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder extends BaseBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }

        private OnnxModel fp32;
        private OnnxModel int8;
        private Dataset data;
        private int calibratedSamples;
        private boolean calibratedOn = true;
        private int maxSamples = DEFAULT_SAMPLES;
        private double warnBelow = DEFAULT_WARN_BELOW;
        private Double minFidelity;
        private boolean layerRanking = true;
        private RuntimeOptions runtimeOptions = RuntimeOptions.defaults();

        private Builder() {}

        /** The fp32 model the quantized one came from. */
        public Builder setFloatModel(OnnxModel fp32) {
            this.fp32 = Objects.requireNonNull(fp32, "fp32");
            return this;
        }

        /** The quantized model (static QDQ or dynamic); it must take the same inputs and give the same outputs. */
        public Builder setQuantizedModel(OnnxModel int8) {
            this.int8 = Objects.requireNonNull(int8, "int8");
            return this;
        }

        /** The calibration data (or any samples of the model's inputs); labels are not needed. */
        public Builder setData(Dataset data) {
            this.data = Objects.requireNonNull(data, "data");
            return this;
        }

        /**
         * How many samples of the data calibration used, spread evenly (the calibrator's selection; 0 = all, the
         * default): the check takes the others, or a fixed subset of all when none is left.
         */
        public Builder optCalibratedSamples(int calibratedSamples) {
            this.calibratedSamples = atLeast(0, calibratedSamples, "calibrated samples");
            return this;
        }

        /** The data is held-out data that calibration never saw (e.g. evaluation data): any sample may be taken. */
        public Builder optNotCalibratedOn() {
            this.calibratedOn = false;
            return this;
        }

        /** Compares at most this many samples (default {@value #DEFAULT_SAMPLES}). */
        public Builder optMaxSamples(int maxSamples) {
            this.maxSamples = atLeast(1, maxSamples, "fidelity samples");
            return this;
        }

        /** Warns below this fidelity (default {@value #DEFAULT_WARN_BELOW}), in [0, 1]. */
        public Builder optWarnBelow(double warnBelow) {
            this.warnBelow = unit(warnBelow, "fidelity warning threshold");
            return this;
        }

        /** Fails ({@link FidelityReport#passed()} false) below this fidelity, in [0, 1]; {@code null}: never. */
        public Builder optMinFidelity(Double minFidelity) {
            this.minFidelity = minFidelity == null ? null : unit(minFidelity, "minimum fidelity");
            return this;
        }

        /** Whether a fidelity below a threshold runs the layer ranking to name the worst layers (default: yes). */
        public Builder optLayerRanking(boolean layerRanking) {
            this.layerRanking = layerRanking;
            return this;
        }

        /** ONNX Runtime settings of both sessions. Default: {@link RuntimeOptions#defaults()}. */
        public Builder optRuntimeOptions(RuntimeOptions runtimeOptions) {
            this.runtimeOptions = Objects.requireNonNull(runtimeOptions, "runtimeOptions");
            return this;
        }

        private static double unit(double value, String what) {
            if (!(value >= 0 && value <= 1)) {
                throw CompressException.invalidSettings(what + " must be in [0, 1], got " + value);
            }
            return value;
        }

        /** @throws IllegalStateException if a model or the data is not set */
        public FidelityCheck build() {
            if (fp32 == null || int8 == null || data == null) {
                throw new IllegalStateException("setFloatModel, setQuantizedModel and setData are required");
            }
            return new FidelityCheck(this);
        }
    }
}
