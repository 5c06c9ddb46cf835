package dev.compress.cli;

import dev.compress.graph.OnnxModel;
import dev.compress.inspect.ModelInspector;
import dev.compress.inspect.ModelSummary;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code compress inspect MODEL [--json]}. */
@Command(
        name = "inspect",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {
            "Describe an ONNX model: inputs, outputs, ops and parameters.",
            "",
            "Shows IR version, producer, opsets, inputs and outputs with element type and shape (symbolic dimensions"
                    + " by name), the op histogram, parameter count and bytes by element type, and metadata.",
            ""
        })
final class InspectCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GlobalOptions global;

    @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx model file.")
    Path model;

    @Option(names = "--json", description = "Print the summary as JSON instead of text.")
    boolean json;

    @Option(names = "--nodes", description = "Also list every node of the main graph: name, op, inputs -> outputs "
            + "(names for quantize --exclude).")
    boolean nodes;

    @Override
    public Integer call() {
        if (nodes && json) {
            throw new ParameterException(spec.commandLine(), "--nodes and --json cannot be combined");
        }
        OnnxModel loaded = OnnxModel.load(model);
        ModelSummary summary = ModelInspector.inspect(loaded);
        if (json) {
            global.out().print(summary.toJson());
        } else {
            global.out().print(summary.summary());
        }
        if (nodes) {
            global.out().println("nodes");
            ModelInspector.nodes(loaded).forEach(node -> global.out().println("  " + node));
        }
        global.out().flush();
        return ExitCode.OK;
    }
}
