package dev.compress.quantize;

import dev.compress.Progress;
import dev.compress.data.Batch;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.InterleavedTiming;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Keeps float the regions of a quantized model that ONNX Runtime runs faster in float, found by timing, not by rule:
 * whether an integer kernel beats the float one (and the quantize/dequantize it needs around it) depends on the op,
 * the tensor sizes, the fusions ONNX Runtime finds in each graph and the machine. Issue 12 measured both ways: integer
 * Sigmoid and Mul slower than ONNX Runtime's fused float SiLU on EfficientNet, yet keeping the SiLUs float slower
 * still; 1 ms models where per-node overhead outweighs every kernel.
 *
 * <p>The regions tried are every op type of the quantized nodes other than the segmented ones (all its nodes at once),
 * and the quantized graph cut into {@value #SEGMENTS} consecutive segments with equally many nodes of the segmented
 * types: for static quantization Conv/Gemm/MatMul; dynamic quantization segments none, so each op type it quantized
 * is a region (ConvInteger against MatMulInteger). Each variant is requantized the same way (static: from the same
 * calibration table) and timed against the all-INT8 model, interleaved ({@link InterleavedTiming}). Regions at least
 * {@link #MARGIN} faster in float are kept float, together when that is faster than the best one alone, if timing the
 * choice once more confirms it. The decision depends on timings, so it is opt-in: its report lists the nodes, which
 * {@code --exclude} can pin for a reproducible model.
 */
final class LatencyFallback {
    /** Share of time a region must save to be kept float: less is within the noise of a few seconds of timing. */
    static final double MARGIN = 0.05;
    /** Segments the graph is cut into, each holding the same number of Conv/Gemm/MatMul nodes. */
    static final int SEGMENTS = 4;
    /** Batches of the calibration data held in memory and cycled through. */
    static final int BATCHES = 4;
    /** Rounds of interleaved runs per comparison; the ratio is their median. */
    private static final int ROUNDS = 3;
    /** The reason the quantization report gives for nodes it keeps float. */
    static final String REASON = "kept float: faster in float here (latency fallback)";

    /** Nodes planned together, keyed by their first output before clamps were folded (names may be empty). */
    record Region(String description, Set<String> outputs) {}

    /** The nodes to keep float (by first output) and what was measured. */
    record Outcome(Set<String> keptFloat, LatencyFallbackReport report) {}

    private final RuntimeOptions options;
    private final List<Batch> batches;
    private final double seconds;
    private final Progress progress;
    /** Op types cut into segments rather than tried all at once: static quantization's Conv, Gemm and MatMul. */
    private final Set<String> segmented;

    /**
     * @param threads ONNX Runtime intra-op threads of the timed sessions
     * @param batches inputs to time on, cycled through
     * @param seconds about how long each comparison times both models in all
     * @param segmented op types whose nodes are tried a segment of the graph at a time; every other op type is tried
     *     all at once
     */
    LatencyFallback(int threads, List<Batch> batches, double seconds, Progress progress, Set<String> segmented) {
        this.options = RuntimeOptions.defaults().withIntraOpThreads(threads);
        this.batches = List.copyOf(batches);
        this.seconds = seconds;
        this.progress = progress;
        this.segmented = segmented;
    }

    /**
     * The regions tried for the quantized nodes, in graph order; none that holds them all (that model is the
     * source).
     */
    static List<Region> regions(List<Node> quantized, Function<Node, String> key, Set<String> segmented) {
        List<Region> regions = new ArrayList<>();
        Map<String, Set<String>> byOp = new TreeMap<>();
        for (Node node : quantized) {
            if (!segmented.contains(node.opType())) {
                byOp.computeIfAbsent(node.opType(), op -> new LinkedHashSet<>()).add(key.apply(node));
            }
        }
        byOp.forEach((op, outputs) -> {
            if (outputs.size() < quantized.size()) {
                regions.add(new Region("all " + outputs.size() + " quantized " + op, outputs));
            }
        });
        long weighted = quantized.stream().filter(n -> segmented.contains(n.opType())).count();
        if (weighted < 2L * SEGMENTS) {
            return regions; // segments of one weighted node each are the op-type regions over again
        }
        int segment = 0;
        long seen = 0;
        Set<String> outputs = new LinkedHashSet<>();
        String first = null;
        for (Node node : quantized) {
            if (first == null) {
                first = node.describe();
            }
            outputs.add(key.apply(node));
            if (segmented.contains(node.opType())) {
                seen++;
            }
            boolean last = node == quantized.get(quantized.size() - 1);
            if (last || (segment < SEGMENTS - 1 && seen >= weighted * (segment + 1) / SEGMENTS)) {
                segment++;
                regions.add(new Region("segment " + segment + " of " + SEGMENTS + " (" + outputs.size()
                        + " nodes from " + first + " to " + node.describe() + ")", outputs));
                outputs = new LinkedHashSet<>();
                first = null;
            }
        }
        return regions;
    }

    /**
     * Times every region of {@code quantized} kept float against {@code int8}.
     *
     * @param key a node's first output as the variants know it
     * @param variant the model requantized with the given nodes (by key) kept float
     */
    Outcome search(OnnxModel int8, List<Node> quantized, Function<Node, String> key,
            Function<Set<String>, OnnxModel> variant) {
        List<Region> regions = regions(quantized, key, segmented);
        List<double[]> ratios = new ArrayList<>(); // [region index, ratio]
        progress.start("latency fallback", regions.size());
        try (OrtModel base = OrtModel.open(int8, options)) {
            for (int i = 0; i < regions.size(); i++) {
                ratios.add(new double[] {i, ratio(base, variant.apply(regions.get(i).outputs()))});
                progress.advance(i + 1L);
            }
            List<Integer> faster = new ArrayList<>();
            int best = -1;
            for (double[] r : ratios) {
                if (r[1] <= 1 - MARGIN) {
                    faster.add((int) r[0]);
                    if (best < 0 || r[1] < ratios.get(best)[1]) {
                        best = (int) r[0];
                    }
                }
            }
            Set<String> kept = new LinkedHashSet<>();
            double chosenRatio = 1;
            List<Integer> chosen = new ArrayList<>();
            if (best >= 0) {
                chosen.add(best);
                chosenRatio = ratios.get(best)[1];
                kept.addAll(regions.get(best).outputs());
            }
            Set<String> union = new LinkedHashSet<>();
            faster.forEach(i -> union.addAll(regions.get(i).outputs()));
            // every segment "faster" (noise on a tiny model) would keep everything float: no INT8 model is left
            boolean leavesInt8 = !union.containsAll(quantized.stream().map(key).toList());
            if (faster.size() > 1 && leavesInt8) {
                double together = ratio(base, variant.apply(union));
                if (together < chosenRatio) {
                    chosen = faster;
                    chosenRatio = together;
                    kept = union;
                }
            }
            Double confirmed = null;
            if (!kept.isEmpty()) {
                // the best of several noisy ratios is biased low: the choice stands only if timed again it holds
                confirmed = round(ratio(base, variant.apply(kept)));
                if (confirmed > 1 - MARGIN) {
                    chosen = List.of();
                    kept = new LinkedHashSet<>();
                    chosenRatio = 1;
                } else {
                    chosenRatio = Math.max(chosenRatio, confirmed);
                }
            }
            progress.finish();
            List<LatencyFallbackReport.Trial> trials = new ArrayList<>();
            for (int i = 0; i < regions.size(); i++) {
                trials.add(new LatencyFallbackReport.Trial(regions.get(i).description(),
                        regions.get(i).outputs().size(), round(ratios.get(i)[1]), chosen.contains(i)));
            }
            Set<String> keptOutputs = kept;
            List<String> keptNames = quantized.stream().filter(n -> keptOutputs.contains(key.apply(n)))
                    .map(Node::describe).toList();
            return new Outcome(kept, new LatencyFallbackReport(options.intraOpThreads(), batches.get(0).size(),
                    MARGIN, trials, confirmed, keptNames, round(1 / chosenRatio)));
        }
    }

    /** Time of {@code variant} over time of {@code base}, median over interleaved rounds. */
    private double ratio(OrtModel base, OnnxModel variant) {
        try (OrtModel other = OrtModel.open(variant, options)) {
            List<OrtModel> sessions = List.of(base, other);
            int[] sized = InterleavedTiming.callsPerRound(sessions, batches.get(0), seconds / (2 * ROUNDS),
                    Integer.MAX_VALUE);
            int calls = Math.min(sized[0], sized[1]);
            return InterleavedTiming.measure(sessions, batches, ROUNDS, new int[] {calls, calls}, 1).ratio(1, 0);
        }
    }

    private static double round(double value) {
        return Math.round(value * 1000) / 1000.0;
    }
}
