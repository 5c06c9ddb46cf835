package dev.compress.cli;

import dev.compress.CompressException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IExitCodeExceptionMapper;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * Turns failures into one message on stderr and an {@link ExitCode}:
 *
 * <ul>
 *   <li>command-line mistakes: {@code error: <what>} plus a pointer to --help, exit {@link ExitCode#USAGE};
 *   <li>{@link CompressException} of kind BAD_INPUT: {@code error: <file>: <problem>}, exit
 *       {@link ExitCode#BAD_INPUT}, no stack trace unless --verbose;
 *   <li>{@link CompressException} of kind INVALID_SETTINGS (the core's check of option combinations):
 *       {@code error: <problem>}, exit {@link ExitCode#USAGE};
 *   <li>{@link OutOfMemoryError}, also from a worker thread: {@code error: out of memory ...} with what to change,
 *       exit {@link ExitCode#INTERNAL}, no stack trace unless --verbose;
 *   <li>anything else: {@code internal error: <what>} and a hint to rerun with --verbose, exit
 *       {@link ExitCode#INTERNAL}.
 * </ul>
 */
final class Errors implements IExecutionExceptionHandler, IParameterExceptionHandler, IExitCodeExceptionMapper {

    @Override
    public int getExitCode(Throwable exception) {
        Throwable t = unwrap(exception);
        if (t instanceof CompressException e && e.kind() == CompressException.Kind.BAD_INPUT) {
            return ExitCode.BAD_INPUT;
        }
        if (t instanceof ParameterException
                || t instanceof CompressException e && e.kind() == CompressException.Kind.INVALID_SETTINGS) {
            return ExitCode.USAGE;
        }
        return ExitCode.INTERNAL;
    }

    @Override
    public int handleParseException(ParameterException ex, String[] args) {
        CommandLine command = ex.getCommandLine();
        PrintWriter err = command.getErr();
        err.println("error: " + oneLine(ex.getMessage()));
        UnmatchedArgumentException.printSuggestions(ex, err);
        err.println("Try '" + command.getCommandSpec().qualifiedName() + " --help' for more information.");
        err.flush();
        return ExitCode.USAGE;
    }

    @Override
    public int handleExecutionException(Exception exception, CommandLine command, ParseResult parseResult) {
        Throwable t = unwrap(exception);
        PrintWriter err = command.getErr();
        boolean verbose = verbose(command);
        int code = getExitCode(t);
        OutOfMemoryError oom = outOfMemory(t);
        if (oom != null) {
            err.println("error: out of memory (" + oom.getMessage() + "); give Java more heap (JAVA_OPTS=-Xmx8g)"
                    + " or lower --batch-size / --threads");
            if (verbose) {
                t.printStackTrace(err);
            }
        } else if (code == ExitCode.BAD_INPUT || code == ExitCode.USAGE) {
            err.println("error: " + oneLine(t.getMessage()));
            if (verbose) {
                t.printStackTrace(err);
            }
        } else {
            String what = t instanceof CompressException
                    ? t.getMessage()
                    : t.getClass().getName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
            err.println("internal error: " + oneLine(what));
            if (verbose) {
                t.printStackTrace(err);
            } else {
                err.println("Rerun with --verbose for the stack trace.");
            }
        }
        err.flush();
        return code;
    }

    /** The cause of picocli's wrapper for what a command threw. */
    private static Throwable unwrap(Throwable t) {
        if (t instanceof CommandLine.ExecutionException && t.getCause() != null) {
            return t.getCause();
        }
        return t;
    }

    /** The OutOfMemoryError behind {@code t}, which executors and futures wrap, or null. */
    private static OutOfMemoryError outOfMemory(Throwable t) {
        for (Throwable cause = t; cause != null; cause = cause.getCause() == cause ? null : cause.getCause()) {
            if (cause instanceof OutOfMemoryError oom) {
                return oom;
            }
        }
        return null;
    }

    private static boolean verbose(CommandLine command) {
        Object root = command.getCommandSpec().root().userObject();
        return root instanceof Main main && main.global.verbose();
    }

    /** Core messages are one line; keep it so even if a library adds line breaks. */
    static String oneLine(String message) {
        return String.valueOf(message).strip().replaceAll("\\s*\\R\\s*", " ");
    }
}
