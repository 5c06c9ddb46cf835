package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input exits 3 with one line on stderr, {@code error: <file>: <problem>}, and leaves no output file behind
 * (not even a temporary one).
 */
class BadInputTest {
    @TempDir
    Path temp;

    private Path in;
    private Path outDir;
    private Path out;

    @BeforeEach
    void folders() throws IOException {
        in = Files.createDirectories(temp.resolve("in"));
        outDir = Files.createDirectories(temp.resolve("out"));
        out = outDir.resolve("model-int8.onnx");
    }

    private Cli.Result quantize(Path model, Path calib, Path output) {
        return Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(),
                "--out", output.toString());
    }

    /** Exit 3, exactly one stderr line naming {@code file} and saying {@code problem}, nothing written. */
    private void assertBadInput(Cli.Result result, Path file, String problem) throws IOException {
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).as(result.toString()).hasSize(1);
        assertThat(result.errLines().get(0)).as(result.toString())
                .startsWith("error: " + file + ": ")
                .contains(problem);
        assertThat(result.err()).doesNotContain("\tat ", "Exception");
        assertThat(result.out()).isEmpty();
        assertThat(Fixtures.filesUnder(outDir)).as("left in the output folder").isEmpty();
    }

    @Test
    void missingModelFile() throws IOException {
        Path model = in.resolve("no-such-model.onnx");
        assertBadInput(quantize(model, Fixtures.smallCalib(in.resolve("calib"), 4), out), model, "no such file");
    }

    @Test
    void textFileIsNotOnnx() throws IOException {
        Path model = Files.writeString(in.resolve("notes.onnx"), "this is a text file, not a model\n");
        assertBadInput(quantize(model, Fixtures.smallCalib(in.resolve("calib"), 4), out), model,
                "not a valid ONNX model");
    }

    @Test
    void truncatedOnnx() throws IOException {
        byte[] bytes = Files.readAllBytes(Fixtures.resnet());
        Path model = Files.write(in.resolve("resnet-truncated.onnx"), Arrays.copyOf(bytes, bytes.length / 2));
        assertBadInput(quantize(model, Fixtures.smallCalib(in.resolve("calib"), 4), out), model, "truncated");
    }

    @Test
    void emptyCalibrationFolder() throws IOException {
        Path calib = Files.createDirectories(in.resolve("empty-calib"));
        assertBadInput(quantize(Fixtures.cnn(), calib, out), calib, "no images found");
    }

    @Test
    void corruptImageInCalibrationFolder() throws IOException {
        Path calib = Fixtures.smallCalib(in.resolve("calib"), 4);
        // sorts after the real images, so calibration has started when it is reached
        Path broken = Files.write(calib.resolve("zz-broken.png"),
                "not a PNG at all, just text".getBytes(StandardCharsets.UTF_8));
        assertBadInput(quantize(Fixtures.cnn(), calib, out), broken, "cannot decode image");
    }

    @Test
    void modelWithoutFloatInput() throws IOException {
        Path model = Fixtures.int64InputModel(in.resolve("int64-input.onnx"));
        Cli.Result result = quantize(model, Fixtures.smallCalib(in.resolve("calib"), 4), out);
        assertBadInput(result, model, "has no float input");
        assertThat(result.errLines().get(0)).contains("ids INT64 [batch,4]");
    }

    @Test
    void outputInMissingFolder() throws IOException {
        Path missing = outDir.resolve("no-such-folder").resolve("model-int8.onnx");
        assertBadInput(quantize(Fixtures.cnn(), Fixtures.smallCalib(in.resolve("calib"), 4), missing), missing,
                "output folder does not exist");
    }

    @Test
    void reportInMissingFolderFailsBeforeAnyWork() throws IOException {
        Path report = outDir.resolve("no-such-folder").resolve("report.json");
        Cli.Result result = Cli.run("quantize", "--model", Fixtures.cnn().toString(),
                "--data", Fixtures.smallCalib(in.resolve("calib"), 4).toString(),
                "--out", out.toString(), "--report", report.toString());
        assertBadInput(result, report, "output folder does not exist");
    }

    @Test
    void unlabeledEvalDataFailsBeforeCalibration() throws IOException {
        Path calib = Fixtures.smallCalib(in.resolve("calib"), 4);
        Cli.Result result = Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--data", calib.toString(),
                "--out", out.toString(), "--eval", calib.toString(), "--max-drop", "1");
        assertBadInput(result, calib, "has no labels");
    }

    @Test
    void evalWithMissingDataFolder() throws IOException {
        Path data = in.resolve("no-such-data");
        Path report = outDir.resolve("eval.json");
        Cli.Result result = Cli.run("eval", "--model", Fixtures.cnn().toString(), "--data", data.toString(),
                "--report", report.toString());
        assertBadInput(result, data, "no such file or folder");
    }

    @Test
    void inspectTextFile() throws IOException {
        Path model = Files.writeString(in.resolve("readme.txt"), "hello\n");
        Cli.Result result = Cli.run("inspect", model.toString());
        assertBadInput(result, model, "not a valid ONNX model");
    }

    @Test
    void gateOnReportWithoutBaseline() throws IOException {
        Path notReport = Files.writeString(in.resolve("not-a-report.json"), "{\"hello\": 1}\n");
        Cli.Result result = Cli.run("gate", notReport.toString(), "--max-drop", "1");
        assertBadInput(result, notReport, "not an evaluation report");
    }

    @Test
    void chineseFileNamesAreNamedIntact() throws IOException {
        Path model = in.resolve("模型-缺失.onnx");
        Cli.Result result = Cli.run("inspect", model.toString());
        assertBadInput(result, model, "no such file");
    }

    @Test
    void verboseAddsTheStackTrace() throws IOException {
        Path model = in.resolve("missing.onnx");
        for (String[] args : new String[][] {
            {"--verbose", "inspect", model.toString()}, {"inspect", model.toString(), "--verbose"}}) {
            Cli.Result result = Cli.run(args);
            assertThat(result.exitCode()).isEqualTo(ExitCode.BAD_INPUT);
            assertThat(result.errLines().get(0)).isEqualTo("error: " + model + ": no such file");
            assertThat(result.err()).contains("\tat dev.compress.");
        }
    }
}
