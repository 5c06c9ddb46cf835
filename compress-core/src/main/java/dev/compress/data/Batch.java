package dev.compress.data;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Up to N samples, stacked along the first axis of every model input.
 *
 * @param inputs model input name to tensor, first dimension = {@link #size()}
 * @param labels class index per sample, or -1 where the dataset has no label
 * @param sources the file each sample came from, for error messages and reports
 */
public record Batch(Map<String, HostTensor> inputs, int[] labels, List<Path> sources) {
    public Batch {
        if (labels.length != sources.size()) {
            throw new IllegalArgumentException("labels and sources differ in length");
        }
        inputs = Collections.unmodifiableMap(new LinkedHashMap<>(inputs));
        sources = List.copyOf(sources);
    }

    public int size() {
        return labels.length;
    }
}
