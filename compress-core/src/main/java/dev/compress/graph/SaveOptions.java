package dev.compress.graph;

/**
 * How {@link OnnxModel#save} lays out the file.
 *
 * @param externalData write tensors of at least {@code externalThresholdBytes} to a {@code <model>.data} file beside
 *     the model instead of inline; forced on when the inline model would exceed protobuf's 2 GB limit
 * @param externalThresholdBytes smallest tensor moved to the data file
 */
public record SaveOptions(boolean externalData, long externalThresholdBytes) {
    /** protobuf-java cannot serialize a message of 2 GB or more; stay clear of it. */
    static final long INLINE_LIMIT_BYTES = 2_000_000_000L;

    public static SaveOptions defaults() {
        return new SaveOptions(false, 1024);
    }

    public static SaveOptions withExternalData() {
        return new SaveOptions(true, 1024);
    }
}
