package dev.compress.runtime;

import java.nio.file.Path;

/**
 * How an ONNX Runtime session is set up.
 *
 * @param optimization graph optimization level; {@link Optimization#ALL} is ONNX Runtime's own default
 * @param intraOpThreads threads per operator, 0 = ONNX Runtime's choice (one per core)
 * @param optimizedModelFile where ONNX Runtime writes the graph it optimized, or {@code null}
 * @param profilePrefix path prefix of the profile ONNX Runtime writes ({@link OrtModel#endProfiling()}), or
 *     {@code null} for no profiling
 */
public record RuntimeOptions(Optimization optimization, int intraOpThreads, Path optimizedModelFile,
        Path profilePrefix) {
    /** ONNX Runtime's graph optimization levels. */
    public enum Optimization {
        NONE,
        BASIC,
        EXTENDED,
        ALL
    }

    public static RuntimeOptions defaults() {
        return new RuntimeOptions(Optimization.ALL, 0, null, null);
    }

    public RuntimeOptions withOptimization(Optimization level) {
        return new RuntimeOptions(level, intraOpThreads, optimizedModelFile, profilePrefix);
    }

    public RuntimeOptions withIntraOpThreads(int threads) {
        return new RuntimeOptions(optimization, threads, optimizedModelFile, profilePrefix);
    }

    public RuntimeOptions withOptimizedModelFile(Path file) {
        return new RuntimeOptions(optimization, intraOpThreads, file, profilePrefix);
    }

    public RuntimeOptions withProfiling(Path prefix) {
        return new RuntimeOptions(optimization, intraOpThreads, optimizedModelFile, prefix);
    }
}
