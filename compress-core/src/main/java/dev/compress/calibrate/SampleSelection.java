package dev.compress.calibrate;

import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * The calibration samples in batches of {@code batchSize}: all of the dataset, or {@code count} samples spread evenly
 * over its fixed order (sample {@code floor(i * size / count)} for i = 0..count-1). Datasets list files sorted by
 * path, often class by class, so taking the first N would calibrate on a few classes only.
 */
public final class SampleSelection implements Iterator<Batch> {
    private final Iterator<Batch> source;
    private final int batchSize;
    private final int size;
    private final int count;
    private int selected;
    private long position;
    private Batch current;
    private int row;

    public SampleSelection(Dataset data, int batchSize, int count) {
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
        private final List<Batch> batches = new ArrayList<>();
        private final List<Integer> rows = new ArrayList<>();

        void add(Batch batch, int row) {
            batches.add(batch);
            rows.add(row);
        }

        int size() {
            return rows.size();
        }

        Batch toBatch() {
            return Batch.gather(batches, rows);
        }
    }
}
