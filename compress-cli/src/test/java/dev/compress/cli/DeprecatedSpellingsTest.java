package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The option names replaced by the naming table of docs/cli.md still work for a release, and say what replaces them. */
class DeprecatedSpellingsTest {
    @TempDir
    Path temp;

    private static void assertDeprecated(Cli.Result result, String old, String replacement) {
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.errLines()).contains("warning: " + old
                + " is deprecated and will be removed in the next release; use " + replacement);
    }

    @Test
    void calibIsData() throws IOException {
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 8);
        Path out = temp.resolve("q.onnx");
        assertDeprecated(Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--calib", calib.toString(),
                "--out", out.toString()), "--calib", "--data");
        assertThat(out).exists();
        Path table = temp.resolve("t.json");
        assertDeprecated(Cli.run("calibrate", "--model", Fixtures.cnn().toString(), "--calib", calib.toString(),
                "--out", table.toString()), "--calib", "--data");
        assertThat(table).exists();
    }

    @Test
    void debugTakesModelAndBaselineAndScoreAndDebugTakeReport() throws IOException {
        Path data = Fixtures.smallCalib(temp.resolve("data"), 8);
        Path int8 = temp.resolve("q.onnx");
        assertThat(Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--data", data.toString(),
                "--out", int8.toString()).exitCode()).isZero();

        Path layers = temp.resolve("layers.json");
        Cli.Result debug = Cli.run("debug", "--fp32", Fixtures.cnn().toString(), "--int8", int8.toString(),
                "--data", data.toString(), "--json", layers.toString());
        assertDeprecated(debug, "--fp32", "--baseline");
        assertDeprecated(debug, "--int8", "--model");
        assertDeprecated(debug, "--json FILE", "--report FILE");
        assertThat(layers).exists();

        Path score = temp.resolve("score.json");
        assertDeprecated(Cli.run("score", "--teacher", Fixtures.cnn().toString(), "--student", int8.toString(),
                "--data", data.toString(), "--json", score.toString()), "--json FILE", "--report FILE");
        assertThat(score).exists();
    }

    @Test
    void pruneScanIsASubcommand() throws IOException {
        Path scan = temp.resolve("scan.json");
        Cli.Result result = Cli.run("prune", "--model", Fixtures.cnn().toString(), "--scan", "--eval",
                Fixtures.heldout().toString(), "--scan-sparsities", "0.5", "--out", scan.toString());
        assertDeprecated(result, "prune --scan --eval DIR", "prune scan --data DIR");
        assertThat(Files.readString(scan)).contains("\"layers\"");
        assertThat(temp.resolve("scan.png")).exists();
    }
}
