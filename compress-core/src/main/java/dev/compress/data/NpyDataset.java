package dev.compress.data;

import dev.compress.CompressException;
import dev.compress.data.HostTensor.ElementType;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Samples for models whose inputs are not images, stored as NumPy {@code .npy} files under a root folder.
 *
 * <p><b>Layout.</b> Each model input has a sub-folder named after it, {@code root/<input>/<name>.npy}; files with
 * the same name in the input folders hold the same samples (characters not allowed in file names, {@code / \ : * ?
 * " < > |}, become '_' in folder names). A model with a single input may instead keep its files directly in
 * {@code root}. Files are read in sorted name order.
 *
 * <p><b>Files.</b> A file holds one sample (its shape is the input shape without the batch dimension) or a batch
 * (the input shape with the sample count on the batch axis). The batch axis is the first unless
 * {@link Builder#optBatchAxes} names another (an RNN state {@code [layers, batch, hidden]}: 1); samples are stacked
 * on it. A scalar input (rank 0) has none. Dimensions that are -1 or 0 in the input shape match any size, but
 * samples stacked into one batch need equal shapes. Batch files are read a few samples at a time: memory is one
 * batch, whatever the file sizes. Supported dtypes: {@code <f4 <f8} (become FLOAT), {@code <i4 <i8 |u1 |b1} (become
 * INT64), unless {@link Builder#optInputTypes} asks for the other type.
 *
 * <p><b>Labels.</b> Samples are unlabeled (-1) unless {@code root/labels.npy} exists: a 1-D integer array with one
 * class index (or -1) per sample in iteration order. Class names then come from {@code root/labels.txt} if present,
 * else "0", "1", ... up to the largest label.
 */
public final class NpyDataset implements Dataset {
    private static final String LABELS_NPY = "labels.npy";
    private static final String LABELS_TXT = "labels.txt";

    /** Files with one name: one per input, all holding {@code samples} samples. */
    private record Entry(NpyFile[] files, long[][] sampleShapes, int samples) {}

    private final Path root;
    private final List<String> inputs;
    private final List<ElementType> types;
    /** Per input, the axis samples are stacked on; -1 for a scalar (rank 0, no batch axis, e.g. a sample rate). */
    private final List<Integer> axes;
    private final List<Entry> entries;
    private final int size;
    private final int[] labels;
    private final List<String> classNames;

    private NpyDataset(
            Path root,
            List<String> inputs,
            List<ElementType> types,
            List<Integer> axes,
            List<Entry> entries,
            int size,
            int[] labels,
            List<String> classNames) {
        this.root = root;
        this.inputs = List.copyOf(inputs);
        this.types = List.copyOf(types);
        this.axes = List.copyOf(axes);
        this.entries = List.copyOf(entries);
        this.size = size;
        this.labels = labels;
        this.classNames = List.copyOf(classNames);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Path source() {
        return root;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    /** The element type each input's tensors have, in input order. */
    public Map<String, ElementType> inputTypes() {
        Map<String, ElementType> map = new LinkedHashMap<>();
        for (int k = 0; k < inputs.size(); k++) {
            map.put(inputs.get(k), types.get(k));
        }
        return map;
    }

    /** Each batch holds one tensor per input; a sample's source is its file for the first input. */
    @Override
    public Iterator<Batch> batches(int batchSize) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
        return new Iterator<>() {
            private int produced;
            private int entry;
            private int offset;

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
                List<Segment> segments = new ArrayList<>();
                for (int left = n; left > 0; ) {
                    Entry e = entries.get(entry);
                    int take = Math.min(e.samples() - offset, left);
                    if (take > 0) {
                        segments.add(new Segment(e, offset, take));
                    }
                    offset += take;
                    left -= take;
                    if (offset == e.samples()) {
                        entry++;
                        offset = 0;
                    }
                }
                Map<String, HostTensor> tensors = new LinkedHashMap<>();
                for (int k = 0; k < inputs.size(); k++) {
                    tensors.put(inputs.get(k), read(k, segments, n));
                }
                List<Path> sources = new ArrayList<>(n);
                segments.forEach(s -> sources.addAll(Collections.nCopies(s.count(), s.entry().files()[0].path)));
                int[] batchLabels = Arrays.copyOfRange(labels, produced, produced + n);
                produced += n;
                return new Batch(tensors, batchLabels, sources);
            }
        };
    }

    /** {@code count} samples of {@code entry} from sample {@code first} on. */
    private record Segment(Entry entry, int first, int count) {}

    private HostTensor read(int input, List<Segment> segments, int n) {
        long[] sampleShape = segments.get(0).entry().sampleShapes()[input];
        for (Segment s : segments) {
            if (!Arrays.equals(s.entry().sampleShapes()[input], sampleShape)) {
                throw CompressException.badInput(s.entry().files()[input].path, "sample shape "
                        + Arrays.toString(s.entry().sampleShapes()[input]) + " differs from "
                        + Arrays.toString(sampleShape) + " of " + segments.get(0).entry().files()[input].path
                        + " in the same batch; give samples equal shapes or use batch size 1");
            }
        }
        long perSample = HostTensor.elementCount(sampleShape);
        int axis = axes.get(input);
        long[] shape;
        if (axis < 0) {
            if (n != 1) {
                throw CompressException.badInput(root, "input '" + inputs.get(input) + "' is a scalar, without a"
                        + " batch axis, so samples run one at a time; use --batch-size 1");
            }
            shape = new long[0];
        } else {
            shape = new long[sampleShape.length + 1];
            System.arraycopy(sampleShape, 0, shape, 0, axis);
            shape[axis] = n;
            System.arraycopy(sampleShape, axis, shape, axis + 1, sampleShape.length - axis);
        }
        long total = perSample * n;
        if (total > Integer.MAX_VALUE - 8) {
            throw CompressException.badInput(root, "a batch of " + n + " samples of input '" + inputs.get(input)
                    + "' " + Arrays.toString(sampleShape) + " is too large; use a smaller batch size");
        }
        // the batch is [outer, n, inner] around the batch axis; so is each file, with its own sample count for n
        int outer = axis <= 0 ? 1 : (int) HostTensor.elementCount(Arrays.copyOfRange(sampleShape, 0, axis));
        int inner = (int) (perSample / outer);
        ElementType type = types.get(input);
        Object data = type == ElementType.FLOAT ? new float[(int) total] : new long[(int) total];
        String what = "input '" + inputs.get(input) + "' (" + type + ")";
        int position = 0;
        for (Segment s : segments) {
            NpyFile file = s.entry().files()[input];
            try (FileChannel channel = FileChannel.open(file.path, StandardOpenOption.READ)) {
                for (int o = 0; o < outer; o++) {
                    file.read(channel, ((long) o * s.entry().samples() + s.first()) * inner, s.count() * inner, data,
                            (o * n + position) * inner, what);
                }
            } catch (IOException e) {
                throw DataFiles.readError(file.path, e);
            }
            position += s.count();
        }
        return type == ElementType.FLOAT
                ? HostTensor.ofFloats(shape, (float[]) data, Math.max(axis, 0))
                : HostTensor.ofLongs(shape, (long[]) data, Math.max(axis, 0));
    }

    /** The folder holding an input's files: its name with characters file systems reject replaced by '_'. */
    static String folderName(String input) {
        return input.replaceAll("[/\\\\:*?\"<>|]", "_");
    }

    /** Builds an {@link NpyDataset}; {@code set*} are required, {@code opt*} optional. */
    public static final class Builder {
        private Path root;
        private Map<String, long[]> inputShapes;
        private Map<String, ElementType> inputTypes = Map.of();
        private Map<String, Integer> batchAxes = Map.of();

        private Builder() {}

        /** The folder of .npy files (see the class description for its layout). */
        public Builder setRoot(Path root) {
            this.root = root;
            return this;
        }

        /** Model input names and shapes (with the batch dimension; -1 or 0 for dynamic), in model order. */
        public Builder setInputs(Map<String, long[]> inputShapes) {
            this.inputShapes = new LinkedHashMap<>(inputShapes);
            return this;
        }

        /**
         * The element type each input takes (e.g. from the model). Values are converted: integers to float, and
         * floats to int64 when they are whole numbers (others are an error). Default: from the files' dtypes.
         */
        public Builder optInputTypes(Map<String, ElementType> inputTypes) {
            this.inputTypes = Map.copyOf(inputTypes);
            return this;
        }

        /**
         * The axis each input stacks samples on ({@link ModelInputs#batchAxes}; -1 for a scalar). Default: 0, and
         * -1 for inputs of rank 0.
         */
        public Builder optBatchAxes(Map<String, Integer> batchAxes) {
            this.batchAxes = Map.copyOf(batchAxes);
            return this;
        }

        /**
         * Lists the files and reads their headers (not their data).
         *
         * @throws CompressException BAD_INPUT naming the file or folder that is missing or wrong
         */
        public NpyDataset build() {
            Objects.requireNonNull(root, "root not set");
            Objects.requireNonNull(inputShapes, "inputs not set");
            if (inputShapes.isEmpty()) {
                throw new IllegalArgumentException("no inputs given");
            }
            if (!Files.isDirectory(root)) {
                throw CompressException.badInput(root, Files.exists(root) ? "not a folder" : "no such folder");
            }
            List<String> inputs = new ArrayList<>(inputShapes.keySet());
            List<Integer> axes = inputs.stream()
                    .map(input -> inputShapes.get(input).length == 0 ? -1 : batchAxes.getOrDefault(input, 0))
                    .toList();
            List<List<Path>> files = listFiles(inputs);

            List<Entry> entries = new ArrayList<>();
            long size = 0;
            int count = files.get(0).size();
            for (int i = 0; i < count; i++) {
                NpyFile[] npys = new NpyFile[inputs.size()];
                long[][] sampleShapes = new long[inputs.size()][];
                int samples = -1;
                for (int k = 0; k < inputs.size(); k++) {
                    npys[k] = NpyFile.open(files.get(k).get(i));
                    long[] modelShape = inputShapes.get(inputs.get(k));
                    sampleShapes[k] = sampleShape(npys[k], modelShape, inputs.get(k), axes.get(k));
                    int fileSamples = sampleShapes[k].length == npys[k].shape.length ? 1
                            : (int) npys[k].shape[Math.max(0, axes.get(k))];
                    if (samples >= 0 && fileSamples != samples) {
                        throw CompressException.badInput(npys[k].path, "holds " + fileSamples + " samples but "
                                + npys[0].path + " holds " + samples);
                    }
                    samples = fileSamples;
                }
                entries.add(new Entry(npys, sampleShapes, samples));
                size += samples;
            }
            if (size == 0) {
                throw CompressException.badInput(root, "the .npy files hold no samples");
            }
            if (size > Integer.MAX_VALUE) {
                throw CompressException.badInput(root, "more than " + Integer.MAX_VALUE + " samples");
            }

            List<ElementType> types = new ArrayList<>();
            for (int k = 0; k < inputs.size(); k++) {
                ElementType given = inputTypes.get(inputs.get(k));
                NpyFile first = entries.get(0).files()[k];
                types.add(given != null ? given : first.dtype.isFloat() ? ElementType.FLOAT : ElementType.INT64);
            }

            int[] labels = new int[(int) size];
            Arrays.fill(labels, -1);
            List<String> classNames = List.of();
            Path labelsNpy = root.resolve(LABELS_NPY);
            if (Files.isRegularFile(labelsNpy)) {
                classNames = readLabels(labelsNpy, labels);
            }
            return new NpyDataset(root, inputs, types, axes, entries, (int) size, labels, classNames);
        }

        /** Per input, its .npy files; the lists are aligned by file name. */
        private List<List<Path>> listFiles(List<String> inputs) {
            List<Path> loose = npyFiles(root);
            if (inputs.size() == 1 && !loose.isEmpty()) {
                return List.of(loose);
            }
            if (!loose.isEmpty()) {
                throw CompressException.badInput(loose.get(0), "the model has inputs " + String.join(", ", inputs)
                        + ": put each input's .npy files in " + root.resolve("<input>") + "/");
            }
            List<List<Path>> files = new ArrayList<>();
            for (String input : inputs) {
                Path folder = root.resolve(folderName(input));
                if (!Files.isDirectory(folder)) {
                    throw CompressException.badInput(root, "no .npy files for input '" + input + "' (expected "
                            + (inputs.size() == 1 ? "them here or " : "") + "in " + folder + "/)");
                }
                List<Path> list = npyFiles(folder);
                if (list.isEmpty()) {
                    throw CompressException.badInput(folder, "no .npy files found");
                }
                files.add(list);
            }
            Set<String> names = names(files.get(0));
            for (int k = 1; k < files.size(); k++) {
                Set<String> other = names(files.get(k));
                Path folder = root.resolve(folderName(inputs.get(k)));
                Path reference = root.resolve(folderName(inputs.get(0)));
                for (String name : names) {
                    if (!other.contains(name)) {
                        throw CompressException.badInput(folder.resolve(name), "missing: " + reference.resolve(name)
                                + " exists, and every input folder needs the same file names");
                    }
                }
                for (String name : other) {
                    if (!names.contains(name)) {
                        throw CompressException.badInput(folder.resolve(name), "has no counterpart "
                                + reference.resolve(name) + "; every input folder needs the same file names");
                    }
                }
            }
            return files;
        }

        private static List<Path> npyFiles(Path folder) {
            return DataFiles.list(folder).stream()
                    .filter(p -> DataFiles.name(p).toLowerCase(Locale.ROOT).endsWith(".npy")
                            && !DataFiles.name(p).equals(LABELS_NPY)
                            && Files.isRegularFile(p))
                    .toList();
        }

        private static Set<String> names(List<Path> files) {
            return files.stream().map(DataFiles::name).collect(Collectors.toCollection(LinkedHashSet::new));
        }

        /** The shape of one sample of {@code file} (without the batch axis), checked against the input's shape. */
        private static long[] sampleShape(NpyFile file, long[] modelShape, String input, int axis) {
            int rank = modelShape.length;
            if (rank == 0 && file.shape.length <= 1) {
                return new long[0]; // a scalar input: one value, or a 1-D file of one value per sample
            }
            long[] tail = rank == 0 ? modelShape : without(modelShape, axis);
            if (file.shape.length == rank - 1 && fits(file.shape, tail)) {
                return file.shape;
            }
            if (rank > 0 && file.shape.length == rank && fits(without(file.shape, axis), tail)) {
                if (file.shape[axis] > Integer.MAX_VALUE) {
                    throw CompressException.badInput(file.path, "too many samples (" + file.shape[axis] + ")");
                }
                return without(file.shape, axis);
            }
            throw CompressException.badInput(file.path, "shape " + Arrays.toString(file.shape) + " does not fit "
                    + "input '" + input + "' " + Arrays.toString(modelShape) + " (expected " + Arrays.toString(tail)
                    + " for one sample, or a batch with the sample count on axis " + axis + "; -1 = any size"
                    + (rank > 1 ? "; if samples stack on another axis, say which: --batch-axis " + input + "=AXIS"
                            : "") + ")");
        }

        /** {@code shape} without axis {@code axis}. */
        private static long[] without(long[] shape, int axis) {
            long[] rest = new long[shape.length - 1];
            System.arraycopy(shape, 0, rest, 0, axis);
            System.arraycopy(shape, axis + 1, rest, axis, shape.length - axis - 1);
            return rest;
        }

        private static boolean fits(long[] shape, long[] expected) {
            for (int i = 0; i < expected.length; i++) {
                if (expected[i] > 0 && expected[i] != shape[i]) {
                    return false;
                }
            }
            return true;
        }
        /** Fills {@code labels} from labels.npy and returns the class names. */
        private List<String> readLabels(Path labelsNpy, int[] labels) {
            NpyFile file = NpyFile.open(labelsNpy);
            if (file.shape.length != 1 || file.dtype.isFloat() || file.dtype == NpyFile.DType.B1) {
                throw CompressException.badInput(labelsNpy, "expected a 1-D integer array (one class index per "
                        + "sample), got shape " + Arrays.toString(file.shape) + " of " + file.dtype.descr);
            }
            if (file.shape[0] != labels.length) {
                throw CompressException.badInput(labelsNpy, "has " + file.shape[0] + " labels but there are "
                        + labels.length + " samples");
            }
            long[] values = new long[labels.length];
            try (FileChannel channel = FileChannel.open(labelsNpy, StandardOpenOption.READ)) {
                file.read(channel, 0, labels.length, values, 0, "a label");
            } catch (IOException e) {
                throw DataFiles.readError(labelsNpy, e);
            }
            Path labelsTxt = root.resolve(LABELS_TXT);
            List<String> names = Files.isRegularFile(labelsTxt) ? DataFiles.readLabels(labelsTxt) : null;
            long max = -1;
            for (int i = 0; i < values.length; i++) {
                long v = values[i];
                if (v < -1 || (names != null && v >= names.size()) || v > Integer.MAX_VALUE) {
                    throw CompressException.badInput(labelsNpy, "label " + v + " at position " + i + " is not -1 or "
                            + (names != null ? "a class index below " + names.size() + " (" + labelsTxt + ")"
                                    : "a class index"));
                }
                labels[i] = (int) v;
                max = Math.max(max, v);
            }
            if (names != null) {
                return names;
            }
            List<String> numbered = new ArrayList<>();
            for (int c = 0; c <= max; c++) {
                numbered.add(Integer.toString(c));
            }
            return numbered;
        }
    }
}
