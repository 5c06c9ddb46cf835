package dev.compress.calibrate;

import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * The calibration samples in batches of {@code batchSize}: all of the dataset, or {@code count} samples spread evenly
 * over its fixed order (sample {@code floor(i * size / count)} for i = 0..count-1). Datasets list files sorted by
 * path, often class by class, so taking the first N would calibrate on a few classes only.
 */
final class SampleSelection implements Iterator<Batch> {
    private final Iterator<Batch> source;
    private final int batchSize;
    private final int size;
    private final int count;
    private int selected;
    private long position;
    private Batch current;
    private int row;

    SampleSelection(Dataset data, int batchSize, int count) {
        this.source = data.batches(batchSize);
        this.batchSize = batchSize;
        this.size = data.size();
        this.count = count;
    }

    @Override
    public boolean hasNext() {
        return count == size ? source.hasNext() : selected < count;
    }

    @Override
    public Batch next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        if (count == size) {
            return source.next();
        }
        Rows rows = new Rows();
        while (rows.size() < batchSize && selected < count) {
            long wanted = (long) selected * size / count;
            if (current == null || row == current.size()) {
                if (!source.hasNext()) {
                    break; // the dataset held fewer samples than it said
                }
                current = source.next();
                row = 0;
            }
            if (position == wanted) {
                rows.add(current, row);
                selected++;
            }
            position++;
            row++;
        }
        if (rows.size() == 0) {
            selected = count;
            throw new NoSuchElementException();
        }
        return rows.toBatch();
    }

    /** Rows copied out of dataset batches, stacked into a new batch. */
    private static final class Rows {
        private final Map<String, List<HostTensor>> tensors = new LinkedHashMap<>();
        private final Map<String, List<Integer>> indices = new LinkedHashMap<>();
        private final List<Integer> labels = new ArrayList<>();
        private final List<Path> sources = new ArrayList<>();

        void add(Batch batch, int row) {
            batch.inputs().forEach((name, tensor) -> {
                tensors.computeIfAbsent(name, k -> new ArrayList<>()).add(tensor);
                indices.computeIfAbsent(name, k -> new ArrayList<>()).add(row);
            });
            labels.add(batch.labels()[row]);
            sources.add(batch.sources().get(row));
        }

        int size() {
            return labels.size();
        }

        Batch toBatch() {
            Map<String, HostTensor> inputs = new LinkedHashMap<>();
            tensors.forEach((name, list) -> inputs.put(name, stack(list, indices.get(name))));
            return new Batch(inputs, labels.stream().mapToInt(Integer::intValue).toArray(), sources);
        }

        private static HostTensor stack(List<HostTensor> from, List<Integer> rows) {
            long[] shape = from.get(0).shape();
            int per = (int) (HostTensor.elementCount(shape) / shape[0]);
            shape[0] = rows.size();
            if (from.get(0).type() == HostTensor.ElementType.FLOAT) {
                float[] values = new float[per * rows.size()];
                for (int i = 0; i < rows.size(); i++) {
                    FloatBuffer buffer = from.get(i).floats();
                    buffer.position(rows.get(i) * per);
                    buffer.get(values, i * per, per);
                }
                return HostTensor.ofFloats(shape, values);
            }
            long[] values = new long[per * rows.size()];
            for (int i = 0; i < rows.size(); i++) {
                LongBuffer buffer = from.get(i).longs();
                buffer.position(rows.get(i) * per);
                buffer.get(values, i * per, per);
            }
            return HostTensor.ofLongs(shape, values);
        }
    }
}
