package dev.compress.score;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The metric arithmetic on the logits PyTorch wrote, including the torch.ao INT8 ResNet against its fp32 source. */
class ScoreTallyTest {
    private static final List<String> CLASSES = List.of("T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    @ParameterizedTest
    @ValueSource(strings = {"resnet-vs-cnn:cnn-fp32", "resnet-vs-torchao-int8:resnet-torchao-int8"})
    void equalsPyTorchOnPyTorchLogits(String pairAndStudent) {
        String[] parts = pairAndStudent.split(":");
        float[] teacher = ScoreReference.logits("resnet-fp32");
        float[] student = ScoreReference.logits(parts[1]);
        int[] labels = ScoreReference.labels();
        ScoreTally tally = new ScoreTally(10, true, new double[] {1, 4}, CLASSES);
        for (int i = 0; i < labels.length; i++) {
            tally.add(teacher, student, 10 * i, labels[i]);
        }
        ScoreReport report = tally.report("t", "s", "d", List.of(10L), 1e-4);
        // only the 7-significant-digit rounding of the report separates the two
        ScoreReference.assertMatches(report, ScoreReference.pair(parts[0]), 1e-7);
    }

    @Test
    void identicalOutputsScorePerfectly() {
        float[] logits = {3, -1, 0.5f, 2, 7, 0, 0, 1, -4, 2.5f};
        ScoreTally tally = new ScoreTally(10, true, new double[] {2}, List.of());
        tally.add(logits, logits, 0, -1);
        tally.add(logits, logits, 0, -1);
        ScoreReport report = tally.report("t", "s", "d", List.of(10L), 1e-4);
        assertThat(report.kl().get(0).kl().mean()).isEqualTo(0);
        assertThat(report.agreement().count()).isEqualTo(2);
        assertThat(report.top5Overlap().mean()).isEqualTo(1);
        assertThat(report.cosine().p5()).isEqualTo(1);
        assertThat(report.mse().mean()).isEqualTo(0);
        assertThat(report.parity().maxAbsDiff()).isEqualTo(0);
        assertThat(report.labeled()).isNull();
    }

    /** A hand-computed pair: KL of softmax([0, 0]) from softmax([ln 3, 0]) = ln 2 - ln(4/3)/2 - ln 4/2... */
    @Test
    void klOfTwoClassesByHand() {
        float[] teacher = {0, 0};
        float[] student = {(float) Math.log(3), 0};
        ScoreTally tally = new ScoreTally(2, true, new double[] {1}, List.of());
        tally.add(teacher, student, 0, -1);
        ScoreReport report = tally.report("t", "s", "d", List.of(2L), 1e-4);
        // p = (1/2, 1/2), q = (3/4, 1/4): KL = 1/2 ln(2/3) + 1/2 ln 2
        double expected = 0.5 * Math.log(2.0 / 3) + 0.5 * Math.log(2);
        assertThat(report.kl().get(0).kl().mean()).isCloseTo(expected, within(1e-6));
    }

    @Test
    void cosinePercentileIsWithinOneBinOfTheExactOrderStatistic() {
        CosineHistogram histogram = new CosineHistogram();
        double[] cosines = new double[1000];
        for (int i = 0; i < cosines.length; i++) {
            cosines[i] = 1 - Math.pow(10, -6 + 4.0 * i / cosines.length); // 1 - 1e-6 ... 1 - 1e-2
            histogram.add(cosines[i]);
        }
        // 5th percentile by nearest rank: the 50th smallest cosine = the 50th largest distance
        double exactDistance = 1 - cosines[cosines.length - 50];
        double reported = 1 - histogram.lowerPercentile(5);
        assertThat(reported / exactDistance).isBetween(1 / 1.024, 1.024);
    }
}
