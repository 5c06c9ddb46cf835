package dev.compress.data;

import dev.compress.CompressException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Images for one model input, from one of:
 *
 * <ul>
 *   <li>a folder of class sub-folders ({@code root/<class>/<image>}, sub-folders of a class folder included);
 *   <li>a folder of images with no sub-folders: unlabeled samples (label -1), e.g. for calibration;
 *   <li>a CSV file of {@code path,label} lines, paths relative to the CSV's folder, an optional {@code path,label}
 *       header, labels given as class names.
 * </ul>
 *
 * Class order (label index) comes from the labels file: the one given, else {@code labels.txt} next to the data
 * (in the folder, or the CSV's folder) or in its parent; without one, class names sorted by Unicode code point.
 * Images are .png .jpg .jpeg .bmp .gif (any case); files and folders whose name starts with '.' are ignored.
 *
 * <p>Order: folders by sorted class folder, then by path inside it; CSV by line. Only paths (and counts of the
 * conversions images needed, see {@link #conversions()}) are kept; each batch decodes its own images, so memory is one
 * batch whatever the sample count.
 */
public final class ImageDataset implements Dataset {
    private static final List<String> EXTENSIONS = List.of(".png", ".jpg", ".jpeg", ".bmp", ".gif");
    private static final String LABELS_FILE = "labels.txt";

    private final Path source;
    private final String inputName;
    private final Preprocessing preprocessing;
    private final List<String> classNames;
    private final List<Path> files;
    private final int[] labels;
    /** Conversion counts of samples 0..counted-1: every pass reads in order from sample 0, so a prefix is counted. */
    private final Map<String, Long> conversions = new TreeMap<>();
    private int counted;

    private ImageDataset(
            Path source,
            String inputName,
            Preprocessing preprocessing,
            List<String> classNames,
            List<Path> files,
            int[] labels) {
        this.source = source;
        this.inputName = inputName;
        this.preprocessing = preprocessing;
        this.classNames = List.copyOf(classNames);
        this.files = List.copyOf(files);
        this.labels = labels;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Path source() {
        return source;
    }

    @Override
    public int size() {
        return files.size();
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    /** The model input the images are produced for. */
    public String inputName() {
        return inputName;
    }

    public Preprocessing preprocessing() {
        return preprocessing;
    }

    /** The image files in iteration order. */
    public List<Path> files() {
        return files;
    }

    /** Each batch is one FLOAT tensor {@link Preprocessing#batchShape} under {@link #inputName()}. */
    @Override
    public Iterator<Batch> batches(int batchSize) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
        ImageReader reader = new ImageReader(preprocessing);
        return new Iterator<>() {
            private int next;

            @Override
            public boolean hasNext() {
                return next < files.size();
            }

            @Override
            public Batch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int n = Math.min(batchSize, files.size() - next);
                long[] shape = preprocessing.batchShape(n);
                float[] data = new float[Math.toIntExact(HostTensor.elementCount(shape))];
                for (int i = 0; i < n; i++) {
                    count(next + i, reader.read(files.get(next + i), data, i));
                }
                Batch batch = new Batch(
                        Map.of(inputName, HostTensor.ofFloats(shape, data)),
                        Arrays.copyOfRange(labels, next, next + n),
                        files.subList(next, next + n));
                next += n;
                return batch;
            }
        };
    }

    /** Counts the conversion of {@code sample} the first time it is read, whichever pass reads it. */
    private void count(int sample, String conversion) {
        synchronized (conversions) {
            if (sample == counted) {
                counted++;
                if (conversion != null) {
                    conversions.merge(conversion, 1L, Long::sum);
                }
            }
        }
    }

    /**
     * How many of the images read so far were converted to the model's channels, by conversion, sorted: e.g.
     * {@code gray->rgb}, {@code palette->rgb}, {@code rgba->rgb}, {@code cmyk->rgb}, {@code gray16->rgb}, or
     * {@code rgb->luma} for a one-channel model. Each image counts once however often it is read, so after a full
     * pass these are the counts over the whole dataset, whatever the batch size.
     */
    public Map<String, Long> conversions() {
        synchronized (conversions) {
            return Collections.unmodifiableMap(new TreeMap<>(conversions));
        }
    }

    private static boolean isImage(Path file) {
        String name = DataFiles.name(file).toLowerCase(Locale.ROOT);
        return EXTENSIONS.stream().anyMatch(name::endsWith) && Files.isRegularFile(file);
    }

    /** Builds an {@link ImageDataset}; {@code set*} are required, {@code opt*} optional. */
    public static final class Builder {
        private Path root;
        private String inputName;
        private Preprocessing preprocessing;
        private Path labelsFile;

        private Builder() {}

        /** A folder (class sub-folders, or images for unlabeled data) or a {@code .csv} file of path,label lines. */
        public Builder setRoot(Path root) {
            this.root = root;
            return this;
        }

        /** The model input the images feed. */
        public Builder setInputName(String inputName) {
            this.inputName = inputName;
            return this;
        }

        public Builder setPreprocessing(Preprocessing preprocessing) {
            this.preprocessing = preprocessing;
            return this;
        }

        /** Class names, one per line, in label-index order. Default: {@code labels.txt} next to the data. */
        public Builder optLabelsFile(Path labelsFile) {
            this.labelsFile = labelsFile;
            return this;
        }

        /**
         * Lists the samples (without decoding them).
         *
         * @throws CompressException BAD_INPUT naming the file or folder that is missing or wrong
         */
        public ImageDataset build() {
            Objects.requireNonNull(root, "root not set");
            Objects.requireNonNull(inputName, "input name not set");
            Objects.requireNonNull(preprocessing, "preprocessing not set");
            if (Files.isDirectory(root)) {
                return fromFolder();
            }
            if (!Files.exists(root)) {
                throw CompressException.badInput(root, "no such file or folder");
            }
            if (!DataFiles.name(root).toLowerCase(Locale.ROOT).endsWith(".csv")) {
                throw CompressException.badInput(root, "expected a folder of images or a .csv file of path,label lines");
            }
            return fromCsv();
        }

        private ImageDataset fromFolder() {
            List<Path> entries = DataFiles.list(root);
            List<Path> classFolders = entries.stream().filter(Files::isDirectory).toList();
            List<Path> looseImages = entries.stream().filter(ImageDataset::isImage).toList();
            if (classFolders.isEmpty()) {
                if (looseImages.isEmpty()) {
                    throw noImages();
                }
                int[] labels = new int[looseImages.size()];
                Arrays.fill(labels, -1);
                return new ImageDataset(root, inputName, preprocessing, List.of(), looseImages, labels);
            }
            if (!looseImages.isEmpty()) {
                throw CompressException.badInput(looseImages.get(0), "image next to class folders; move it into "
                        + "its class folder (or remove the sub-folders of " + root + " for unlabeled data)");
            }
            Path labelsPath = findLabelsFile(root);
            List<String> classes = labelsPath != null
                    ? DataFiles.readLabels(labelsPath)
                    : classFolders.stream().map(DataFiles::name).toList();
            Map<String, Integer> index = indexOf(classes);
            List<Path> files = new ArrayList<>();
            List<Integer> labelList = new ArrayList<>();
            for (Path folder : classFolders) {
                Integer label = index.get(DataFiles.name(folder));
                if (label == null) {
                    throw CompressException.badInput(folder, "class folder is not listed in " + labelsPath);
                }
                for (Path image : imagesUnder(folder)) {
                    files.add(image);
                    labelList.add(label);
                }
            }
            if (files.isEmpty()) {
                throw noImages();
            }
            return new ImageDataset(root, inputName, preprocessing, classes, files, toArray(labelList));
        }

        private CompressException noImages() {
            return CompressException.badInput(root, "no images found (expected class sub-folders or image files: "
                    + String.join(" ", EXTENSIONS) + ")");
        }

        /** Images anywhere under {@code folder}, hidden ones left out, sorted by relative path. */
        private static List<Path> imagesUnder(Path folder) {
            try (Stream<Path> walk = Files.walk(folder)) {
                return walk.filter(p -> !isHiddenBelow(folder, p)).map(DataFiles::usable)
                        .filter(ImageDataset::isImage)
                        .sorted(Comparator.comparing(p -> folder.relativize(p).toString(), DataFiles.UNICODE_ORDER))
                        .toList();
            } catch (IOException e) {
                throw DataFiles.readError(folder, e);
            } catch (UncheckedIOException e) {
                throw DataFiles.readError(folder, e.getCause());
            }
        }

        private static boolean isHiddenBelow(Path folder, Path p) {
            for (Path part : folder.relativize(p)) {
                if (part.toString().startsWith(".")) {
                    return true;
                }
            }
            return false;
        }

        private ImageDataset fromCsv() {
            Path base = root.toAbsolutePath().getParent();
            List<Csv.Row> rows = new ArrayList<>(Csv.parse(DataFiles.readText(root), root));
            if (!rows.isEmpty() && isHeader(rows.get(0).fields())) {
                rows.remove(0);
            }
            if (rows.isEmpty()) {
                throw CompressException.badInput(root, "no images listed (expected lines of path,label)");
            }
            for (Csv.Row row : rows) {
                if (row.fields().size() != 2 || row.fields().get(0).isEmpty() || row.fields().get(1).isEmpty()) {
                    throw CompressException.badInput(root, "line " + row.line()
                            + ": expected path,label (2 non-empty fields), found " + row.fields().size() + " field(s)");
                }
            }
            Path labelsPath = findLabelsFile(base);
            List<String> classes;
            if (labelsPath != null) {
                classes = DataFiles.readLabels(labelsPath);
            } else {
                TreeSet<String> names = new TreeSet<>(DataFiles.UNICODE_ORDER);
                rows.forEach(row -> names.add(nfc(row.fields().get(1))));
                classes = List.copyOf(names);
            }
            Map<String, Integer> index = indexOf(classes);
            List<Path> files = new ArrayList<>(rows.size());
            int[] labels = new int[rows.size()];
            for (int i = 0; i < rows.size(); i++) {
                Csv.Row row = rows.get(i);
                Path image = base.resolve(row.fields().get(0));
                if (!Files.isRegularFile(image)) {
                    throw CompressException.badInput(root, "line " + row.line() + ": image '"
                            + row.fields().get(0) + "' not found (paths are relative to " + base + ")");
                }
                Integer label = index.get(nfc(row.fields().get(1)));
                if (label == null) {
                    throw CompressException.badInput(root, "line " + row.line() + ": label '" + row.fields().get(1)
                            + "' is not listed in " + labelsPath);
                }
                files.add(image);
                labels[i] = label;
            }
            return new ImageDataset(root, inputName, preprocessing, classes, files, labels);
        }

        private static boolean isHeader(List<String> fields) {
            return fields.size() == 2
                    && fields.get(0).equalsIgnoreCase("path")
                    && fields.get(1).equalsIgnoreCase("label");
        }

        /** The labels file given, else labels.txt in {@code dataFolder} or its parent, else null. */
        private Path findLabelsFile(Path dataFolder) {
            if (labelsFile != null) {
                return labelsFile;
            }
            Path absolute = dataFolder.toAbsolutePath();
            for (Path folder : new Path[] {absolute, absolute.getParent()}) {
                if (folder != null && Files.isRegularFile(folder.resolve(LABELS_FILE))) {
                    return folder.resolve(LABELS_FILE);
                }
            }
            return null;
        }

        private static Map<String, Integer> indexOf(List<String> classes) {
            Map<String, Integer> index = new HashMap<>();
            for (int i = 0; i < classes.size(); i++) {
                index.put(classes.get(i), i);
            }
            return index;
        }

        private static String nfc(String s) {
            return Normalizer.normalize(s, Normalizer.Form.NFC);
        }

        private static int[] toArray(List<Integer> values) {
            return values.stream().mapToInt(Integer::intValue).toArray();
        }
    }
}
