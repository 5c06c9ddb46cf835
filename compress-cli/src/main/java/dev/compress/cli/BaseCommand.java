package dev.compress.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * What every {@code compress} subcommand has: its spec, {@code --verbose}/{@code --quiet}, and usage errors. A
 * subcommand parses its options (mostly mixins), delegates to compress-core and prints the outcome.
 */
abstract class BaseCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GlobalOptions global;

    /** A usage error (exit 2) for this command. */
    ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }
}
