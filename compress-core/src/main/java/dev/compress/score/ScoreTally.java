package dev.compress.score;

import dev.compress.eval.EvalReport.Proportion;
import dev.compress.eval.Statistics;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.math3.stat.descriptive.SummaryStatistics;

/**
 * Running statistics of one teacher-student comparison. Memory depends on the output width and the number of
 * classes only, never on the number of samples: means and variances are accumulated (commons-math's
 * {@link SummaryStatistics}, which keeps no values), and the cosine distribution goes into a fixed histogram.
 */
final class ScoreTally {
    /** The "5" of top-5 overlap. */
    static final int TOP_K = 5;

    private final int width;
    private final boolean logits;
    private final double[] temperatures;
    private final List<String> classNames;
    private final int k;

    private final SummaryStatistics[] kl;
    private final SummaryStatistics overlap = new SummaryStatistics();
    private final SummaryStatistics cosine = new SummaryStatistics();
    private final SummaryStatistics mse = new SummaryStatistics();
    private final CosineHistogram cosines = new CosineHistogram();
    private long samples;
    private long agree;
    private long labeledSamples;
    private long teacherRight;
    private long studentRight;
    private final long[] perClassSamples;
    private final long[] perClassAgree;
    private double maxAbsDiff;
    private double sumAbsDiff;
    private double maxAbsTeacher;
    private long elements;

    /**
     * @param width output values per sample
     * @param logits whether outputs are class scores (KL, agreement, top-5 are computed) or embeddings
     * @param classNames the data's classes (empty without labels)
     */
    ScoreTally(int width, boolean logits, double[] temperatures, List<String> classNames) {
        this.width = width;
        this.logits = logits;
        this.temperatures = temperatures.clone();
        this.classNames = List.copyOf(classNames);
        this.k = Math.min(TOP_K, width);
        this.kl = new SummaryStatistics[temperatures.length];
        for (int i = 0; i < kl.length; i++) {
            kl[i] = new SummaryStatistics();
        }
        this.perClassSamples = new long[classNames.size()];
        this.perClassAgree = new long[classNames.size()];
    }

    /**
     * Counts one sample whose outputs start at {@code offset} in both arrays.
     *
     * @param label class index, or -1 when the sample has none
     */
    void add(float[] teacher, float[] student, int offset, int label) {
        samples++;
        double dot = 0;
        double tt = 0;
        double ss = 0;
        double squared = 0;
        for (int i = offset; i < offset + width; i++) {
            double t = teacher[i];
            double s = student[i];
            dot += t * s;
            tt += t * t;
            ss += s * s;
            double diff = Math.abs(t - s);
            squared += diff * diff;
            sumAbsDiff += diff;
            // NaN propagates: a model producing NaN must not look like a perfect match
            maxAbsDiff = diff > maxAbsDiff || Double.isNaN(diff) ? diff : maxAbsDiff;
            maxAbsTeacher = Math.max(maxAbsTeacher, Math.abs(t));
        }
        elements += width;
        double cos = tt == 0 && ss == 0 ? 1 : (tt == 0 || ss == 0 ? 0 : dot / (Math.sqrt(tt) * Math.sqrt(ss)));
        cosine.addValue(cos);
        cosines.add(cos);
        mse.addValue(squared / width);
        if (!logits) {
            return;
        }
        for (int i = 0; i < temperatures.length; i++) {
            kl[i].addValue(kl(teacher, student, offset, temperatures[i]));
        }
        int teacherTop = argmax(teacher, offset);
        int studentTop = argmax(student, offset);
        boolean same = teacherTop == studentTop;
        if (same) {
            agree++;
        }
        overlap.addValue(overlap(teacher, student, offset));
        if (label >= 0) {
            labeledSamples++;
            perClassSamples[label]++;
            if (same) {
                perClassAgree[label]++;
            }
            if (teacherTop == label) {
                teacherRight++;
            }
            if (studentTop == label) {
                studentRight++;
            }
        }
    }

    /** KL(softmax(t/T) ‖ softmax(s/T)) in nats, through log-softmax so large logits do not overflow. */
    private double kl(float[] teacher, float[] student, int offset, double temperature) {
        double teacherLse = logSumExp(teacher, offset, temperature);
        double studentLse = logSumExp(student, offset, temperature);
        double sum = 0;
        for (int i = offset; i < offset + width; i++) {
            double logP = teacher[i] / temperature - teacherLse;
            double logQ = student[i] / temperature - studentLse;
            sum += Math.exp(logP) * (logP - logQ);
        }
        return sum;
    }

    private double logSumExp(float[] values, int offset, double temperature) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = offset; i < offset + width; i++) {
            max = Math.max(max, values[i] / temperature);
        }
        double sum = 0;
        for (int i = offset; i < offset + width; i++) {
            sum += Math.exp(values[i] / temperature - max);
        }
        return max + Math.log(sum);
    }

    /** The highest score's index; the lower index wins a tie (as numpy's argmax). */
    private int argmax(float[] values, int offset) {
        int best = 0;
        for (int c = 1; c < width; c++) {
            if (values[offset + c] > values[offset + best]) {
                best = c;
            }
        }
        return best;
    }

    /** |top-k(teacher) ∩ top-k(student)| / k, ranking by score, then by lower index. */
    private double overlap(float[] teacher, float[] student, int offset) {
        boolean[] inTeacher = topK(teacher, offset);
        boolean[] inStudent = topK(student, offset);
        int both = 0;
        for (int c = 0; c < width; c++) {
            if (inTeacher[c] && inStudent[c]) {
                both++;
            }
        }
        return (double) both / k;
    }

    private boolean[] topK(float[] values, int offset) {
        boolean[] chosen = new boolean[width];
        for (int round = 0; round < k; round++) {
            int best = -1;
            for (int c = 0; c < width; c++) {
                if (!chosen[c] && (best < 0 || values[offset + c] > values[offset + best])) {
                    best = c;
                }
            }
            chosen[best] = true;
        }
        return chosen;
    }

    long samples() {
        return samples;
    }

    ScoreReport report(String teacher, String student, String data, List<Long> outputShape, double tolerance) {
        List<ScoreReport.Divergence> divergences = null;
        Proportion agreement = null;
        ScoreReport.Mean top5 = null;
        ScoreReport.Labeled labeled = null;
        if (logits) {
            divergences = new ArrayList<>();
            for (int i = 0; i < temperatures.length; i++) {
                double t2 = temperatures[i] * temperatures[i];
                ScoreReport.Mean mean = mean(kl[i], 1);
                divergences.add(new ScoreReport.Divergence(temperatures[i], mean, mean(kl[i], t2)));
            }
            agreement = Proportion.of(agree, samples);
            top5 = mean(overlap, 1);
            if (labeledSamples > 0) {
                List<ScoreReport.ClassAgreement> perClass = new ArrayList<>();
                for (int c = 0; c < classNames.size(); c++) {
                    perClass.add(new ScoreReport.ClassAgreement(classNames.get(c), perClassSamples[c],
                            perClassSamples[c] == 0 ? null : Proportion.of(perClassAgree[c], perClassSamples[c])));
                }
                labeled = new ScoreReport.Labeled(Proportion.of(teacherRight, labeledSamples),
                        Proportion.of(studentRight, labeledSamples), perClass);
            }
        }
        double relative = maxAbsTeacher > 0
                ? maxAbsDiff / maxAbsTeacher : (maxAbsDiff == 0 ? 0 : Double.POSITIVE_INFINITY);
        ScoreReport.Parity parity = new ScoreReport.Parity(maxAbsDiff, sumAbsDiff / elements, relative, tolerance,
                relative <= tolerance);
        ScoreReport.Cosine cos = new ScoreReport.Cosine(mean(cosine, 1), cosines.lowerPercentile(5), cosine.getMin());
        return new ScoreReport(teacher, student, data, samples, logits ? "logits" : "embedding", outputShape,
                divergences, agreement, top5, cos, mean(mse, 1), parity, labeled);
    }

    /** The mean times {@code scale}, with its 95% normal-approximation interval (zero width for one sample). */
    private static ScoreReport.Mean mean(SummaryStatistics stats, double scale) {
        double mean = stats.getMean() * scale;
        double half = stats.getN() < 2 ? 0 : Statistics.Z95 * stats.getStandardDeviation() / Math.sqrt(stats.getN())
                * scale;
        return new ScoreReport.Mean(mean, mean - half, mean + half);
    }
}
