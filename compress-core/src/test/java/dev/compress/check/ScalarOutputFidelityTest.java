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
import org.junit.jupiter.api.Test;

/**
 * An output of one value per sample (openWakeWord's wake-word score, [1, 1]): the cosine of two one-element vectors
 * is 1 whenever their signs agree, so a model giving other scores passed as identical.
 */
class ScalarOutputFidelityTest {
    private static final int WIDTH = 8;

    /** x [n, 8] -> MatMul -> Sigmoid -> score [n, 1]: positive whatever the weights. */
    private static OnnxModel scorer(double phase) {
        float[] w = new float[WIDTH];
        for (int i = 0; i < WIDTH; i++) {
            w[i] = (float) Math.sin(1.3 * i + phase);
        }
        GraphProto graph = GraphProto.newBuilder().setName("scorer")
                .addInput(value("x", FLOAT, "n", WIDTH))
                .addOutput(value("score", FLOAT, "n", 1))
                .addInitializer(Protos.floats("w", new long[] {WIDTH, 1}, w))
                .addNode(Protos.node("MatMul", "logit", List.of("x", "w"), List.of("l")))
                .addNode(Protos.node("Sigmoid", "sigmoid", List.of("l"), List.of("score")))
                .build();
        return model(graph, 13);
    }

    @Test
    void theCosineOfOneValuePerSampleIsTakenOverTheSamples() {
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {16, WIDTH}), 4);
        FidelityReport same = FidelityCheck.builder().setFloatModel(scorer(0)).setQuantizedModel(scorer(0))
                .setData(data).optLayerRanking(false).build().run();
        assertThat(same.fidelity()).isEqualTo(1.0);

        FidelityReport other = FidelityCheck.builder().setFloatModel(scorer(0)).setQuantizedModel(scorer(2))
                .setData(data).optLayerRanking(false).build().run();
        FidelityReport.Output score = other.outputs().get(0);
        assertThat(score.classifier()).isFalse();
        // every sample's own cosine is 1 (both scores positive); over the samples the scores disagree
        assertThat(score.meanCosine()).isLessThan(0.95);
        assertThat(other.belowThreshold()).isTrue();
    }
}
