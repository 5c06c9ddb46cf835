package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static dev.compress.quantize.TestGraphs.weight;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.data.Dataset;
import dev.compress.graph.DataType;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Graphs as exporters write them, built with the project's graph model: weights in Constant nodes, shared weights,
 * fp16, opsets 11 to 21, symbolic dimensions, several inputs and outputs, If/Loop/Scan bodies. Each is quantized
 * statically and dynamically, run by ONNX Runtime and compared with fp32; whatever stays float is in the report.
 */
class RealGraphTest {
    /**
     * Two inputs, two outputs: x[batch, seq, 16] -> MatMul(W1) -> Add(b1) -> Relu -> MatMul(W2) -> y[batch, seq, 8],
     * and x2[batch, 16] -> Gemm(W3 transposed, b3) -> z[batch, 8]. Batch and sequence are symbolic.
     */
    private static GraphProto.Builder twoHeads(boolean weightsAsConstants) {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("two-heads")
                .addInput(value("x", FLOAT, "batch", "seq", 16L))
                .addInput(value("x2", FLOAT, "batch", 16L))
                .addOutput(value("y", FLOAT, "batch", "seq", 8L))
                .addOutput(value("z", FLOAT, "batch", 8L));
        List<TensorProto> weights = List.of(weight("W1", 16, 32, 1), weight("W2", 32, 8, 2), weight("W3", 8, 16, 3),
                Protos.floats("b1", new long[] {32}, TestGraphs.weights(32, 4)),
                Protos.floats("b3", new long[] {8}, TestGraphs.weights(8, 5)));
        for (TensorProto w : weights) {
            if (weightsAsConstants) {
                graph.addNode(Protos.node("Constant", "const_" + w.getName(), List.of(), List.of(w.getName()))
                        .addAttribute(AttributeProto.newBuilder().setName("value")
                                .setType(AttributeProto.AttributeType.TENSOR).setT(w.toBuilder().clearName())));
            } else {
                graph.addInitializer(w);
            }
        }
        return graph
                .addNode(Protos.node("MatMul", "mm1", List.of("x", "W1"), List.of("h1")))
                .addNode(Protos.node("Add", "add1", List.of("h1", "b1"), List.of("h2")))
                .addNode(Protos.node("Relu", "relu1", List.of("h2"), List.of("h3")))
                .addNode(Protos.node("MatMul", "mm2", List.of("h3", "W2"), List.of("y")))
                .addNode(Protos.node("Gemm", "gemm", List.of("x2", "W3", "b3"), List.of("z"))
                        .addAttribute(Protos.intAttribute("transB", 1)));
    }

    /** Batches of different batch sizes and sequence lengths, to exercise the symbolic dimensions. */
    private static Dataset twoHeadsData() {
        Map<String, IntFunction<long[]>> shapes = new LinkedHashMap<>();
        shapes.put("x", b -> new long[] {1 + b % 3, 3 + 2 * b, 16});
        shapes.put("x2", b -> new long[] {1 + b % 3, 16});
        return TestGraphs.floats(shapes, 6);
    }

    private static QuantizationResult staticInt8(OnnxModel model) {
        return Quantizer.builder().setModel(model).setCalibrationData(twoHeadsData()).build().quantize();
    }

    private static QuantizationResult dynamic(OnnxModel model, DynamicFormat format) {
        return Quantizer.builder().setModel(model).optDynamic(format).build().quantize();
    }

    private static List<Node> nodes(OnnxModel model, String opType) {
        return model.graph().nodes().stream().filter(n -> n.opType().equals(opType)).toList();
    }

    static Stream<Arguments> opsets() {
        return Stream.of(11L, 12L, 13L, 14L, 15L, 16L, 17L, 18L, 19L, 20L, 21L).map(Arguments::of);
    }

    @ParameterizedTest(name = "opset {0}")
    @MethodSource("opsets")
    void staticQuantizationFollowsEachOpsetsPerChannelRule(long opset) {
        OnnxModel fp32 = model(twoHeads(false).build(), opset);
        // the opset kept as it is: DequantizeLinear's axis (per-channel) exists from opset 13; before, weights are
        // per tensor (by default opsets 11 and 12 are converted to 13 first)
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(twoHeadsData())
                .optKeepOpset(true).build().quantize();
        assertThat(result.report().quantizedOps()).containsEntry("MatMul", 2).containsEntry("Gemm", 1);
        boolean perChannel = opset >= 13;
        assertThat(result.report().perChannel()).isEqualTo(perChannel);
        List<Node> withAxis = nodes(result.model(), "DequantizeLinear").stream()
                .filter(n -> n.attribute("axis").isPresent()).toList();
        assertThat(withAxis).hasSize(perChannel ? 4 : 0); // three weights and the Gemm bias
        assertThat(TestGraphs.relativeError(fp32, result.model(), twoHeadsData())).isLessThan(0.03);
    }

    @ParameterizedTest(name = "opset {0}")
    @MethodSource("opsets")
    void dynamicQuantizationRunsAtEveryOpsetFrom11(long opset) {
        OnnxModel fp32 = model(twoHeads(false).build(), opset);
        for (DynamicFormat format : DynamicFormat.values()) {
            QuantizationResult result = dynamic(fp32, format);
            assertThat(result.report().quantizedOps()).as(format.name())
                    .containsEntry("MatMul", 2).containsEntry("Gemm", 1);
            assertThat(result.report().perChannel()).isEqualTo(format == DynamicFormat.MATMUL_INTEGER || opset >= 13);
            assertThat(result.model().graph().initializers()).doesNotContainKeys("W1", "W2", "W3");
            assertThat(TestGraphs.relativeError(fp32, result.model(), twoHeadsData())).as(format.name())
                    .isLessThan(0.03);
        }
    }

    @Test
    void matMulIntegerFormIsWhatOrtQuantizeDynamicWrites() {
        OnnxModel result = dynamic(model(twoHeads(false).build(), 13), DynamicFormat.MATMUL_INTEGER).model();
        assertThat(nodes(result, "MatMulInteger")).hasSize(3);
        assertThat(nodes(result, "DynamicQuantizeLinear")).hasSize(3);
        assertThat(nodes(result, "MatMul")).isEmpty();
        Node matMulInteger = nodes(result, "MatMulInteger").get(0);
        Tensor weight = result.graph().initializer(matMulInteger.input(1)).orElseThrow();
        Tensor zeroPoint = result.graph().initializer(matMulInteger.input(3)).orElseThrow();
        assertThat(weight.dataType()).isEqualTo(DataType.INT8);
        assertThat(zeroPoint.dims()).containsExactly(32); // one per output column
    }

    @Test
    void sameInputsGiveByteIdenticalModels() {
        OnnxModel fp32 = model(twoHeads(true).build(), 11);
        for (DynamicFormat format : DynamicFormat.values()) {
            assertThat(dynamic(fp32, format).model().toBytes()).isEqualTo(dynamic(fp32, format).model().toBytes());
        }
        byte[] first = Quantizer.builder().setModel(fp32).setCalibrationData(twoHeadsData()).optUpgradeOpset(true)
                .build().quantize().model().toBytes();
        byte[] second = Quantizer.builder().setModel(fp32).setCalibrationData(twoHeadsData()).optUpgradeOpset(true)
                .build().quantize().model().toBytes();
        assertThat(first).isEqualTo(second);
    }

    @Test
    void reduceRangeKeepsWeightsWithin7Bits() {
        OnnxModel fp32 = model(twoHeads(false).build(), 13);
        QuantizationResult result = Quantizer.builder().setModel(fp32).optDynamic(true).optReduceRange(true).build()
                .quantize();
        assertThat(result.report().weightType()).contains("7-bit");
        for (Node node : nodes(result.model(), "MatMulInteger")) {
            byte[] weights = result.model().graph().initializer(node.input(1)).orElseThrow().bytes();
            int max = 0;
            for (byte w : weights) {
                max = Math.max(max, Math.abs(w));
            }
            assertThat(max).isEqualTo(64); // each column's largest weight maps to 64
        }
        assertThat(TestGraphs.relativeError(fp32, result.model(), twoHeadsData())).isLessThan(0.03);
    }

    @Test
    void dynamicQuantizationBelowOpset11ConvertsToOpset13First() {
        for (long opset : new long[] {9, 10}) { // PaddleOCR's rec and cls are opset 9
            OnnxModel fp32 = model(twoHeads(false).build(), opset);
            QuantizationResult result = dynamic(fp32, DynamicFormat.MATMUL_INTEGER);
            assertThat(result.model().opset(OnnxModel.DEFAULT_DOMAIN)).isEqualTo(13);
            assertThat(result.report().warnings()).singleElement().asString()
                    .contains("converted from opset " + opset + " to 13");
            assertThat(result.report().quantizedOps()).containsEntry("MatMul", 2);
            assertThat(TestGraphs.relativeError(fp32, result.model(), twoHeadsData())).isLessThan(0.03);
        }
    }

    @Test
    void weightsInConstantNodesAreQuantizedLikeInitializers() {
        OnnxModel fp32 = model(twoHeads(true).build(), 13);
        QuantizationResult staticResult = staticInt8(fp32);
        QuantizationResult dynamicResult = dynamic(fp32, DynamicFormat.MATMUL_INTEGER);
        for (QuantizationResult result : List.of(staticResult, dynamicResult)) {
            assertThat(result.report().quantizedOps()).containsEntry("MatMul", 2).containsEntry("Gemm", 1);
            assertThat(nodes(result.model(), "Constant")).isEmpty();
            assertThat(TestGraphs.relativeError(fp32, result.model(), twoHeadsData())).isLessThan(0.03);
        }
        assertThat(result(staticResult).dataType()).isEqualTo(DataType.INT8);
    }

    private static Tensor result(QuantizationResult r) {
        Node dq = nodes(r.model(), "DequantizeLinear").stream()
                .filter(n -> n.input(0).startsWith("W1")).findFirst().orElseThrow();
        return r.model().graph().initializer(dq.input(0)).orElseThrow();
    }

    @Test
    void aWeightSharedByTwoNodesIsQuantizedOnce() {
        GraphProto graph = GraphProto.newBuilder()
                .addInput(value("a", FLOAT, "n", 16L))
                .addInput(value("b", FLOAT, "n", 16L))
                .addOutput(value("ya", FLOAT, "n", 16L))
                .addOutput(value("yb", FLOAT, "n", 16L))
                .addInitializer(weight("W", 16, 16, 7))
                .addNode(Protos.node("MatMul", "left", List.of("a", "W"), List.of("ya")))
                .addNode(Protos.node("MatMul", "right", List.of("b", "W"), List.of("yb")))
                .build();
        OnnxModel fp32 = model(graph, 13);
        Map<String, IntFunction<long[]>> shapes = new LinkedHashMap<>();
        shapes.put("a", b -> new long[] {2, 16});
        shapes.put("b", b -> new long[] {2, 16});
        Dataset data = TestGraphs.floats(shapes, 4);
        QuantizationResult staticResult = Quantizer.builder().setModel(fp32).setCalibrationData(data).build()
                .quantize();
        QuantizationResult dynamicResult = dynamic(fp32, DynamicFormat.MATMUL_INTEGER);
        for (QuantizationResult result : List.of(staticResult, dynamicResult)) {
            List<Tensor> int8 = result.model().graph().initializers().values().stream()
                    .filter(t -> t.dataType() == DataType.INT8 && t.rank() == 2)
                    .toList();
            assertThat(int8).hasSize(1);
            assertThat(result.model().graph().initializers()).doesNotContainKey("W");
            assertThat(result.report().quantizedOps()).containsEntry("MatMul", 2);
            assertThat(TestGraphs.relativeError(fp32, result.model(), data)).isLessThan(0.03);
        }
    }

    @Test
    void fp16ModelsAreRefusedWithTheReason() {
        int half = TensorProto.DataType.FLOAT16_VALUE;
        TensorProto w16 = TensorProto.newBuilder().setName("W").setDataType(half).addDims(4).addDims(4)
                .setRawData(com.google.protobuf.ByteString.copyFrom(new byte[32])).build();
        GraphProto graph = GraphProto.newBuilder()
                .addInput(value("x", half, "n", 4L))
                .addOutput(value("y", half, "n", 4L))
                .addInitializer(w16)
                .addNode(Protos.node("MatMul", "mm", List.of("x", "W"), List.of("y")))
                .build();
        OnnxModel fp16 = model(graph, 13);
        assertThatThrownBy(() -> dynamic(fp16, DynamicFormat.MATMUL_INTEGER))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("nothing to quantize")
                .hasMessageContaining("weight is FLOAT16 (fp16 models are not quantized: convert to fp32 first)");
        assertThatThrownBy(() -> Quantizer.builder().setModel(fp16).setCalibrationData(twoHeadsData()).build()
                .quantize())
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("nothing to quantize")
                .hasMessageContaining("FLOAT16");
    }

    @Test
    void anFp16BranchStaysFloatAndIsReported() {
        int half = TensorProto.DataType.FLOAT16_VALUE;
        TensorProto w16 = TensorProto.newBuilder().setName("W16").setDataType(half).addDims(16).addDims(8)
                .setRawData(com.google.protobuf.ByteString.copyFrom(new byte[16 * 8 * 2])).build();
        GraphProto.Builder graph = twoHeads(false)
                .addInitializer(w16)
                .addOutput(value("y16", half, "batch", 8L))
                .addNode(Protos.node("Cast", "to_half", List.of("x2"), List.of("x2_half"))
                        .addAttribute(AttributeProto.newBuilder().setName("to")
                                .setType(AttributeProto.AttributeType.INT).setI(half)))
                .addNode(Protos.node("MatMul", "half_mm", List.of("x2_half", "W16"), List.of("y16")));
        OnnxModel fp32 = model(graph.build(), 13);
        QuantizationResult dynamicResult = dynamic(fp32, DynamicFormat.MATMUL_INTEGER);
        assertThat(dynamicResult.report().floatNodes()).containsEntry("half_mm",
                "weight is FLOAT16 (fp16 models are not quantized: convert to fp32 first)");
        QuantizationResult staticResult = staticInt8(fp32);
        assertThat(staticResult.report().floatNodes()).containsKey("half_mm");
        assertThat(staticResult.report().quantizedOps()).containsEntry("MatMul", 2);
        try (var session = dev.compress.runtime.OrtModel.open(staticResult.model(),
                dev.compress.runtime.RuntimeOptions.defaults())) {
            assertThat(session.outputNames()).contains("y16");
        }
    }

    /**
     * h = x W; an If (then: h W, else: h + h), a Loop (twice: v = v W) and a Scan (state += row W) read h and the
     * outer weight W from their bodies.
     */
    private static GraphProto withSubgraphs() {
        GraphProto thenBranch = GraphProto.newBuilder().setName("then")
                .addNode(Protos.node("MatMul", "then_mm", List.of("h", "W"), List.of("t")))
                .addOutput(value("t", FLOAT, 2L, 16L)).build();
        GraphProto elseBranch = GraphProto.newBuilder().setName("else")
                .addNode(Protos.node("Add", "else_add", List.of("h", "h"), List.of("e")))
                .addOutput(value("e", FLOAT, 2L, 16L)).build();
        GraphProto loopBody = GraphProto.newBuilder().setName("loop_body")
                .addInput(value("i", TensorProto.DataType.INT64_VALUE))
                .addInput(value("c", TensorProto.DataType.BOOL_VALUE))
                .addInput(value("v", FLOAT, 2L, 16L))
                .addNode(Protos.node("Identity", "loop_cond", List.of("c"), List.of("c_out")))
                .addNode(Protos.node("MatMul", "loop_mm", List.of("v", "W"), List.of("v_out")))
                .addOutput(value("c_out", TensorProto.DataType.BOOL_VALUE))
                .addOutput(value("v_out", FLOAT, 2L, 16L)).build();
        GraphProto scanBody = GraphProto.newBuilder().setName("scan_body")
                .addInput(value("s", FLOAT, 16L))
                .addInput(value("row", FLOAT, 16L))
                .addNode(Protos.node("MatMul", "scan_mm", List.of("row", "W"), List.of("rw")))
                .addNode(Protos.node("Add", "scan_add", List.of("s", "rw"), List.of("s_out")))
                .addOutput(value("s_out", FLOAT, 16L)).build();
        return GraphProto.newBuilder().setName("control-flow")
                .addInput(value("x", FLOAT, 2L, 16L))
                .addOutput(value("y_if", FLOAT, 2L, 16L))
                .addOutput(value("y_loop", FLOAT, 2L, 16L))
                .addOutput(value("y_scan", FLOAT, 16L))
                .addInitializer(weight("W", 16, 16, 11))
                .addInitializer(Protos.floats("zero", new long[0], new float[] {0f}))
                .addInitializer(Protos.floats("s0", new long[] {16}, new float[16]))
                .addInitializer(Protos.int64s("trips", new long[0], new long[] {2}))
                .addInitializer(TensorProto.newBuilder().setName("true").setDataType(TensorProto.DataType.BOOL_VALUE)
                        .setRawData(com.google.protobuf.ByteString.copyFrom(new byte[] {1})).build())
                .addNode(Protos.node("MatMul", "main_mm", List.of("x", "W"), List.of("h")))
                .addNode(Protos.node("ReduceMax", "peak", List.of("x"), List.of("m"))
                        .addAttribute(Protos.intAttribute("keepdims", 0)))
                .addNode(Protos.node("Greater", "positive", List.of("m", "zero"), List.of("cond")))
                .addNode(Protos.node("If", "branch", List.of("cond"), List.of("y_if"))
                        .addAttribute(graphAttribute("then_branch", thenBranch))
                        .addAttribute(graphAttribute("else_branch", elseBranch)))
                .addNode(Protos.node("Loop", "repeat", List.of("trips", "true", "h"), List.of("y_loop"))
                        .addAttribute(graphAttribute("body", loopBody)))
                .addNode(Protos.node("Scan", "accumulate", List.of("s0", "h"), List.of("y_scan"))
                        .addAttribute(graphAttribute("body", scanBody))
                        .addAttribute(Protos.intAttribute("num_scan_inputs", 1)))
                .build();
    }

    private static AttributeProto graphAttribute(String name, GraphProto graph) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.GRAPH).setG(graph)
                .build();
    }

    @Test
    void staticQuantizationLeavesIfLoopAndScanBodiesFloat() {
        OnnxModel fp32 = model(withSubgraphs(), 13);
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {2, 16}), 4);
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(data).build()
                .quantize();
        assertThat(result.report().quantizedOps()).containsEntry("MatMul", 1);
        assertThat(result.report().floatNodes()).containsKeys("branch", "repeat", "accumulate");
        assertThat(result.report().floatNodes().get("branch")).contains("subgraph");
        // the bodies still read the float weight by name
        assertThat(result.model().graph().initializers()).containsKey("W");
        assertThat(TestGraphs.relativeError(fp32, result.model(), data)).isLessThan(0.05);
    }

    @Test
    void dynamicQuantizationRewritesIfLoopAndScanBodies() {
        OnnxModel fp32 = model(withSubgraphs(), 13);
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {2, 16}), 4);
        QuantizationResult result = dynamic(fp32, DynamicFormat.MATMUL_INTEGER);
        assertThat(result.report().quantizedOps()).containsEntry("MatMul", 4);
        assertThat(result.report().floatNodes()).doesNotContainKeys("branch", "repeat", "accumulate");
        // the weight the main graph and the three bodies share is quantized once, and the float one is gone
        assertThat(result.model().graph().initializers()).doesNotContainKey("W");
        assertThat(result.model().graph().initializers().keySet().stream()
                .filter(name -> name.startsWith("W_quantized"))).hasSize(1);
        assertThat(TestGraphs.relativeError(fp32, result.model(), data)).isLessThan(0.05);
    }

    @Test
    void weightOnlyNodesGetInt8WeightsAndFloatActivations() {
        OnnxModel fp32 = model(twoHeads(false).build(), 13);
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(twoHeadsData())
                .optWeightOnly(List.of("mm2")).build().quantize();
        assertThat(result.report().floatNodes()).containsEntry("mm2", "weight-only: int8 weight, float activations");
        assertThat(result.report().quantizedOps()).containsEntry("MatMul", 1).containsEntry("Gemm", 1);
        Node mm2 = nodes(result.model(), "MatMul").stream().filter(n -> n.name().equals("mm2"))
                .findFirst().orElseThrow();
        // the activation input is the float tensor, the weight an int8 initializer behind a per-channel DQ
        assertThat(mm2.input(0)).isEqualTo("h3");
        Node dq = result.model().graph().producer(mm2.input(1)).orElseThrow();
        assertThat(dq.opType()).isEqualTo("DequantizeLinear");
        assertThat(dq.intAttribute("axis", -1)).isEqualTo(1);
        assertThat(result.model().graph().initializers()).doesNotContainKey("W2");
        assertThat(TestGraphs.relativeError(fp32, result.model(), twoHeadsData())).isLessThan(0.03);
        assertThatThrownBy(() -> Quantizer.builder().setModel(fp32).setCalibrationData(twoHeadsData())
                .optWeightOnly(List.of("nope")).build().quantize())
                .hasMessageContaining("names node 'nope'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"static", "dynamic"})
    void excludedNodesStayFloatAndAreReported(String mode) {
        OnnxModel fp32 = model(twoHeads(false).build(), 13);
        Quantizer.Builder builder = Quantizer.builder().setModel(fp32).optExclude(List.of("mm2"));
        QuantizationResult result = (mode.equals("static")
                ? builder.setCalibrationData(twoHeadsData()) : builder.optDynamic(true)).build().quantize();
        assertThat(result.report().floatNodes()).containsEntry("mm2", "excluded");
        assertThat(result.report().quantizedOps()).containsEntry("MatMul", 1);
        // relu1 feeds only the float mm2, so it must not be folded away (no QuantizeLinear would clamp)
        assertThat(TestGraphs.relativeError(fp32, result.model(), twoHeadsData())).isLessThan(0.03);
    }

    @Test
    void aMalformedNodeIsABadInputNotACrash() {
        GraphProto graph = GraphProto.newBuilder()
                .addInput(value("x", FLOAT, "n", 16L))
                .addOutput(value("y", FLOAT, "n", 16L))
                .addInitializer(weight("W", 16, 16, 13))
                .addNode(Protos.node("MatMul", "good", List.of("x", "W"), List.of("h")))
                .addNode(Protos.node("MatMul", "broken", List.of("h"), List.of("y")))
                .build();
        OnnxModel model = model(graph, 13);
        // dynamic quantization leaves the node alone, then finds that ONNX Runtime cannot load what it wrote
        assertThatThrownBy(() -> dynamic(model, DynamicFormat.MATMUL_INTEGER))
                .isInstanceOfSatisfying(CompressException.class,
                        e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT))
                .hasMessageContaining("ONNX Runtime cannot load the model")
                .hasMessageContaining("broken");
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {2, 16}), 2);
        assertThatThrownBy(() -> Quantizer.builder().setModel(model).setCalibrationData(data).build().quantize())
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("ONNX Runtime cannot load the model");
    }

    @Test
    void aReluWritingAGraphOutputIsKept() {
        GraphProto graph = GraphProto.newBuilder()
                .addInput(value("x", FLOAT, "n", 16L))
                .addOutput(value("y", FLOAT, "n", 8L))
                .addInitializer(weight("W", 16, 8, 9))
                .addNode(Protos.node("MatMul", "mm", List.of("x", "W"), List.of("h")))
                .addNode(Protos.node("Relu", "relu", List.of("h"), List.of("y")))
                .build();
        OnnxModel fp32 = model(graph, 13);
        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {3, 16}), 4);
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(data).build().quantize();
        assertThat(nodes(result.model(), "Relu")).hasSize(1);
        assertThat(result.report().foldedRelus()).isEmpty();
        assertThat(TestGraphs.relativeError(fp32, result.model(), data)).isLessThan(0.03);
    }
}
