package dev.compress.cli;

import dev.compress.CompressException;
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
import dev.compress.recipe.HtmlReport;
import dev.compress.recipe.Recipe;
import dev.compress.recipe.RecipeFile;
import dev.compress.recipe.RecipeRun;
import dev.compress.recipe.RecipeSteps;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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

    @Option(names = "--baseline", paramLabel = "FILE", order = 11,
            description = "With RECIPE: the baseline its 'against: baseline' gates compare with, instead of the"
                    + " recipe's own: an earlier run's run.json (e.g. the main branch's), an eval report or a quantize"
                    + " report.")
    Path baseline;

    @Option(names = "--junit", paramLabel = "FILE.xml", order = 12,
            description = "With RECIPE: also write the gates as JUnit XML, one testcase per gate.")
    Path junit;

    @Option(names = "--markdown", paramLabel = "FILE.md", order = 13,
            description = "With RECIPE: also write a Markdown summary (gates with their figures, steps run or cached).")
    Path markdown;

    @Option(names = "--html", paramLabel = "FILE.html", order = 14,
            description = "With RECIPE: also write the HTML report (one self-contained file; the run folder always"
                    + " holds it as " + HtmlReport.FILE + ") to FILE.")
    Path htmlReport;

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

    @Option(names = "--print-recipe", order = 5,
            description = "With --model and --pass: print the recipe (YAML) of those passes, and exit; prepare and"
                    + " convert-opset are recipe steps.")
    boolean printRecipe;

    @Mixin
    OutputOptions output;

    @Override
    public Integer call() {
        if (recipe != null) {
            return runRecipe();
        }
        if (explain || runDir != null || junit != null || markdown != null || htmlReport != null
                || baseline != null) {
            throw usage("--explain, --run-dir, --baseline, --junit, --markdown and --html need a RECIPE file");
        }
        if (list) {
            Passes.available().forEach((id, pass) -> global.out().println(id + "\t" + pass.getClass().getName()));
            global.out().flush();
            return ExitCode.OK;
        }
        if (model == null || passes.isEmpty()) {
            throw usage("Missing required options: '--model=MODEL' and '--pass=ID' (or --list)");
        }
        if (printRecipe) {
            return printRecipe();
        }
        Pipeline.Builder builder = Pipeline.builder();
        named().forEach((name, id) -> {
            Recipe.Step step = step(id, name);
            // a pass another jar registers has no recipe step; it runs as the service loader gives it
            builder.add(step != null ? RecipeSteps.pass(step) : Passes.find(id));
        });
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

    /** The passes as recipe steps. */
    private int printRecipe() {
        RecipePrinter printer = new RecipePrinter(spec);
        List<Recipe.Step> steps = new ArrayList<>();
        named().forEach((name, id) -> {
            Recipe.Step step = step(id, name);
            printer.refuse(step == null, "--pass " + id);
            steps.add(step);
        });
        return printer.print(global, new Recipe(model.toString(), null, null, null, steps, null, null, null));
    }

    /** The passes by step name: the pass's id, numbered when one repeats; an unknown pass is the usual error. */
    private Map<String, String> named() {
        Map<String, String> named = new LinkedHashMap<>();
        Map<String, Integer> seen = new HashMap<>();
        for (String id : passes) {
            Passes.find(id);
            int n = seen.merge(id, 1, Integer::sum);
            named.put(n == 1 ? id : id + "-" + n, id);
        }
        return named;
    }

    /**
     * The recipe step of pass {@code id}: what --print-recipe prints and what runs, through {@link RecipeSteps}; null
     * for a pass that has none.
     */
    private static Recipe.Step step(String id, String name) {
        return switch (id) {
            case "prepare" -> new Recipe.Prepare(name);
            case "convert-opset" -> new Recipe.ConvertOpset(name, null).withDefaults();
            default -> null;
        };
    }

    private int runRecipe() {
        if (list || model != null || !passes.isEmpty() || output.out != null || output.report != null
                || printRecipe) {
            throw usage("a RECIPE names its model and steps itself; drop --list, --model, --pass, --out, --report and"
                    + " --print-recipe");
        }
        RecipeFile file = RecipeFile.load(recipe, baseline);
        if (explain) {
            global.out().print(file.explain());
            global.out().flush();
            return ExitCode.OK;
        }
        Path folder = runDir != null ? runDir : recipe.resolveSibling(baseName(recipe) + ".run");
        Outputs.check(spec).input("RECIPE", recipe).output("--junit", junit).output("--markdown", markdown)
                .output("--html", htmlReport).run();
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
        if (htmlReport != null) {
            try {
                StagedFile.writeString(htmlReport, Files.readString(outcome.report()));
            } catch (IOException e) {
                throw CompressException.badInput(outcome.report(), "cannot read (" + e.getMessage() + ")");
            }
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
        stdout.println("report: " + (htmlReport != null ? htmlReport : outcome.report()));
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
