package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.graph.OnnxModel;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code --batch-size}: how the run uses ONNX Runtime, never what it computes. */
final class RunOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    private Integer batchSize;
    private Integer resolved;

    @Option(names = "--batch-size", paramLabel = "N", order = 50,
            description = "Samples per ONNX Runtime call. Results do not depend on it; memory and speed do."
                    + " Default: the model's own when its inputs fix one, else 32, fewer for large inputs"
                    + " (1 for a 224x224 RGB image, 5 for a 48x320 text line).")
    void setBatchSize(int value) {
        batchSize = Checks.batchSize(mixee, value);
    }

    /**
     * The batch size for runs of {@code model} over {@code data} (may be null): --batch-size, or the model's default
     * for that data's sample size ({@link ModelInputs#defaultBatchSize}), said on stderr when it is not 32.
     *
     * @throws CompressException BAD_INPUT when --batch-size differs from a batch size the model fixes
     */
    int batchSize(OnnxModel model, Dataset data, GlobalOptions global) {
        return batchSize(model, global, ModelInputs.defaultBatchSize(model, data));
    }

    /**
     * As {@link #batchSize(OnnxModel, Dataset, GlobalOptions)}, with {@code fallback} when neither user nor model
     * says.
     */
    int batchSize(OnnxModel model, GlobalOptions global, int fallback) {
        if (resolved != null) {
            return resolved;
        }
        int fixed = ModelInputs.fixedBatchSize(model);
        if (batchSize != null && fixed > 0 && batchSize != fixed) {
            throw CompressException.badInput(model.source().orElse(null), "takes batches of exactly " + fixed
                    + " (its inputs fix the batch dimension); leave out --batch-size or give " + fixed);
        }
        resolved = batchSize != null ? batchSize : fixed > 0 ? fixed : fallback;
        if (batchSize == null && resolved != 32) {
            global.info("batch size " + resolved + (fixed > 0 ? " (fixed by the model)" : ModelInputs.batchMixer(model)
                    .map(node -> " (" + node.name() + " (" + node.opType() + ") reduces over the samples' axis: in a"
                            + " batch they would change each other's outputs; --batch-size to change)")
                    .orElse(" (for the model's input size; --batch-size to change)")));
        }
        return resolved;
    }
}
