package dev.compress.quantize;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What the latency fallback ({@link LatencyFallback}) measured and chose: for each region of quantized nodes, the time
 * of the INT8 model with that region kept float over the time of the INT8 model without, timed interleaved in ONNX
 * Runtime on calibration inputs. Holds timings, so unlike {@link QuantizationReport} it differs between runs.
 *
 * @param threads ONNX Runtime intra-op threads of the timed sessions
 * @param batchSize samples per timed call
 * @param margin a region is kept float only when that makes the model at least this much faster (0.05 = 5%)
 * @param trials every region tried, in the order tried
 * @param confirmation the chosen regions timed once more (the choice stands only if this too is within the margin),
 *     or null when no region was faster
 * @param keptFloat the nodes the result keeps float because of it, by name (or op type and output when unnamed):
 *     {@code --exclude} with these names gives the same graph again without timing
 * @param speedup time of the plain INT8 model over the time of the result (1 when nothing was kept float)
 */
@JsonPropertyOrder({"threads", "batchSize", "margin", "trials", "confirmation", "keptFloat", "speedup"})
public record LatencyFallbackReport(int threads, int batchSize, double margin, List<Trial> trials,
        Double confirmation, List<String> keptFloat, double speedup) {

    /**
     * One region tried.
     *
     * @param region what the region is, e.g. "all 26 quantized Mul" or "segment 2 of 4 (31 nodes)"
     * @param nodes quantized nodes it keeps float
     * @param ratio time with the region float over time without it (below 1: float is faster)
     * @param chosen whether the result keeps it float
     */
    @JsonPropertyOrder({"region", "nodes", "ratio", "chosen"})
    public record Trial(String region, int nodes, double ratio, boolean chosen) {}

    /** One line for people. */
    public String summary() {
        List<Trial> chosen = trials.stream().filter(Trial::chosen).toList();
        if (chosen.isEmpty()) {
            return String.format(Locale.ROOT, "latency fallback: %d regions timed, none faster in float by %.0f%% or"
                    + " more%s; nothing kept float", trials.size(), margin * 100, confirmation == null ? ""
                    : String.format(Locale.ROOT, " when timed again (%.2fx)", confirmation));
        }
        return String.format(Locale.ROOT, "latency fallback: kept %d nodes float (%s): %.2fx faster than all-INT8"
                        + " here (%d regions timed, %d threads, batch %d); the report lists them for --exclude",
                keptFloat.size(),
                chosen.stream().map(Trial::region).collect(Collectors.joining("; ")), speedup, trials.size(),
                threads, batchSize);
    }
}
