package dev.compress.cli;

import dev.compress.data.DataSources;
import dev.compress.graph.OnnxModel;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code --data}, {@code --labels} and the preprocessing flags: the samples a command runs the model on, and how
 * images become model input. Other data a command takes ({@code --eval}) is opened the same way.
 */
class DataOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    Path data;

    @Option(names = "--data", paramLabel = "DIR", order = 2,
            description = "Samples: a folder of images (class sub-folders or loose images), a .csv of path,label"
                    + " lines, a folder of .npy files, or a .jsonl file of token ids.")
    void setData(Path data) {
        this.data = data;
    }

    @Option(names = "--labels", paramLabel = "FILE", order = 40,
            description = "Class names, one per line, in the model's output order."
                    + " Default: labels.txt beside the data or in its parent folder.")
    Path labels;

    @Option(names = "--batch-axis", paramLabel = "INPUT=AXIS", split = ",", order = 41,
            description = "For .npy data: the axis an input stacks samples on, when it is not the first, e.g."
                    + " state=1 for an RNN state [2, batch, 128]; repeatable. Default: found from the model's named"
                    + " dims (h [2, batch, 64] beside input [batch, n]: 1), else 0.")
    Map<String, Integer> batchAxes = new LinkedHashMap<>();

    @Mixin
    PreprocessingOptions preprocessing;

    /** Adds --data, --labels and --preprocess to the inputs {@code check} covers. */
    Outputs.Check addTo(Outputs.Check check) {
        return check.input("--data", data).input("--labels", labels).input("--preprocess",
                preprocessing.preprocessFile);
    }

    /** {@code --data}, or null when not given. */
    Path data() {
        return data;
    }

    /** {@code --data} opened for {@code model}; a usage error when it was not given. */
    DataSources.Opened open(OnnxModel model) {
        if (data == null) {
            throw new picocli.CommandLine.ParameterException(mixee.commandLine(),
                    "Missing required option: '--data=DIR'");
        }
        return open(data, model);
    }

    /** Other data of the command (e.g. --eval), with the same labels and preprocessing. */
    DataSources.Opened open(Path other, OnnxModel model) {
        return DataSources.open(other, model, preprocessing.overrides(), labels, batchAxes);
    }
}
