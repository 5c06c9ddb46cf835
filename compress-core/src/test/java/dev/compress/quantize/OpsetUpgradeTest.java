package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static dev.compress.quantize.TestGraphs.weight;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.graph.Nodes;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.OpsetUpgrade;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Opset 11 to 13 for per-channel weights: only when every op keeps its meaning, checked by running both. */
class OpsetUpgradeTest {
    private static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder attr = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            attr.addInts(v);
        }
        return attr.build();
    }

    /** x[2,3,4] -> Unsqueeze(0) -> Squeeze(0) -> MatMul(W) -> Softmax(axis) -> ReduceSum(axes 1) -> Split(2, 1). */
    private static GraphProto.Builder graph(long softmaxAxis) {
        return GraphProto.newBuilder().setName("opset11")
                .addInput(value("x", FLOAT, 2L, 3L, 4L))
                .addOutput(value("a", FLOAT, 2L, 1L, 2L))
                .addOutput(value("b", FLOAT, 2L, 1L, 3L))
                .addInitializer(weight("W", 4, 5, 21))
                .addNode(Nodes.node("Unsqueeze", "unsqueeze", List.of("x"), List.of("u")).addAttribute(ints("axes", 0)))
                .addNode(Nodes.node("Squeeze", "squeeze", List.of("u"), List.of("s")).addAttribute(ints("axes", 0)))
                .addNode(Nodes.node("MatMul", "mm", List.of("s", "W"), List.of("m")))
                .addNode(Nodes.node("Softmax", "softmax", List.of("m"), List.of("p"))
                        .addAttribute(Nodes.intAttribute("axis", softmaxAxis)))
                .addNode(Nodes.node("ReduceSum", "sum", List.of("p"), List.of("r")).addAttribute(ints("axes", 1)))
                .addNode(Nodes.node("Split", "split", List.of("r"), List.of("a", "b"))
                        .addAttribute(Nodes.intAttribute("axis", 2)).addAttribute(ints("split", 2, 3)));
    }

    private static Dataset data() {
        return TestGraphs.floats(Map.of("x", b -> new long[] {2, 3, 4}), 3);
    }

    @Test
    void attributesBecomeInputsAndResultsStayTheSame() {
        OnnxModel before = model(graph(-1).build(), 11);
        OnnxModel after = before.copy();
        assertThat(OpsetUpgrade.to13(after, Map.of())).isEmpty();
        assertThat(after.opset("")).isEqualTo(13);
        assertThat(after.irVersion()).isGreaterThanOrEqualTo(7);
        for (NodeProto node : after.graph().nodes()) {
            if (!node.getOpType().equals("MatMul") && !node.getOpType().equals("Softmax")) {
                assertThat(node.getInputCount()).as(node.getName()).isEqualTo(2);
                assertThat(node.getAttributeList()).noneMatch(a -> a.getName().equals("axes")
                        || a.getName().equals("split"));
            }
        }
        assertThat(TestGraphs.relativeError(before, after, data())).isZero();
    }

    @Test
    void softmaxOverTheLastAxisByNumberNeedsTheRank() {
        OnnxModel model = model(graph(2).build(), 11);
        assertThat(OpsetUpgrade.tensorsNeedingRank(model.graph())).containsExactly("m");
        assertThat(OpsetUpgrade.to13(model, Map.of())).get().asString()
                .contains("Softmax over axis 2 of a rank-? tensor changed meaning");
        assertThat(model.opset("")).isEqualTo(11);
        assertThat(OpsetUpgrade.to13(model, Map.of("m", 3))).isEmpty();
    }

    @Test
    void softmaxOverAnInnerAxisAndUnknownOpsAndSubgraphsBlockIt() {
        OnnxModel inner = model(graph(1).build(), 11);
        assertThat(OpsetUpgrade.to13(inner, Map.of("m", 3))).get().asString().contains("axis 1 of a rank-3");
        OnnxModel resize = model(graph(-1).addNode(Nodes.node("Resize", "resize", List.of("x", "", "scales"),
                List.of("big"))).build(), 11);
        assertThat(OpsetUpgrade.to13(resize, Map.of())).get().asString()
                .contains("resize: Resize is not known to keep its meaning at opset 13");
        assertThat(resize.graph().nodes().get(0).getInputCount()).isEqualTo(1); // untouched
    }

    @Test
    void quantizerUpgradesOnRequestAndGetsPerChannelWeights() {
        OnnxModel fp32 = model(graph(-1).build(), 11);
        QuantizationResult plain = Quantizer.builder().setModel(fp32).setCalibrationData(data()).build().quantize();
        QuantizationResult upgraded = Quantizer.builder().setModel(fp32).setCalibrationData(data())
                .optUpgradeOpset(true).build().quantize();
        assertThat(plain.report().perChannel()).isFalse();
        assertThat(upgraded.report().perChannel()).isTrue();
        assertThat(upgraded.model().opset("")).isEqualTo(13);
        assertThat(upgraded.model().metadata().get("compress.quantization")).contains("\"opsetUpgrade\":\"to 13\"");
        try (OrtModel session = OrtModel.open(upgraded.model(), RuntimeOptions.defaults())) {
            assertThat(session.outputNames()).containsExactly("a", "b");
        }
        assertThat(TestGraphs.relativeError(fp32, upgraded.model(), data())).isLessThan(0.05);
    }
}
