package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A recipe with the shipped ResNet's TorchScript checkpoint as its teacher (run by DJL's PyTorch engine, offline):
 * score checks of the ONNX export and of the INT8 model against it, gated; the same figures as {@code compress score}.
 */
class RecipeTeacherTest {
    static final Path RECIPE = TestData.calibrationData().resolve("recipes/resnet-torchscript-teacher.yaml");

    @TempDir
    Path temp;

    private Cli.Result run(String... args) {
        String[] all = Arrays.copyOf(args, args.length + 2);
        all[args.length] = "--step-summary";
        all[args.length + 1] = temp.resolve("summary.md").toString();
        return Cli.run(all);
    }

    @Test
    void theTeacherRecipeScoresExportAndInt8ModelAsCompressScoreDoesAndGatesOnTheFigures() throws IOException {
        Path run = temp.resolve("run");

        Cli.Result first = run("run", RECIPE.toString(), "--run-dir", run.toString());

        assertThat(first.exitCode()).as(first.toString()).isZero();
        assertThat(first.out()).contains("export-parity: PASS: relative max difference from the teacher")
                .contains("teacher-agreement: PASS: top-1 agreement with the teacher")
                .contains("teacher-kl: PASS: KL divergence from the teacher at T=1");
        JsonNode export = Json.MAPPER.readTree(run.resolve("02-export.json").toFile());
        assertThat(export.get("teacher").asText()).isEqualTo("resnet-fp32.pt");
        assertThat(export.get("student").asText()).isEqualTo("resnet-fp32.onnx");
        assertThat(export.at("/parity/relativeMaxDiff").asDouble()).isPositive().isLessThan(1e-4);

        // the score command on the run's INT8 model gives the same figures: one implementation
        Path direct = temp.resolve("score.json");
        Cli.Result score = Cli.run("score", "-q", "--teacher", TestData.model("resnet-fp32.pt").toString(),
                "--student", run.resolve("01-quantize.onnx").toString(), "--data", Fixtures.heldout().toString(),
                "--temperature", "1,4", "--report", direct.toString());
        assertThat(score.exitCode()).as(score.toString()).isZero();
        JsonNode teacher = Json.MAPPER.readTree(run.resolve("03-teacher.json").toFile());
        JsonNode command = Json.MAPPER.readTree(direct.toFile());
        for (String field : new String[] {"samples", "kl", "agreement", "top5Overlap", "cosine", "mse", "parity",
            "labeled"}) {
            assertThat(teacher.get(field)).as(field).isEqualTo(command.get(field));
        }
        JsonNode agreement = Json.MAPPER.readTree(run.resolve("05-teacher-agreement.json").toFile());
        assertThat(agreement.get("value").asDouble()).isEqualTo(command.at("/agreement/fraction").asDouble());
        assertThat(agreement.get("ci95Low").asDouble()).isEqualTo(command.at("/agreement/ci95Low").asDouble());
        JsonNode kl = Json.MAPPER.readTree(run.resolve("06-teacher-kl.json").toFile());
        assertThat(kl.get("value").asDouble()).isEqualTo(command.at("/kl/0/kl/mean").asDouble());

        Cli.Result again = run("run", RECIPE.toString(), "--run-dir", run.toString());
        assertThat(again.exitCode()).as(again.toString()).isZero();
        assertThat(again.out()).contains("(6 of 6 steps cached)");
    }

    @Test
    void aFailingTeacherGateShowsItsFiguresAndExitsFour() throws IOException {
        String text = Files.readString(RECIPE).replace("../", TestData.calibrationData() + "/")
                .replace("calib\n  evaluation: " + TestData.calibrationData() + "/fashion-mnist/heldout",
                        "calib\n  evaluation: " + TestData.calibrationData() + "/fashion-mnist/calib")
                .replace("    max: 0.001\n", "    max: 0.00000001\n");
        assertThat(text).contains("max: 0.00000001").doesNotContain("heldout");
        Path recipe = Files.writeString(temp.resolve("strict.yaml"), text);
        Path junit = temp.resolve("gates.xml");

        Cli.Result result = run("run", recipe.toString(), "--run-dir", temp.resolve("run").toString(), "--junit",
                junit.toString());

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(result.out()).containsPattern("teacher-kl: FAIL: KL divergence from the teacher at T=1 0\\.0\\d+"
                + " \\(95% CI 0\\.0\\d+ to 0\\.0\\d+\\), maximum 0\\.00000001");
        assertThat(Files.readString(junit)).contains("teacher-kl").contains("FAIL: KL divergence from the teacher");

        // that run as the baseline of the same recipe: the KL figure changed by nothing
        Path again = Files.writeString(temp.resolve("against-baseline.yaml"), text
                + "  - {name: kl-vs-baseline, metric: teacher.kl, against: baseline, max: 0}\n");
        Cli.Result compared = run("run", again.toString(), "--run-dir", temp.resolve("run2").toString(),
                "--baseline", temp.resolve("run/run.json").toString());
        assertThat(compared.exitCode()).as(compared.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(compared.out()).containsPattern("kl-vs-baseline: PASS: KL divergence from the teacher at T=1"
                + " 0\\.0\\d+ now, 0\\.0\\d+ in the baseline: change 0, maximum change 0\n");
    }
}
