package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code compress score} and {@code compress debug} end to end, with their documented exit codes. */
class ScoreAndDebugCommandTest {
    @TempDir
    Path temp;

    @Test
    void scoreWritesJsonAndMarkdownAndPassesParityOfTheOnnxExport() throws IOException {
        Path json = temp.resolve("score.json");
        Path markdown = temp.resolve("score.md");
        Cli.Result result = Cli.run("score", "-q", "--teacher", TestData.model("resnet-fp32.pt").toString(),
                "--student", Fixtures.resnet().toString(), "--data", Fixtures.calib().toString(),
                "--temperature", "1,4", "--parity", "--report", json.toString(), "--markdown", markdown.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        assertThat(result.out()).contains("KL at T=4").contains("export parity: OK");
        JsonNode tree = Json.MAPPER.readTree(json.toFile());
        assertThat(tree.get("samples").asInt()).isEqualTo(500);
        assertThat(tree.at("/parity/maxAbsDiff").asDouble()).isLessThanOrEqualTo(1e-4);
        assertThat(Files.readString(markdown)).startsWith("# Teacher-student score");
    }

    @Test
    void parityOfADifferentModelExitsFour() {
        Cli.Result result = Cli.run("score", "-q", "--teacher", TestData.model("resnet-fp32.pt").toString(),
                "--student", Fixtures.cnn().toString(), "--data", Fixtures.calib().toString(), "--parity");
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(result.out()).contains("export parity: BROKEN");
    }

    @Test
    void badTemperatureIsAUsageError() {
        Cli.Result result = Cli.run("score", "--teacher", Fixtures.resnet().toString(), "--student",
                Fixtures.cnn().toString(), "--data", Fixtures.calib().toString(), "--temperature", "-1");
        assertThat(result.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(result.errLines().get(0)).isEqualTo("error: --temperature must be a number > 0, got -1.0");
    }

    @Test
    void emptyDataFolderAndNonTorchScriptAreBadInput() throws IOException {
        Path empty = Files.createDirectories(temp.resolve("empty"));
        Cli.Result result = Cli.run("score", "--teacher", Fixtures.resnet().toString(), "--student",
                Fixtures.cnn().toString(), "--data", empty.toString());
        assertThat(result.exitCode()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).singleElement().asString().startsWith("error: " + empty + ": no images");

        Path notTorchScript = Files.writeString(temp.resolve("state_dict.pt"), "not a zip archive\n");
        result = Cli.run("score", "--teacher", notTorchScript.toString(), "--student", Fixtures.cnn().toString(),
                "--data", Fixtures.calib().toString());
        assertThat(result.exitCode()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).singleElement().asString()
                .startsWith("error: " + notTorchScript + ": not a TorchScript checkpoint");
    }

    @Test
    void embeddingModeScoresWithoutKl() {
        Cli.Result result = Cli.run("score", "--teacher", Fixtures.resnet().toString(), "--student",
                Fixtures.cnn().toString(), "--data", Fixtures.calib().toString(), "--outputs", "embedding",
                "--batch-size", "500");
        // any [N, ...] outputs of equal shape: cosine, MSE and differences only
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        assertThat(result.out()).doesNotContain("KL at");
    }

    /** debug ranks the layers, writes JSON and PNG, and its suggestion is accepted by quantize --exclude. */
    @Test
    void debugSuggestsANameThatQuantizeExcludeTakes() throws IOException {
        Path int8 = temp.resolve("resnet-int8.onnx");
        Cli.Result quantized = Cli.run("quantize", "-q", "--model", Fixtures.resnet().toString(), "--data",
                Fixtures.calib().toString(), "--out", int8.toString());
        assertThat(quantized.exitCode()).as(quantized.toString()).isZero();
        Path json = temp.resolve("layers.json");
        Path chart = temp.resolve("layers.png");
        Cli.Result result = Cli.run("debug", "-q", "--baseline", Fixtures.resnet().toString(), "--model", int8.toString(),
                "--data", Fixtures.calib().toString(), "--report", json.toString(), "--chart", chart.toString(),
                "--top", "5");
        assertThat(result.exitCode()).as(result.toString()).isZero();
        String worst = Json.MAPPER.readTree(json.toFile()).at("/layers/0/node").asText();
        assertThat(result.out()).contains("--exclude " + worst);
        byte[] png = Files.readAllBytes(chart);
        assertThat(png).startsWith(0x89, 'P', 'N', 'G');

        Path again = temp.resolve("resnet-int8-excluded.onnx");
        Cli.Result excluded = Cli.run("quantize", "-q", "--model", Fixtures.resnet().toString(), "--data",
                Fixtures.calib().toString(), "--out", again.toString(), "--exclude", worst);
        assertThat(excluded.exitCode()).as(excluded.toString()).isZero();
    }

    /** --sensitivity adds the exclusion ranking to the table and JSON and suggests its top layer. */
    @Test
    void debugSensitivitySuggestsTheLayerWithTheLargestGain() throws IOException {
        Path int8 = temp.resolve("resnet-int8.onnx");
        Cli.Result quantized = Cli.run("quantize", "-q", "--model", Fixtures.resnet().toString(), "--data",
                Fixtures.calib().toString(), "--out", int8.toString());
        assertThat(quantized.exitCode()).as(quantized.toString()).isZero();
        Path json = temp.resolve("layers.json");
        Cli.Result result = Cli.run("debug", "-q", "--baseline", Fixtures.resnet().toString(), "--model", int8.toString(),
                "--data", Fixtures.calib().toString(), "--sensitivity", "--calib", Fixtures.calib().toString(),
                "--report", json.toString(), "--batch-size", "100");
        assertThat(result.exitCode()).as(result.toString()).isZero();
        var top = Json.MAPPER.readTree(json.toFile()).at("/sensitivity/layers/0");
        assertThat(top.path("node").asText()).isNotEmpty();
        assertThat(result.out()).contains("exclusion sensitivity");
        if (top.path("gainDb").asDouble() > 0) {
            assertThat(result.out()).contains("--exclude " + top.path("node").asText());
        } else {
            assertThat(result.out()).contains("no single exclusion raises output SQNR");
        }

        Cli.Result noCalib = Cli.run("debug", "--baseline", Fixtures.resnet().toString(), "--model", int8.toString(),
                "--data", Fixtures.calib().toString(), "--sensitivity");
        assertThat(noCalib.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(noCalib.err()).contains("--sensitivity needs --calib DIR");
    }
}
