package dev.compress.pipeline;

import dev.compress.Progress;
import java.util.ArrayList;
import java.util.List;

/**
 * What a pass gets from whoever runs it besides the model: where progress goes, and where warnings are collected
 * (the library never prints; front ends show both).
 */
public final class PassContext {
    private final Progress progress;
    private final List<String> warnings = new ArrayList<>();

    private PassContext(Progress progress) {
        this.progress = progress;
    }

    public static PassContext of(Progress progress) {
        return new PassContext(progress == null ? Progress.NONE : progress);
    }

    public static PassContext silent() {
        return of(Progress.NONE);
    }

    public Progress progress() {
        return progress;
    }

    /** Something the user should know about a result that is still delivered. */
    public void warn(String warning) {
        warnings.add(warning);
    }

    /** Warnings so far, in the order they were given. */
    public List<String> warnings() {
        return List.copyOf(warnings);
    }
}
