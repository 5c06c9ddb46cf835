package dev.compress.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/** Range checks on option values, reported as usage errors (exit 2). */
final class Checks {
    private Checks() {}

    static int batchSize(CommandSpec spec, int value) {
        if (value < 1) {
            throw new ParameterException(spec.commandLine(), "--batch-size must be at least 1, got " + value);
        }
        return value;
    }

    static double maxDrop(CommandSpec spec, double value) {
        if (!(value >= 0) || Double.isInfinite(value)) {
            throw new ParameterException(spec.commandLine(),
                    "--max-drop must be a number of percentage points >= 0, got " + value);
        }
        return value;
    }

    static double fraction(CommandSpec spec, String option, double value) {
        if (!(value >= 0 && value <= 1)) {
            throw new ParameterException(spec.commandLine(), option + " must be a number in [0, 1], got " + value);
        }
        return value;
    }

    static double positive(CommandSpec spec, String option, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new ParameterException(spec.commandLine(), option + " must be a number above 0, got " + value);
        }
        return value;
    }
}
