package dev.compress.cli;

import dev.compress.Json;
import dev.compress.StagedFile;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.ModelPass;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Passes;
import dev.compress.pipeline.Pipeline;
import dev.compress.pipeline.PipelineResult;
import dev.compress.recipe.CiReports;
import dev.compress.recipe.RecipeFile;
import dev.compress.recipe.RecipeRun;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code compress run RECIPE.yaml}: a recipe of steps, checks and gates into a cached run folder ({@link RecipeRun});
 * or {@code compress run --model M --pass ID}: passes that need no settings, chained by id; any pass registered with
 * the service loader (see {@link dev.compress.pipeline.ModelPass}) is reachable here without a command of its own.
 */
@Command(
        name = "run",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Run a recipe (YAML or JSON: model, data, steps, checks, gates; docs/recipes.md) into a run folder,"
                    + " re-running only the steps whose inputs or settings changed; exit 4 when a gate fails.",
            "Or run passes that need no settings over a model, in the order given, and write the result with a JSON"
                    + " report of every step.",
            ""
        },
        footer = {
            "",
            "Example:",
            "  compress run calibration-data/recipes/resnet-prune-quantize.yaml --junit gates.xml",
            "  compress run calibration-data/recipes/resnet-prune-quantize.yaml --explain",
            "  compress run --model model.onnx --pass prepare --out prepared.onnx",
            "  compress run --list"
        })
final class RunCommand extends BaseCommand {
    @Parameters(index = "0", arity = "0..1", paramLabel = "RECIPE",
            description = "A recipe file (.yaml, .yml or .json); see docs/recipes.md.")
    Path recipe;

    @Option(names = "--explain", order = 10,
            description = "With RECIPE: print the recipe with every default filled in, and exit.")
    boolean explain;

    @Option(names = "--run-dir", paramLabel = "DIR", order = 11,
            description = "With RECIPE: the run folder (created if missing). Default: RECIPE's name with .run"
                    + " instead of its extension, beside it.")
    Path runDir;

    @Option(names = "--junit", paramLabel = "FILE.xml", order = 12,
            description = "With RECIPE: also write the gates as JUnit XML, one testcase per gate.")
    Path junit;

    @Option(names = "--markdown", paramLabel = "FILE.md", order = 13,
            description = "With RECIPE: also write a Markdown summary (gates with their figures, steps run or cached).")
    Path markdown;

    @Option(names = "--step-summary", paramLabel = "FILE", order = 14, defaultValue = "${env:GITHUB_STEP_SUMMARY}",
            description = "With RECIPE: append the Markdown summary to FILE. Default: $GITHUB_STEP_SUMMARY when set.")
    Path stepSummary;

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
        if (recipe != null) {
            return runRecipe();
        }
        if (explain || runDir != null || junit != null || markdown != null) {
            throw usage("--explain, --run-dir, --junit and --markdown need a RECIPE file");
        }
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
        Json.write(output.report(), new FileReports.Run(model.toString(), out.toString(), steps,
                result.warnings()));
        global.out().println("wrote " + out);
        steps.forEach(step -> global.out().println("  " + step.pass()));
        global.out().println("report: " + output.report());
        global.out().flush();
        return ExitCode.OK;
    }

    private int runRecipe() {
        if (list || model != null || !passes.isEmpty() || output.out != null || output.report != null) {
            throw usage("a RECIPE names its model and steps itself; drop --list, --model, --pass, --out and --report");
        }
        RecipeFile file = RecipeFile.load(recipe);
        if (explain) {
            global.out().print(file.explain());
            global.out().flush();
            return ExitCode.OK;
        }
        Path folder = runDir != null ? runDir : recipe.resolveSibling(baseName(recipe) + ".run");
        Outputs.check(spec).input("RECIPE", recipe).output("--junit", junit).output("--markdown", markdown).run();
        // the run folder is a cache whose later steps read what earlier ones wrote: its files go in place at once
        RecipeRun.Outcome outcome = StagedFile.immediately(
                () -> RecipeRun.run(file, folder, global.progress(), global::info));
        outcome.warnings().forEach(warning -> global.err().println("warning: " + warning));
        String name = recipe.getFileName().toString();
        String summary = CiReports.markdown(name, outcome);
        if (junit != null) {
            StagedFile.writeString(junit, CiReports.junit(baseName(recipe), outcome));
        }
        if (markdown != null) {
            StagedFile.writeString(markdown, summary);
        }
        if (stepSummary != null) {
            CiReports.append(stepSummary, summary);
        }
        var stdout = global.out();
        long cached = outcome.steps().stream().filter(RecipeRun.StepOutcome::cached).count();
        stdout.println("run folder: " + folder + " (" + cached + " of " + outcome.steps().size()
                + " steps cached)");
        outcome.steps().forEach(step -> stdout.println(String.format(Locale.ROOT, "  %-5s %-24s %s", step.kind(),
                step.name(), step.cached() ? "cached" : String.format(Locale.ROOT, "ran in %.1f s", step.seconds()))));
        outcome.gates().forEach(gate -> stdout.println(gate.name() + ": " + gate.message()));
        stdout.flush();
        return outcome.passed() ? ExitCode.OK : ExitCode.GATE_FAILED;
    }

    /** {@code recipe.yaml} -> {@code recipe}. */
    private static String baseName(Path file) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 ? name.substring(0, dot) : name;
    }
}
