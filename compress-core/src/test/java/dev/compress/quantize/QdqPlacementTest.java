package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.calibrate.CalibrationTable;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.graph.Clamp;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Mobile-net blocks (ReLU6, squeeze-excitation, SiLU, SqueezeNet's fire module) quantized and opened by ONNX Runtime
 * at EXTENDED level: the graph it runs must keep every activation in 8 bits between the integer kernels, with no
 * float Clip or Relu between them, and the output must stay close to fp32.
 *
 * <p>Accuracy bound: each block quantizes 4 to 8 tensors to uint8 (half a step of rounding each, a step being 1/255
 * of the tensor's range) and weights to int8 per channel; these blocks measure 38 to 51 dB of output SQNR, so 30 dB
 * (error power a thousandth of the signal's) leaves room for other CPUs' kernels but not for a lost clamp: the fp32
 * ReLU6 block without its Clip (or Relu) measures about 3 dB against itself.
 */
class QdqPlacementTest {
    private static final double MIN_SQNR_DB = 30;

    @TempDir
    Path dir;

    /** A graph under construction: x[n, 3, 12, 12] through the added nodes, then a GlobalAveragePool-Gemm head. */
    private static final class Net {
        final GraphProto.Builder graph = GraphProto.newBuilder().setName("block")
                .addInput(value("x", FLOAT, "n", 3L, 12L, 12L))
                .addOutput(value("y", FLOAT, "n", 5L));
        private int count;

        String node(String op, List<String> inputs, AttributeProto... attributes) {
            String output = op.toLowerCase() + "_" + count++;
            NodeProto.Builder node = Protos.node(op, output + "_node", inputs, List.of(output));
            for (AttributeProto attribute : attributes) {
                node.addAttribute(attribute);
            }
            graph.addNode(node);
            return output;
        }

        /** A k x k Conv with padding; {@code gain} scales the weights (3 makes outputs reach beyond 6). */
        String conv(String input, int in, int out, int k, double gain, String bias) {
            String name = "w" + count;
            float[] w = TestGraphs.weights(out * in * k * k, 100 + count);
            for (int i = 0; i < w.length; i++) {
                w[i] *= (float) (gain / Math.sqrt(in * k * k / 9.0));
            }
            graph.addInitializer(Protos.floats(name, new long[] {out, in, k, k}, w));
            if (bias == null) {
                bias = "b" + count;
                graph.addInitializer(Protos.floats(bias, new long[] {out}, TestGraphs.weights(out, 200 + count)));
            }
            long pad = k / 2;
            return node("Conv", List.of(input, name, bias), AttributeProto.newBuilder().setName("pads")
                    .setType(AttributeProto.AttributeType.INTS).addAllInts(List.of(pad, pad, pad, pad)).build());
        }

        String scalar(String name, float value) {
            graph.addInitializer(Protos.floats(name, new long[0], new float[] {value}));
            return name;
        }

        OnnxModel finish(String features, int channels, long opset) {
            String pooled = node("GlobalAveragePool", List.of(features));
            String flat = node("Flatten", List.of(pooled));
            graph.addInitializer(TestGraphs.weight("head", 5, channels, 7));
            graph.addInitializer(Protos.floats("head_bias", new long[] {5}, TestGraphs.weights(5, 8)));
            graph.addNode(Protos.node("Gemm", "gemm", List.of(flat, "head", "head_bias"), List.of("y"))
                    .addAttribute(Protos.intAttribute("transB", 1)));
            return TestGraphs.model(graph.build(), opset);
        }
    }

    private static AttributeProto floatAttribute(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value)
                .build();
    }

    /** Batches 0-3 calibrate; all 8 are compared with fp32. */
    private static Dataset data(int batches) {
        return TestGraphs.floats(Map.of("x", b -> new long[] {2, 3, 12, 12}), batches);
    }

    private static QuantizationResult quantize(OnnxModel model) {
        return Quantizer.builder().setModel(model).setCalibrationData(data(4)).build().quantize();
    }

    /** Op histogram ("domain:op") of the graph ONNX Runtime runs at EXTENDED level. */
    private Map<String, Integer> optimizedOps(OnnxModel model) {
        Path file = dir.resolve("model.onnx");
        Path optimized = dir.resolve("optimized.onnx");
        model.save(file);
        try (OrtModel ignored = OrtModel.open(file, RuntimeOptions.defaults()
                .withOptimization(RuntimeOptions.Optimization.EXTENDED).withOptimizedModelFile(optimized))) {
            // opening the session writes the optimized graph
        }
        Map<String, Integer> ops = new TreeMap<>();
        for (Node node : OnnxModel.load(optimized).graph().nodes()) {
            ops.merge((node.domain().isEmpty() ? "" : node.domain() + ":") + node.opType(), 1, Integer::sum);
        }
        return ops;
    }

    /** Output SQNR in dB of {@code quantized} against {@code fp32}, both run by ONNX Runtime with all optimizations. */
    private static double sqnr(OnnxModel fp32, OnnxModel quantized) {
        double signal = 0;
        double noise = 0;
        try (OrtModel a = OrtModel.open(fp32, RuntimeOptions.defaults());
                OrtModel b = OrtModel.open(quantized, RuntimeOptions.defaults())) {
            Iterator<Batch> batches = data(8).batches(2);
            while (batches.hasNext()) {
                Batch batch = batches.next();
                float[] e = a.run(batch).get("y").values();
                float[] q = b.run(batch).get("y").values();
                for (int i = 0; i < e.length; i++) {
                    signal += (double) e[i] * e[i];
                    noise += ((double) e[i] - q[i]) * ((double) e[i] - q[i]);
                }
            }
        }
        return 10 * Math.log10(signal / noise);
    }

    private static long count(OnnxModel model, String op) {
        return model.graph().nodes().stream().filter(n -> n.opType().equals(op)).count();
    }

    /**
     * Conv -> clamp -> Conv -> Relu -> head, the clamp being ReLU6 in each form exporters write it: Clip with bounds
     * as Constant nodes (opset 13, torch), as initializers (opset 11), as attributes (opset 10), or a Relu.
     */
    private static OnnxModel clampNet(long opset, String form) {
        Net net = new Net();
        String h = net.conv("x", 3, 16, 3, 3, null);
        String clamped = switch (form) {
            case "constants" -> {
                for (String bound : List.of("six", "zero")) {
                    net.graph.addNode(Protos.node("Constant", bound + "_constant", List.of(), List.of(bound))
                            .addAttribute(AttributeProto.newBuilder().setName("value")
                                    .setType(AttributeProto.AttributeType.TENSOR).setT(Protos.floats("",
                                            new long[0], new float[] {bound.equals("six") ? 6f : 0f}))));
                }
                yield net.node("Clip", List.of(h, "zero", "six"));
            }
            case "initializers" -> net.node("Clip", List.of(h, net.scalar("zero", 0f), net.scalar("six", 6f)));
            case "attributes" -> net.node("Clip", List.of(h), floatAttribute("min", 0f), floatAttribute("max", 6f));
            default -> net.node("Relu", List.of(h));
        };
        String h2 = net.node("Relu", List.of(net.conv(clamped, 16, 8, 3, 1, null)));
        return net.finish(h2, 8, opset);
    }

    @ParameterizedTest(name = "opset {0}, {1}")
    @CsvSource({"13, constants", "11, initializers", "10, attributes", "13, relu"})
    void reluAndReLU6FoldIntoTheConvBeforeThem(long opset, String form) {
        OnnxModel fp32 = clampNet(opset, form);
        QuantizationResult result = quantize(fp32);
        assertThat(result.report().foldedRelus()).hasSize(2);
        assertThat(result.report().floatNodes()).isEmpty();
        assertThat(count(result.model(), "Clip") + count(result.model(), "Relu")).isZero();
        // the bounds of the folded Clip are not left behind
        assertThat(result.model().graph().initializers()).doesNotContainKeys("zero", "six");
        QuantizationReport.ActivationRange clipped = result.report().activations().stream()
                .filter(a -> a.tensor().startsWith(form.equals("relu") ? "relu_1" : "clip_1")).findFirst()
                .orElseThrow();
        assertThat(clipped.zeroPoint()).isZero();
        assertThat(clipped.max()).isLessThanOrEqualTo(form.equals("relu") ? Float.MAX_VALUE : 6f);

        Map<String, Integer> ops = optimizedOps(result.model());
        assertThat(ops.getOrDefault("QLinearConv", 0)).isEqualTo(2);
        assertThat(ops).doesNotContainKeys("Conv", "Clip", "Relu", "DequantizeLinear");
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
        // the 3-channel stem (16 filters) reads 4 (ConvKernelShapes), in 8 bits
        assertThat(count(result.model(), "Pad")).isEqualTo(1);
        assertThat(ops).containsEntry("Pad", 1);
        assertThat(result.model().metadata().get("compress.quantization"))
                .contains("\"inputChannelsPadded\":[\"conv_0_node\"]");
        assertThat(result.report().convShapes().inputChannelsPadded()).containsExactly("conv_0_node");
        // kept at 10, a Pad would take its pads as an attribute (and bias correction probes the Gemm head, whose C
        // input opset 10 requires)
        if (opset < ConvKernelShapes.PAD_MIN_OPSET) {
            QuantizationResult kept = Quantizer.builder().setModel(fp32).setCalibrationData(data(4))
                    .optKeepOpset(true).build().quantize();
            assertThat(count(kept.model(), "Pad")).isZero();
            assertThat(kept.model().metadata().get("compress.quantization")).doesNotContain("inputChannelsPadded");
            assertThat(kept.report().convShapes()).isNull();
        }
    }

    /** A grouped Conv with few groups is quantized as one dense Conv (ConvKernelShapes) and stays as accurate. */
    @Test
    void aGroupedConvWithFewGroupsRunsDense() {
        Net net = new Net();
        String h = net.node("Relu", List.of(net.conv("x", 3, 8, 3, 1, null)));
        net.graph.addInitializer(Protos.floats("grouped_w", new long[] {8, 4, 3, 3}, TestGraphs.weights(288, 31)));
        String grouped = net.node("Conv", List.of(h, "grouped_w"), Protos.intAttribute("group", 2),
                AttributeProto.newBuilder().setName("pads").setType(AttributeProto.AttributeType.INTS)
                        .addAllInts(List.of(1L, 1L, 1L, 1L)).build());
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(grouped)), 8, 13);
        QuantizationResult result = quantize(fp32);

        assertThat(result.model().metadata().get("compress.quantization"))
                .contains("\"groupedConvsMadeDense\":[\"conv_2_node\"]");
        assertThat(result.report().convShapes().groupedConvsMadeDense()).containsExactly("conv_2_node");
        assertThat(result.model().graph().initializers().values()).anyMatch(w -> w.rank() == 4 && w.dim(0) == 8
                && w.dim(1) == 8);
        assertThat(optimizedOps(result.model())).containsEntry("QLinearConv", 2).doesNotContainKey("Conv");
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }

    /**
     * The fold is exact, not just close: the quantized model gives the same bits with the Clip put back between the
     * Conv and its QuantizeLinear (both run as written, without optimizations).
     */
    @Test
    void foldedReLU6GivesTheSameBitsAsTheClip() {
        OnnxModel fp32 = clampNet(13, "initializers");
        OnnxModel folded = quantize(fp32).model();
        OnnxModel clipped = folded.copy();
        List<Node> nodes = clipped.graph().nodes();
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i).output(0).equals("clip_1")) {
                nodes.get(i).setOutput(0, "unclipped");
                clipped.graph().putInitializer(Tensor.floats("lo", new long[0], new float[] {0f}));
                clipped.graph().putInitializer(Tensor.floats("hi", new long[0], new float[] {6f}));
                nodes.add(i + 1, Node.of("Clip", "put_back", List.of("unclipped", "lo", "hi"), List.of("clip_1")));
                break;
            }
        }
        assertThat(count(clipped, "Clip")).isEqualTo(1);
        RuntimeOptions asWritten = RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE);
        try (OrtModel a = OrtModel.open(folded, asWritten); OrtModel b = OrtModel.open(clipped, asWritten)) {
            Iterator<Batch> batches = data(8).batches(2);
            while (batches.hasNext()) {
                Batch batch = batches.next();
                assertThat(a.run(batch).get("y").values()).containsExactly(b.run(batch).get("y").values());
            }
        }
    }

    /**
     * Symmetric ranges saturate at -t, not at 0, so the clamp cannot be folded: int8, and uint8 with symmetric
     * ranges (zero point 128), keep the Clip in float and still match fp32.
     */
    @ParameterizedTest
    @CsvSource({"INT8, false", "UINT8, true"})
    void symmetricRangesKeepTheClip(ActivationType type, boolean symmetric) {
        OnnxModel fp32 = clampNet(13, "initializers");
        QuantizationResult result = Quantizer.builder().setModel(fp32).setCalibrationData(data(4))
                .optActivationType(type).optSymmetricActivations(symmetric).build().quantize();
        assertThat(result.report().foldedRelus()).isEmpty();
        assertThat(count(result.model(), "Clip")).isEqualTo(1);
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }

    /**
     * A ReLU6 whose calibrated output is all zeros gets scale 1, whose codes reach 255, not 6: QuantizeLinear would
     * not clamp at 6, so the Clip is put back.
     */
    @Test
    void aClipTheRangeDoesNotClampIsPutBack() {
        Net net = new Net();
        String h = net.node("Relu", List.of(net.conv("x", 3, 8, 3, 1, null)));
        float[] minus100 = new float[8];
        java.util.Arrays.fill(minus100, -100f);
        net.graph.addInitializer(Protos.floats("minus100", new long[] {8}, minus100));
        String dead = net.node("Clip", List.of(net.conv(h, 8, 8, 1, 1, "minus100"), net.scalar("zero", 0f),
                net.scalar("six", 6f)));
        String sum = net.node("Add", List.of(net.conv(dead, 8, 8, 1, 1, null), h));
        OnnxModel fp32 = net.finish(sum, 8, 13);
        QuantizationResult result = quantize(fp32);
        assertThat(result.report().floatNodes()).containsEntry(dead + "_node",
                "Clip kept: the quantization range of its output does not clamp at its bounds");
        assertThat(count(result.model(), "Clip")).isEqualTo(1);
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }

    /**
     * tf2onnx writes Keras' {@code tf.maximum(x, c)} and {@code tf.minimum(x, c)} as Max and Min of a one-value
     * constant (openWakeWord's embedding model: Conv, LeakyRelu, Max(-0.4), 19 times). Both fold like a Clip, after
     * a LeakyRelu (its own integer kernel) as after a Conv, whichever side the constant is on; a bound that excludes
     * 0 does not fold, and its Max stays float.
     */
    @Test
    void maxAndMinOfAConstantFoldLikeAClip() {
        Net net = new Net();
        net.graph.addInitializer(Protos.floats("minus04", new long[] {1, 1, 1, 1}, new float[] {-0.4f}));
        String leaky = net.node("LeakyRelu", List.of(net.conv("x", 3, 16, 3, 3, null)), floatAttribute("alpha",
                0.2f));
        String floor = net.node("Max", List.of(leaky, "minus04"));
        String ceiling = net.node("Min", List.of(net.scalar("six", 6f), net.conv(floor, 16, 8, 3, 1, null)));
        String shifted = net.node("Max", List.of(net.conv(ceiling, 8, 8, 1, 1, null), net.scalar("half", 0.5f)));
        OnnxModel fp32 = net.finish(shifted, 8, 13);
        QuantizationResult result = quantize(fp32);

        assertThat(result.report().foldedRelus()).containsExactly(floor + "_node", ceiling + "_node");
        assertThat(count(result.model(), "Min")).isZero();
        assertThat(count(result.model(), "Max")).isEqualTo(1);
        assertThat(result.model().graph().initializers()).doesNotContainKeys("minus04", "six");
        QuantizationReport.ActivationRange floored = result.report().activations().stream()
                .filter(a -> a.tensor().equals(floor)).findFirst().orElseThrow();
        assertThat(floored.min()).isEqualTo(-0.4f);
        assertThat(floored.zeroPoint()).isEqualTo(Math.round(0.4f / floored.scale()));
        Map<String, Integer> ops = optimizedOps(result.model());
        assertThat(ops).containsEntry("QLinearConv", 3).containsEntry("com.microsoft:QLinearLeakyRelu", 1)
                .containsEntry("Max", 1).doesNotContainKeys("Min", "Conv", "LeakyRelu");
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }

    /**
     * A Max or Min is a clamp only against one constant value whose broadcast leaves the tensor's shape alone: a
     * [1,1,1] constant after a Gemm (rank 2) would make the output rank 3, so it is not one; nor are a Max of two
     * tensors and a Max of a per-channel constant.
     */
    @Test
    void onlyAOneValueConstantThatKeepsTheShapeMakesAMaxAClamp() {
        Net net = new Net();
        net.graph.addInitializer(Protos.floats("c3", new long[] {1, 1, 1}, new float[] {-1f}));
        net.graph.addInitializer(Protos.floats("c4", new long[] {1, 1, 1, 1}, new float[] {-1f}));
        net.graph.addInitializer(Protos.floats("pair", new long[] {2, 1, 1}, new float[] {-1f, -2f}));
        String h = net.conv("x", 3, 2, 3, 1, null);
        String onConv = net.node("Max", List.of("c4", h));
        String twoTensors = net.node("Max", List.of(h, onConv));
        String perChannel = net.node("Max", List.of(h, "pair"));
        net.graph.addInitializer(TestGraphs.weight("fc", 4, 3, 9));
        String gemm = net.node("Gemm", List.of("x", "fc"), Protos.intAttribute("transB", 1));
        String onGemm = net.node("Max", List.of(gemm, "c3"));
        var graph = net.finish(h, 2, 13).graph();
        java.util.function.Function<String, Node> node = output -> graph.nodes().stream()
                .filter(n -> n.output(0).equals(output)).findFirst().orElseThrow();
        assertThat(Clamp.of(graph, node.apply(onConv))).contains(new Clamp(h, -1f, Float.POSITIVE_INFINITY));
        for (String notAClamp : List.of(twoTensors, perChannel, onGemm)) {
            assertThat(Clamp.of(graph, node.apply(notAClamp))).as(notAClamp).isEmpty();
        }
    }

    /**
     * MobileNetV3's squeeze-excitation: t * HardSigmoid(Conv(Relu(Conv(GlobalAveragePool(t))))). The HardSigmoid's
     * shift goes into the Conv's bias, its bounds into that Conv's output range, its factor into a scale.
     */
    @Test
    void squeezeExcitationRunsInInteger() {
        Net net = new Net();
        String t = net.node("Relu", List.of(net.conv("x", 3, 8, 3, 1, null)));
        String squeezed = net.node("Relu", List.of(net.conv(net.node("GlobalAveragePool", List.of(t)), 8, 4, 1, 1,
                null)));
        String gate = net.node("HardSigmoid", List.of(net.conv(squeezed, 4, 8, 1, 1, null)),
                floatAttribute("alpha", 1f / 6));
        String scaled = net.node("Mul", List.of(t, gate));
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(net.conv(scaled, 8, 8, 3, 1, null))), 8, 13);
        QuantizationResult result = quantize(fp32);
        assertThat(result.report().foldedRelus()).hasSize(4);
        assertThat(result.report().floatNodes()).isEmpty();

        Map<String, Integer> ops = optimizedOps(result.model());
        assertThat(ops.getOrDefault("QLinearConv", 0)).isEqualTo(4);
        assertThat(ops).containsEntry("com.microsoft:QLinearMul", 1)
                .containsEntry("com.microsoft:QLinearGlobalAveragePool", 2)
                .doesNotContainKeys("Conv", "Relu", "Mul", "GlobalAveragePool", "HardSigmoid", "Clip",
                        "DequantizeLinear");
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }

    /** Hard-swish as torch exports it before opset 14, x * HardSigmoid(x), and as x * Clip(x + 3, 0, 6) / 6. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"HardSigmoid", "Div"})
    void hardSwishRunsInInteger(String form) {
        Net net = new Net();
        String h = net.conv("x", 3, 8, 3, 3, null);
        String gate = form.equals("HardSigmoid")
                ? net.node("HardSigmoid", List.of(h), floatAttribute("alpha", 1f / 6))
                : net.node("Div", List.of(net.node("Clip", List.of(net.node("Add", List.of(h, net.scalar("three",
                        3f))), net.scalar("zero", 0f), net.scalar("six", 6f))), net.scalar("sixth", 6f)));
        String swish = net.node("Mul", List.of(h, gate));
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(net.conv(swish, 8, 8, 3, 1, null))), 8, 13);
        QuantizationResult result = quantize(fp32);
        assertThat(result.report().floatNodes()).isEmpty();
        assertThat(result.report().quantizedOps()).containsEntry("Add", 1).containsEntry("Mul", form.equals("Div")
                ? 1 : 2);

        Map<String, Integer> ops = optimizedOps(result.model());
        assertThat(ops).containsEntry("com.microsoft:QLinearAdd", 1).containsEntry("com.microsoft:QLinearMul", 1)
                .doesNotContainKeys("Conv", "Add", "Mul", "Div", "HardSigmoid", "Clip", "DequantizeLinear");
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }

    /**
     * The decomposition also happens when calibrating on its own, so a table names the tensors quantize rewrites:
     * quantizing from it gives the ranges direct calibration gives.
     */
    @Test
    void aCalibrationTableFitsTheDecomposedGraph() {
        Net net = new Net();
        String h = net.conv("x", 3, 8, 3, 3, null);
        String swish = net.node("Mul", List.of(h, net.node("HardSigmoid", List.of(h),
                floatAttribute("alpha", 1f / 6))));
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(net.conv(swish, 8, 8, 3, 1, null))), 8, 13);
        CalibrationTable table = Quantizer.builder().setModel(fp32).setCalibrationData(data(4)).build().calibrate();
        QuantizationResult fromTable = Quantizer.builder().setModel(fp32).optTable(table).build().quantize();
        QuantizationResult direct = quantize(fp32);
        assertThat(fromTable.report().activations()).isEqualTo(direct.report().activations());
        assertThat(fromTable.report().quantizedOps()).containsEntry("Add", 1).containsEntry("Mul", 2);
    }

    /** A Mul by a negative constant stays a node: QLinearMul with the constant stored exactly in 8 bits. */
    @Test
    void aNegativeScalarIsStoredExactly() {
        Net net = new Net();
        String h = net.node("Relu", List.of(net.conv("x", 3, 8, 3, 1, null)));
        String negated = net.node("Mul", List.of(h, net.scalar("minus", -0.37f)));
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(net.conv(negated, 8, 8, 3, 1, null))), 8, 13);
        QuantizationResult result = quantize(fp32);
        assertThat(result.report().quantizedOps()).containsEntry("Mul", 1);
        Tensor code = result.model().graph().initializer("minus_quantized").orElseThrow();
        Tensor scale = result.model().graph().initializer("minus_scale").orElseThrow();
        Tensor zeroPoint = result.model().graph().initializer("minus_zero_point").orElseThrow();
        assertThat(((code.bytes()[0] & 0xff) - (zeroPoint.bytes()[0] & 0xff)) * scale.floats()[0])
                .isCloseTo(-0.37f, org.assertj.core.data.Offset.offset(1e-7f));
        assertThat(optimizedOps(result.model())).containsEntry("com.microsoft:QLinearMul", 1);
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }

    /** EfficientNet's SiLU, x * Sigmoid(x): QLinearSigmoid and QLinearMul. */
    @Test
    void siluRunsInInteger() {
        Net net = new Net();
        String h = net.conv("x", 3, 8, 3, 1, null);
        String silu = net.node("Mul", List.of(h, net.node("Sigmoid", List.of(h))));
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(net.conv(silu, 8, 8, 3, 1, null))), 8, 13);
        QuantizationResult result = quantize(fp32);
        assertThat(result.report().quantizedOps()).containsEntry("Sigmoid", 1).containsEntry("Mul", 1);

        Map<String, Integer> ops = optimizedOps(result.model());
        assertThat(ops.getOrDefault("QLinearConv", 0)).isEqualTo(2);
        assertThat(ops).containsEntry("com.microsoft:QLinearSigmoid", 1).containsEntry("com.microsoft:QLinearMul", 1)
                .doesNotContainKeys("Conv", "Sigmoid", "Mul", "Relu", "DequantizeLinear");
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }

    /** torch's exact GELU, x · (1 + erf(x / √2)) · 0.5, on {@code h}. */
    private static String gelu(Net net, String h) {
        String erf = net.node("Erf", List.of(net.node("Div", List.of(h, net.scalar("sqrt2", (float) Math.sqrt(2))))));
        String times = net.node("Mul", List.of(h, net.node("Add", List.of(erf, net.scalar("one", 1f)))));
        return net.node("Mul", List.of(times, net.scalar("half", 0.5f)));
    }

    /**
     * A GELU after a Conv (ConvNeXt-style blocks with 1x1 convolutions): the model goes to opset 20, where the GELU is
     * one Gelu between a DequantizeLinear and a QuantizeLinear instead of a float Erf, a float Add and a QLinearMul.
     * A table from {@code calibrate()} describes that graph too.
     */
    @Test
    void aGeluAfterAConvRunsAsOneOp() {
        Net net = new Net();
        String h = gelu(net, net.conv("x", 3, 8, 3, 1, null));
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(net.conv(h, 8, 8, 3, 1, null))), 8, 13);
        QuantizationResult result = quantize(fp32);
        assertThat(result.model().opset(OnnxModel.DEFAULT_DOMAIN)).isEqualTo(20);
        assertThat(result.report().warnings()).anyMatch(w -> w.startsWith("converted from opset 13 to 20 so that 1"
                + " GELUs run as one Gelu op"));
        assertThat(result.report().floatOps()).containsEntry("Gelu", 1);

        Map<String, Integer> ops = optimizedOps(result.model());
        assertThat(ops).containsEntry("Gelu", 1).containsEntry("QLinearConv", 2)
                .doesNotContainKeys("Erf", "Conv", "com.microsoft:QLinearMul");
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);

        CalibrationTable table = Quantizer.builder().setModel(fp32).setCalibrationData(data(4)).build().calibrate();
        QuantizationResult fromTable = Quantizer.builder().setModel(fp32).optTable(table).build().quantize();
        assertThat(fromTable.report().activations()).isEqualTo(result.report().activations());
    }

    /** --keep-opset keeps opset 13 and the decomposed GELU; a GELU after a Linear's bias Add reads float: stays 13. */
    @Test
    void theOpsetStaysWhenKeptOrWhenTheGeluReadsFloat() {
        Net net = new Net();
        String h = gelu(net, net.conv("x", 3, 8, 3, 1, null));
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(net.conv(h, 8, 8, 3, 1, null))), 8, 13);
        QuantizationResult kept = Quantizer.builder().setModel(fp32).setCalibrationData(data(4)).optKeepOpset(true)
                .build().quantize();
        assertThat(kept.model().opset(OnnxModel.DEFAULT_DOMAIN)).isEqualTo(13);
        assertThat(count(kept.model(), "Erf")).isEqualTo(1);
        assertThat(count(kept.model(), "Gelu")).isZero();

        // a Linear over the last axis: MatMul, then its bias as an Add, which preparation cannot fold into a MatMul
        Net biased = new Net();
        biased.graph.addInitializer(TestGraphs.weight("linear", 12, 12, 9));
        biased.graph.addInitializer(Protos.floats("linear_bias", new long[] {12}, TestGraphs.weights(12, 10)));
        String linear = biased.node("Add", List.of(biased.node("MatMul", List.of("x", "linear")), "linear_bias"));
        String g = gelu(biased, linear);
        OnnxModel afterAdd = biased.finish(biased.node("Relu", List.of(biased.conv(g, 3, 8, 3, 1, null))), 8, 13);
        QuantizationResult floatInput = quantize(afterAdd);
        assertThat(floatInput.model().opset(OnnxModel.DEFAULT_DOMAIN)).isEqualTo(13);
        assertThat(floatInput.report().warnings()).noneMatch(w -> w.contains("opset 20"));
    }

    /** A Shape of a quantized activation (shufflenet's channel shuffles) reads the 8-bit tensor, not a dequantized copy. */
    @Test
    void aShapeReadsTheQuantizedTensor() {
        Net net = new Net();
        String h = net.conv("x", 3, 8, 3, 1, null);
        String reshaped = net.node("Reshape", List.of(h, net.node("Shape", List.of(h))));
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(net.conv(reshaped, 8, 8, 3, 1, null))), 8, 13);
        QuantizationResult result = quantize(fp32);

        Node shape = result.model().graph().nodes().stream().filter(n -> n.opType().equals("Shape"))
                .findFirst().orElseThrow();
        assertThat(result.model().graph().producer(shape.input(0)).orElseThrow().opType())
                .isEqualTo("QuantizeLinear");
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }

    /**
     * SqueezeNet's fire module: squeeze Conv-Relu, then 1x1 and 3x3 expand Conv-Relu branches concatenated. The
     * expand biases are equal, so, as torch 1.13 exports them, the second reads the first through an Identity node.
     */
    @Test
    void fireModuleRunsInIntegerWithQLinearConcat() {
        Net net = new Net();
        String squeezed = net.node("Relu", List.of(net.conv("x", 3, 4, 1, 1, null)));
        net.graph.addInitializer(Protos.floats("zero_bias", new long[] {8}, new float[8]));
        String copied = net.node("Identity", List.of("zero_bias"));
        String left = net.node("Relu", List.of(net.conv(squeezed, 4, 8, 1, 1, "zero_bias")));
        String right = net.node("Relu", List.of(net.conv(squeezed, 4, 8, 3, 1, copied)));
        String joined = net.node("Concat", List.of(left, right), Protos.intAttribute("axis", 1));
        OnnxModel fp32 = net.finish(net.node("Relu", List.of(net.conv(joined, 16, 8, 3, 1, null))), 8, 13);
        QuantizationResult result = quantize(fp32);
        assertThat(result.report().floatNodes()).isEmpty();
        assertThat(count(result.model(), "Identity")).isZero();
        // both branches take the Concat's scale and zero point, so QLinearConcat only copies bytes
        Map<String, QuantizationReport.ActivationRange> ranges = new TreeMap<>();
        result.report().activations().forEach(r -> ranges.put(r.tensor(), r));
        for (String branch : List.of(left, right)) {
            assertThat(ranges.get(branch).sharedWith()).isEqualTo(joined);
            assertThat(ranges.get(branch).scale()).isEqualTo(ranges.get(joined).scale());
            assertThat(ranges.get(branch).zeroPoint()).isEqualTo(ranges.get(joined).zeroPoint());
        }

        Map<String, Integer> ops = optimizedOps(result.model());
        assertThat(ops.getOrDefault("QLinearConv", 0)).isEqualTo(4);
        assertThat(ops).containsEntry("com.microsoft:QLinearConcat", 1)
                .doesNotContainKeys("Conv", "Relu", "Concat", "DequantizeLinear");
        assertThat(sqnr(fp32, result.model())).isGreaterThan(MIN_SQNR_DB);
    }
}
