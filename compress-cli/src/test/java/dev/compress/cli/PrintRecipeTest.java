package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --print-recipe}: the recipe a single command prints does the same work through {@code compress run}. */
class PrintRecipeTest {
    @TempDir
    Path temp;

    /** Runs the command with --print-recipe, saves what it prints as a recipe, and runs that. */
    private Path printAndRun(String name, String... command) throws IOException {
        String[] args = java.util.Arrays.copyOf(command, command.length + 1);
        args[command.length] = "--print-recipe";
        Cli.Result printed = Cli.run(args);
        assertThat(printed.exitCode()).as(printed.toString()).isZero();
        assertThat(printed.err()).isEmpty();
        Path recipe = Files.writeString(temp.resolve(name + ".yaml"), printed.out());
        Path run = temp.resolve(name + ".run");
        Cli.Result result = Cli.run("run", recipe.toString(), "--run-dir", run.toString(), "--step-summary",
                temp.resolve("summary.md").toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        return run;
    }

    @Test
    void theReadmeQuantizeCommandsRecipeWritesItsModelAndFigures() throws IOException {
        Path out = temp.resolve("resnet-int8.onnx");
        String[] command = {"quantize", "--model", Fixtures.resnet().toString(), "--data",
            Fixtures.calib().toString(), "--eval", Fixtures.heldout().toString(), "--max-drop", "1",
            "--min-fidelity", "0.95", "--no-latency-check", "--out", out.toString()};

        Path run = printAndRun("quantize", command);
        Cli.Result direct = Cli.run(command);

        assertThat(direct.exitCode()).as(direct.toString()).isZero();
        assertThat(Files.readString(temp.resolve("quantize.yaml"))).startsWith("# compress quantize as a one-step"
                + " recipe").contains("- check: fidelity\n  name: fidelity\n  data: calibration\n")
                .doesNotContain("check: latency")
                .contains("- name: max-drop\n  metric: eval.top1-drop\n  max: 1.0\n")
                .contains("- name: min-fidelity\n  metric: fidelity.score\n  min: 0.95\n");
        assertThat(Files.readAllBytes(run.resolve("01-quantize.onnx"))).isEqualTo(Files.readAllBytes(out));
        JsonNode report = Json.MAPPER.readTree(temp.resolve("resnet-int8.json").toFile());
        // the same figures; the minimum is the recipe's gate, not part of the check
        com.fasterxml.jackson.databind.node.ObjectNode fidelity = report.get("fidelity").deepCopy();
        fidelity.remove(java.util.List.of("minFidelity", "passed"));
        assertThat(Json.MAPPER.readTree(run.resolve("02-fidelity.json").toFile())).isEqualTo(fidelity);
        JsonNode eval = Json.MAPPER.readTree(run.resolve("03-eval.json").toFile());
        assertThat(eval.get("top1")).isEqualTo(report.at("/evaluation/top1"));
        assertThat(eval.get("baseline").get("mcnemar")).isEqualTo(report.at("/evaluation/baseline/mcnemar"));
        JsonNode gate = Json.MAPPER.readTree(run.resolve("04-max-drop.json").toFile());
        assertThat(gate.get("value").asDouble()).isEqualTo(report.at("/gate/dropPoints").asDouble());
        assertThat(gate.get("passed").asBoolean()).isEqualTo(report.at("/gate/passed").asBoolean()).isTrue();
        JsonNode fidelityGate = Json.MAPPER.readTree(run.resolve("05-min-fidelity.json").toFile());
        assertThat(fidelityGate.get("value").asDouble()).isEqualTo(report.at("/fidelity/fidelity").asDouble());
    }

    @Test
    void aPruneCommandsRecipeWritesItsModel() throws IOException {
        Path out = temp.resolve("pruned.onnx");
        String[] command = {"prune", "--model", Fixtures.resnet().toString(), "--sparsity", "0.3", "--global",
            "--exclude", "/fc/Gemm", "--out", out.toString()};

        Path run = printAndRun("prune", command);
        Cli.Result direct = Cli.run(command);

        assertThat(direct.exitCode()).as(direct.toString()).isZero();
        assertThat(Files.readString(temp.resolve("prune.yaml"))).contains("  sparsity: 0.3\n  scope: global\n"
                + "  structured: false\n  exclude:\n  - /fc/Gemm\n");
        assertThat(Files.readAllBytes(run.resolve("01-prune.onnx"))).isEqualTo(Files.readAllBytes(out));
    }

    @Test
    void passesOfCompressRunAreRecipeSteps() throws IOException {
        Path out = temp.resolve("converted.onnx");
        String[] command = {"run", "--model", Fixtures.cnn().toString(), "--pass", "prepare,convert-opset",
            "--out", out.toString()};

        Path run = printAndRun("passes", command);
        Cli.Result direct = Cli.run(command);

        assertThat(direct.exitCode()).as(direct.toString()).isZero();
        assertThat(Files.readAllBytes(run.resolve("02-convert-opset.onnx"))).isEqualTo(Files.readAllBytes(out));
    }

    @Test
    void aDynamicQuantizeWithoutPreparationIsItsRecipeToo() throws IOException {
        Path out = temp.resolve("dynamic.onnx");
        String[] command = {"quantize", "--model", Fixtures.cnn().toString(), "--dynamic", "--no-prepare", "--out",
            out.toString()};

        Path run = printAndRun("dynamic", command);
        Cli.Result direct = Cli.run(command);

        assertThat(direct.exitCode()).as(direct.toString()).isZero();
        assertThat(Files.readString(temp.resolve("dynamic.yaml"))).contains("- pass: quantize-dynamic\n"
                + "  name: quantize\n  format: matmul-integer\n  reduceRange: false\n  exclude: []\n  ops: []\n"
                + "  prepare: false\n");
        assertThat(Files.readAllBytes(run.resolve("01-quantize.onnx"))).isEqualTo(Files.readAllBytes(out));
    }

    @Test
    void flagsOfTheOtherQuantizationModeAreUsageErrors() {
        Cli.Result weightOnly = Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--dynamic",
                "--weight-only", "x", "--out", temp.resolve("a.onnx").toString());
        Cli.Result reduceRange = Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--data",
                Fixtures.calib().toString(), "--reduce-range", "--out", temp.resolve("b.onnx").toString());

        assertThat(weightOnly.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(weightOnly.errLines().get(0)).isEqualTo("error: --upgrade-opset, --keep-opset and --weight-only"
                + " apply to static quantization; --dynamic is per channel at any opset");
        assertThat(reduceRange.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(reduceRange.errLines().get(0)).isEqualTo("error: --reduce-range applies to --dynamic only");
        assertThat(temp.resolve("a.onnx")).doesNotExist();
        assertThat(temp.resolve("b.onnx")).doesNotExist();
    }

    @Test
    void flagsWithoutARecipeFormAreAUsageErrorNamingThem() {
        Cli.Result result = Cli.run("quantize", "--model", Fixtures.resnet().toString(), "--table",
                temp.resolve("t.json").toString(), "--tensor-method", "x=entropy", "--print-recipe");

        assertThat(result.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(result.errLines().get(0)).isEqualTo("error: --print-recipe: --table, --tensor-method have no recipe"
                + " form (docs/recipes.md)");
        assertThat(result.out()).isEmpty();
    }
}
