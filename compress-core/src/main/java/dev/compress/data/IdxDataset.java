package dev.compress.data;

import dev.compress.CompressException;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.zip.GZIPInputStream;

/**
 * Grayscale images in the IDX format of MNIST and Fashion-MNIST ({@code *-images-idx3-ubyte[.gz]} with a matching
 * {@code *-labels-idx1-ubyte[.gz]}), streamed: the files are read front to back on each pass, never held whole.
 */
public final class IdxDataset implements Dataset {
    private static final int IMAGES_MAGIC = 0x00000803;
    private static final int LABELS_MAGIC = 0x00000801;

    private final Path images;
    private final Path labels;
    private final String inputName;
    private final Preprocessing preprocessing;
    private final List<String> classNames;
    private final int count;
    private final int rows;
    private final int cols;

    private IdxDataset(Builder builder) {
        this.images = builder.images;
        this.labels = builder.labels;
        this.inputName = builder.inputName;
        this.preprocessing = builder.preprocessing;
        try (DataInputStream in = open(images)) {
            readMagic(in, images, IMAGES_MAGIC);
            this.count = in.readInt();
            this.rows = in.readInt();
            this.cols = in.readInt();
        } catch (IOException e) {
            throw CompressException.badInput(images, "not an IDX image file (" + e.getMessage() + ")", e);
        }
        try (DataInputStream in = open(labels)) {
            readMagic(in, labels, LABELS_MAGIC);
            int labelCount = in.readInt();
            if (labelCount != count) {
                throw CompressException.badInput(labels, "has " + labelCount + " labels for " + count + " images in "
                        + images.getFileName());
            }
            int maxLabel = 0;
            for (int i = 0; i < labelCount; i++) {
                maxLabel = Math.max(maxLabel, in.readUnsignedByte());
            }
            if (builder.classNames.isEmpty()) {
                List<String> names = new ArrayList<>();
                for (int c = 0; c <= maxLabel; c++) {
                    names.add(Integer.toString(c));
                }
                this.classNames = List.copyOf(names);
            } else if (builder.classNames.size() <= maxLabel) {
                throw CompressException.badInput(labels, "has label " + maxLabel + " but only "
                        + builder.classNames.size() + " class names were given");
            } else {
                this.classNames = List.copyOf(builder.classNames);
            }
        } catch (IOException e) {
            throw CompressException.badInput(labels, "not an IDX label file (" + e.getMessage() + ")", e);
        }
        Preprocessing.Size size = preprocessing.outputSize();
        if (preprocessing.channels() != 1 || size.height() != rows || size.width() != cols
                || preprocessing.crop().isPresent()) {
            throw CompressException.badInput(images, "holds " + rows + "x" + cols + " grayscale images, the model input"
                    + " expects " + size + " with " + preprocessing.channels() + " channel(s)");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    private static DataInputStream open(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw CompressException.badInput(file, "no such file");
        }
        InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
        return new DataInputStream(file.toString().endsWith(".gz") ? new GZIPInputStream(raw, 1 << 16) : raw);
    }

    private static void readMagic(DataInputStream in, Path file, int expected) throws IOException {
        int magic = in.readInt();
        if (magic != expected) {
            throw CompressException.badInput(file, String.format(
                    "not an IDX file of the expected kind (magic 0x%08x, expected 0x%08x)", magic, expected));
        }
    }

    @Override
    public Path source() {
        return images;
    }

    @Override
    public int size() {
        return count;
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    @Override
    public Iterator<Batch> batches(int batchSize) {
        return new Iterator<>() {
            private final ImageReader reader = new ImageReader(preprocessing);
            private DataInputStream imageStream;
            private DataInputStream labelStream;
            private int next;

            @Override
            public boolean hasNext() {
                return next < count;
            }

            @Override
            public Batch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int n = Math.min(batchSize, count - next);
                int pixels = rows * cols;
                byte[] raw = new byte[n * pixels];
                byte[] rawLabels = new byte[n];
                try {
                    if (imageStream == null) {
                        imageStream = open(images);
                        imageStream.skipNBytes(16);
                        labelStream = open(labels);
                        labelStream.skipNBytes(8);
                    }
                    imageStream.readFully(raw);
                    labelStream.readFully(rawLabels);
                } catch (EOFException e) {
                    close();
                    throw CompressException.badInput(images, "is truncated (ends before image " + (next + n) + ")");
                } catch (IOException e) {
                    close();
                    throw new UncheckedIOException(e);
                }
                float[] values = new float[n * pixels];
                int[] labelValues = new int[n];
                List<Path> sources = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    reader.readGray(raw, i * pixels, values, i);
                    labelValues[i] = rawLabels[i] & 0xFF;
                    sources.add(images);
                }
                next += n;
                if (next == count) {
                    close();
                }
                return new Batch(java.util.Map.of(inputName, HostTensor.ofFloats(preprocessing.batchShape(n), values)),
                        labelValues, sources);
            }

            private void close() {
                try {
                    if (imageStream != null) {
                        imageStream.close();
                    }
                    if (labelStream != null) {
                        labelStream.close();
                    }
                } catch (IOException ignored) {
                    // read-only streams: nothing is lost
                }
            }
        };
    }

    /** Configures an {@link IdxDataset}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder {
        private Path images;
        private Path labels;
        private String inputName;
        private Preprocessing preprocessing;
        private List<String> classNames = List.of();

        private Builder() {}

        public Builder setImages(Path images) {
            this.images = images;
            return this;
        }

        public Builder setLabels(Path labels) {
            this.labels = labels;
            return this;
        }

        public Builder setInputName(String inputName) {
            this.inputName = inputName;
            return this;
        }

        public Builder setPreprocessing(Preprocessing preprocessing) {
            this.preprocessing = preprocessing;
            return this;
        }

        /** Class names in label order (e.g. from a labels file); default "0", "1", ... up to the largest label. */
        public Builder optClassNames(List<String> classNames) {
            this.classNames = classNames;
            return this;
        }

        public IdxDataset build() {
            if (images == null || labels == null || inputName == null || preprocessing == null) {
                throw new IllegalStateException("setImages, setLabels, setInputName and setPreprocessing are required");
            }
            return new IdxDataset(this);
        }
    }
}
