package dev.compress;

/**
 * What every builder of the library takes besides its own settings, checked one way: samples per ONNX Runtime call
 * and where progress goes. In DJL's manner, {@code set*} methods are required and {@code opt*} optional; subclasses
 * return themselves through {@link #self()} so calls chain.
 *
 * @param <T> the concrete builder
 */
public abstract class BaseBuilder<T extends BaseBuilder<T>> {
    /** Samples per ONNX Runtime call unless a builder is told otherwise; results never depend on it. */
    public static final int DEFAULT_BATCH_SIZE = 32;

    protected int batchSize = DEFAULT_BATCH_SIZE;
    protected boolean batchSizeGiven;
    protected Progress progress = Progress.NONE;

    protected abstract T self();

    /**
     * Samples per ONNX Runtime call (default: for builders that run an ONNX model over data, what suits the model and
     * data, {@code ModelInputs.defaultBatchSize}: the batch the model fixes, 1 when it mixes samples, fewer for large
     * inputs; else {@value #DEFAULT_BATCH_SIZE}); results do not depend on it, memory and speed do.
     *
     * @throws CompressException INVALID_SETTINGS if below 1
     */
    public T optBatchSize(int batchSize) {
        this.batchSize = atLeast(1, batchSize, "batch size");
        this.batchSizeGiven = true;
        return self();
    }

    /** {@link #optBatchSize} when {@code batchSize} is not null, else nothing: for builders handing theirs on. */
    public T optBatchSizeIfGiven(Integer batchSize) {
        return batchSize == null ? self() : optBatchSize(batchSize);
    }

    /** Where progress of long loops goes (default: nowhere). */
    public T optProgress(Progress progress) {
        this.progress = progress == null ? Progress.NONE : progress;
        return self();
    }

    public int batchSize() {
        return batchSize;
    }

    /** Whether {@link #optBatchSize} was called, so a builder may choose a default that suits its model. */
    public boolean batchSizeGiven() {
        return batchSizeGiven;
    }

    public Progress progress() {
        return progress;
    }

    /**
     * {@code value} if it is at least {@code min}.
     *
     * @throws CompressException INVALID_SETTINGS naming {@code what}
     */
    protected static int atLeast(int min, int value, String what) {
        if (value < min) {
            throw CompressException.invalidSettings(what + " must be at least " + min + ", got " + value);
        }
        return value;
    }
}
