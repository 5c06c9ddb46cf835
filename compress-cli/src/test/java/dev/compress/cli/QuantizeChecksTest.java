package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.compress.Json;
import dev.compress.check.LatencyReport;
import dev.compress.quantize.QuantizationReport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checks {@code compress quantize} runs on its result: fidelity against the fp32 model and latency, on the
 * ResNet fixture, good and destroyed (surefire keeps the latency check short through compress.latencySeconds).
 */
class QuantizeChecksTest {
    @TempDir
    Path temp;

    @Test
    void aGoodModelReportsFidelityAndLatencyWithoutWarning() throws IOException {
        Path out = temp.resolve("good.onnx");
        Cli.Result result = Cli.run("quantize", "--model", Fixtures.resnet().toString(), "--data",
                Fixtures.calib().toString(), "--max-samples", "400", "--min-fidelity", "0.9", "--out", out.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.err()).contains("fidelity on 100 held-out samples of " + Fixtures.calib(), "latency: INT8 ")
                .doesNotContain("far from the fp32 model");
        JsonNode report = Json.MAPPER.readTree(temp.resolve("good.json").toFile());
        assertThat(report.at("/fidelity/heldOut").asBoolean()).isTrue();
        assertThat(report.at("/fidelity/passed").asBoolean()).isTrue();
        assertThat(report.at("/fidelity/outputs/0/top1Agreement").asDouble()).isGreaterThan(0.95);
        JsonNode latency = report.get("latency");
        for (String field : new String[] {"int8OverFp32", "fp32Ms", "int8Ms"}) {
            assertThat(latency.get(field).asDouble()).as(field).isPositive().isFinite();
        }
        assertThat(latency.get("runs").asInt()).isPositive();
        assertThat(latency.get("int8Slower").asBoolean()).isEqualTo(latency.get("int8OverFp32").asDouble() > 1);
        if (latency.get("int8Slower").asBoolean()) {
            assertThat(result.err()).contains("warning: the INT8 model is slower than the fp32 model");
        }
        // a small gain comes with where the time goes, in the report and on stderr
        boolean explained = latency.get("int8OverFp32").asDouble() > 0.70;
        assertThat(latency.path("kernels").isObject()).isEqualTo(explained);
        assertThat(result.err().contains("latency: kernel time per call in ONNX Runtime's profiler: INT8 "))
                .isEqualTo(explained);
        if (explained) {
            assertThat(latency.at("/kernels/int8").has("QLinearConv")).isTrue();
        }
    }

    @Test
    void aDestroyedModelWarnsNamingLayersAndFailsBelowMinFidelity() throws IOException {
        Path table = temp.resolve("table.json");
        Cli.Result calibrated = Cli.run("calibrate", "--model", Fixtures.resnet().toString(), "--data",
                Fixtures.calib().toString(), "--max-samples", "50", "--out", table.toString());
        assertThat(calibrated.exitCode()).as(calibrated.toString()).isZero();
        ObjectNode json = (ObjectNode) Json.MAPPER.readTree(table.toFile());
        for (Map.Entry<String, JsonNode> tensor : json.get("tensors").properties()) {
            ((ObjectNode) tensor.getValue()).put("min", -0.001).put("max", 0.001);
            ((ObjectNode) tensor.getValue().get("range")).put("min", -0.001).put("max", 0.001);
        }
        Json.write(table, json);
        String[] quantize = {"quantize", "--model", Fixtures.resnet().toString(), "--table", table.toString(),
            "--eval", Fixtures.heldout().toString(), "--no-latency-check", "--out",
            temp.resolve("bad.onnx").toString()};

        Cli.Result warned = Cli.run(quantize);
        assertThat(warned.exitCode()).as(warned.toString()).isZero();
        assertThat(warned.err()).contains("fidelity on 100 held-out samples of " + Fixtures.heldout(),
                "warning: the INT8 model is far from the fp32 model",
                "below 0.95 (--fidelity-warning); worst layers by SQNR", "try --exclude /");

        String[] failing = Arrays.copyOf(quantize, quantize.length + 2);
        failing[quantize.length] = "--min-fidelity";
        failing[quantize.length + 1] = "0.5";
        Cli.Result failed = Cli.run(failing);
        assertThat(failed.exitCode()).as(failed.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(failed.errLines()).last().asString().startsWith("error: fidelity 0.").endsWith(
                "is below --min-fidelity 0.5");
        JsonNode report = Json.MAPPER.readTree(temp.resolve("bad.json").toFile());
        assertThat(report.at("/fidelity/passed").asBoolean()).isFalse();
        assertThat(report.at("/fidelity/worstLayers")).hasSize(3);
        assertThat(report.has("latency")).isFalse();
        assertThat(temp.resolve("bad.onnx")).exists(); // as with --max-drop, the files are written
    }

    @Test
    void dynamicQuantizationIsCheckedOnDataWhenGiven() throws IOException {
        Path out = temp.resolve("dynamic.onnx");
        Cli.Result result = Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--dynamic", "--data",
                Fixtures.calib().toString(), "--no-latency-check", "--out", out.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        JsonNode report = Json.MAPPER.readTree(temp.resolve("dynamic.json").toFile());
        assertThat(report.at("/quantization/method").asText()).isEqualTo("dynamic");
        assertThat(report.at("/fidelity/samples").asInt()).isEqualTo(100);
        assertThat(report.at("/fidelity/fidelity").asDouble()).isGreaterThan(0.95);

        Cli.Result none = Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--dynamic", "--out",
                temp.resolve("none.onnx").toString());
        assertThat(none.exitCode()).as(none.toString()).isZero();
        assertThat(none.err()).contains("note: fidelity and latency not checked: no samples");
        Cli.Result gateWithoutSamples = Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--dynamic",
                "--min-fidelity", "0.9", "--out", temp.resolve("none.onnx").toString());
        assertThat(gateWithoutSamples.exitCode()).as(gateWithoutSamples.toString()).isEqualTo(ExitCode.USAGE);
        assertThat(gateWithoutSamples.err()).contains("--min-fidelity needs samples");
    }

    @Test
    void thresholdsAreCheckedAsUsage() {
        String model = Fixtures.resnet().toString();
        for (String[] bad : new String[][] {{"--min-fidelity", "1.5"}, {"--fidelity-warning", "-0.1"},
                {"--latency-seconds", "0"}}) {
            Cli.Result result = Cli.run("quantize", "--model", model, "--data", Fixtures.calib().toString(),
                    "--out", temp.resolve("x.onnx").toString(), bad[0], bad[1]);
            assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.USAGE);
            assertThat(result.err()).contains(bad[0] + " must be");
        }
    }

    /**
     * The fallback's figures reach the report and stderr; what it keeps float is listed under the same names. It
     * needs --data, also with --dynamic, whose variants it times on those samples.
     */
    @Test
    void latencyFallbackIsReportedAndNeedsData() throws IOException {
        Path out = temp.resolve("fallback.onnx");
        Cli.Result result = Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--data",
                Fixtures.calib().toString(), "--max-samples", "64", "--latency-fallback=0.05", "--out",
                out.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.err()).contains("latency fallback: ");
        JsonNode report = Json.MAPPER.readTree(temp.resolve("fallback.json").toFile());
        JsonNode fallback = report.get("latencyFallback");
        assertThat(fallback.get("trials").size()).isPositive();
        for (JsonNode kept : fallback.get("keptFloat")) {
            assertThat(report.at("/quantization/floatNodes").get(kept.asText()).asText()).contains("latency fallback");
        }
        Cli.Result dynamic = Cli.run("quantize", "--model", Fixtures.cnn().toString(), "--dynamic", "--data",
                Fixtures.calib().toString(), "--max-samples", "16", "--latency-fallback=0.05", "--out",
                temp.resolve("dynamic.onnx").toString());
        assertThat(dynamic.exitCode()).as(dynamic.toString()).isZero();
        assertThat(dynamic.err()).contains("latency fallback: ");
        assertThat(Json.MAPPER.readTree(temp.resolve("dynamic.json").toFile()).at("/latencyFallback/trials").size())
                .isPositive();

        for (String[] bad : new String[][] {{"--data", Fixtures.calib().toString(), "--latency-fallback=0"},
            {"--dynamic", "--latency-fallback"}}) {
            String[] args = {"quantize", "--model", Fixtures.cnn().toString(), "--out",
                temp.resolve("x.onnx").toString()};
            Cli.Result refused = Cli.run(java.util.stream.Stream.concat(Arrays.stream(args), Arrays.stream(bad))
                    .toArray(String[]::new));
            assertThat(refused.exitCode()).as(refused.toString()).isEqualTo(ExitCode.USAGE);
            assertThat(refused.err()).contains("--latency-fallback");
            assertThat(temp.resolve("x.onnx")).doesNotExist();
        }
    }

    /**
     * A dynamic model slower than fp32 because of its ConvIntegers: the warning names the --ops that keeps what else
     * was quantized and the Convs float, and the latency fallback where there is more than one op type to try; it
     * points to static quantization only where it would reach the Convs (silero VAD's sit in If branches, which
     * static quantization does not enter).
     */
    @Test
    void theDynamicSlowerWarningNamesTheOpsThatKeepTheConvsFloat() {
        LatencyReport slower = new LatencyReport(1.5, 0.1, 0.15, 1, 2, 100, true, null, null);
        assertThat(QuantizeCheckOptions.slowerWarning(slower, dynamicReport(Map.of("Conv", 28, "LSTM", 8)), true,
                false)).contains("static quantization does not reach these Convs (they sit in If, Loop or Scan"
                        + " bodies), and --ops LSTM keeps the Convs float; --latency-fallback measures which op types"
                        + " run faster float and keeps them so; or keep the fp32 model");
        assertThat(QuantizeCheckOptions.slowerWarning(slower,
                dynamicReport(Map.of("Conv", 4, "MatMul", 2, "Gather", 1)), true, true))
                .contains("static quantization (--data without --dynamic) runs integer Convs faster, and --ops"
                        + " Gather,MatMul keeps the Convs float");
        assertThat(QuantizeCheckOptions.slowerWarning(slower, dynamicReport(Map.of("Conv", 62)), true, true))
                .contains("runs integer Convs faster; or keep the fp32 model").doesNotContain("--ops")
                .doesNotContain("--latency-fallback");
    }

    private static QuantizationReport dynamicReport(Map<String, Integer> quantized) {
        return new QuantizationReport("m.onnx", "dynamic", "uint8 dynamic (matmul-integer)", "int8 symmetric", true, 0,
                quantized, Map.of(), Map.of(), List.of(), List.of(), List.of(), null, null, null);
    }
}
