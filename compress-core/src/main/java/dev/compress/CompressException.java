package dev.compress;

import java.nio.file.Path;

/**
 * A failure the user can act on (bad file, bad data, bad option) or an internal one.
 *
 * <p>The message is one line and names the file when there is one: {@code "model.onnx: not an ONNX model (...)"}.
 * Front ends print {@link #getMessage()} and map {@link #kind()} to an exit code; they never print a stack trace
 * for {@link Kind#BAD_INPUT} or {@link Kind#INVALID_SETTINGS}.
 */
public final class CompressException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What went wrong, coarsely: decides the exit code of front ends. */
    public enum Kind {
        /** The user's files, data or options are wrong; fixing them fixes the run. */
        BAD_INPUT,
        /**
         * Settings that contradict each other or name something that does not exist (a pass, an op type); the
         * library's callers map it to a usage error.
         */
        INVALID_SETTINGS,
        /** A bug or an environment problem (native library, disk). */
        INTERNAL
    }

    private final Kind kind;
    private final transient Path file;
    private final String problem;

    private CompressException(Kind kind, Path file, String problem, Throwable cause) {
        super(file == null ? problem : file + ": " + problem, cause);
        this.kind = kind;
        this.file = file;
        this.problem = problem;
    }

    /** Bad input in {@code file}: {@code problem} says what, in a few words. */
    public static CompressException badInput(Path file, String problem) {
        return new CompressException(Kind.BAD_INPUT, file, problem, null);
    }

    /** Bad input in {@code file}, caused by {@code cause} (kept for --verbose). */
    public static CompressException badInput(Path file, String problem, Throwable cause) {
        return new CompressException(Kind.BAD_INPUT, file, problem, cause);
    }

    /** Bad input not tied to a file, e.g. an inconsistent option. */
    public static CompressException badInput(String problem) {
        return new CompressException(Kind.BAD_INPUT, null, problem, null);
    }

    /** Settings that cannot work together, or an unknown name among them: {@code problem} says which. */
    public static CompressException invalidSettings(String problem) {
        return new CompressException(Kind.INVALID_SETTINGS, null, problem, null);
    }

    /** An internal failure (a bug here or in a native library). */
    public static CompressException internal(String problem, Throwable cause) {
        return new CompressException(Kind.INTERNAL, null, problem, cause);
    }

    public Kind kind() {
        return kind;
    }

    /** The file the problem is in, or {@code null}. */
    public Path file() {
        return file;
    }

    /** The message without the file name, e.g. for a report that names the file elsewhere. */
    public String problem() {
        return problem;
    }
}
