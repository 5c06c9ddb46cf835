package dev.compress.pipeline;

import dev.compress.graph.OnnxModel;
import java.util.Objects;

/**
 * What a {@link ModelPass} produced: the rewritten model, its typed report, and the provenance entry the model records
 * (null when the step leaves nothing worth recording, e.g. a clean-up that changed nothing).
 */
public record PassResult<R>(OnnxModel model, R report, Provenance provenance) {
    public PassResult {
        Objects.requireNonNull(model, "model");
    }
}
