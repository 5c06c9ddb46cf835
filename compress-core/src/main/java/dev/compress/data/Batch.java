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
 * Up to N samples, stacked along the batch axis of every model input (the first, unless the input says another).
 *
 * @param inputs model input name to tensor, dimension {@link HostTensor#batchAxis()} = {@link #size()}
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

    /** Row {@code rows.get(i)} of {@code from.get(i)}, stacked on the tensors' batch axis. */
    private static HostTensor stack(List<HostTensor> from, List<Integer> rows) {
        HostTensor first = from.get(0);
        long[] shape = first.shape();
        if (shape.length == 0) {
            if (rows.size() != 1) {
                throw new IllegalArgumentException("a scalar input has no batch axis to stack " + rows.size()
                        + " samples on");
            }
            return first; // a scalar (e.g. a sample rate) belongs to its one sample
        }
        int axis = first.batchAxis();
        // [outer, batch, inner]: a row is `outer` runs of `inner` values, one in each outer block
        int outer = (int) HostTensor.elementCount(java.util.Arrays.copyOfRange(shape, 0, axis));
        int inner = (int) HostTensor.elementCount(java.util.Arrays.copyOfRange(shape, axis + 1, shape.length));
        int n = rows.size();
        shape[axis] = n;
        if (first.type() == HostTensor.ElementType.FLOAT) {
            float[] values = new float[outer * n * inner];
            for (int i = 0; i < n; i++) {
                FloatBuffer buffer = from.get(i).floats();
                int size = (int) from.get(i).shape()[axis];
                for (int o = 0; o < outer; o++) {
                    buffer.position((o * size + rows.get(i)) * inner);
                    buffer.get(values, (o * n + i) * inner, inner);
                }
            }
            return HostTensor.ofFloats(shape, values, axis);
        }
        long[] values = new long[outer * n * inner];
        for (int i = 0; i < n; i++) {
            LongBuffer buffer = from.get(i).longs();
            int size = (int) from.get(i).shape()[axis];
            for (int o = 0; o < outer; o++) {
                buffer.position((o * size + rows.get(i)) * inner);
                buffer.get(values, (o * n + i) * inner, inner);
            }
        }
        return HostTensor.ofLongs(shape, values, axis);
    }
}
