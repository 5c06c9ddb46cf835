package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.eval.EvalReport;
import dev.compress.graph.OnnxModel;
import dev.compress.inspect.ModelInspector;
import dev.compress.inspect.ModelSummary;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shipped models and images through the real commands. */
class EndToEndTest {
    @TempDir
    Path temp;

    private static long pngsUnder(Path folder) throws IOException {
        try (Stream<Path> files = Files.walk(folder)) {
            return files.filter(p -> p.toString().endsWith(".png")).count();
        }
    }

    @Test
    void quantizeWithEvalAndGate() throws IOException {
        Path out = temp.resolve("resnet-int8.onnx");
        Cli.Result result = Cli.run("quantize", "--model", Fixtures.resnet().toString(),
                "--data", Fixtures.calib().toString(), "--out", out.toString(),
                "--eval", Fixtures.heldout().toString(), "--max-drop", "1.0");

        // the default report sits beside the model
        Path reportFile = temp.resolve("resnet-int8.json");
        assertThat(reportFile).as(result.toString()).exists();
        JsonNode report = Json.MAPPER.readTree(reportFile.toFile());
        JsonNode gate = report.get("gate");
        JsonNode evaluation = report.get("evaluation");

        // the exit code follows the recorded decision, and the shipped resnet passes a 1-point gate
        assertThat(result.exitCode()).as(result.toString())
                .isEqualTo(gate.get("passed").asBoolean() ? ExitCode.OK : ExitCode.GATE_FAILED)
                .isEqualTo(ExitCode.OK);
        long samples = evaluation.get("samples").asLong();
        assertThat(samples).isEqualTo(pngsUnder(Fixtures.heldout()));
        assertThat(report.at("/quantization/calibrationSamples").asLong()).isEqualTo(pngsUnder(Fixtures.calib()));
        long candidate = evaluation.at("/top1/count").asLong();
        long baseline = evaluation.at("/baseline/top1/count").asLong();
        double drop = gate.get("dropPoints").asDouble();
        assertThat(drop).isCloseTo(100.0 * (baseline - candidate) / samples, org.assertj.core.data.Offset.offset(1e-6));
        assertThat(drop).isLessThanOrEqualTo(1.0);
        assertThat(evaluation.get("model").asText()).isEqualTo(out.toString());
        assertThat(evaluation.at("/baseline/model").asText()).isEqualTo(Fixtures.resnet().toString());

        // the written model is a loadable QDQ model, smaller than the fp32 one by the reported sizes
        ModelSummary int8 = ModelInspector.inspect(OnnxModel.load(out));
        assertThat(int8.ops()).containsKeys("QuantizeLinear", "DequantizeLinear");
        assertThat(report.at("/size/int8Bytes").asLong()).isEqualTo(Files.size(out));
        assertThat(report.at("/size/fp32Bytes").asLong()).isEqualTo(Files.size(Fixtures.resnet()));
        assertThat(report.at("/size/ratio").asDouble()).isGreaterThan(2.0);

        assertThat(result.out()).contains("wrote " + out, "size: ", "report: " + reportFile, "PASS: top-1 drop");
        assertThat(result.err()).contains("calibrating: 500 samples", "evaluate: 2000 samples")
                .doesNotContain("error");

        // the quantize report feeds the gate directly
        Cli.Result pass = Cli.run("gate", reportFile.toString(), "--max-drop", "1.0");
        assertThat(pass.exitCode()).as(pass.toString()).isEqualTo(ExitCode.OK);
        assertThat(pass.out().lines().toList()).hasSize(1).first().asString().startsWith("PASS");
        if (drop > 0) {
            Cli.Result fail = Cli.run("gate", reportFile.toString(), "--max-drop", Double.toString(drop / 2));
            assertThat(fail.exitCode()).as(fail.toString()).isEqualTo(ExitCode.GATE_FAILED);
            assertThat(fail.out()).startsWith("FAIL");
        }
    }

    @Test
    void gateFailsWhenTheCandidateLosesMoreThanAllowed() {
        Path resnetReport = temp.resolve("resnet.json");
        Path cnnReport = temp.resolve("cnn.json");
        for (Object[] run : new Object[][] {{Fixtures.resnet(), resnetReport}, {Fixtures.cnn(), cnnReport}}) {
            Cli.Result result = Cli.run("eval", "--model", run[0].toString(), "--data", Fixtures.heldout().toString(),
                    "--report", run[1].toString());
            assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
            assertThat(result.out()).contains("top-1 ", "report: " + run[1]);
        }
        EvalReport resnet = EvalReport.readJson(resnetReport);
        EvalReport cnn = EvalReport.readJson(cnnReport);
        // the better model is the baseline; the expectation comes from the two reports
        boolean resnetBetter = resnet.top1().count() >= cnn.top1().count();
        EvalReport better = resnetBetter ? resnet : cnn;
        EvalReport worse = resnetBetter ? cnn : resnet;
        Path betterReport = resnetBetter ? resnetReport : cnnReport;
        Path worseReport = resnetBetter ? cnnReport : resnetReport;
        double drop = 100.0 * (better.top1().count() - worse.top1().count()) / better.samples();
        assumeThat(drop).as("the two fixture models differ on held-out data").isGreaterThan(0.01);

        Cli.Result unpaired = Cli.run("gate", betterReport.toString(), worseReport.toString(), "--max-drop", "0.01");
        assertThat(unpaired.exitCode()).as(unpaired.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(unpaired.out().lines().toList()).hasSize(1).first().asString().startsWith("FAIL");
        Cli.Result reversed = Cli.run("gate", worseReport.toString(), betterReport.toString(), "--max-drop", "0.01");
        assertThat(reversed.exitCode()).as(reversed.toString()).isEqualTo(ExitCode.OK);

        Path paired = temp.resolve("paired.json");
        Cli.Result gated = Cli.run("eval", "--model", worse.model(), "--data", Fixtures.heldout().toString(),
                "--baseline", better.model(), "--max-drop", "0.01", "--report", paired.toString());
        assertThat(gated.exitCode()).as(gated.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(gated.out()).contains("FAIL: top-1 drop");
        assertThat(EvalReport.readJson(paired).baseline().dropPoints())
                .isCloseTo(drop, org.assertj.core.data.Offset.offset(1e-6));
        Cli.Result loose = Cli.run("gate", paired.toString(), "--max-drop", Double.toString(drop + 0.5));
        assertThat(loose.exitCode()).as(loose.toString()).isEqualTo(ExitCode.OK);
    }

    @Test
    void npyCalibrationData() throws IOException {
        Path calib = Files.createDirectories(temp.resolve("npy-calib"));
        Random random = new Random(7);
        for (int i = 0; i < 6; i++) {
            float[] values = new float[28 * 28];
            for (int j = 0; j < values.length; j++) {
                values[j] = (float) random.nextGaussian();
            }
            writeNpy(calib.resolve("sample-" + i + ".npy"), new int[] {1, 28, 28}, values);
        }
        Path out = temp.resolve("cnn-int8.onnx");
        // no latency check: on 6 samples of the tiny cnn INT8 can measure slower, whose warning --quiet still prints
        Cli.Result result = Cli.run("--quiet", "quantize", "--model", Fixtures.cnn().toString(),
                "--data", calib.toString(), "--out", out.toString(), "--report", temp.resolve("r.json").toString(),
                "--no-latency-check");
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        assertThat(result.err()).isEmpty();
        assertThat(out).exists();
        assertThat(Json.MAPPER.readTree(temp.resolve("r.json").toFile()).at("/quantization/calibrationSamples")
                .asLong()).isEqualTo(6);
    }

    @Test
    void rgbImagesForGrayscaleModelAreConvertedAndCounted() throws IOException {
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 4);
        Fixtures.rgbPng(calib.resolve("zz-color.png"));
        Path report = temp.resolve("r.json");
        Cli.Result result = Cli.run("--quiet", "quantize", "--model", Fixtures.cnn().toString(),
                "--data", calib.toString(), "--out", temp.resolve("cnn-int8.onnx").toString(),
                "--report", report.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        JsonNode conversions = Json.MAPPER.readTree(report.toFile()).at("/preprocessing/conversions");
        assertThat(conversions.toString()).isEqualTo("{\"rgb->luma\":1}");
    }

    /** A little-endian float32 .npy file, format version 1.0. */
    static void writeNpy(Path file, int[] shape, float[] values) throws IOException {
        StringBuilder dims = new StringBuilder();
        for (int d : shape) {
            dims.append(d).append(", ");
        }
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims.toString().strip() + "), }";
        int unpadded = 10 + dict.length() + 1;
        String header = dict + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        ByteBuffer buffer = ByteBuffer.allocate(10 + header.length() + 4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        buffer.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
        buffer.putShort((short) header.length());
        buffer.put(header.getBytes(StandardCharsets.US_ASCII));
        buffer.asFloatBuffer().put(values);
        Files.write(file, buffer.array());
    }
}
