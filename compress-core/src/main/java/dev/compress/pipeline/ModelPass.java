package dev.compress.pipeline;

import dev.compress.graph.OnnxModel;

/**
 * One compression step with one contract: it reads a model and returns a rewritten copy with a typed report and the
 * provenance the copy should record. It never changes the model it is given and never writes files; a
 * {@link Pipeline} chains passes and records their provenance.
 *
 * <p>A new step (a graph clean-up, an opset conversion, an export) is a class implementing this interface; to be
 * reachable from the command line ({@code compress run --pass ID}) it is also listed in
 * {@code META-INF/services/dev.compress.pipeline.ModelPass} and has a public no-argument constructor.
 *
 * @param <R> the report: a record, written to JSON by {@link dev.compress.Json}
 */
public interface ModelPass<R> {
    /** A short, stable, kebab-case name: {@code quantize-static}, {@code prune-unstructured}. */
    String id();

    /**
     * Runs the step on a copy of {@code model}.
     *
     * @throws dev.compress.CompressException BAD_INPUT for a model the step cannot handle, INVALID_SETTINGS for
     *     settings that contradict each other or the model
     */
    PassResult<R> apply(OnnxModel model, PassContext context);
}
