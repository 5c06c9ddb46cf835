package dev.compress.data;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * Token-id samples for text models (BERT-style encoders), one sample per line of a file, read lazily:
 *
 * <ul>
 *   <li><b>JSONL</b>: each line a JSON object of named integer arrays, e.g.
 *       {@code {"input_ids": [101, 7592, 102], "attention_mask": [1, 1, 1]}}. An absent {@code attention_mask}
 *       means all ones and an absent {@code token_type_ids} all zeros; any other model input must be present.
 *   <li><b>Text</b>: each non-empty line one text, tokenized with a HuggingFace {@code tokenizer.json} through DJL's
 *       tokenizers (native code shipped in the jar; runs offline). Texts longer than the tokenizer's maximum length
 *       are truncated.
 * </ul>
 *
 * <p>The model inputs must be int64 {@code [batch, sequence]}. Samples in one batch are padded at the end to the
 * longest (or to the model's fixed sequence length) with 0, which {@code attention_mask} = 0 marks as padding.
 * Memory is one batch, whatever the file size.
 */
public final class TokenDataset implements Dataset {
    /** Inputs a line may leave out, and the value that fills them. */
    private static final Map<String, Long> DEFAULTS = Map.of("attention_mask", 1L, "token_type_ids", 0L);

    private final Path file;
    private final Map<String, Long> inputs; // name -> fixed sequence length, or -1
    private final Path tokenizer;
    private final int size;

    private TokenDataset(Path file, Map<String, Long> inputs, Path tokenizer, int size) {
        this.file = file;
        this.inputs = inputs;
        this.tokenizer = tokenizer;
        this.size = size;
    }

    /** Token ids from a JSONL file. */
    public static TokenDataset jsonl(Path file, Map<String, long[]> inputShapes) {
        return new TokenDataset(file, checkInputs(file, inputShapes), null, countLines(file));
    }

    /** Raw text, one sample per non-empty line, tokenized with {@code tokenizerJson}. */
    public static TokenDataset text(Path file, Path tokenizerJson, Map<String, long[]> inputShapes) {
        if (!Files.isRegularFile(tokenizerJson)) {
            throw CompressException.badInput(tokenizerJson, Files.exists(tokenizerJson) ? "is not a file"
                    : "no such file (expected a HuggingFace tokenizer.json)");
        }
        Map<String, Long> inputs = checkInputs(file, inputShapes);
        for (String name : inputs.keySet()) {
            if (!name.equals("input_ids") && !DEFAULTS.containsKey(name)) {
                throw CompressException.badInput(file, "the model input '" + name + "' is not one a tokenizer"
                        + " makes (input_ids, attention_mask, token_type_ids); give token ids as JSONL instead");
            }
        }
        return new TokenDataset(file, inputs, tokenizerJson, countLines(file));
    }

    private static Map<String, Long> checkInputs(Path file, Map<String, long[]> shapes) {
        if (!Files.isRegularFile(file)) {
            throw CompressException.badInput(file, Files.exists(file) ? "is not a file" : "no such file");
        }
        Map<String, Long> inputs = new LinkedHashMap<>();
        shapes.forEach((name, shape) -> {
            if (shape.length != 2) {
                throw CompressException.badInput(file, "token samples feed [batch, sequence] inputs, but model"
                        + " input '" + name + "' has rank " + shape.length);
            }
            inputs.put(name, shape[1] > 0 ? shape[1] : -1L);
        });
        return Collections.unmodifiableMap(inputs);
    }

    private static int countLines(Path file) {
        try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            int n = 0;
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (!line.isBlank()) {
                    n++;
                }
            }
            if (n == 0) {
                throw CompressException.badInput(file, "has no samples (no non-empty lines)");
            }
            return n;
        } catch (CharacterCodingException e) {
            throw CompressException.badInput(file, "is not UTF-8 text", e);
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot read (" + e.getMessage() + ")", e);
        }
    }

    @Override
    public Path source() {
        return file;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public List<String> classNames() {
        return List.of();
    }

    @Override
    public Iterator<Batch> batches(int batchSize) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
        return new Reader(batchSize);
    }

    /** Reads lines as they are asked for; closes the file (and tokenizer) after the last batch. */
    private final class Reader implements Iterator<Batch> {
        private final int batchSize;
        private final BufferedReader lines;
        private final HuggingFaceTokenizer tok;
        private int produced;
        private int lineNumber;

        Reader(int batchSize) {
            this.batchSize = batchSize;
            try {
                this.lines = Files.newBufferedReader(file, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw CompressException.badInput(file, "cannot read (" + e.getMessage() + ")", e);
            }
            this.tok = tokenizer == null ? null : openTokenizer();
        }

        private HuggingFaceTokenizer openTokenizer() {
            try {
                return HuggingFaceTokenizer.newInstance(tokenizer);
            } catch (IOException | RuntimeException e) {
                throw CompressException.badInput(tokenizer, "cannot load the tokenizer (" + e.getMessage() + ")", e);
            }
        }

        @Override
        public boolean hasNext() {
            return produced < size;
        }

        @Override
        public Batch next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            int n = Math.min(batchSize, size - produced);
            List<Map<String, long[]>> samples = new ArrayList<>(n);
            List<Path> sources = new ArrayList<>(n);
            try {
                while (samples.size() < n) {
                    String line = lines.readLine();
                    lineNumber++;
                    if (line == null) {
                        throw CompressException.badInput(file, "changed while being read (fewer lines than before)");
                    }
                    if (!line.isBlank()) {
                        samples.add(tok == null ? parse(line) : tokenize(line));
                        sources.add(Path.of(file + ":" + lineNumber));
                    }
                }
            } catch (IOException e) {
                throw CompressException.badInput(file, "cannot read line " + lineNumber + " (" + e.getMessage() + ")",
                        e);
            } catch (UncheckedIOException e) {
                throw CompressException.badInput(file, "cannot read line " + lineNumber, e);
            }
            produced += n;
            if (!hasNext()) {
                close();
            }
            return new Batch(stack(samples), filled(n), sources);
        }

        private void close() {
            try {
                lines.close();
            } catch (IOException e) {
                // read-only file, everything was read
            }
            if (tok != null) {
                tok.close();
            }
        }

        private Map<String, long[]> parse(String line) {
            JsonNode node;
            try {
                node = Json.MAPPER.readTree(line);
            } catch (IOException e) {
                throw problem("is not JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
            }
            if (node == null || !node.isObject()) {
                throw problem("is not a JSON object of named token-id arrays");
            }
            Map<String, long[]> sample = new LinkedHashMap<>();
            int length = -1;
            for (String name : inputs.keySet()) {
                JsonNode values = node.get(name);
                if (values == null && DEFAULTS.containsKey(name)) {
                    continue;
                }
                if (values == null || !values.isArray()) {
                    throw problem("has no integer array '" + name + "' (the model's inputs are " + inputs.keySet()
                            + ")");
                }
                long[] ids = new long[values.size()];
                for (int i = 0; i < ids.length; i++) {
                    if (!values.get(i).canConvertToLong() || !values.get(i).isIntegralNumber()) {
                        throw problem("'" + name + "' holds a non-integer value " + values.get(i));
                    }
                    ids[i] = values.get(i).asLong();
                }
                if (length >= 0 && ids.length != length) {
                    throw problem("'" + name + "' has " + ids.length + " values, other inputs " + length);
                }
                length = ids.length;
                sample.put(name, ids);
            }
            if (length <= 0) {
                throw problem("has no token ids");
            }
            for (String name : inputs.keySet()) {
                if (!sample.containsKey(name)) {
                    long[] fill = new long[length];
                    Arrays.fill(fill, DEFAULTS.get(name));
                    sample.put(name, fill);
                }
            }
            return sample;
        }

        private Map<String, long[]> tokenize(String line) {
            Encoding encoding = tok.encode(line);
            Map<String, long[]> sample = new LinkedHashMap<>();
            for (String name : inputs.keySet()) {
                sample.put(name, switch (name) {
                    case "input_ids" -> encoding.getIds();
                    case "attention_mask" -> encoding.getAttentionMask();
                    default -> encoding.getTypeIds();
                });
            }
            return sample;
        }

        /** Pads every sample to the batch's longest (or the model's fixed length) and stacks them. */
        private Map<String, HostTensor> stack(List<Map<String, long[]>> samples) {
            Map<String, HostTensor> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, Long> input : inputs.entrySet()) {
                int length = 0;
                for (Map<String, long[]> s : samples) {
                    length = Math.max(length, s.get(input.getKey()).length);
                }
                if (input.getValue() > 0) {
                    if (length > input.getValue()) {
                        throw CompressException.badInput(file, "a sample in the batch ending at line " + lineNumber
                                + " has " + length + " tokens; the model's '" + input.getKey() + "' takes "
                                + input.getValue());
                    }
                    length = input.getValue().intValue();
                }
                long[] values = new long[samples.size() * length];
                for (int i = 0; i < samples.size(); i++) {
                    long[] ids = samples.get(i).get(input.getKey());
                    System.arraycopy(ids, 0, values, i * length, ids.length);
                }
                tensors.put(input.getKey(), HostTensor.ofLongs(new long[] {samples.size(), length}, values));
            }
            return tensors;
        }

        private CompressException problem(String what) {
            return CompressException.badInput(file, "line " + lineNumber + " " + what);
        }
    }

    private static int[] filled(int n) {
        int[] labels = new int[n];
        Arrays.fill(labels, -1);
        return labels;
    }
}
