package dev.compress.check;

import dev.compress.BaseBuilder;
import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.ModelCheck;
import dev.compress.pipeline.PassContext;
import dev.compress.runtime.InterleavedTiming;
import dev.compress.runtime.KernelProfile;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.List;
import java.util.Objects;

/**
 * Times a quantized model against its fp32 source in ONNX Runtime on the first batches of real inputs, calls of the
 * two interleaved in short runs ({@link InterleavedTiming}) for about {@link Builder#optSeconds} in all, so that load
 * from other processes falls on both alike. An INT8 model is not automatically faster: float ops between Q/DQ pairs
 * that ONNX Runtime cannot fuse cost a dequantize and a quantize each (issue 12 measured 1.0-1.3x slower models).
 *
 * <pre>{@code
 * LatencyReport latency = LatencyCheck.builder()
 *         .setFloatModel(fp32)
 *         .setQuantizedModel(result.model())
 *         .setData(calibrationData)
 *         .optThreads(2)
 *         .build()
 *         .run();
 * }</pre>
 */
public final class LatencyCheck implements ModelCheck<LatencyReport> {
    /** Seconds of timed calls unless told otherwise. */
    public static final double DEFAULT_SECONDS = 3;
    /** Rounds of interleaved runs; the ratio is their median. */
    static final int ROUNDS = 5;
    /** Batches of the data held in memory and cycled through. */
    static final int BATCHES = 4;
    /**
     * INT8/fp32 time above which the report says where the time goes ({@link KernelTimes}). 8-bit kernels take
     * 0.35-0.6 of the float time on ResNets and MobileNetV2 (docs/benchmarks.md); a model above 0.70 gains less than
     * its convolutions would suggest, and the profile names the ops that eat the gain.
     */
    public static final double EXPLAIN_ABOVE = 0.70;
    /**
     * Profiled calls of each model at most, after as many warm-up calls up to {@link #PROFILE_WARMUP}; fewer when a
     * call is slow.
     */
    static final int PROFILE_CALLS = 20;
    static final int PROFILE_WARMUP = 10;

    private final OnnxModel fp32;
    private final OnnxModel int8;
    private final Dataset data;
    private final int threads;
    private final double seconds;
    private final int batchSize;
    private final Progress progress;

    private LatencyCheck(Builder b) {
        this.fp32 = b.fp32;
        this.int8 = b.int8;
        this.data = b.data;
        this.threads = b.threads;
        this.seconds = b.seconds;
        this.batchSize = ModelInputs.batchSize(b, b.fp32, b.data);
        this.progress = b.progress();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public String id() {
        return "latency";
    }

    public LatencyReport run() {
        return run(PassContext.of(progress));
    }

    /** @throws CompressException BAD_INPUT if the data has no samples or ONNX Runtime fails on them */
    @Override
    public LatencyReport run(PassContext context) {
        List<Batch> batches = data.firstBatches(batchSize, BATCHES);
        if (batches.isEmpty()) {
            throw CompressException.badInput(data.source(), "has no samples to time the models on");
        }
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(threads);
        try (OrtModel a = OrtModel.open(fp32, options); OrtModel b = OrtModel.open(int8, options)) {
            List<OrtModel> sessions = List.of(a, b);
            // both models run the same number of calls, sized so the slower one's share fits the budget
            int[] sized = InterleavedTiming.callsPerRound(sessions, batches.get(0), seconds / (2 * ROUNDS),
                    Integer.MAX_VALUE);
            int calls = Math.min(sized[0], sized[1]);
            InterleavedTiming.Times times = InterleavedTiming.measure(sessions, batches, ROUNDS,
                    new int[] {calls, calls}, 1);
            double ratio = times.ratio(1, 0);
            KernelTimes kernels = null;
            if (ratio > EXPLAIN_ABOVE) {
                // about as long as one round of the timing, which sized its calls to a share of the budget; warm-up
                // scaled alike, so a model of a second a call is not run ten times more
                int profiled = Math.max(1, Math.min(PROFILE_CALLS, calls));
                int warmup = Math.min(PROFILE_WARMUP, profiled);
                kernels = KernelTimes.of(KernelProfile.measure(fp32, options, batches, profiled, warmup),
                        KernelProfile.measure(int8, options, batches, profiled, warmup));
            }
            return new LatencyReport(ratio, times.medianMs(0), times.medianMs(1), batches.get(0).size(), threads,
                    times.timedCalls(0), ratio > 1, RuntimeGraph.of(int8, options), kernels);
        }
    }

    /** Configures a {@link LatencyCheck}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder extends BaseBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }

        private OnnxModel fp32;
        private OnnxModel int8;
        private Dataset data;
        private int threads = Runtime.getRuntime().availableProcessors();
        private double seconds = DEFAULT_SECONDS;

        private Builder() {}

        /** The fp32 model the quantized one came from. */
        public Builder setFloatModel(OnnxModel fp32) {
            this.fp32 = Objects.requireNonNull(fp32, "fp32");
            return this;
        }

        /** The quantized model. */
        public Builder setQuantizedModel(OnnxModel int8) {
            this.int8 = Objects.requireNonNull(int8, "int8");
            return this;
        }

        /** Inputs to time the models on (the calibration data); its first batches are used. */
        public Builder setData(Dataset data) {
            this.data = Objects.requireNonNull(data, "data");
            return this;
        }

        /** ONNX Runtime intra-op threads of each session (default: one per core). */
        public Builder optThreads(int threads) {
            this.threads = atLeast(1, threads, "threads");
            return this;
        }

        /** About how long the timed calls take in all (default {@value #DEFAULT_SECONDS} s), above 0. */
        public Builder optSeconds(double seconds) {
            if (!(seconds > 0) || Double.isInfinite(seconds)) {
                throw CompressException.invalidSettings("latency seconds must be a positive number, got " + seconds);
            }
            this.seconds = seconds;
            return this;
        }

        /** @throws IllegalStateException if a model or the data is not set */
        public LatencyCheck build() {
            if (fp32 == null || int8 == null || data == null) {
                throw new IllegalStateException("setFloatModel, setQuantizedModel and setData are required");
            }
            return new LatencyCheck(this);
        }
    }
}
