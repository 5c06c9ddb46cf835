package dev.compress.export;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.TempFolder;
import dev.compress.data.Batch;
import dev.compress.data.DataSources;
import dev.compress.data.HostTensor;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Checks a bundle written by {@link BundleExporter}: every file against the manifest's size and SHA-256, and no file
 * unlisted; both model copies load in ONNX Runtime and give equal outputs on the same inputs; labels and
 * preprocessing agree between the manifest, the label files and the model's metadata, and the label count with the
 * model's classes. The first mismatch is a BAD_INPUT naming the file inside the zip ({@code bundle.zip!model.ort}).
 */
public final class BundleVerifier {
    /** Samples compared between the two model copies. */
    static final int SAMPLES = 16;
    private static final int BATCH = 4;

    private BundleVerifier() {}

    /** What was checked. */
    public record Result(int files, int classes, int samples, String samplesFrom) {}

    /**
     * Verifies {@code zip}.
     *
     * @param images images to compare the two copies on, or {@code null} for fixed pseudo-random inputs
     * @throws CompressException BAD_INPUT naming the file that does not match
     */
    public static Result verify(Path zip, Path images) {
        Bundle bundle = Bundle.read(zip);
        Map<String, byte[]> files = bundle.files();
        JsonNode manifest = manifest(zip, files);
        JsonNode listed = manifest.path("files");
        // host measurements differ from run to run: declared by the manifest, not hashed
        String measurements = manifest.path("measurements").path("file").asText(null);
        for (String name : files.keySet()) {
            if (!name.equals(Bundle.MANIFEST) && !name.equals(measurements) && !listed.has(name)) {
                throw bad(zip, name, "not listed in " + Bundle.MANIFEST);
            }
        }
        for (Iterator<String> names = listed.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            byte[] content = files.get(name);
            if (content == null) {
                throw bad(zip, name, "missing (listed in " + Bundle.MANIFEST + ")");
            }
            if (content.length != listed.path(name).path("bytes").asLong(-1)) {
                throw bad(zip, name, content.length + " bytes, " + Bundle.MANIFEST + " says "
                        + listed.path(name).path("bytes").asText());
            }
            if (!BundleExporter.sha256(content).equals(listed.path(name).path("sha256").asText())) {
                throw bad(zip, name, "SHA-256 differs from " + Bundle.MANIFEST);
            }
        }
        for (String required : List.of(Bundle.MODEL, Bundle.ORT_MODEL)) {
            if (!files.containsKey(required)) {
                throw bad(zip, required, "missing");
            }
        }
        try (TempFolder temp = TempFolder.create("compress-verify")) {
            Path folder = extract(zip, files, temp.path());
            OnnxModel model = load(zip, folder, Bundle.MODEL);
            int classes = BundleExporter.classes(model);
            for (JsonNode variant : manifest.path("variants")) {
                String name = variant.path("file").asText();
                if (!files.containsKey(name)) {
                    throw bad(zip, name, "missing (a variant in " + Bundle.MANIFEST + ")");
                }
                OnnxModel fallback = load(zip, write(zip, folder, name, files.get(name)), name);
                if (BundleExporter.classes(fallback) != classes) {
                    throw bad(zip, name, BundleExporter.classes(fallback) + " classes, " + Bundle.MODEL + " has "
                            + classes);
                }
            }
            checkLabels(zip, files, manifest, model, "labels", BundleExporter.LABELS_KEY, classes);
            checkLabels(zip, files, manifest, model, "labelsZh", BundleExporter.LABELS_ZH_KEY, classes);
            Preprocessing preprocessing = ModelInputs.imagePreprocessing(model, Preprocessing.Overrides.NONE);
            if (!tree(preprocessing.toJson()).equals(withoutExtras(manifest.path("preprocessing")))) {
                throw bad(zip, Bundle.MANIFEST, "preprocessing differs from the model's " + Preprocessing.METADATA_KEY
                        + " metadata");
            }
            List<Batch> batches = images == null ? random(model, preprocessing) : images(images, model);
            int samples = compare(zip, folder, batches);
            return new Result(files.size(), classes, samples,
                    images == null ? "pseudo-random inputs" : images.toString());
        }
    }

    private static JsonNode manifest(Path zip, Map<String, byte[]> files) {
        byte[] bytes = files.get(Bundle.MANIFEST);
        if (bytes == null) {
            throw bad(zip, Bundle.MANIFEST, "missing");
        }
        try {
            JsonNode manifest = Json.MAPPER.readTree(bytes);
            if (!manifest.isObject() || !manifest.path("files").isObject()) {
                throw bad(zip, Bundle.MANIFEST, "no \"files\" object");
            }
            String seal = manifest.path(ManifestSeal.KEY).asText();
            if (!ManifestSeal.holds(new String(bytes, StandardCharsets.UTF_8), seal)) {
                throw bad(zip, Bundle.MANIFEST, "changed after it was written (" + ManifestSeal.KEY
                        + " does not match its content)");
            }
            return manifest;
        } catch (IOException e) {
            throw bad(zip, Bundle.MANIFEST, "not JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
    }

    /** JSON text as a tree: floats written by Java and read back compare as the same doubles. */
    private static JsonNode tree(String json) {
        try {
            return Json.MAPPER.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonNode withoutExtras(JsonNode preprocessing) {
        com.fasterxml.jackson.databind.node.ObjectNode copy = preprocessing.deepCopy();
        copy.remove(List.of("input", "resizeFilter", "colorConversion"));
        return copy;
    }

    private static void checkLabels(Path zip, Map<String, byte[]> files, JsonNode manifest, OnnxModel model,
            String key, String metadataKey, int classes) {
        JsonNode entry = manifest.path(key);
        if (entry.isMissingNode()) {
            return;
        }
        String file = entry.path("file").asText();
        byte[] text = files.get(file);
        if (text == null) {
            throw bad(zip, file, "missing (named by " + Bundle.MANIFEST + " " + key + ")");
        }
        List<String> names = new String(text, StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
        List<String> listed = new ArrayList<>();
        entry.path("names").forEach(n -> listed.add(n.asText()));
        if (listed.size() != classes || entry.path("count").asInt(-1) != classes) {
            throw bad(zip, Bundle.MANIFEST, key + " has " + listed.size() + " names (count "
                    + entry.path("count").asText() + "), the model outputs " + classes + " classes");
        }
        if (!names.equals(listed)) {
            throw bad(zip, file, "differs from the names in " + Bundle.MANIFEST);
        }
        if (!Json.compact(names).equals(model.metadata().get(metadataKey))) {
            throw bad(zip, Bundle.MODEL, "metadata " + metadataKey + " differs from " + file);
        }
    }

    private static OnnxModel load(Path zip, Path folder, String name) {
        try {
            return OnnxModel.load(folder.resolve(name));
        } catch (CompressException e) {
            throw bad(zip, name, e.problem());
        }
    }

    /** Fixed pseudo-random inputs in the range normalized images take. */
    private static List<Batch> random(OnnxModel model, Preprocessing preprocessing) {
        Random random = new Random(14);
        String input = ModelInputs.imageInput(model).name();
        List<Batch> batches = new ArrayList<>();
        for (int b = 0; b < SAMPLES / BATCH; b++) {
            long[] shape = preprocessing.batchShape(BATCH);
            float[] values = new float[(int) HostTensor.elementCount(shape)];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) random.nextGaussian();
            }
            batches.add(new Batch(Map.of(input, HostTensor.ofFloats(shape, values)), new int[BATCH],
                    java.util.Collections.nCopies(BATCH, Path.of("pseudo-random input"))));
        }
        return batches;
    }

    private static List<Batch> images(Path images, OnnxModel model) {
        DataSources.Opened opened = DataSources.open(images, model, Preprocessing.Overrides.NONE, null);
        List<Batch> batches = new ArrayList<>();
        Iterator<Batch> it = opened.dataset().batches(BATCH);
        for (int n = 0; n < SAMPLES && it.hasNext(); ) {
            Batch batch = it.next();
            batches.add(batch);
            n += batch.size();
        }
        return batches;
    }

    /** Runs both copies at the level the ORT copy was optimized at; returns the samples compared. */
    private static int compare(Path zip, Path folder, List<Batch> batches) {
        RuntimeOptions basic = RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.BASIC)
                .withIntraOpThreads(1);
        OrtModel onnx = open(zip, folder, Bundle.MODEL, basic);
        try (onnx; OrtModel ort = open(zip, folder, Bundle.ORT_MODEL, basic)) {
            int samples = 0;
            for (Batch batch : batches) {
                Map<String, OrtModel.FloatOutput> expected = onnx.run(batch);
                Map<String, OrtModel.FloatOutput> actual = ort.run(batch);
                for (var output : expected.entrySet()) {
                    OrtModel.FloatOutput other = actual.get(output.getKey());
                    if (other == null || !Arrays.equals(output.getValue().values(), other.values())) {
                        throw bad(zip, Bundle.ORT_MODEL, "output '" + output.getKey() + "' differs from "
                                + Bundle.MODEL + "'s on the same inputs");
                    }
                }
                samples += batch.size();
            }
            return samples;
        }
    }

    private static OrtModel open(Path zip, Path folder, String name, RuntimeOptions options) {
        try {
            return OrtModel.open(folder.resolve(name), options);
        } catch (CompressException e) {
            throw bad(zip, name, e.problem());
        }
    }

    private static Path extract(Path zip, Map<String, byte[]> files, Path folder) {
        for (String name : List.of(Bundle.MODEL, Bundle.ORT_MODEL)) {
            write(zip, folder, name, files.get(name));
        }
        return folder;
    }

    /** Writes one file of the bundle into the temporary folder; returns the folder. */
    private static Path write(Path zip, Path folder, String name, byte[] content) {
        try {
            Path file = folder.resolve(name).normalize();
            if (!file.startsWith(folder)) {
                throw bad(zip, name, "names a file outside the bundle");
            }
            Files.createDirectories(file.getParent());
            Files.write(file, content);
            return folder;
        } catch (IOException e) {
            throw CompressException.internal("cannot unpack " + zip + " to a temporary folder: " + e.getMessage(), e);
        }
    }

    private static CompressException bad(Path zip, String name, String problem) {
        return CompressException.badInput(Path.of(zip + "!" + name), problem);
    }
}
