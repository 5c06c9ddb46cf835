package dev.compress.check;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.quantize.TestGraphs;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Outputs that are rows of class probabilities ([N, T, C], as a CTC text recogniser writes) agree per sample only
 * when every row's top-1 does: one changed row changes the decoded string.
 */
class SequenceFidelityTest {
    private static final int ROWS = 6;
    private static final int FEATURES = 8;
    private static final int CLASSES = 5;

    /** x W as logits and softmax(x W) as probabilities, both [N, ROWS, CLASSES]. */
    private static OnnxModel recogniser(float[] weight) {
        GraphProto graph = GraphProto.newBuilder().setName("recogniser")
                .addInput(value("x", FLOAT, "n", ROWS, FEATURES))
                .addOutput(value("logits", FLOAT, "n", ROWS, CLASSES))
                .addOutput(value("probabilities", FLOAT, "n", ROWS, CLASSES))
                .addInitializer(Protos.floats("w", new long[] {FEATURES, CLASSES}, weight))
                .addNode(Protos.node("MatMul", "head", List.of("x", "w"), List.of("logits")))
                .addNode(Protos.node("Softmax", "softmax", List.of("logits"), List.of("probabilities"))
                        .addAttribute(Protos.intAttribute("axis", -1)))
                .build();
        return model(graph, 13);
    }

    private static FidelityReport.Output output(FidelityReport report, String name) {
        return report.outputs().stream().filter(o -> o.name().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void aSampleAgreesOnlyWhenEveryRowDoes() {
        float[] weight = new float[FEATURES * CLASSES];
        Random random = new Random(7);
        for (int i = 0; i < weight.length; i++) {
            weight[i] = (float) random.nextGaussian();
        }
        // classes 0 and 1 swapped: every row whose top-1 is one of them changes, the others stay
        float[] swapped = weight.clone();
        for (int k = 0; k < FEATURES; k++) {
            swapped[k * CLASSES] = weight[k * CLASSES + 1];
            swapped[k * CLASSES + 1] = weight[k * CLASSES];
        }
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {10, ROWS, FEATURES}), 4);

        FidelityReport same = FidelityCheck.builder().setFloatModel(recogniser(weight))
                .setQuantizedModel(recogniser(weight)).setData(data).optLayerRanking(false).build().run();
        assertThat(output(same, "probabilities").classifier()).isTrue();
        assertThat(output(same, "probabilities").top1Agreement()).isEqualTo(1.0);
        // logits are not probabilities: compared by cosine only
        assertThat(output(same, "logits").classifier()).isFalse();

        FidelityReport changed = FidelityCheck.builder().setFloatModel(recogniser(weight))
                .setQuantizedModel(recogniser(swapped)).setData(data).optLayerRanking(false).build().run();
        FidelityReport.Output probabilities = output(changed, "probabilities");
        assertThat(probabilities.top1Agreement()).isLessThan(0.5);
        assertThat(changed.belowThreshold()).isTrue();
    }
}
