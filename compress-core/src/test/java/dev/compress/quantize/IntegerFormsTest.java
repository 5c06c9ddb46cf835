package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DenseNet's layer (Concat, BatchNormalization, Relu, a 2x2 transition AveragePool, 1x1 Conv) and a head pooled by
 * ReduceMean over H and W, as torch exports them: the BatchNormalization becomes a depthwise 1x1 Conv, the AveragePool
 * a depthwise 2x2 Conv and the ReduceMean a GlobalAveragePool and a Flatten, with the same float outputs; quantized,
 * ONNX Runtime runs all of it in 8 bits. A ReduceMean along the last axis of a sequence (a LayerNorm's) and an
 * AveragePool that leaves its padding out of the mean stay.
 */
class IntegerFormsTest {
    @TempDir
    Path dir;

    private static OnnxModel denseLayer() {
        GraphProto graph = GraphProto.newBuilder().setName("dense")
                .addInput(value("x", FLOAT, "n", 4L, 6L, 6L))
                .addInput(value("t", FLOAT, "n", 5L, 4L))
                .addOutput(value("y", FLOAT, "n", 6L))
                .addOutput(value("z", FLOAT, "n", 5L, 1L))
                .addOutput(value("u", FLOAT, "n", 5L, 4L))
                .addInitializer(Protos.floats("w1", new long[] {4, 4, 3, 3}, TestGraphs.weights(144, 1)))
                .addInitializer(Protos.floats("gamma", new long[] {8},
                        new float[] {1, 0.5f, 2, 1.5f, 1, 0.8f, 1.2f, 1}))
                .addInitializer(Protos.floats("beta", new long[] {8}, TestGraphs.weights(8, 2)))
                .addInitializer(Protos.floats("mean", new long[] {8}, TestGraphs.weights(8, 3)))
                .addInitializer(Protos.floats("var", new long[] {8}, new float[] {1, 2, 0.5f, 1, 1.5f, 1, 0.7f, 1}))
                .addInitializer(Protos.floats("w2", new long[] {6, 8, 1, 1}, TestGraphs.weights(48, 4)))
                .addInitializer(Protos.int64s("spatial", new long[] {2}, new long[] {-1, 2}))
                .addInitializer(Protos.int64s("last", new long[] {1}, new long[] {-1}))
                .addNode(Protos.node("Conv", "conv1", List.of("x", "w1"), List.of("c1"))
                        .addAttribute(Protos.intsAttribute("pads", 1, 1, 1, 1)))
                .addNode(Protos.node("Concat", "concat", List.of("x", "c1"), List.of("cat"))
                        .addAttribute(Protos.intAttribute("axis", 1)))
                .addNode(Protos.node("BatchNormalization", "norm", List.of("cat", "gamma", "beta", "mean", "var"),
                        List.of("bn")))
                .addNode(Protos.node("Relu", "relu", List.of("bn"), List.of("r")))
                .addNode(Protos.node("AveragePool", "transition", List.of("r"), List.of("p"))
                        .addAttribute(Protos.intsAttribute("kernel_shape", 2, 2))
                        .addAttribute(Protos.intsAttribute("strides", 2, 2)))
                .addNode(Protos.node("Conv", "conv2", List.of("p", "w2"), List.of("c2")))
                .addNode(Protos.node("ReduceMean", "pool", List.of("c2", "spatial"), List.of("y"))
                        .addAttribute(Protos.intAttribute("keepdims", 0)))
                .addNode(Protos.node("ReduceMean", "layernorm_mean", List.of("t", "last"), List.of("z")))
                // padding left out of the mean: the border windows divide by less than 3, which no Conv does
                .addNode(Protos.node("AveragePool", "padded", List.of("t"), List.of("u"))
                        .addAttribute(Protos.intsAttribute("kernel_shape", 3))
                        .addAttribute(Protos.intsAttribute("pads", 1, 1)))
                .build();
        return TestGraphs.model(graph, 18); // ReduceMean's axes are an input from 18
    }

    private static Dataset data() {
        return TestGraphs.floats(Map.of("x", b -> new long[] {2, 4, 6, 6}, "t", b -> new long[] {2, 5, 4}), 4);
    }

    @Test
    void aStandaloneBatchNormBecomesADepthwiseConvAndASpatialMeanAGlobalPool() {
        OnnxModel original = denseLayer();
        OnnxModel rewritten = original.copy();
        assertThat(IntegerForms.rewrite(rewritten)).isEqualTo(3);

        List<Node> nodes = rewritten.graph().nodes();
        assertThat(nodes).extracting(Node::opType).containsExactly("Conv", "Concat", "Conv", "Relu", "Conv", "Conv",
                "GlobalAveragePool", "Flatten", "ReduceMean", "AveragePool");
        // the 2x2 pool: a depthwise Conv over the 8 channels ONNX Runtime infers, weights 1/4
        Node pool = nodes.get(4);
        assertThat(pool.name()).isEqualTo("transition");
        assertThat(pool.intAttribute("group", 0)).isEqualTo(8);
        assertThat(pool.attribute("strides").orElseThrow().ints()).containsExactly(2, 2);
        assertThat(rewritten.graph().initializer(pool.input(1)).orElseThrow().floats()).hasSize(32)
                .containsOnly(0.25f);
        Node norm = nodes.get(2);
        assertThat(norm.name()).isEqualTo("norm");
        assertThat(norm.intAttribute("group", 0)).isEqualTo(8);
        assertThat(rewritten.graph().initializer(norm.input(1)).orElseThrow().dims()).containsExactly(8, 1, 1, 1);
        // the statistics are gone with the node that read them; the LayerNorm's axes stay
        assertThat(rewritten.graph().initializers()).doesNotContainKeys("gamma", "beta", "mean", "var", "spatial")
                .containsKey("last");
        assertThat(TestGraphs.relativeError(original, rewritten, data().batches(2),
                RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE))).isLessThan(1e-6);
    }

    @Test
    void quantizedTheLayerRunsInEightBitsThroughout() {
        OnnxModel fp32 = denseLayer();
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(data())
                .optPrepare(false).build().quantize();
        assertThat(result.report().floatOps()).doesNotContainKeys("BatchNormalization", "Relu");
        assertThat(result.model().metadata().get("compress.quantization")).contains("\"integerForms\":3");
        Path file = dir.resolve("q.onnx");
        Path optimized = dir.resolve("o.onnx");
        result.model().save(file);
        try (OrtModel ignored = OrtModel.open(file, RuntimeOptions.defaults()
                .withOptimization(RuntimeOptions.Optimization.ALL).withOptimizedModelFile(optimized))) {
            // opening the session writes the optimized graph
        }
        List<String> ran = OnnxModel.load(optimized).graph().nodes().stream().map(Node::opType).toList();
        assertThat(ran).doesNotContain("BatchNormalization", "Relu").contains("QLinearGlobalAveragePool");
        assertThat(ran.stream().filter("ReduceMean"::equals).count()).isEqualTo(1); // the LayerNorm's
        assertThat(ran.stream().filter("QLinearConv"::equals).count()).isEqualTo(4);
        assertThat(TestGraphs.relativeError(fp32, result.model(), data())).isLessThan(0.05);
    }
}
