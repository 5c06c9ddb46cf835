package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Calibration methods, tables (--save-table, --table, compress calibrate) and their mistakes, end to end. */
class CalibrationOptionsTest {
    @TempDir
    Path temp;

    private static Cli.Result quantize(String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "quantize";
        System.arraycopy(args, 0, all, 1, args.length);
        return Cli.run(all);
    }

    private static void assertUsage(Cli.Result result, String message) {
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.USAGE);
        assertThat(result.errLines().get(0)).as(result.toString()).startsWith("error: ").contains(message);
        assertThat(result.out()).isEmpty();
    }

    @Test
    void oneTableServesEveryMethodAndGivesTheSameModelAsCalibratingDirectly() throws IOException {
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 64);
        Path table = temp.resolve("cnn-table.json");
        Cli.Result calibrated = Cli.run("calibrate", "--model", Fixtures.cnn().toString(), "--data",
                calib.toString(), "--out", table.toString(), "--batch-size", "8");
        assertThat(calibrated.exitCode()).as(calibrated.toString()).isZero();
        assertThat(calibrated.out()).contains("64 samples, 2048 bins per side");
        JsonNode json = Json.MAPPER.readTree(Files.readString(table));
        assertThat(json.path("format").asText()).isEqualTo("compress-calibration-table");
        assertThat(json.path("model").path("sha256").asText()).hasSize(64);
        assertThat(json.path("samples").asInt()).isEqualTo(64);
        assertThat(json.path("histogramSamples").asInt()).isEqualTo(64);

        for (String method : new String[] {"minmax", "percentile", "entropy", "mse"}) {
            Path direct = temp.resolve("direct-" + method + ".onnx");
            Path fromTable = temp.resolve("table-" + method + ".onnx");
            // a table holds no data to correct biases on, so the direct run leaves them as they are too
            Cli.Result a = quantize("--model", Fixtures.cnn().toString(), "--data", calib.toString(),
                    "--out", direct.toString(), "--method", method, "--threads", "2", "--no-bias-correction");
            Cli.Result b = quantize("--model", Fixtures.cnn().toString(), "--table", table.toString(),
                    "--out", fromTable.toString(), "--method", method);
            assertThat(a.exitCode()).as(a.toString()).isZero();
            assertThat(b.exitCode()).as(b.toString()).isZero();
            assertThat(b.out()).contains("calibration: " + method + " over 64 samples (from " + table + ")");
            assertThat(Files.readAllBytes(fromTable)).as(method).isEqualTo(Files.readAllBytes(direct));
        }
        // the same table serves int8 activations, whose plan calibrates other tensors (ReLUs are not folded)
        Cli.Result int8 = quantize("--model", Fixtures.cnn().toString(), "--table", table.toString(),
                "--out", temp.resolve("int8.onnx").toString(), "--activations", "int8", "--method", "entropy");
        assertThat(int8.exitCode()).as(int8.toString()).isZero();
    }

    /**
     * Equalization changes the weights calibration sees, so a table is of the equalized model: quantize --table takes
     * it with the same choice and refuses it without. Bias correction measures on data, and the report lists both.
     */
    @Test
    void equalizationAndBiasCorrectionAreReportedAndTablesFollowEqualization() throws IOException {
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 16);
        Path table = temp.resolve("resnet-table.json");
        Cli.Result calibrated = Cli.run("calibrate", "--model", Fixtures.resnet().toString(), "--data",
                calib.toString(), "--out", table.toString(), "--equalize");
        assertThat(calibrated.exitCode()).as(calibrated.toString()).isZero();
        Cli.Result fromTable = quantize("--model", Fixtures.resnet().toString(), "--table", table.toString(),
                "--out", temp.resolve("a.onnx").toString(), "--equalize");
        assertThat(fromTable.exitCode()).as(fromTable.toString()).isZero();
        JsonNode a = Json.MAPPER.readTree(Files.readString(temp.resolve("a.json"))).path("quantization");
        assertThat(a.path("equalization").path("pairs").size()).isPositive();
        assertThat(a.has("biasCorrection")).isFalse();
        Cli.Result unequalized = quantize("--model", Fixtures.resnet().toString(), "--table", table.toString(),
                "--out", temp.resolve("b.onnx").toString(), "--no-equalize");
        assertThat(unequalized.exitCode()).as(unequalized.toString()).isEqualTo(ExitCode.BAD_INPUT);

        Cli.Result asked = quantize("--model", Fixtures.resnet().toString(), "--table", table.toString(),
                "--out", temp.resolve("b.onnx").toString(), "--equalize", "--bias-correction");
        assertThat(asked.exitCode()).as(asked.toString()).isEqualTo(ExitCode.USAGE);
        // on by default with --data
        Cli.Result corrected = quantize("--model", Fixtures.resnet().toString(), "--data", calib.toString(),
                "--out", temp.resolve("c.onnx").toString());
        assertThat(corrected.exitCode()).as(corrected.toString()).isZero();
        JsonNode c = Json.MAPPER.readTree(Files.readString(temp.resolve("c.json"))).path("quantization");
        assertThat(c.path("biasCorrection").path("samples").asInt()).isEqualTo(16);
        assertThat(c.path("biasCorrection").path("layers").size()).isPositive();
        assertThat(c.has("equalization")).isFalse();

        Cli.Result dynamic = quantize("--model", Fixtures.resnet().toString(), "--dynamic", "--out",
                temp.resolve("d.onnx").toString(), "--bias-correction");
        assertThat(dynamic.exitCode()).as(dynamic.toString()).isEqualTo(ExitCode.USAGE);
        assertThat(dynamic.errLines().get(0)).contains("apply to static quantization");
    }

    @Test
    void saveTableWritesWhatTableReads() throws IOException {
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 16);
        Path table = temp.resolve("resnet-table.json");
        Cli.Result first = quantize("--model", Fixtures.resnet().toString(), "--data", calib.toString(),
                "--out", temp.resolve("a.onnx").toString(), "--method", "mse", "--save-table", table.toString(),
                "--no-bias-correction");
        assertThat(first.exitCode()).as(first.toString()).isZero();
        assertThat(first.out()).contains("calibration table: " + table);
        Cli.Result second = quantize("--model", Fixtures.resnet().toString(), "--table", table.toString(),
                "--out", temp.resolve("b.onnx").toString(), "--method", "mse");
        assertThat(second.exitCode()).as(second.toString()).isZero();
        assertThat(Files.readAllBytes(temp.resolve("b.onnx"))).isEqualTo(Files.readAllBytes(temp.resolve("a.onnx")));
    }

    @Test
    void histogramsCanComeFromFewerSamplesThanTheExtremes() throws IOException {
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 64);
        Path table = temp.resolve("cnn-table.json");
        Cli.Result calibrated = Cli.run("calibrate", "--model", Fixtures.cnn().toString(), "--data",
                calib.toString(), "--out", table.toString(), "--histogram-samples", "10");
        assertThat(calibrated.exitCode()).as(calibrated.toString()).isZero();
        assertThat(calibrated.out()).contains("64 samples (histograms from 10), 2048 bins per side");
        JsonNode json = Json.MAPPER.readTree(Files.readString(table));
        assertThat(json.path("samples").asInt()).isEqualTo(64);
        assertThat(json.path("histogramSamples").asInt()).isEqualTo(10);
        Cli.Result quantized = quantize("--model", Fixtures.cnn().toString(), "--table", table.toString(),
                "--out", temp.resolve("x.onnx").toString(), "--method", "entropy");
        assertThat(quantized.exitCode()).as(quantized.toString()).isZero();
    }

    @Test
    void aTableOfAnotherModelIsRefused() throws IOException {
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 4);
        Path table = temp.resolve("cnn-table.json");
        assertThat(Cli.run("calibrate", "--model", Fixtures.cnn().toString(), "--data", calib.toString(),
                "--out", table.toString()).exitCode()).isZero();
        Path out = Files.createDirectories(temp.resolve("out")).resolve("resnet-int8.onnx");
        Cli.Result result = quantize("--model", Fixtures.resnet().toString(), "--table", table.toString(),
                "--out", out.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).singleElement().asString()
                .startsWith("error: " + table + ": calibration table of model ")
                .containsPattern("cnn-fp32.onnx \\(sha256 [0-9a-f]{12}…\\), not of \\S*resnet-fp32.onnx \\(sha256 ");
        assertThat(Fixtures.filesUnder(out.getParent())).isEmpty();
    }

    @Test
    void aFileThatIsNotATableIsABadInput() throws IOException {
        Path table = Files.writeString(temp.resolve("notes.json"), "{\"hello\": 1}\n");
        Cli.Result result = quantize("--model", Fixtures.cnn().toString(), "--table", table.toString(),
                "--out", temp.resolve("x.onnx").toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).singleElement().asString()
                .isEqualTo("error: " + table + ": not a calibration table (no \"format\": \"compress-calibration-table\")");
    }

    @Test
    void badCalibrationOptionsAreUsageErrors() {
        String model = Fixtures.cnn().toString();
        String calib = Fixtures.calib().toString();
        String out = temp.resolve("x.onnx").toString();
        assertUsage(quantize("--model", model, "--data", calib, "--out", out, "--method", "kl"),
                "unknown calibration method 'kl' (expected one of minmax, percentile, entropy, mse)");
        assertUsage(quantize("--model", model, "--data", calib, "--out", out, "--percentile", "0"),
                "--percentile: percentile must be in (0, 100], got 0.0");
        assertUsage(quantize("--model", model, "--data", calib, "--out", out, "--percentile", "100.1"),
                "--percentile: percentile must be in (0, 100], got 100.1");
        assertUsage(quantize("--model", model, "--data", calib, "--out", out, "--bins", "64"),
                "--bins: histogram bins must be between 128 and 65536, got 64");
        assertUsage(quantize("--model", model, "--data", calib, "--out", out, "--tensor-method", "x=fast"),
                "--tensor-method: unknown calibration method 'fast'");
        assertUsage(quantize("--model", model, "--data", calib, "--out", out, "--max-samples", "-1"),
                "--max-samples must be at least 1");
        assertUsage(quantize("--model", model, "--data", calib, "--out", out, "--histogram-samples", "-5"),
                "--histogram-samples must be at least 1 (or 0 for all), got -5");
        assertUsage(quantize("--model", model, "--out", out), "--table FILE.json from an earlier calibration");
        assertUsage(quantize("--model", model, "--data", calib, "--table", "t.json", "--out", out),
                "--data and --table are alternatives");
    }

    @Test
    void aPerTensorMethodMustNameAnActivation() {
        Cli.Result result = quantize("--model", Fixtures.cnn().toString(), "--data", Fixtures.calib().toString(),
                "--out", temp.resolve("x.onnx").toString(), "--tensor-method", "no_such_tensor=entropy");
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).singleElement().asString()
                .contains("a per-tensor calibration method names 'no_such_tensor'");
    }
}
