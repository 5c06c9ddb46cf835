package dev.compress.prune;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.compress.Json;
import java.util.List;
import java.util.Locale;

/**
 * What a pruning run did, layer by layer. Deterministic (no timings).
 *
 * @param model the model pruned
 * @param kind {@code unstructured} or {@code structured}
 * @param scope {@code per-layer}, {@code global} or {@code masks} (re-applied from a mask file)
 * @param requestedSparsity the sparsity asked for (null when masks were re-applied)
 * @param compensation structured: how removed channels were compensated in the consumers' biases, or null
 * @param layers every prunable layer, in graph order
 * @param elements weight elements of all prunable layers before pruning
 * @param prunedElements weight elements zeroed (unstructured) or removed (structured)
 * @param sparsity {@code prunedElements / elements}
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"model", "kind", "scope", "requestedSparsity", "compensation", "elements", "prunedElements",
        "sparsity", "layers"})
public record PruneReport(String model, String kind, String scope, Double requestedSparsity, String compensation,
        List<LayerResult> layers, long elements, long prunedElements, double sparsity) {

    /**
     * One layer.
     *
     * @param node node name
     * @param op Conv, Gemm or MatMul
     * @param weight weight initializer name
     * @param shape weight shape before
     * @param newShape weight shape after (structured pruning; null when unchanged or unstructured)
     * @param requested sparsity asked of this layer (unstructured per-layer; null for global or excluded)
     * @param excluded whether the user excluded it
     * @param elements weight elements before
     * @param pruned weight elements zeroed or removed
     * @param sparsity {@code pruned / elements}
     * @param channels structured: output channels before
     * @param removedChannels structured: output channels removed
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"node", "op", "weight", "shape", "newShape", "requested", "excluded", "elements", "pruned",
            "sparsity", "channels", "removedChannels"})
    public record LayerResult(String node, String op, String weight, List<Long> shape, List<Long> newShape,
            Double requested, boolean excluded, long elements, long pruned, double sparsity, Long channels,
            Long removedChannels) {}

    public String toJson() {
        return Json.pretty(this);
    }

    /** A few lines for people. */
    public String summary() {
        StringBuilder text = new StringBuilder();
        text.append(String.format(Locale.ROOT, "%s pruning (%s): %d of %d weights %s (%.2f%%)%n", kind, scope,
                prunedElements, elements, kind.equals(PruneMasks.STRUCTURED) ? "removed" : "zeroed",
                100 * sparsity));
        for (LayerResult layer : layers) {
            text.append(String.format(Locale.ROOT, "  %-40s %-6s %8d -> %8d  %6.2f%%%s%n", layer.node(), layer.op(),
                    layer.elements(), layer.elements() - layer.pruned(), 100 * layer.sparsity(),
                    layer.excluded() ? "  (excluded)"
                            : layer.channels() != null && layer.removedChannels() > 0
                            ? "  (" + layer.removedChannels() + " of " + layer.channels() + " channels removed)" : ""));
        }
        return text.toString();
    }

    static double ratio(long part, long whole) {
        return whole == 0 ? 0 : (double) part / whole;
    }
}
