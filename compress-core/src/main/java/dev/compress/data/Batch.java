package dev.compress.data;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Up to N samples, stacked along the first axis of every model input.
 *
 * @param inputs model input name to tensor, first dimension = {@link #size()}
 * @param labels class index per sample, or -1 where the dataset has no label
 * @param sources the file each sample came from, for error messages and reports
 */
public record Batch(Map<String, HostTensor> inputs, int[] labels, List<Path> sources) {
    public Batch {
        if (labels.length != sources.size()) {
            throw new IllegalArgumentException("labels and sources differ in length");
        }
        inputs = Collections.unmodifiableMap(new LinkedHashMap<>(inputs));
        sources = List.copyOf(sources);
    }

    public int size() {
        return labels.length;
    }

    /** These rows of this batch, in this order, stacked into a new batch. */
    public Batch rows(int[] rows) {
        List<Batch> from = new ArrayList<>(Collections.nCopies(rows.length, this));
        List<Integer> which = new ArrayList<>();
        for (int row : rows) {
            which.add(row);
        }
        return gather(from, which);
    }

    /** Row {@code rows.get(i)} of {@code batches.get(i)} for each i, stacked into a new batch. */
    public static Batch gather(List<Batch> batches, List<Integer> rows) {
        Map<String, HostTensor> inputs = new LinkedHashMap<>();
        int[] labels = new int[rows.size()];
        List<Path> sources = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            labels[i] = batches.get(i).labels()[rows.get(i)];
            sources.add(batches.get(i).sources().get(rows.get(i)));
        }
        if (!batches.isEmpty()) {
            for (String name : batches.get(0).inputs().keySet()) {
                List<HostTensor> tensors = batches.stream().map(b -> b.inputs().get(name)).toList();
                inputs.put(name, stack(tensors, rows));
            }
        }
        return new Batch(inputs, labels, sources);
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
