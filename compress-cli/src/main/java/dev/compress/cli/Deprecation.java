package dev.compress.cli;

import picocli.CommandLine.Model.CommandSpec;

/** Old option spellings kept for one release as hidden aliases: they still work and say what replaces them. */
final class Deprecation {
    private Deprecation() {}

    /** Prints one warning line on stderr: {@code old} is deprecated in favour of {@code replacement}. */
    static void warn(CommandSpec spec, String old, String replacement) {
        var err = spec.commandLine().getErr();
        err.println("warning: " + old + " is deprecated and will be removed in the next release; use "
                + replacement);
        err.flush();
    }
}
