package dev.compress.calibrate;

import dev.compress.BaseBuilder;

/**
 * Options of every builder that calibrates ({@link Calibrator}, and the quantizer that runs one): which samples are
 * observed and how many ONNX Runtime sessions observe them. None of them changes the table.
 *
 * @param <T> the concrete builder
 */
public abstract class CalibrationBuilder<T extends CalibrationBuilder<T>> extends BaseBuilder<T> {
    /** Histograms come from at most this many samples unless told otherwise (see {@link #optHistogramSamples}). */
    public static final int DEFAULT_HISTOGRAM_SAMPLES = 512;

    /**
     * The sample and session settings, to hand from one builder to another.
     *
     * @param maxSamples samples calibrated on, spread evenly over the data (0 = all)
     * @param histogramSamples samples histograms are built from (0 = all)
     * @param sessions ONNX Runtime sessions run in parallel
     * @param intraOpThreads threads of each session (0 = ONNX Runtime's choice)
     */
    public record Sampling(int maxSamples, int histogramSamples, int sessions, int intraOpThreads) {}

    private Sampling sampling = new Sampling(0, DEFAULT_HISTOGRAM_SAMPLES, defaultSessions(), 1);

    /** One session per available core. */
    public static int defaultSessions() {
        return Runtime.getRuntime().availableProcessors();
    }

    public Sampling sampling() {
        return sampling;
    }

    /** Takes all sample and session settings from another builder's {@link #sampling()}. */
    public T optSampling(Sampling sampling) {
        this.sampling = sampling;
        return self();
    }

    /**
     * Uses at most this many samples (0 = all, the default), spread evenly over the dataset's fixed order, so a
     * class-sorted folder still gives every class.
     */
    public T optMaxSamples(int maxSamples) {
        sampling = new Sampling(atLeast(0, maxSamples, "max samples"), sampling.histogramSamples(),
                sampling.sessions(), sampling.intraOpThreads());
        return self();
    }

    /**
     * Histograms are built from at most this many samples, spread evenly over the calibration samples (default
     * {@value #DEFAULT_HISTOGRAM_SAMPLES}; 0 = all); the extremes always come from every sample. Fetching whole
     * tensors out of ONNX Runtime and binning every value costs 2-5x plain inference, while a 2048-bin histogram
     * has long converged after a few hundred samples.
     */
    public T optHistogramSamples(int histogramSamples) {
        sampling = new Sampling(sampling.maxSamples(), atLeast(0, histogramSamples, "histogram samples"),
                sampling.sessions(), sampling.intraOpThreads());
        return self();
    }

    /**
     * ONNX Runtime sessions run in parallel (default: one per core), each with {@code intraOpThreads} threads
     * (default 1; 0 = ONNX Runtime's choice). The table does not depend on either.
     */
    public T optThreads(int sessions, int intraOpThreads) {
        sampling = new Sampling(sampling.maxSamples(), sampling.histogramSamples(),
                atLeast(1, sessions, "sessions"), atLeast(0, intraOpThreads, "intra-op threads"));
        return self();
    }
}
