package dev.compress.cli;

import java.io.PrintWriter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code --verbose} and {@code --quiet}, accepted before or after the subcommand name. Every command mixes this in;
 * the setters store the value in the root command's instance so there is one place to read it.
 */
public final class GlobalOptions {
    @Spec(Spec.Target.MIXEE)
    private CommandSpec mixee;

    private boolean verbose;
    private boolean quiet;

    @Option(names = {"-v", "--verbose"}, description = "Print details on stderr, and stack traces with errors.")
    void setVerbose(boolean verbose) {
        root().verbose = verbose;
    }

    @Option(names = {"-q", "--quiet"}, description = "Print no progress or notes on stderr; errors are still printed.")
    void setQuiet(boolean quiet) {
        root().quiet = quiet;
    }

    private GlobalOptions root() {
        if (mixee == null) {
            return this;
        }
        Object top = mixee.root().userObject();
        return top instanceof Main main ? main.global : this;
    }

    public boolean verbose() {
        return root().verbose;
    }

    public boolean quiet() {
        return root().quiet && !root().verbose;
    }

    /** Where results go: the command line's stdout. */
    public PrintWriter out() {
        return mixee.commandLine().getOut();
    }

    /** Where logs, progress and errors go: the command line's stderr. */
    public PrintWriter err() {
        return mixee.commandLine().getErr();
    }

    /** A note on stderr, unless --quiet. */
    public void info(String message) {
        if (!quiet()) {
            err().println(message);
            err().flush();
        }
    }

    /** A detail on stderr, only with --verbose. */
    public void debug(String message) {
        if (verbose()) {
            err().println(message);
            err().flush();
        }
    }

    /** Progress for core loops: a bar on a terminal, a few plain lines otherwise, nothing with --quiet. */
    public dev.compress.Progress progress() {
        return ConsoleProgress.create(this);
    }
}
