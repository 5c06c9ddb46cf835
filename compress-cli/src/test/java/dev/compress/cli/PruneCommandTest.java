package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.graph.OnnxModel;
import dev.compress.prune.TinyModels;
import dev.compress.torch.TorchScriptModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code compress prune} on the shipped models: pruning, prune-then-quantize, masks, scan and bad input. */
class PruneCommandTest {
    @TempDir
    Path temp;

    private Path outDir;

    @BeforeEach
    void folders() throws IOException {
        outDir = Files.createDirectories(temp.resolve("out"));
    }

    @Test
    void pruneThenQuantizeShrinksTheZippedSize() throws IOException {
        Path pruned = outDir.resolve("cnn-sparse.onnx");
        Cli.Result prune = Cli.run("prune", "--model", Fixtures.cnn().toString(), "--sparsity", "0.6",
                "--exclude", "/conv1/Conv", "--layer-sparsity", "/fc2/Gemm=0.2", "--out", pruned.toString(),
                "--eval", Fixtures.heldout().toString());
        assertThat(prune.exitCode()).as(prune.toString()).isZero();
        assertThat(prune.out()).contains("wrote " + pruned, "zipped: ", "masks: ", "top-1 ");
        JsonNode report = Json.MAPPER.readTree(outDir.resolve("cnn-sparse.json").toFile());
        assertThat(outDir.resolve("cnn-sparse.masks.json")).exists();
        // unstructured zeros: the same file size (but for a line of metadata), a much smaller zipped size
        JsonNode size = report.get("size");
        assertThat(size.get("outputBytes").asDouble()).isCloseTo(size.get("inputBytes").asLong(),
                org.assertj.core.data.Offset.offset(1000.0));
        assertThat(size.get("outputZippedBytes").asDouble()).isLessThan(0.75 * size.get("inputZippedBytes").asLong());
        assertThat(report.at("/pruning/layers/0/excluded").asBoolean()).isTrue();
        assertThat(report.at("/pruning/layers/3/sparsity").asDouble()).isBetween(0.195, 0.205);
        assertThat(report.at("/evaluation/top1/fraction").asDouble()).isGreaterThan(0.8);

        Path int8 = outDir.resolve("cnn-sparse-int8.onnx");
        Cli.Result quantize = Cli.run("quantize", "--model", pruned.toString(), "--data",
                Fixtures.calib().toString(), "--out", int8.toString(), "--eval", Fixtures.heldout().toString(),
                "--zipped-size");
        assertThat(quantize.exitCode()).as(quantize.toString()).isZero();
        JsonNode q = Json.MAPPER.readTree(outDir.resolve("cnn-sparse-int8.json").toFile());
        long int8Zipped = q.at("/size/int8ZippedBytes").asLong();
        assertThat(int8Zipped).isPositive().isLessThan(q.at("/size/int8Bytes").asLong());
        assertThat(q.at("/size/fp32ZippedBytes").asLong()).isEqualTo(size.get("outputZippedBytes").asLong());
        // the pruned INT8 model still classifies like its fp32 parent
        assertThat(q.at("/evaluation/baseline/agreement/fraction").asDouble()).isGreaterThan(0.95);
    }

    @Test
    void structuredPruningShrinksTheFileAndMasksReapply() throws IOException {
        Path small = outDir.resolve("cnn-small.onnx");
        Cli.Result result = Cli.run("prune", "--model", Fixtures.cnn().toString(), "--sparsity", "0.25",
                "--structured", "--data", Fixtures.calib().toString(), "--out", small.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        JsonNode report = Json.MAPPER.readTree(outDir.resolve("cnn-small.json").toFile());
        assertThat(report.at("/size/outputBytes").asDouble()).isLessThan(0.8 * report.at("/size/inputBytes").asLong());
        assertThat(report.at("/pruning/kind").asText()).isEqualTo("structured");
        assertThat(report.at("/pruning/compensation").asText()).isEqualTo("channel means on 500 samples");

        Path again = outDir.resolve("cnn-again.onnx");
        Cli.Result apply = Cli.run("prune", "--model", Fixtures.cnn().toString(), "--apply-masks",
                outDir.resolve("cnn-small.masks.json").toString(), "--data", Fixtures.calib().toString(),
                "--out", again.toString(), "-q");
        assertThat(apply.exitCode()).as(apply.toString()).isZero();
        assertThat(OnnxModel.load(again).graph().initializers())
                .isEqualTo(OnnxModel.load(small).graph().initializers());
    }

    @Test
    void masksApplyToTheTorchScriptCheckpoint() throws IOException {
        Path sparse = outDir.resolve("cnn-sparse.onnx");
        assertThat(Cli.run("prune", "--model", Fixtures.cnn().toString(), "--sparsity", "0.5", "--out",
                sparse.toString(), "-q").exitCode()).isZero();
        Path pt = outDir.resolve("cnn-sparse.pt");
        Cli.Result result = Cli.run("prune", "--model", Fixtures.cnn().resolveSibling("cnn-fp32.pt").toString(),
                "--apply-masks", outDir.resolve("cnn-sparse.masks.json").toString(), "--out", pt.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).contains("conv1.weight -> conv1.weight");
        try (TorchScriptModel reloaded = TorchScriptModel.load(pt)) {
            float[] w = reloaded.parameters().get("fc1.weight").values();
            long zeros = 0;
            for (float v : w) {
                zeros += v == 0f ? 1 : 0;
            }
            assertThat((double) zeros / w.length).isCloseTo(0.5, org.assertj.core.data.Offset.offset(0.005));
        }
        assertThat(Json.MAPPER.readTree(outDir.resolve("cnn-sparse.json").toFile()).at("/appliedTo/fc2.weight")
                .asText()).isEqualTo("fc2.weight");
    }

    @Test
    void scanWritesJsonAndPlot() throws IOException {
        Path out = outDir.resolve("scan.json");
        Cli.Result result = Cli.run("prune", "scan", "--model", Fixtures.cnn().toString(), "--data",
                Fixtures.heldout().toString(), "--sparsities", "0.5,0.9", "--exclude", "fc1.weight",
                "--out", out.toString(), "-q");
        assertThat(result.exitCode()).as(result.toString()).isZero();
        JsonNode scan = Json.MAPPER.readTree(out.toFile());
        assertThat(scan.get("layers")).hasSize(3);
        assertThat(scan.get("global")).hasSize(2);
        assertThat(Files.readAllBytes(outDir.resolve("scan.png"))).startsWith(0x89, 'P', 'N', 'G');
    }

    /** Exit 3 (or 2 for usage), one stderr line, nothing left in the output folder. */
    private void assertRefused(Cli.Result result, int code, String start, String problem) throws IOException {
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(code);
        assertThat(result.errLines().get(0)).as(result.toString()).startsWith(start).contains(problem);
        assertThat(result.err()).doesNotContain("\tat ", "Exception");
        assertThat(Fixtures.filesUnder(outDir)).as("left in the output folder").isEmpty();
    }

    @Test
    void sparsityOutsideZeroToOneIsAUsageError() throws IOException {
        for (String s : new String[] {"1", "1.5", "-0.1"}) {
            assertRefused(Cli.run("prune", "--model", Fixtures.cnn().toString(), "--sparsity", s, "--out",
                    outDir.resolve("x.onnx").toString()), ExitCode.USAGE, "error: ", "--sparsity must be in [0, 1)");
        }
        assertRefused(Cli.run("prune", "--model", Fixtures.cnn().toString(), "--sparsity", "0.5",
                "--layer-sparsity", "/fc2/Gemm=1.0", "--out", outDir.resolve("x.onnx").toString()), ExitCode.USAGE,
                "error: ", "--layer-sparsity /fc2/Gemm must be in [0, 1)");
        assertRefused(Cli.run("prune", "--model", Fixtures.cnn().toString(), "--sparsity", "0.5",
                "--data", Fixtures.calib().toString(), "--out", outDir.resolve("x.onnx").toString()), ExitCode.USAGE,
                "error: ", "calibration data compensates removed channels in structured pruning");
    }

    @Test
    void unknownLayerIsBadInput() throws IOException {
        assertRefused(Cli.run("prune", "--model", Fixtures.cnn().toString(), "--sparsity", "0.5",
                "--layer-sparsity", "/conv7/Conv=0.2", "--out", outDir.resolve("x.onnx").toString()),
                ExitCode.BAD_INPUT, "error: " + Fixtures.cnn() + ": ", "names '/conv7/Conv', which is not a prunable");
    }

    @Test
    void sharedWeightIsBadInput() throws IOException {
        Path model = temp.resolve("shared.onnx");
        TinyModels.sharedWeight().save(model);
        assertRefused(Cli.run("prune", "--model", model.toString(), "--sparsity", "0.5", "--out",
                outDir.resolve("x.onnx").toString()), ExitCode.BAD_INPUT, "error: " + model + ": ",
                "tensor 'w' is shared by 2 nodes (fc1, fc2)");
    }

    @Test
    void masksOfAnotherModelAreBadInput() throws IOException {
        Path masks = temp.resolve("cnn.masks.json");
        Path cnnOut = temp.resolve("cnn-sparse.onnx");
        assertThat(Cli.run("prune", "--model", Fixtures.cnn().toString(), "--sparsity", "0.5", "--out",
                cnnOut.toString(), "--masks", masks.toString(), "-q").exitCode()).isZero();
        assertRefused(Cli.run("prune", "--model", Fixtures.resnet().toString(), "--apply-masks", masks.toString(),
                "--out", outDir.resolve("x.onnx").toString()), ExitCode.BAD_INPUT, "error: " + masks + ": ",
                "was made for another model");
        Path notMasks = Files.writeString(temp.resolve("notes.json"), "{\"format\": \"something-else\"}");
        assertRefused(Cli.run("prune", "--model", Fixtures.cnn().toString(), "--apply-masks", notMasks.toString(),
                "--out", outDir.resolve("x.onnx").toString()), ExitCode.BAD_INPUT, "error: " + notMasks + ": ",
                "not a valid compress-prune-masks file");
    }
}
