package dev.compress.pipeline;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How a model was made, as the output file records it: one {@code metadata_props} entry whose key is {@code key}
 * (e.g. {@code compress.quantization}) and whose value is {@code entries} as compact JSON, in insertion order. Only
 * {@link Pipeline} writes it into the model, so every step records the same way.
 */
public record Provenance(String key, Map<String, Object> entries) {
    public Provenance {
        if (!key.startsWith("compress.")) {
            throw new IllegalArgumentException("provenance keys start with 'compress.', got " + key);
        }
        entries = new LinkedHashMap<>(entries);
    }
}
