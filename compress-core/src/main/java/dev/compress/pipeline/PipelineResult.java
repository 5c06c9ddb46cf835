package dev.compress.pipeline;

import dev.compress.graph.OnnxModel;
import java.util.List;

/** The model after the last pass, every pass's result in order, and the warnings the passes gave. */
public record PipelineResult(OnnxModel model, List<PassResult<?>> steps, List<String> warnings) {
    public PipelineResult {
        steps = List.copyOf(steps);
        warnings = List.copyOf(warnings);
    }

    /** The report of the first step whose report is a {@code type}. */
    public <R> R report(Class<R> type) {
        for (PassResult<?> step : steps) {
            if (type.isInstance(step.report())) {
                return type.cast(step.report());
            }
        }
        throw new IllegalArgumentException("no step reported a " + type.getSimpleName());
    }
}
