package dev.compress.cli;

import dev.compress.recipe.Recipe;
import dev.compress.recipe.RecipeFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/**
 * {@code --print-recipe} of the single commands that are one recipe step ({@code quantize}, {@code prune}, {@code
 * run --pass}): the recipe {@code compress run} takes for the same work, with the command's checks and gates.
 */
final class RecipePrinter {
    private final CommandSpec spec;
    private final List<String> refused = new ArrayList<>();

    RecipePrinter(CommandSpec spec) {
        this.spec = spec;
    }

    /** Notes that {@code option} was given and has no recipe form; {@link #print} then refuses with a usage error. */
    RecipePrinter refuse(boolean given, String option) {
        if (given) {
            refused.add(option);
        }
        return this;
    }

    /** The data section from the command's data options; null when no data was given. */
    static Recipe.Data data(Path calibration, Path evaluation, DataOptions options) {
        Recipe.Preprocessing preprocessing = options.preprocessing.recipe();
        if (calibration == null && evaluation == null && options.labels == null && preprocessing == null) {
            return null;
        }
        return new Recipe.Data(text(calibration), text(evaluation), text(options.labels), preprocessing);
    }

    static String text(Path path) {
        return path == null ? null : path.toString();
    }

    /** Prints {@code recipe} with a header saying what it is; exit 0, or a usage error for refused options. */
    int print(GlobalOptions global, Recipe recipe) {
        if (!refused.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "--print-recipe: " + String.join(", ", refused)
                    + (refused.size() == 1 ? " has" : " have") + " no recipe form (docs/recipes.md)");
        }
        String command = spec.qualifiedName(" ");
        global.out().print("# " + command + " as a one-step recipe: compress run RECIPE.yaml does the same work in a"
                + " cached run folder\n# (docs/recipes.md). Paths are as given, relative to the folder the recipe is"
                + " saved in.\n" + RecipeFile.yaml(recipe));
        global.out().flush();
        return ExitCode.OK;
    }
}
