package dev.compress.convert;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@link OpsetConversion} did: the default-domain opset before and after, the nodes an adapter rewrote (by op
 * and adapter), and how many nodes of each op kept their form because their definition did not change in between.
 *
 * @param rewritten per op and adapter, in the order first met; subgraph nodes included
 * @param unchanged nodes per op whose definition is the same at both opsets (new types aside), sorted by op
 */
public record OpsetConversionReport(String model, long fromOpset, long toOpset, List<Rewrite> rewritten,
        Map<String, Integer> unchanged) {
    public OpsetConversionReport {
        rewritten = List.copyOf(rewritten);
        unchanged = Collections.unmodifiableSortedMap(new TreeMap<>(unchanged));
    }

    /** {@code nodes} nodes of {@code op} rewritten by {@code adapter} (e.g. "axes attribute to input"). */
    public record Rewrite(String op, String adapter, int nodes) {}
}
