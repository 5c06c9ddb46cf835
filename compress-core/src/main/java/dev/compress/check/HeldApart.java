package dev.compress.check;

import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * The samples of a calibration dataset a check runs on: those calibration did not use, else (calibration used them
 * all) a fixed subset of all; at most {@code max} of them, spread evenly over the candidates (candidate
 * {@code floor(i * candidates / max)}), since folders list files sorted, often class by class.
 *
 * <p>Calibration with {@code n} of {@code size} samples uses sample {@code floor(j * size / n)} for j = 0..n-1
 * (the calibrator's selection); sample i is among those exactly when some j falls in
 * {@code [i * n / size, (i + 1) * n / size)}.
 */
public final class HeldApart implements Dataset {
    private final Dataset source;
    private final int[] indices;
    private final boolean heldOut;

    private HeldApart(Dataset source, int[] indices, boolean heldOut) {
        this.source = source;
        this.indices = indices;
        this.heldOut = heldOut;
    }

    /**
     * @param calibrated samples calibration ran over, spread evenly ({@code 0} or {@code >= size}: all of them)
     * @param max at most this many samples are taken
     * @param calibratedOn false when calibration never saw this data (held-out data): any sample may be taken
     */
    public static HeldApart of(Dataset data, int calibrated, int max, boolean calibratedOn) {
        int size = data.size();
        List<Integer> candidates = new ArrayList<>();
        boolean subset = calibrated > 0 && calibrated < size;
        for (int i = 0; i < size; i++) {
            if (!calibratedOn || !subset || !usedBy(i, calibrated, size)) {
                candidates.add(i);
            }
        }
        int count = Math.min(max, candidates.size());
        int[] indices = new int[count];
        for (int i = 0; i < count; i++) {
            indices[i] = candidates.get((int) ((long) i * candidates.size() / count));
        }
        return new HeldApart(data, indices, subset || !calibratedOn);
    }

    private static boolean usedBy(long i, long n, long size) {
        long firstJ = (i * n + size - 1) / size; // ceil(i * n / size)
        return firstJ * size < (i + 1) * n;
    }

    /** Whether calibration never saw these samples. */
    public boolean heldOut() {
        return heldOut;
    }

    @Override
    public Path source() {
        return source.source();
    }

    @Override
    public int size() {
        return indices.length;
    }

    @Override
    public List<String> classNames() {
        return source.classNames();
    }

    /** Reads the source in order up to the last chosen sample and stacks the chosen rows. */
    @Override
    public Iterator<Batch> batches(int batchSize) {
        Iterator<Batch> batches = source.batches(batchSize);
        return new Iterator<>() {
            private int next;
            private long position;
            private Batch current;
            private int row;

            @Override
            public boolean hasNext() {
                return next < indices.length;
            }

            @Override
            public Batch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                List<Batch> from = new ArrayList<>();
                List<Integer> rows = new ArrayList<>();
                while (rows.size() < batchSize && next < indices.length) {
                    if (current == null || row == current.size()) {
                        if (!batches.hasNext()) {
                            next = indices.length; // the dataset held fewer samples than it said
                            break;
                        }
                        current = batches.next();
                        row = 0;
                    }
                    if (position == indices[next]) {
                        from.add(current);
                        rows.add(row);
                        next++;
                    }
                    position++;
                    row++;
                }
                if (rows.isEmpty()) {
                    throw new NoSuchElementException();
                }
                return Batch.gather(from, rows);
            }
        };
    }
}
