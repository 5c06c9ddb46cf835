package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.graph.DataType;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.IntBinaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Quantized Convs reshaped for ONNX Runtime's fast 8-bit kernels: one fed by a model input gets a multiple of 4 input
 * channels (a Pad of the 8-bit input with its zero point, zero filters in the int8 weight); one with a few groups
 * becomes dense (a block-diagonal weight). The outputs must not change: exactly as written (no optimizations), and
 * within one output step with ONNX Runtime's kernels, whose rounding may differ between their paths.
 */
class ConvKernelShapesTest {
    private static final float OUTPUT_SCALE = 0.05f;

    /**
     * x[n, channels, 8, 8] -> QuantizeLinear -> DequantizeLinear -> Conv (an int8 per-channel weight [out, channels /
     * group, 3, 3] behind a DequantizeLinear) -> QuantizeLinear -> DequantizeLinear -> y.
     */
    private static OnnxModel qdqConv(int channels, int out, int group) {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("stem")
                .addInput(value("x", FLOAT, "n", (long) channels, 8L, 8L))
                .addOutput(value("y", FLOAT, "n", (long) out, 8L, 8L))
                .addInitializer(Protos.floats("x_scale", new long[0], new float[] {0.01f}))
                .addInitializer(Protos.uint8s("x_zero", new long[0], new byte[] {(byte) 128}))
                .addInitializer(Protos.floats("w_scale", new long[] {out}, new float[out]))
                .addInitializer(Protos.floats("y_scale", new long[0], new float[] {OUTPUT_SCALE}))
                .addInitializer(Protos.uint8s("y_zero", new long[0], new byte[] {(byte) 128}))
                .addNode(Protos.node("QuantizeLinear", "q", List.of("x", "x_scale", "x_zero"), List.of("xq")))
                .addNode(Protos.node("DequantizeLinear", "dq", List.of("xq", "x_scale", "x_zero"), List.of("xd")))
                .addNode(Protos.node("DequantizeLinear", "wdq", List.of("w", "w_scale", "w_zero"), List.of("wd"))
                        .addAttribute(Protos.intAttribute("axis", 0)))
                .addNode(Protos.node("Conv", "conv", List.of("xd", "wd"), List.of("c"))
                        .addAttribute(Protos.intAttribute("group", group))
                        .addAttribute(AttributeProto.newBuilder().setName("pads")
                                .setType(AttributeProto.AttributeType.INTS)
                                .addAllInts(List.of(1L, 1L, 1L, 1L))))
                .addNode(Protos.node("QuantizeLinear", "cq", List.of("c", "y_scale", "y_zero"), List.of("cqo")))
                .addNode(Protos.node("DequantizeLinear", "cdq", List.of("cqo", "y_scale", "y_zero"), List.of("y")));
        OnnxModel model = TestGraphs.model(graph.build(), 13);
        int perFilter = channels / group * 9;
        byte[] w = new byte[out * perFilter];
        float[] wScale = new float[out];
        float[] values = TestGraphs.weights(w.length, 5);
        for (int i = 0; i < w.length; i++) {
            w[i] = (byte) Math.round(Math.max(-1, Math.min(1, values[i])) * 127);
        }
        for (int m = 0; m < out; m++) {
            wScale[m] = 0.002f * (m + 1);
        }
        model.graph().putInitializer(Tensor.int8s("w", new long[] {out, channels / group, 3, 3}, w));
        model.graph().putInitializer(Tensor.int8s("w_zero", new long[] {out}, new byte[out]));
        model.graph().putInitializer(Tensor.floats("w_scale", new long[] {out}, wScale));
        return model;
    }

    private static Dataset data(int channels) {
        return TestGraphs.floats(Map.of("x", b -> new long[] {2, channels, 8, 8}), 3);
    }

    private static long count(OnnxModel model, String op) {
        return model.graph().nodes().stream().filter(n -> n.is(op)).count();
    }

    @Test
    void aThreeChannelInputGetsAZeroChannelAndGivesTheSameOutputs() {
        OnnxModel source = qdqConv(3, 16, 1);
        OnnxModel padded = source.copy();

        assertThat(ConvKernelShapes.padInputChannels(padded.graph())).containsExactly("conv");

        assertWeight(source, padded, new long[] {16, 4, 3, 3}, (m, i) -> i < 27 ? m * 27 + i : -1);
        assertThat(count(padded, "Pad")).isEqualTo(1);
        // the input's first DequantizeLinear read only by the Conv is gone: x's padded one, the weight's and y's
        assertThat(count(padded, "DequantizeLinear")).isEqualTo(3);
        assertThat(padded.graph().initializer("conv_channel_pads").orElseThrow().longs())
                .containsExactly(0, 0, 0, 0, 0, 1, 0, 0);

        assertSameOutputs(source, padded, 3);
    }

    /**
     * The rewritten weight has {@code dims}; its value at (filter m, position i within the filter) is the source
     * weight's at the flat index {@code from(m, i)}, or 0 where that is -1.
     */
    private static void assertWeight(OnnxModel source, OnnxModel rewritten, long[] dims, IntBinaryOperator from) {
        Tensor weight = rewritten.graph().initializer("w").orElseThrow();
        assertThat(weight.dims()).containsExactly(dims);
        byte[] before = source.graph().initializer("w").orElseThrow().bytes();
        byte[] after = weight.bytes();
        int filter = after.length / (int) dims[0];
        for (int m = 0; m < dims[0]; m++) {
            for (int i = 0; i < filter; i++) {
                int index = from.applyAsInt(m, i);
                assertThat(after[m * filter + i]).isEqualTo(index < 0 ? (byte) 0 : before[index]);
            }
        }
    }

    /** Identical outputs as written, within one output step with ONNX Runtime's kernels. */
    private static void assertSameOutputs(OnnxModel source, OnnxModel rewritten, int channels) {
        RuntimeOptions asWritten = RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE);
        assertThat(largestDifference(source, rewritten, channels, asWritten)).isZero();
        assertThat(largestDifference(source, rewritten, channels, RuntimeOptions.defaults()))
                .isLessThanOrEqualTo(OUTPUT_SCALE * 1.0001f);
    }

    /** Largest |a - b| over the outputs of both models on {@link #data}. */
    private static float largestDifference(OnnxModel a, OnnxModel b, int channels, RuntimeOptions options) {
        float largest = 0;
        try (OrtModel first = OrtModel.open(a, options); OrtModel second = OrtModel.open(b, options)) {
            for (Iterator<Batch> batches = data(channels).batches(2); batches.hasNext(); ) {
                Batch batch = batches.next();
                float[] x = first.run(batch).get("y").values();
                float[] y = second.run(batch).get("y").values();
                for (int i = 0; i < x.length; i++) {
                    largest = Math.max(largest, Math.abs(x[i] - y[i]));
                }
            }
        }
        return largest;
    }

    @Test
    void staysWhereTheChannelsFitTheConvIsGroupedHasFewFiltersOrItsWeightIsAnInput() {
        OnnxModel four = qdqConv(4, 16, 1);
        assertThat(ConvKernelShapes.padInputChannels(four.graph())).isEmpty();
        OnnxModel depthwise = qdqConv(3, 3, 3);
        assertThat(ConvKernelShapes.padInputChannels(depthwise.graph())).isEmpty();
        // 8 filters: the kernels want 16 or more, so padding would only add the Pad
        assertThat(ConvKernelShapes.padInputChannels(qdqConv(3, 8, 1).graph())).isEmpty();

        // a weight a caller can override at run time
        OnnxModel overridable = qdqConv(3, 16, 1);
        overridable.graph().declaredInputs().add(ValueInfo.tensor("w", DataType.INT8, List.of()));
        assertThat(ConvKernelShapes.padInputChannels(overridable.graph())).isEmpty();
        assertThat(count(overridable, "Pad")).isZero();
    }

    @Test
    void aConvWithFewGroupsBecomesDenseAndGivesTheSameOutputs() {
        OnnxModel source = qdqConv(8, 8, 2);
        OnnxModel dense = source.copy();

        assertThat(ConvKernelShapes.expandGroups(dense.graph())).containsExactly("conv");

        assertThat(dense.graph().nodes().stream().filter(n -> n.is("Conv")).findFirst().orElseThrow()
                .intAttribute("group", 0)).isEqualTo(1);
        // filters 0-3 read channels 0-3 (group 0), filters 4-7 channels 4-7
        assertWeight(source, dense, new long[] {8, 8, 3, 3}, (m, i) -> i / 36 == m / 4 ? m * 36 + i % 36 : -1);
        assertSameOutputs(source, dense, 8);
        // not fed by a 3-channel input: nothing to pad
        assertThat(ConvKernelShapes.padInputChannels(dense.graph())).isEmpty();
    }

    /** ResNeXt's 32 groups of 4 channels: narrow groups are made dense at any count, unless the weight grows big. */
    @Test
    void narrowGroupsBecomeDenseAtAnyGroupCount() {
        int groups = 32;
        OnnxModel source = qdqConv(4 * groups, 4 * groups, groups);
        OnnxModel dense = source.copy();
        assertThat(ConvKernelShapes.expandGroups(dense.graph())).containsExactly("conv");
        assertSameOutputs(source, dense, 4 * groups);

        // 256 groups of 4: a dense 1024x1024x3x3 weight (9.4 M elements) stays grouped
        assertThat(ConvKernelShapes.expandGroups(qdqConv(1024, 1024, 256).graph())).isEmpty();
    }

    @Test
    void depthwiseAndManyWideGroupsStayGrouped() {
        assertThat(ConvKernelShapes.expandGroups(qdqConv(3, 3, 3).graph())).isEmpty();
        int groups = ConvKernelShapes.MAX_EXPANDED_GROUPS + 1;
        int width = ConvKernelShapes.NARROW_GROUP + 1;
        OnnxModel many = qdqConv(width * groups, width * groups, groups);
        assertThat(ConvKernelShapes.expandGroups(many.graph())).isEmpty();
        assertThat(ConvKernelShapes.expandGroups(qdqConv(3, 16, 1).graph())).isEmpty();
    }
}
