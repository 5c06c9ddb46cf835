package dev.compress.cli;

import dev.compress.Json;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.ModelPass;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Passes;
import dev.compress.pipeline.Pipeline;
import dev.compress.pipeline.PipelineResult;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code compress run}: passes that need no settings, chained by id; any pass registered with the service loader
 * (see {@link dev.compress.pipeline.ModelPass}) is reachable here without a command of its own.
 */
@Command(
        name = "run",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Run passes over a model, in the order given, and write the result with a JSON report of every step.",
            ""
        },
        footer = {
            "",
            "Example:",
            "  compress run --model model.onnx --pass prepare --out prepared.onnx",
            "  compress run --list"
        })
final class RunCommand extends BaseCommand {
    @Option(names = "--model", paramLabel = "MODEL", order = 1, description = "The .onnx model.")
    Path model;

    @Option(names = "--pass", paramLabel = "ID", split = ",", order = 2,
            description = "Passes to run, comma-separated or repeated, in order (see --list).")
    List<String> passes = new ArrayList<>();

    @Option(names = "--list", order = 4, description = "List the passes there are, and exit.")
    boolean list;

    @Mixin
    OutputOptions output;

    @Override
    public Integer call() {
        if (list) {
            Passes.available().forEach((id, pass) -> global.out().println(id + "\t" + pass.getClass().getName()));
            global.out().flush();
            return ExitCode.OK;
        }
        if (model == null || passes.isEmpty()) {
            throw usage("Missing required options: '--model=MODEL' and '--pass=ID' (or --list)");
        }
        Pipeline.Builder builder = Pipeline.builder();
        passes.forEach(id -> builder.add(Passes.find(id)));
        Pipeline pipeline = builder.build();
        output.addTo(Outputs.check(spec)).input("--model", model).run();
        PipelineResult result = pipeline.run(OnnxModel.load(model), PassContext.of(global.progress()));
        result.warnings().forEach(warning -> global.err().println("warning: " + warning));
        Path out = output.out();
        result.model().save(out);
        List<FileReports.Run.Step> steps = new ArrayList<>();
        List<ModelPass<?>> ran = pipeline.passes();
        for (int i = 0; i < ran.size(); i++) {
            PassResult<?> step = result.steps().get(i);
            steps.add(new FileReports.Run.Step(ran.get(i).id(), step.report()));
        }
        try {
            Json.write(output.report(), new FileReports.Run(model.toString(), out.toString(), steps,
                    result.warnings()));
        } catch (RuntimeException e) {
            Outputs.deleteModel(out);
            throw e;
        }
        global.out().println("wrote " + out);
        steps.forEach(step -> global.out().println("  " + step.pass()));
        global.out().println("report: " + output.report());
        global.out().flush();
        return ExitCode.OK;
    }
}
