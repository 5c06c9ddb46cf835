package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.data.Dataset;
import dev.compress.graph.DataType;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.GraphProto;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Dynamic quantization of Convs (PaddleOCR's det is all Convs, and was refused): ConvInteger as ONNX Runtime's
 * quantize_dynamic writes it, but per output channel, and the QDQ and weight-only forms; depthwise Convs stay float.
 * Each result is run by ONNX Runtime against fp32.
 */
class DynamicConvTest {
    /**
     * A MobileNet-style block on x[batch, 8, 12, 12]: a dense 3x3 Conv with bias (16 filters, padded), a depthwise
     * 3x3 Conv with stride 2 (group 16, bias), a pointwise Conv without bias, then a Conv1d-like 1x3 Conv whose filter
     * is shared with a second Conv on another branch.
     */
    private static GraphProto.Builder block() {
        return GraphProto.newBuilder().setName("block")
                .addInput(value("x", FLOAT, "batch", 8L, 12L, 12L))
                .addOutput(value("y", FLOAT, "batch", 4L, 6L, 4L))
                .addOutput(value("z", FLOAT, "batch", 4L, 6L, 4L))
                .addInitializer(Protos.floats("w1", new long[] {16, 8, 3, 3}, TestGraphs.weights(16 * 8 * 9, 1)))
                .addInitializer(Protos.floats("b1", new long[] {16}, TestGraphs.weights(16, 2)))
                .addInitializer(Protos.floats("w2", new long[] {16, 1, 3, 3}, TestGraphs.weights(16 * 9, 3)))
                .addInitializer(Protos.floats("b2", new long[] {16}, TestGraphs.weights(16, 4)))
                .addInitializer(Protos.floats("w3", new long[] {4, 16, 1, 1}, TestGraphs.weights(4 * 16, 5)))
                .addInitializer(Protos.floats("w4", new long[] {4, 4, 1, 3}, TestGraphs.weights(4 * 4 * 3, 6)))
                .addNode(Protos.node("Conv", "dense", List.of("x", "w1", "b1"), List.of("h1"))
                        .addAttribute(Protos.intsAttribute("pads", 1, 1, 1, 1)))
                .addNode(Protos.node("Relu", "relu", List.of("h1"), List.of("h2")))
                .addNode(Protos.node("Conv", "depthwise", List.of("h2", "w2", "b2"), List.of("h3"))
                        .addAttribute(Protos.intAttribute("group", 16))
                        .addAttribute(Protos.intsAttribute("strides", 2, 2))
                        .addAttribute(Protos.intsAttribute("pads", 1, 1, 1, 1)))
                .addNode(Protos.node("Conv", "pointwise", List.of("h3", "w3"), List.of("h4")))
                .addNode(Protos.node("Conv", "row", List.of("h4", "w4"), List.of("y")))
                .addNode(Protos.node("Neg", "neg", List.of("h4"), List.of("h5")))
                .addNode(Protos.node("Conv", "row2", List.of("h5", "w4"), List.of("z")));
    }

    private static Dataset data() {
        return TestGraphs.floats(Map.of("x", b -> new long[] {1 + b % 3, 8, 12, 12}), 4);
    }

    private static QuantizationResult dynamic(OnnxModel model, DynamicFormat format, Set<String> ops) {
        return Quantizer.builder().setModel(model).optDynamic(format).optOpTypes(ops).build().quantize();
    }

    private static List<Node> nodes(OnnxModel model, String opType) {
        return model.graph().nodes().stream().filter(n -> n.opType().equals(opType)).toList();
    }

    @Test
    void everyFormatQuantizesEveryConvButTheDepthwiseOneAndComputesWhatFp32Does() {
        OnnxModel fp32 = model(block().build(), 13);
        for (DynamicFormat format : DynamicFormat.values()) {
            QuantizationResult result = dynamic(fp32, format, Set.of());
            assertThat(result.report().quantizedOps()).as(format.name()).containsExactlyEntriesOf(Map.of("Conv", 4));
            assertThat(result.report().floatNodes()).as(format.name())
                    .containsExactlyEntriesOf(Map.of("depthwise", DynamicQuantization.DEPTHWISE));
            assertThat(result.model().graph().initializers()).as(format.name())
                    .doesNotContainKeys("w1", "w3", "w4").containsKey("w2");
            assertThat(TestGraphs.relativeError(fp32, result.model(), data())).as(format.name()).isLessThan(0.02);
        }
    }

    @Test
    void convIntegerTakesUint8FiltersWithOneZeroPointAndPerChannelScalesAfterIt() {
        OnnxModel result = dynamic(model(block().build(), 11), DynamicFormat.MATMUL_INTEGER, Set.of()).model();
        assertThat(nodes(result, "ConvInteger")).hasSize(4);
        // one DynamicQuantizeLinear per activation: row and row2 read different tensors, nothing else shares
        assertThat(nodes(result, "DynamicQuantizeLinear")).hasSize(4);
        assertThat(nodes(result, "Conv")).singleElement().satisfies(conv -> assertThat(conv.input(1)).isEqualTo("w2"));
        Node dense = nodes(result, "ConvInteger").stream().filter(n -> n.name().startsWith("dense"))
                .findFirst().orElseThrow();
        assertThat(dense.intAttribute("group", 1)).isEqualTo(1);
        assertThat(dense.attribute("pads")).isPresent();
        Tensor filter = result.graph().initializer(dense.input(1)).orElseThrow();
        Tensor zeroPoint = result.graph().initializer(dense.input(3)).orElseThrow();
        assertThat(filter.dataType()).isEqualTo(DataType.UINT8);
        assertThat(filter.dims()).containsExactly(16, 8, 3, 3);
        assertThat(zeroPoint.rank()).isZero();
        assertThat(zeroPoint.bytes()[0] & 0xff).isEqualTo(128);
        // each output channel's largest filter magnitude maps to 127 away from the zero point
        byte[] codes = filter.bytes();
        for (int channel = 0; channel < 16; channel++) {
            int max = 0;
            for (int k = 0; k < 72; k++) {
                max = Math.max(max, Math.abs((codes[channel * 72 + k] & 0xff) - 128));
            }
            assertThat(max).isEqualTo(127);
        }
        Node scale = result.graph().nodes().stream().filter(n -> n.name().equals("dense_scale")).findFirst()
                .orElseThrow();
        assertThat(result.graph().initializer(scale.input(1)).orElseThrow().dims()).containsExactly(16, 1, 1);
        // the shared 1x3 filter is quantized once
        List<String> rowFilters = nodes(result, "ConvInteger").stream().filter(n -> n.name().startsWith("row"))
                .map(n -> n.input(1)).distinct().toList();
        assertThat(rowFilters).hasSize(1);
    }

    @Test
    void opsSelectWhichTypesAreQuantizedAndNameTheRest() {
        OnnxModel fp32 = model(block().build(), 13);
        assertThatThrownBy(() -> dynamic(fp32, DynamicFormat.MATMUL_INTEGER, Set.of("MatMul")))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("nothing to quantize: no MatMul with a float weight")
                .hasMessageContaining("5 Conv: op type not selected");
        assertThatThrownBy(() -> Quantizer.builder().setModel(fp32).optDynamic(true).optOpTypes(Set.of("Add"))
                .build()).isInstanceOf(CompressException.class)
                .hasMessageContaining("dynamic quantization cannot quantize op type Add");
    }

    @Test
    void convTransposeAndAComputedBiasStayFloatWithTheirReasons() {
        GraphProto graph = block()
                .addOutput(value("t", FLOAT, "batch", 16L, 14L, 14L))
                .addOutput(value("c", FLOAT, "batch", 4L, 12L, 12L))
                .addInitializer(Protos.floats("wt", new long[] {8, 16, 3, 3}, TestGraphs.weights(8 * 16 * 9, 7)))
                .addInitializer(Protos.floats("wc", new long[] {4, 8, 1, 1}, TestGraphs.weights(4 * 8, 8)))
                .addNode(Protos.node("ConvTranspose", "up", List.of("x", "wt"), List.of("t")))
                .addNode(Protos.node("ReduceMean", "mean", List.of("x"), List.of("m"))
                        .addAttribute(Protos.intsAttribute("axes", 0, 2, 3))
                        .addAttribute(Protos.intAttribute("keepdims", 0)))
                .addNode(Protos.node("Slice", "first4", List.of("m", "zero", "four"), List.of("bias")))
                .addInitializer(Protos.int64s("zero", new long[] {1}, new long[] {0}))
                .addInitializer(Protos.int64s("four", new long[] {1}, new long[] {4}))
                .addNode(Protos.node("Conv", "computedBias", List.of("x", "wc", "bias"), List.of("c")))
                .build();
        OnnxModel fp32 = model(graph, 13);
        QuantizationResult integer = dynamic(fp32, DynamicFormat.MATMUL_INTEGER, Set.of());
        assertThat(integer.report().floatNodes())
                .containsEntry("up", "dynamic mode quantizes only MatMul, Gemm, Conv, LSTM and Gather (ONNX has"
                        + " no integer ConvTranspose; use static quantization)")
                .containsEntry("computedBias", "bias is not a float constant");
        assertThat(TestGraphs.relativeError(fp32, integer.model(), data())).isLessThan(0.02);
        // the QDQ and weight-only forms keep the bias as the Conv's input
        QuantizationResult weightOnly = dynamic(fp32, DynamicFormat.WEIGHT_ONLY, Set.of());
        assertThat(weightOnly.report().quantizedOps()).containsEntry("Conv", 5);
        assertThat(TestGraphs.relativeError(fp32, weightOnly.model(), data())).isLessThan(0.02);
    }
}
