package dev.compress.data;

import dev.compress.Progress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Consumer;

/**
 * Samples for calibration or evaluation, read lazily in batches so memory does not grow with the sample count.
 *
 * <p>Iteration order is fixed (files sorted by path; a CSV list in its line order) so that the same inputs give the
 * same outputs.
 */
public interface Dataset {
    /** Where the samples come from (a folder or a CSV file), for messages. */
    Path source();

    /** Number of samples. */
    int size();

    /** Class names in label-index order; empty when the samples carry no labels. */
    List<String> classNames();

    /**
     * Reads the samples in order, {@code batchSize} at a time (the last batch may be smaller).
     *
     * @throws dev.compress.CompressException of kind BAD_INPUT naming the file, for an unreadable sample
     */
    Iterator<Batch> batches(int batchSize);

    /** The first {@code count} batches (fewer when the data ends), held in memory: what timing cycles through. */
    default List<Batch> firstBatches(int batchSize, int count) {
        List<Batch> first = new ArrayList<>();
        Iterator<Batch> all = batches(batchSize);
        while (all.hasNext() && first.size() < count) {
            first.add(all.next());
        }
        return first;
    }

    /**
     * Runs {@code body} on every batch in order, reporting each to {@code progress} as one {@code task}: the loop
     * every stage runs over its data.
     */
    default void forEachBatch(int batchSize, Progress progress, String task, Consumer<Batch> body) {
        progress.start(task, size());
        try {
            Iterator<Batch> batches = batches(batchSize);
            while (batches.hasNext()) {
                Batch batch = batches.next();
                body.accept(batch);
                progress.advance(batch.size());
            }
        } finally {
            progress.finish();
        }
    }
}
