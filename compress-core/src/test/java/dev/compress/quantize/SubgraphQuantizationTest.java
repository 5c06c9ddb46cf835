package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static dev.compress.quantize.TestGraphs.weight;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Weights inside If branches are quantized like the main graph's, whether the branch or the main graph holds them. */
class SubgraphQuantizationTest {
    /**
     * relu(x W0) then, by the sign of its mean, x' W1 (W1 an initializer of the main graph, read from the branch)
     * or x' W2 (W2 the branch's own, in a Constant node as exporters write it: silero VAD's Convs).
     */
    private static OnnxModel branching() {
        GraphProto then = GraphProto.newBuilder().setName("then")
                .addOutput(value("y_then", FLOAT, "n", 8))
                .addNode(Protos.node("MatMul", "then_mm", List.of("h", "w1"), List.of("y_then")))
                .build();
        GraphProto otherwise = GraphProto.newBuilder().setName("else")
                .addOutput(value("y_else", FLOAT, "n", 8))
                .addNode(Protos.node("Constant", "w2_constant", List.of(), List.of("w2"))
                        .addAttribute(AttributeProto.newBuilder().setName("value")
                                .setType(AttributeProto.AttributeType.TENSOR).setT(weight("w2", 32, 8, 3))))
                .addNode(Protos.node("MatMul", "else_mm", List.of("h", "w2"), List.of("y_else")))
                .build();
        GraphProto graph = GraphProto.newBuilder().setName("branching")
                .addInput(value("x", FLOAT, "n", 16))
                .addOutput(value("y", FLOAT, "n", 8))
                .addInitializer(weight("w0", 16, 32, 1))
                .addInitializer(weight("w1", 32, 8, 2))
                .addInitializer(Protos.floats("zero", new long[0], new float[] {0f}))
                .addNode(Protos.node("MatMul", "mm0", List.of("x", "w0"), List.of("m")))
                .addNode(Protos.node("Relu", "relu", List.of("m"), List.of("h")))
                .addNode(Protos.node("ReduceMean", "mean", List.of("x"), List.of("mu"))
                        .addAttribute(Protos.intAttribute("keepdims", 0)))
                .addNode(Protos.node("Greater", "positive", List.of("mu", "zero"), List.of("c")))
                .addNode(Protos.node("If", "branch", List.of("c"), List.of("y"))
                        .addAttribute(AttributeProto.newBuilder().setName("then_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(then))
                        .addAttribute(AttributeProto.newBuilder().setName("else_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(otherwise)))
                .build();
        return model(graph, 13);
    }

    @Test
    void dynamicQuantizationRewritesBothBranches() {
        OnnxModel fp32 = branching();
        QuantizationResult result = Quantizer.builder().setModel(fp32).optDynamic(true).build().quantize();

        assertThat(result.report().quantizedOps()).containsEntry("MatMul", 3);
        assertThat(result.report().floatNodes()).isEmpty();
        Graph main = result.model().graph();
        Node branch = main.nodes().stream().filter(n -> n.is("If")).findFirst().orElseThrow();
        for (Graph body : branch.subgraphs()) {
            assertThat(body.nodes()).extracting(Node::opType).contains("MatMulInteger").doesNotContain("MatMul");
        }
        // each float weight is gone; W1's int8 form stays in the main graph, W2's in its branch
        assertThat(main.initializers()).doesNotContainKeys("w0", "w1");
        assertThat(main.initializers().keySet()).anyMatch(name -> name.startsWith("w1_quantized"));
        Graph otherwise = branch.subgraphs().get(1);
        assertThat(otherwise.initializers()).doesNotContainKey("w2");
        assertThat(otherwise.initializers().keySet()).anyMatch(name -> name.startsWith("w2_quantized"));

        // both branches run: the sign of the batch mean varies across the generated batches
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {4, 16}), 8);
        assertThat(TestGraphs.relativeError(fp32, result.model(), data)).isLessThan(0.05);
    }
}
