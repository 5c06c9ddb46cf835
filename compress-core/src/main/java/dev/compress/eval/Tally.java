package dev.compress.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * Running counts of one evaluation. Memory depends on the number of classes only, never on the number of samples,
 * so evaluating a million images costs what evaluating a thousand does.
 */
final class Tally {
    /** The "5" of top-5. */
    static final int TOP_K = 5;

    private final int classes;
    private final int k;
    private final long[] samplesPerClass;
    private final long[] correctPerClass;
    private long samples;
    private long top1;
    private long topK;
    private long baselineTop1;
    private long baselineTopK;
    private long agree;
    private long baselineOnlyRight;
    private long modelOnlyRight;

    Tally(int classes) {
        this.classes = classes;
        this.k = Math.min(TOP_K, classes);
        this.samplesPerClass = new long[classes];
        this.correctPerClass = new long[classes];
    }

    /**
     * Counts one sample.
     *
     * @param label the true class, in [0, classes)
     * @param scores the model's class scores for this sample start at {@code offset}
     * @param baselineScores the baseline's scores, at the same offset, or {@code null} without a baseline
     */
    void add(int label, float[] scores, float[] baselineScores, int offset) {
        int rank = rank(scores, offset, label);
        boolean right = rank == 0;
        samples++;
        samplesPerClass[label]++;
        if (right) {
            top1++;
            correctPerClass[label]++;
        }
        if (rank < k) {
            topK++;
        }
        if (baselineScores == null) {
            return;
        }
        int baselineRank = rank(baselineScores, offset, label);
        boolean baselineRight = baselineRank == 0;
        if (baselineRight) {
            baselineTop1++;
        }
        if (baselineRank < k) {
            baselineTopK++;
        }
        if (argmax(scores, offset) == argmax(baselineScores, offset)) {
            agree++;
        }
        if (baselineRight && !right) {
            baselineOnlyRight++;
        } else if (right && !baselineRight) {
            modelOnlyRight++;
        }
    }

    /** The report; {@code baselineModel} is {@code null} when no baseline scores were added. */
    EvalReport report(String model, String data, List<String> classNames, String baselineModel) {
        List<EvalReport.ClassAccuracy> perClass = new ArrayList<>(classes);
        for (int c = 0; c < classes; c++) {
            long n = samplesPerClass[c];
            perClass.add(new EvalReport.ClassAccuracy(classNames.get(c), n, correctPerClass[c],
                    n == 0 ? null : (double) correctPerClass[c] / n));
        }
        EvalReport.Baseline baseline = baselineModel == null ? null : new EvalReport.Baseline(
                baselineModel,
                EvalReport.Proportion.of(baselineTop1, samples),
                EvalReport.Proportion.of(baselineTopK, samples),
                EvalReport.dropPoints(baselineTop1, top1, samples),
                EvalReport.Proportion.of(agree, samples),
                EvalReport.McNemar.of(baselineOnlyRight, modelOnlyRight));
        return new EvalReport(model, data, samples, classNames, EvalReport.Proportion.of(top1, samples),
                EvalReport.Proportion.of(topK, samples), perClass, baseline, null);
    }

    /**
     * How many classes rank above {@code label}: those scoring higher, and those scoring the same with a lower
     * index, matching {@link #argmax}'s tie rule so that rank 0 means "argmax is the label".
     */
    private int rank(float[] scores, int offset, int label) {
        float own = score(scores[offset + label]);
        int rank = 0;
        for (int c = 0; c < classes; c++) {
            float other = score(scores[offset + c]);
            if (other > own || (other == own && c < label)) {
                rank++;
            }
        }
        return rank;
    }

    /** The highest-scoring class; the lowest index wins a tie, so results do not depend on iteration details. */
    private int argmax(float[] scores, int offset) {
        return argmax(scores, offset, classes);
    }

    /** {@link #argmax(float[], int)} of {@code classes} scores at {@code offset}. */
    static int argmax(float[] scores, int offset, int classes) {
        int best = 0;
        for (int c = 1; c < classes; c++) {
            if (score(scores[offset + c]) > score(scores[offset + best])) {
                best = c;
            }
        }
        return best;
    }

    // a NaN score (a broken model) ranks below every number instead of making comparisons meaningless
    private static float score(float value) {
        return Float.isNaN(value) ? Float.NEGATIVE_INFINITY : value;
    }
}
