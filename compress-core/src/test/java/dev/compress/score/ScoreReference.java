package dev.compress.score;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;

/** calibration-data/models/score-reference.json, written by export_score_reference.py with PyTorch. */
final class ScoreReference {
    private static JsonNode root;

    private ScoreReference() {}

    static synchronized JsonNode root() {
        if (root == null) {
            try {
                root = Json.MAPPER.readTree(TestData.model("score-reference.json").toFile());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return root;
    }

    /** The PyTorch metrics of one pair. */
    static JsonNode pair(String name) {
        return root().get("pairs").get(name).get("metrics");
    }

    /** A model's [2000, 10] logits, row-major. */
    static float[] logits(String model) {
        byte[] bytes = Base64.getDecoder().decode(root().get("logits").get(model).asText());
        float[] values = new float[bytes.length / 4];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }

    static int[] labels() {
        JsonNode labels = root().get("sample").get("labels");
        int[] values = new int[labels.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = labels.get(i).asInt();
        }
        return values;
    }

    /** The report's metrics equal PyTorch's: counts exactly, the rest within {@code tolerance} (absolute). */
    static void assertMatches(ScoreReport report, JsonNode expected, double tolerance) {
        assertThat(report.samples()).isEqualTo(expected.get("samples").asLong());
        assertThat(report.kl()).hasSize(2);
        assertThat(report.kl().get(0).kl().mean()).isCloseTo(expected.at("/T1/kl").asDouble(), within(tolerance));
        assertThat(report.kl().get(0).klScaled().mean())
                .isCloseTo(expected.at("/T1/klScaled").asDouble(), within(tolerance));
        assertThat(report.kl().get(1).kl().mean()).isCloseTo(expected.at("/T4/kl").asDouble(), within(tolerance));
        assertThat(report.kl().get(1).klScaled().mean())
                .isCloseTo(expected.at("/T4/klScaled").asDouble(), within(16 * tolerance));
        assertThat(report.agreement().count()).isEqualTo(expected.get("agreement").asLong());
        assertThat(report.top5Overlap().mean()).isCloseTo(expected.get("top5Overlap").asDouble(), within(tolerance));
        assertThat(report.cosine().mean().mean()).isCloseTo(expected.get("cosineMean").asDouble(), within(tolerance));
        assertThat(report.cosine().min()).isCloseTo(expected.get("cosineMin").asDouble(), within(tolerance));
        double mse = expected.get("mse").asDouble();
        assertThat(report.mse().mean()).isCloseTo(mse, within(tolerance * Math.max(1, mse)));
        for (int c = 0; c < 10; c++) {
            assertThat(report.labeled().perClass().get(c).agreement().count())
                    .as("agreement in class %d", c)
                    .isEqualTo(expected.get("agreementPerClass").get(c).asLong());
        }
    }
}
