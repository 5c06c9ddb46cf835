package dev.compress.prune;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JacksonException;
import dev.compress.CompressException;
import dev.compress.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Objects;

/**
 * What pruning removed, per weight tensor, so the same pruning can be applied to another checkpoint of the same
 * architecture (for example after fine-tuning): {@code Pruner.builder().setModel(other).optMasks(masks)}.
 *
 * <p>Unstructured entries hold the pruned elements as a bit set (row-major, little-endian bit order within each byte,
 * base64; bit 1 = pruned). Structured entries list the removed output channels of each layer.
 *
 * @param format always {@value #FORMAT}
 * @param version format version, {@value #VERSION}
 * @param kind {@code unstructured} or {@code structured}
 * @param model the model the masks were computed on (for people; not checked)
 * @param tensors one entry per pruned weight, in graph order
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"format", "version", "kind", "model", "tensors"})
public record PruneMasks(String format, int version, String kind, String model, List<Entry> tensors) {
    public static final String FORMAT = "compress-prune-masks";
    public static final int VERSION = 1;
    static final String UNSTRUCTURED = "unstructured";
    static final String STRUCTURED = "structured";

    public PruneMasks {
        if (!FORMAT.equals(format)) {
            throw new IllegalArgumentException("'format' is " + format + ", expected " + FORMAT);
        }
        if (version != VERSION) {
            throw new IllegalArgumentException("'version' is " + version + ", this build reads version " + VERSION);
        }
        if (!UNSTRUCTURED.equals(kind) && !STRUCTURED.equals(kind)) {
            throw new IllegalArgumentException("'kind' is " + kind + ", expected unstructured or structured");
        }
        tensors = List.copyOf(Objects.requireNonNull(tensors, "missing 'tensors'"));
        for (Entry entry : tensors) {
            entry.check(STRUCTURED.equals(kind));
        }
    }

    /**
     * The mask of one weight tensor.
     *
     * @param node the node reading the weight
     * @param weight the weight initializer's name
     * @param shape the weight's shape before pruning
     * @param sparsity fraction pruned: of the elements (unstructured) or of the output channels (structured)
     * @param pruned unstructured: number of pruned elements
     * @param bits unstructured: the pruned elements as a packed bit set, base64
     * @param axis structured: the weight axis of output channels
     * @param removedChannels structured: the removed output channels, ascending
     * @param layer position of the layer among the model's prunable layers (Conv, Gemm, MatMul with an initializer
     *     weight) in graph order; maps the entry to checkpoints that name weights differently (TorchScript)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"layer", "node", "weight", "shape", "sparsity", "pruned", "bits", "axis", "removedChannels"})
    public record Entry(String node, String weight, List<Long> shape, double sparsity, Long pruned, String bits,
            Integer axis, List<Integer> removedChannels, Integer layer) {
        void check(boolean structured) {
            Objects.requireNonNull(node, "missing 'node'");
            Objects.requireNonNull(weight, "missing 'weight'");
            Objects.requireNonNull(shape, "missing 'shape' of " + weight);
            if (structured) {
                Objects.requireNonNull(axis, "missing 'axis' of " + weight);
                Objects.requireNonNull(removedChannels, "missing 'removedChannels' of " + weight);
                if (axis < 0 || axis >= shape.size()) {
                    throw new IllegalArgumentException("'axis' of " + weight + " is outside its shape");
                }
                for (int c : removedChannels) {
                    if (c < 0 || c >= shape.get(axis)) {
                        throw new IllegalArgumentException("channel " + c + " of " + weight + " is outside 0.."
                                + (shape.get(axis) - 1));
                    }
                }
            } else {
                Objects.requireNonNull(bits, "missing 'bits' of " + weight);
            }
        }

        long elements() {
            return shape.stream().mapToLong(Long::longValue).reduce(1, (a, b) -> a * b);
        }

        /** The unstructured mask: true where the element is pruned. */
        boolean[] prunedElements() {
            byte[] packed = Base64.getDecoder().decode(bits);
            long n = elements();
            if (packed.length != (n + 7) / 8) {
                throw new IllegalArgumentException("'bits' of " + weight + " hold " + packed.length
                        + " bytes, its shape needs " + (n + 7) / 8);
            }
            boolean[] mask = new boolean[(int) n];
            for (int i = 0; i < mask.length; i++) {
                mask[i] = (packed[i >>> 3] >>> (i & 7) & 1) != 0;
            }
            return mask;
        }

        static String pack(boolean[] mask) {
            byte[] packed = new byte[(mask.length + 7) / 8];
            for (int i = 0; i < mask.length; i++) {
                if (mask[i]) {
                    packed[i >>> 3] |= (byte) (1 << (i & 7));
                }
            }
            return Base64.getEncoder().encodeToString(packed);
        }
    }

    /** Writes the masks as JSON, atomically. */
    public void write(Path file) {
        Json.write(file, this);
    }

    /**
     * Reads a mask file.
     *
     * @throws CompressException BAD_INPUT naming the file if it is missing or not a valid mask file
     */
    public static PruneMasks read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw CompressException.badInput(file, Files.exists(file) ? "is not a file" : "no such file");
        }
        try {
            return Json.MAPPER.readValue(file.toFile(), PruneMasks.class);
        } catch (JacksonException e) {
            Throwable cause = e.getCause() instanceof IllegalArgumentException || e.getCause() instanceof
                    NullPointerException ? e.getCause() : e;
            String message = cause == e ? e.getOriginalMessage() : cause.getMessage();
            throw CompressException.badInput(file, "not a valid " + FORMAT + " file (" + message + ")", e);
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot read (" + e.getMessage() + ")", e);
        }
    }
}
