package dev.compress.cli;

import dev.compress.BaseBuilder;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code --batch-size}: how the run uses ONNX Runtime, never what it computes. */
final class RunOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    private int batchSize = BaseBuilder.DEFAULT_BATCH_SIZE;

    @Option(names = "--batch-size", paramLabel = "N", order = 50,
            defaultValue = "" + BaseBuilder.DEFAULT_BATCH_SIZE,
            description = "Samples per ONNX Runtime call. Results do not depend on it; memory and speed do."
                    + " Default: ${DEFAULT-VALUE}.")
    void setBatchSize(int value) {
        batchSize = Checks.batchSize(mixee, value);
    }

    int batchSize() {
        return batchSize;
    }
}
