package dev.compress.pipeline;

/**
 * A measurement that changes no model: calibration statistics, evaluation, teacher-student scoring, layer-wise
 * debugging, inspection. It is configured by its builder (the models and data it looks at) and returns a typed
 * report, a record written by {@link dev.compress.Json} like every other report.
 *
 * @param <R> the report
 */
public interface ModelCheck<R> {
    /** A short, stable, kebab-case name: {@code evaluate}, {@code score}. */
    String id();

    R run(PassContext context);
}
