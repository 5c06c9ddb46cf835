package dev.compress.cli;

/** The exit codes of {@code compress}; documented in docs/cli.md. */
public final class ExitCode {
    /** Success (for {@code gate}, {@code eval --max-drop} and {@code quantize --eval}: the gate passed). */
    public static final int OK = 0;
    /** An unexpected failure: a bug or a broken environment. Rerun with --verbose for the stack trace. */
    public static final int INTERNAL = 1;
    /** The command line is wrong: unknown option, missing or malformed argument. */
    public static final int USAGE = 2;
    /** An input file, folder or option value is wrong (missing, corrupt, unsuitable for the model). */
    public static final int BAD_INPUT = 3;
    /**
     * The accuracy drop is above {@code --max-drop}, quantize's fidelity below {@code --min-fidelity}, a model above
     * a limit of {@code export --budget}, or a gate of a {@code compress run} recipe failed.
     */
    public static final int GATE_FAILED = 4;

    private ExitCode() {}
}
