package dev.compress.data;

import dev.compress.CompressException;
import dev.compress.data.HostTensor.ElementType;
import dev.compress.graph.DataType;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Opens the data a user names for a model, by what the path holds: {@code .jsonl} token ids and folders of
 * {@code .npy} files are fed to the model inputs as they are; anything else is an {@link ImageDataset} for the model's
 * float input, preprocessed as the model's metadata and the overrides say.
 */
public final class DataSources {
    private DataSources() {}

    /** A dataset and the preprocessing its images get ({@code null} for token ids and .npy data). */
    public record Opened(Dataset dataset, Preprocessing preprocessing) {
        /**
         * The preprocessing as a map for reports, with the images' conversion counts so far when there were any
         * (e.g. {@code gray->rgb}); {@code null} for data that is not images.
         */
        public Map<String, Object> preprocessingMap() {
            if (!(dataset instanceof ImageDataset images)) {
                return null;
            }
            Map<String, Object> map = new LinkedHashMap<>(preprocessing.toMap());
            if (!images.conversions().isEmpty()) {
                map.put("conversions", images.conversions());
            }
            return map;
        }
    }

    /**
     * Opens {@code data} for {@code model}.
     *
     * @param overrides preprocessing settings that replace the model's own ({@link Preprocessing.Overrides#NONE} for
     *     none); only images take them
     * @param labels a class-names file, or {@code null} for labels.txt beside the data; only images take it
     * @throws dev.compress.CompressException BAD_INPUT naming the data or labels file
     */
    public static Opened open(Path data, OnnxModel model, Preprocessing.Overrides overrides, Path labels) {
        return open(data, model, overrides, labels, Map.of());
    }

    /**
     * As {@link #open(Path, OnnxModel, Preprocessing.Overrides, Path)}, with the batch axis of some inputs given
     * (input name to axis; the others found by {@link ModelInputs#batchAxes}); only .npy data takes them.
     */
    public static Opened open(Path data, OnnxModel model, Preprocessing.Overrides overrides, Path labels,
            Map<String, Integer> batchAxes) {
        Map<String, Integer> axes = ModelInputs.batchAxes(model, batchAxes);
        if (!batchAxes.isEmpty() && !(Files.isDirectory(data) && holdsNpy(data))) {
            throw CompressException.badInput(data, "--batch-axis applies to .npy data only; images and token ids"
                    + " are stacked on the first axis");
        }
        boolean overridden = !overrides.isEmpty();
        if (data.getFileName() != null
                && data.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".jsonl")) {
            if (overridden || labels != null) {
                throw CompressException.badInput(data, "holds token ids, which are fed as they are; "
                        + "the preprocessing options and --labels apply to images only");
            }
            return new Opened(TokenDataset.jsonl(data, inputShapes(model)), null);
        }
        if (data.getFileName() != null && data.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".txt")
                && Files.isRegularFile(data)) {
            throw CompressException.badInput(data, "is a text file: give the model's tokenizer with --tokenizer"
                    + " tokenizer.json, or token ids as .jsonl");
        }
        if (Files.isDirectory(data) && holdsNpy(data)) {
            if (labels != null) {
                throw CompressException.badInput(labels, "--labels applies to image data; .npy data takes class "
                        + "names from labels.txt beside labels.npy in " + data);
            }
            if (overridden) {
                throw CompressException.badInput(data, "holds .npy samples, which are fed as they are; "
                        + "the preprocessing options apply to images only");
            }
            return new Opened(npy(data, model, axes), null);
        }
        ValueInfo input = ModelInputs.imageInput(model);
        Preprocessing preprocessing = ModelInputs.imagePreprocessing(model, overrides);
        ImageDataset.Builder builder = ImageDataset.builder()
                .setRoot(data)
                .setInputName(input.name())
                .setPreprocessing(preprocessing);
        if (labels != null) {
            if (!Files.isRegularFile(labels)) {
                throw CompressException.badInput(labels, Files.exists(labels) ? "is not a file" : "no such file");
            }
            builder.optLabelsFile(labels);
        }
        return new Opened(builder.build(), preprocessing);
    }

    /** Raw text, one sample per line, tokenized with a HuggingFace tokenizer.json for the model's inputs. */
    public static Opened text(Path data, Path tokenizer, OnnxModel model) {
        return new Opened(TokenDataset.text(data, tokenizer, inputShapes(model)), null);
    }

    private static Map<String, long[]> inputShapes(OnnxModel model) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (ValueInfo input : model.graph().inputs()) {
            if (input.elementType() != DataType.INT64) {
                throw CompressException.badInput(model.source().orElse(null), "token samples feed int64 inputs,"
                        + " but input '" + input.name() + "' is "
                        + input.elementType());
            }
            shapes.put(input.name(), ModelInputs.shape(input));
        }
        return shapes;
    }

    /** Whether {@code folder} holds .npy samples: directly, or in one sub-folder per model input. */
    private static boolean holdsNpy(Path folder) {
        try (Stream<Path> files = Files.walk(folder, 2)) {
            return files.anyMatch(p -> {
                String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
                return name.endsWith(".npy") && !name.equals("labels.npy") && Files.isRegularFile(p);
            });
        } catch (IOException | java.io.UncheckedIOException e) {
            return false; // the dataset reports the unreadable folder itself
        }
    }

    private static NpyDataset npy(Path data, OnnxModel model, Map<String, Integer> axes) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, ElementType> types = new LinkedHashMap<>();
        for (ValueInfo input : model.graph().inputs()) {
            shapes.put(input.name(), ModelInputs.shape(input));
            DataType elemType = input.elementType();
            if (elemType == DataType.FLOAT) {
                types.put(input.name(), ElementType.FLOAT);
            } else if (elemType == DataType.INT64) {
                types.put(input.name(), ElementType.INT64);
            }
        }
        return NpyDataset.builder().setRoot(data).setInputs(shapes).optInputTypes(types).optBatchAxes(axes).build();
    }
}
