package dev.compress.eval;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The counting rules on hand-worked score rows: ties, NaN scores, top-5, and which side of McNemar a sample goes. */
class TallyTest {
    private static final float NAN = Float.NaN;
    private static final List<String> SIX = List.of("a", "b", "c", "d", "e", "f");

    @Test
    void countsFollowTheTieAndNanRules() {
        Tally tally = new Tally(6);
        // a tie goes to the lower index: the model predicts 0 (right), the baseline 1 (wrong) -> c
        add(tally, 0, new float[] {1, 1, 0, 0, 0, 0}, new float[] {0, 2, 0, 0, 0, 0});
        // same rows, label 1: model wrong but rank 1 (top-5), baseline right -> b
        add(tally, 1, new float[] {1, 1, 0, 0, 0, 0}, new float[] {0, 2, 0, 0, 0, 0});
        // label ranked 6th by both: outside top-5; both predict 0, so they agree while both wrong
        add(tally, 5, new float[] {6, 5, 4, 3, 2, 1}, new float[] {6, 5, 4, 3, 2, 1});
        // label ranked 5th: inside top-5; the baseline's NaN ranks last, it predicts 5
        add(tally, 4, new float[] {6, 5, 4, 3, 2, 1}, new float[] {NAN, 0, 0, 0, 0, 1});
        // a NaN label score ranks below every number: the model misses even top-5; baseline right -> b
        add(tally, 0, new float[] {NAN, 0, 0, 0, 0, 0}, new float[] {3, 0, 0, 0, 0, 0});

        EvalReport report = tally.report("model", "data", SIX, "baseline");

        assertThat(report.samples()).isEqualTo(5);
        assertThat(report.top1().count()).isEqualTo(1);
        assertThat(report.top5().count()).isEqualTo(3);
        assertThat(report.baseline().top1().count()).isEqualTo(2);
        assertThat(report.baseline().top5().count()).isEqualTo(4);
        assertThat(report.baseline().agreement().count()).isEqualTo(1);
        assertThat(report.baseline().mcnemar().b()).isEqualTo(2);
        assertThat(report.baseline().mcnemar().c()).isEqualTo(1);
        assertThat(report.baseline().dropPoints()).isEqualTo(20.0);
        assertThat(report.perClass()).containsExactly(
                new EvalReport.ClassAccuracy("a", 2, 1, 0.5),
                new EvalReport.ClassAccuracy("b", 1, 0, 0.0),
                new EvalReport.ClassAccuracy("c", 0, 0, null),
                new EvalReport.ClassAccuracy("d", 0, 0, null),
                new EvalReport.ClassAccuracy("e", 1, 0, 0.0),
                new EvalReport.ClassAccuracy("f", 1, 0, 0.0));
    }

    @Test
    void withFewerThanFiveClassesTopFiveIsEverySample() {
        Tally tally = new Tally(3);
        tally.add(2, new float[] {3, 2, 1}, null, 0);
        tally.add(0, new float[] {3, 2, 1}, null, 0);

        EvalReport report = tally.report("model", "data", List.of("x", "y", "z"), null);

        assertThat(report.top1().count()).isEqualTo(1);
        assertThat(report.top5().count()).isEqualTo(2);
        assertThat(report.baseline()).isNull();
    }

    @Test
    void scoresAreReadAtTheSampleOffset() {
        Tally tally = new Tally(2);
        float[] batch = {0, 1, 1, 0};
        tally.add(1, batch, null, 0);
        tally.add(0, batch, null, 2);

        assertThat(tally.report("model", "data", List.of("x", "y"), null).top1().count()).isEqualTo(2);
    }

    private static void add(Tally tally, int label, float[] scores, float[] baseline) {
        tally.add(label, scores, baseline, 0);
    }
}
