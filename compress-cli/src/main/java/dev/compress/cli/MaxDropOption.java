package dev.compress.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code --max-drop PTS}: the gate on the top-1 drop against a baseline, exit 4 above it. */
final class MaxDropOption {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    private Double maxDrop;

    @Option(names = "--max-drop", paramLabel = "PTS", order = 21,
            description = "The largest top-1 accuracy drop allowed against the baseline, in percentage points;"
                    + " above it the command exits 4 (files are still written).")
    void setMaxDrop(double value) {
        maxDrop = Checks.maxDrop(mixee, value);
    }

    /** The limit, or null without a gate. */
    Double maxDrop() {
        return maxDrop;
    }
}
