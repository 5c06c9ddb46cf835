package dev.compress.prepare;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.data.ImageDataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Passes;
import dev.compress.pipeline.Pipeline;
import dev.compress.quantize.TestGraphs;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Each rewrite on a small graph with the pattern exporters write: original and prepared models run in ONNX Runtime
 * on the same random inputs and agree within 1e-5 of the output's magnitude, and the pattern is gone.
 */
class GraphPreparationTest {
    private static final double TOLERANCE = 1e-5;

    private static PassResult<PreparationReport> prepare(OnnxModel model) {
        return new GraphPreparation().apply(model, PassContext.silent());
    }

    private static List<String> ops(OnnxModel model) {
        return model.graph().nodes().stream().map(Node::opType).toList();
    }

    private static Node node(OnnxModel model, String opType) {
        return model.graph().nodes().stream().filter(n -> n.opType().equals(opType)).findFirst().orElseThrow();
    }

    private static TensorProto random(String name, long seed, double low, double high, long... dims) {
        Random random = new Random(seed);
        float[] values = new float[(int) Arrays.stream(dims).reduce(1, (a, b) -> a * b)];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (low + (high - low) * random.nextDouble());
        }
        return Protos.floats(name, dims, values);
    }

    private static AttributeProto ints(String name, long... values) {
        return Protos.intsAttribute(name, values);
    }

    private static NodeProto.Builder op(String opType, List<String> inputs, String output) {
        return Protos.node(opType, opType + "->" + output, inputs, List.of(output));
    }

    /**
     * Largest |prepared - original| over all outputs, relative to the largest |original|, on gaussian inputs of the
     * given shapes (seeded); both run without ONNX Runtime's own graph rewrites, so the graphs are compared as written.
     */
    private static double relativeDifference(OnnxModel original, OnnxModel prepared, Map<String, long[]> shapes) {
        Random random = new Random(42);
        Map<String, HostTensor> inputs = new LinkedHashMap<>();
        shapes.forEach((name, shape) -> {
            float[] x = new float[(int) HostTensor.elementCount(shape)];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) random.nextGaussian();
            }
            inputs.put(name, HostTensor.ofFloats(shape, x));
        });
        int n = (int) shapes.values().iterator().next()[0];
        Batch batch = new Batch(inputs, new int[n], Collections.nCopies(n, Path.of("random")));
        return relativeDifference(original, prepared, List.of(batch).iterator());
    }

    private static double relativeDifference(OnnxModel original, OnnxModel prepared, Iterator<Batch> batches) {
        assertThat(prepared.graph().outputs()).map(o -> o.name())
                .isEqualTo(original.graph().outputs().stream().map(o -> o.name()).toList());
        // unoptimized, so that ONNX Runtime's own folding does not hide a difference
        return TestGraphs.relativeError(original, prepared, batches,
                RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE));
    }

    /** torch 1.13 writes an equal bias once and feeds the second Conv through an Identity; Dropout stays in. */
    @Test
    void identityAndDropoutGoAndGraphOutputNamesStay() {
        GraphProto graph = GraphProto.newBuilder().setName("identity")
                .addInput(value("x", FLOAT, "batch", 3L, 8L, 8L))
                .addOutput(value("y", FLOAT, "batch", 4L, 6L, 6L))
                .addInitializer(random("W1", 1, -1, 1, 4, 3, 3, 3))
                .addInitializer(random("W2", 2, -1, 1, 4, 3, 3, 3))
                .addInitializer(random("b1", 3, -1, 1, 4))
                .addInitializer(Protos.floats("ratio", new long[0], new float[] {0.5f}))
                .addNode(op("Identity", List.of("b1"), "b2"))
                .addNode(op("Conv", List.of("x", "W1", "b1"), "c1"))
                .addNode(op("Conv", List.of("x", "W2", "b2"), "c2"))
                .addNode(op("Add", List.of("c1", "c2"), "s"))
                .addNode(op("Dropout", List.of("s", "ratio"), "d"))
                .addNode(op("Relu", List.of("d"), "r"))
                .addNode(op("Identity", List.of("r"), "y"))
                .build();
        OnnxModel original = model(graph, 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(ops(prepared)).containsExactly("Conv", "Conv", "Add", "Relu");
        assertThat(result.report().identityRemoved()).isEqualTo(2);
        assertThat(result.report().dropoutRemoved()).isEqualTo(1);
        Node secondConv = prepared.graph().nodes().get(1);
        assertThat(prepared.graph().initializers()).containsKey(secondConv.input(2));
        assertThat(node(prepared, "Relu").output(0)).isEqualTo("y");
        assertThat(relativeDifference(original, prepared, Map.of("x", new long[] {3, 3, 8, 8})))
                .isLessThanOrEqualTo(TOLERANCE);
    }

    @Test
    void constantsAndComputationsOnThemFold() {
        GraphProto graph = GraphProto.newBuilder().setName("constants")
                .addInput(value("x", FLOAT, "batch", 6L))
                .addOutput(value("y", FLOAT, "batch", 4L))
                .addInitializer(random("b0", 4, -1, 1, 4))
                .addNode(constant("W_flat", random("", 5, -1, 1, 24)))
                .addNode(constant("shape", Protos.int64s("", new long[] {2}, new long[] {6, 4})))
                .addNode(constant("half", Protos.floats("", new long[0], new float[] {0.5f})))
                .addNode(constant("steps", Protos.int64s("", new long[] {4}, new long[] {1, 2, 3, 4})))
                .addNode(op("Reshape", List.of("W_flat", "shape"), "W"))
                .addNode(op("Mul", List.of("b0", "half"), "b"))
                .addNode(op("Cast", List.of("steps"), "steps_f").addAttribute(Protos.intAttribute("to", FLOAT)))
                .addNode(op("Add", List.of("b", "steps_f"), "bias"))
                .addNode(op("MatMul", List.of("x", "W"), "m"))
                .addNode(op("Add", List.of("m", "bias"), "y"))
                .build();
        OnnxModel original = model(graph, 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(ops(prepared)).containsExactly("MatMul", "Add");
        assertThat(result.report().constantsFolded()).isEqualTo(8); // 4 Constant nodes, Reshape, Mul, Cast, Add
        assertThat(prepared.graph().initializer(node(prepared, "MatMul").input(1)).orElseThrow().dims())
                .containsExactly(6, 4);
        assertThat(prepared.graph().initializers().keySet()).containsExactlyInAnyOrder("W", "bias");
        assertThat(relativeDifference(original, prepared, Map.of("x", new long[] {5, 6})))
                .isLessThanOrEqualTo(TOLERANCE);
    }

    private static NodeProto.Builder constant(String output, TensorProto value) {
        return op("Constant", List.of(), output).addAttribute(AttributeProto.newBuilder().setName("value")
                .setType(AttributeProto.AttributeType.TENSOR).setT(value));
    }

    /**
     * shufflenet_v2's channel shuffle as torch exports it without folding: Shape, Gathers, Unsqueezes and Concats
     * compute the Reshape targets from the activation's shape. With a static batch all of it folds; with a symbolic
     * batch the static dimensions fold, and the batch becomes 0 in the targets (Reshape copies the data's own
     * dimension), one Reshape after the other as the shapes after the first become known.
     */
    @ParameterizedTest(name = "symbolic batch: {0}")
    @ValueSource(booleans = {false, true})
    void shapeSubgraphsFoldUpToASymbolicBatch(boolean symbolicBatch) {
        Object batch = symbolicBatch ? "batch" : 2L;
        GraphProto.Builder graph = GraphProto.newBuilder().setName("shuffle")
                .addInput(value("x", FLOAT, batch, 4L, 6L, 6L))
                .addOutput(value("y", FLOAT, batch, 4L, 6L, 6L))
                .addInitializer(Protos.int64s("two", new long[0], new long[] {2}))
                .addInitializer(Protos.int64s("two_1d", new long[] {1}, new long[] {2}))
                .addInitializer(Protos.int64s("minus_one", new long[] {1}, new long[] {-1}))
                .addInitializer(Protos.int64s("axes0", new long[] {1}, new long[] {0}))
                .addNode(op("Relu", List.of("x"), "h"))
                .addNode(op("Shape", List.of("h"), "s"));
        for (int d = 0; d < 4; d++) {
            graph.addInitializer(Protos.int64s("i" + d, new long[0], new long[] {d}))
                    .addNode(op("Gather", List.of("s", "i" + d), "g" + d));
            if (d == 1) {
                graph.addNode(op("Div", List.of("g1", "two"), "half"));
            }
            graph.addNode(op("Unsqueeze", List.of(d == 1 ? "half" : "g" + d, "axes0"), "u" + d));
        }
        graph.addNode(op("Concat", List.of("u0", "two_1d", "u1", "u2", "u3"), "shape5")
                        .addAttribute(Protos.intAttribute("axis", 0)))
                .addNode(op("Reshape", List.of("h", "shape5"), "r"))
                .addNode(op("Transpose", List.of("r"), "t").addAttribute(ints("perm", 0, 2, 1, 3, 4)))
                .addNode(op("Concat", List.of("u0", "minus_one", "u2", "u3"), "shape4")
                        .addAttribute(Protos.intAttribute("axis", 0)))
                .addNode(op("Reshape", List.of("t", "shape4"), "y"));
        if (!symbolicBatch) {
            // a recorded shape is used as it is; without one, ONNX Runtime infers it
            graph.addValueInfo(value("h", FLOAT, 2L, 4L, 6L, 6L));
        }
        OnnxModel original = model(graph.build(), 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        long[] shape = {symbolicBatch ? 3 : 2, 4, 6, 6};
        assertThat(relativeDifference(original, prepared, Map.of("x", shape))).isLessThanOrEqualTo(TOLERANCE);
        if (symbolicBatch) {
            assertThat(ops(prepared)).containsExactly("Relu", "Reshape", "Transpose", "Reshape");
            assertThat(result.report().shapeSubgraphsFolded()).isEqualTo(3);
            assertThat(result.report().reshapeTargetsFolded()).isEqualTo(2);
            assertThat(result.report().constantsFolded()).isEqualTo(4); // the Div and three Unsqueezes
            assertThat(result.report().deadNodesRemoved()).isEqualTo(5); // Shape, Gather(0), Unsqueeze, 2 Concats
            assertThat(result.report().left()).isEmpty();
            assertThat(prepared.graph().nodes().stream().filter(n -> n.is("Reshape"))
                    .map(n -> prepared.graph().initializer(n.input(1)).orElseThrow().longs()))
                    .containsExactly(new long[] {0, 2, 2, 6, 6}, new long[] {0, -1, 6, 6});
        } else {
            assertThat(ops(prepared)).containsExactly("Relu", "Reshape", "Transpose", "Reshape");
            assertThat(result.report().shapeSubgraphsFolded()).isEqualTo(1);
            assertThat(result.report().constantsFolded()).isEqualTo(11); // Gathers, Div, Unsqueezes, Concats
            assertThat(result.report().left()).isEmpty();
            for (Node reshape : prepared.graph().nodes()) {
                if (reshape.opType().equals("Reshape")) {
                    assertThat(prepared.graph().initializers()).containsKey(reshape.input(1));
                }
            }
        }
    }

    /**
     * A ViT's attention reshapes as torch writes them: a target entry computed from the batch (here batch × 2) is
     * not the data's own dimension, so it becomes -1; a target that already holds the exporter's -1 keeps it computed
     * (a second -1 is not allowed), and the report says why.
     */
    @Test
    void aSingleComputedTargetEntryBecomesMinusOne() {
        GraphProto graph = GraphProto.newBuilder().setName("heads")
                .addInput(value("x", FLOAT, "batch", 4L, 6L))
                .addOutput(value("y", FLOAT, "batch2", 2L, 6L))
                .addOutput(value("z", FLOAT, "batch2", 2L, 6L))
                .addInitializer(Protos.int64s("zero", new long[0], new long[] {0}))
                .addInitializer(Protos.int64s("two", new long[0], new long[] {2}))
                .addInitializer(Protos.int64s("two_1d", new long[] {1}, new long[] {2}))
                .addInitializer(Protos.int64s("six_1d", new long[] {1}, new long[] {6}))
                .addInitializer(Protos.int64s("minus_one", new long[] {1}, new long[] {-1}))
                .addInitializer(Protos.int64s("axes0", new long[] {1}, new long[] {0}))
                .addNode(op("Relu", List.of("x"), "h"))
                .addNode(op("Shape", List.of("h"), "s"))
                .addNode(op("Gather", List.of("s", "zero"), "n"))
                .addNode(op("Mul", List.of("n", "two"), "n2"))
                .addNode(op("Unsqueeze", List.of("n2", "axes0"), "u"))
                .addNode(op("Concat", List.of("u", "two_1d", "six_1d"), "target")
                        .addAttribute(Protos.intAttribute("axis", 0)))
                .addNode(op("Reshape", List.of("h", "target"), "y"))
                .addNode(op("Concat", List.of("u", "minus_one", "six_1d"), "target2")
                        .addAttribute(Protos.intAttribute("axis", 0)))
                .addNode(op("Reshape", List.of("h", "target2"), "z"))
                .build();
        OnnxModel original = model(graph, 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(relativeDifference(original, prepared, Map.of("x", new long[] {3, 4, 6})))
                .isLessThanOrEqualTo(TOLERANCE);
        assertThat(result.report().reshapeTargetsFolded()).isEqualTo(1);
        assertThat(prepared.graph().initializer(node(prepared, "Reshape").input(1)).orElseThrow().longs())
                .containsExactly(-1, 2, 6);
        assertThat(result.report().left()).extracting(PreparationReport.Left::op, PreparationReport.Left::reason)
                .contains(tuple("Reshape", "its target 'target2' holds more than one dimension known only when the "
                        + "model runs"));
    }

    /**
     * BERT's {@code x.view(b, s, heads, d)} as Hugging Face exports it: the sizes come from the data's own Shape, and
     * ONNX shape inference has lost their names (the sequence length after the position-embedding Add), so each
     * becomes 0 because it is the data's own dimension at that position.
     */
    @Test
    void theDataOwnDimensionsBecomeZeroEvenUnnamed() {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("heads")
                .addInput(value("x", FLOAT, "", "", 12L))
                .addOutput(value("y", FLOAT, "", "", 3L, 4L))
                .addInitializer(Protos.int64s("three_four", new long[] {2}, new long[] {3, 4}))
                .addInitializer(Protos.int64s("axes0", new long[] {1}, new long[] {0}))
                .addNode(op("Relu", List.of("x"), "h"))
                .addNode(op("Shape", List.of("h"), "s"));
        for (int d = 0; d < 2; d++) {
            graph.addInitializer(Protos.int64s("i" + d, new long[0], new long[] {d}))
                    .addNode(op("Gather", List.of("s", "i" + d), "g" + d))
                    .addNode(op("Unsqueeze", List.of("g" + d, "axes0"), "u" + d));
        }
        graph.addNode(op("Concat", List.of("u0", "u1", "three_four"), "target")
                        .addAttribute(Protos.intAttribute("axis", 0)))
                .addNode(op("Reshape", List.of("h", "target"), "y"));
        OnnxModel original = model(graph.build(), 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(relativeDifference(original, prepared, Map.of("x", new long[] {2, 5, 12})))
                .isLessThanOrEqualTo(TOLERANCE);
        assertThat(ops(prepared)).containsExactly("Relu", "Reshape");
        assertThat(prepared.graph().initializer(node(prepared, "Reshape").input(1)).orElseThrow().longs())
                .containsExactly(0, 0, 3, 4);
    }

    private static NodeProto.Builder batchNorm(String input, String output, long seed) {
        return op("BatchNormalization", List.of(input, "gamma" + seed, "beta" + seed, "mean" + seed, "var" + seed),
                output).addAttribute(AttributeProto.newBuilder().setName("epsilon")
                .setType(AttributeProto.AttributeType.FLOAT).setF(seed % 2 == 0 ? 1e-5f : 1e-3f));
    }

    private static GraphProto.Builder addBatchNormParameters(GraphProto.Builder graph, int channels, long seed) {
        return graph.addInitializer(random("gamma" + seed, seed, 0.5, 1.5, channels))
                .addInitializer(random("beta" + seed, seed + 100, -0.5, 0.5, channels))
                .addInitializer(random("mean" + seed, seed + 200, -0.5, 0.5, channels))
                .addInitializer(random("var" + seed, seed + 300, 0.1, 2, channels));
    }

    /**
     * Inputs x[batch, 3, 8, 8] and x2[batch, 5], outputs ya to ye, and the weights of five layers: Conv Wa with bias
     * ba, Conv Wb, grouped ConvTranspose Wc, Gemm Wd (transposed) with bias bd, Gemm We.
     */
    private static GraphProto.Builder fiveLayers(String name) {
        return GraphProto.newBuilder().setName(name)
                .addInput(value("x", FLOAT, "batch", 3L, 8L, 8L))
                .addInput(value("x2", FLOAT, "batch", 5L))
                .addOutput(value("ya", FLOAT, "batch", 4L, 8L, 8L))
                .addOutput(value("yb", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("yc", FLOAT, "batch", 6L, 16L, 16L))
                .addOutput(value("yd", FLOAT, "batch", 7L))
                .addOutput(value("ye", FLOAT, "batch", 7L))
                .addInitializer(random("Wa", 11, -1, 1, 4, 3, 3, 3))
                .addInitializer(random("ba", 12, -1, 1, 4))
                .addInitializer(random("Wb", 13, -1, 1, 4, 3, 3, 3))
                .addInitializer(random("Wc", 14, -1, 1, 4, 3, 2, 2))
                .addInitializer(random("Wd", 15, -1, 1, 7, 5))
                .addInitializer(random("bd", 16, -1, 1, 7))
                .addInitializer(random("We", 17, -1, 1, 5, 7));
    }

    @Test
    void batchNormalizationFoldsIntoConvConvTransposeAndGemm() {
        GraphProto.Builder graph = fiveLayers("bn")
                // Conv with bias and padding -> BN -> Relu
                .addNode(op("Conv", List.of("x", "Wa", "ba"), "ca").addAttribute(ints("pads", 1, 1, 1, 1)))
                .addNode(batchNorm("ca", "na", 1))
                .addNode(op("Relu", List.of("na"), "ya"))
                // Conv without bias -> BN writing a graph output
                .addNode(op("Conv", List.of("x", "Wb"), "cb"))
                .addNode(batchNorm("cb", "yb", 2))
                // grouped ConvTranspose, stride 2, its bias a separate Add before the BN (PP-OCR det's head)
                .addInitializer(random("bc", 18, -1, 1, 1, 6, 1, 1))
                .addNode(op("ConvTranspose", List.of("ya", "Wc"), "cc").addAttribute(Protos.intAttribute("group", 2))
                        .addAttribute(ints("strides", 2, 2)))
                .addNode(op("Add", List.of("cc", "bc"), "ac"))
                .addNode(batchNorm("ac", "yc", 3))
                // Gemm with transposed weight and bias; Gemm without either
                .addNode(op("Gemm", List.of("x2", "Wd", "bd"), "gd").addAttribute(Protos.intAttribute("transB", 1)))
                .addNode(batchNorm("gd", "yd", 4))
                .addNode(op("Gemm", List.of("x2", "We"), "ge"))
                .addNode(batchNorm("ge", "ye", 5));
        addBatchNormParameters(graph, 4, 1);
        addBatchNormParameters(graph, 4, 2);
        addBatchNormParameters(graph, 6, 3);
        addBatchNormParameters(graph, 7, 4);
        addBatchNormParameters(graph, 7, 5);
        OnnxModel original = model(graph.build(), 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(result.report().batchNormsFolded()).isEqualTo(5);
        assertThat(result.report().channelAffinesFolded()).isEqualTo(1);
        assertThat(result.report().left()).isEmpty();
        assertThat(ops(prepared)).containsExactly("Conv", "Relu", "Conv", "ConvTranspose", "Gemm", "Gemm");
        for (Node layer : prepared.graph().nodes()) {
            if (!layer.opType().equals("Relu")) {
                assertThat(layer.inputs().size()).isEqualTo(3);
                assertThat(prepared.graph().initializers()).containsKeys(layer.input(1), layer.input(2));
            }
        }
        assertThat(prepared.graph().initializers().keySet()).noneMatch(name -> name.startsWith("gamma"));
        assertThat(relativeDifference(original, prepared,
                Map.of("x", new long[] {2, 3, 8, 8}, "x2", new long[] {2, 5}))).isLessThanOrEqualTo(TOLERANCE);
    }

    /**
     * ConvNeXt's layer scale, gamma[C, 1, 1] times a Conv output, and the other per-channel scales a layer's output
     * can be multiplied by fold into its weights, and a per-channel shift after them into its bias (PP-LCNetV3's
     * learnable affine block, s · conv(x) + t; also a shift then a scale); a Mul varying along another axis, one whose
     * layer output is also read elsewhere, and one after a Gemm whose C is a single broadcast value stay.
     */
    @Test
    void perChannelScalesFoldIntoTheLayerBefore() {
        GraphProto.Builder graph = fiveLayers("scales")
                .addOutput(value("yf", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("yg", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("cg", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("yh", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("yi", FLOAT, "batch", 4L, 8L, 8L))
                .addOutput(value("yj", FLOAT, "batch", 7L))
                .addInitializer(random("gamma_a", 21, 0.05, 0.2, 4, 1, 1))
                .addInitializer(Protos.floats("two", new long[0], new float[] {2f}))
                .addInitializer(random("gamma_c", 23, 0.5, 1.5, 1, 6, 1, 1))
                .addInitializer(random("gamma_d", 24, -1, 1, 7))
                .addInitializer(random("gamma_e", 25, -1, 1, 7))
                .addInitializer(random("spatial", 26, -1, 1, 1, 6, 6))
                // Conv with bias and padding, layer scale as ConvNeXt writes it (constant first here)
                .addNode(op("Conv", List.of("x", "Wa", "ba"), "ca").addAttribute(ints("pads", 1, 1, 1, 1)))
                .addNode(op("Mul", List.of("gamma_a", "ca"), "ya"))
                // Conv without bias, scalar
                .addNode(op("Conv", List.of("x", "Wb"), "cb"))
                .addNode(op("Mul", List.of("cb", "two"), "yb"))
                // grouped ConvTranspose, stride 2, [1, C, 1, 1]
                .addNode(op("ConvTranspose", List.of("ya", "Wc"), "cc").addAttribute(Protos.intAttribute("group", 2))
                        .addAttribute(ints("strides", 2, 2)))
                .addNode(op("Mul", List.of("cc", "gamma_c"), "yc"))
                // Gemm with transposed weight and bias; MatMul with a constant weight
                .addNode(op("Gemm", List.of("x2", "Wd", "bd"), "gd").addAttribute(Protos.intAttribute("transB", 1)))
                .addNode(op("Mul", List.of("gd", "gamma_d"), "yd"))
                .addNode(op("MatMul", List.of("x2", "We"), "ge"))
                .addNode(op("Mul", List.of("ge", "gamma_e"), "ye"))
                // stays: varies along a spatial axis; the Conv output is also a graph output
                .addNode(op("Conv", List.of("x", "Wb"), "cf"))
                .addNode(op("Mul", List.of("cf", "spatial"), "yf"))
                .addNode(op("Conv", List.of("x", "Wb"), "cg"))
                .addNode(op("Mul", List.of("cg", "two"), "yg"))
                // a learnable affine block on a Conv without bias; a per-channel shift on one with a bias
                .addInitializer(Protos.floats("t", new long[0], new float[] {-0.3f}))
                .addNode(op("Conv", List.of("x", "Wb"), "ch"))
                .addNode(op("Mul", List.of("ch", "two"), "mh"))
                .addNode(op("Add", List.of("t", "mh"), "yh"))
                .addNode(op("Conv", List.of("x", "Wa", "ba"), "ci").addAttribute(ints("pads", 1, 1, 1, 1)))
                .addNode(op("Add", List.of("ci", "gamma_a"), "ai"))
                .addNode(op("Mul", List.of("ai", "two"), "yi"))
                // stays: a Gemm whose C is one value broadcast over all channels
                .addNode(op("Gemm", List.of("x2", "Wd", "two"), "gj").addAttribute(Protos.intAttribute("transB", 1)))
                .addNode(op("Mul", List.of("gj", "gamma_d"), "yj"));
        OnnxModel original = model(graph.build(), 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(result.report().channelAffinesFolded()).isEqualTo(9);
        assertThat(ops(prepared)).containsExactly("Conv", "Conv", "ConvTranspose", "Gemm", "MatMul", "Conv", "Mul",
                "Conv", "Mul", "Conv", "Conv", "Gemm", "Mul");
        assertThat(relativeDifference(original, prepared,
                Map.of("x", new long[] {2, 3, 8, 8}, "x2", new long[] {2, 5}))).isLessThanOrEqualTo(TOLERANCE);
    }

    /**
     * A LayerNorm's affine computed channels-last and transposed back before a Conv (the ConvNeXt-style fixture): the
     * scale goes into the Conv's weights (padded or not, grouped too) and the shift into its bias (unpadded only),
     * through the Transpose. Stay: a scale varying along the wrong axis for the Transpose, a scale also read
     * elsewhere.
     */
    @Test
    void channelsLastAffinesFoldThroughATransposeIntoTheConvAfterThem() {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("layernorm-affines")
                .addInput(value("x", FLOAT, "batch", 6L, 6L, 4L))
                .addOutput(value("y1", FLOAT, "batch", 6L, 6L, 6L))
                .addOutput(value("y2", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("y3", FLOAT, "batch", 6L, 6L, 6L))
                .addOutput(value("m4", FLOAT, "batch", 6L, 6L, 4L))
                .addOutput(value("y4", FLOAT, "batch", 6L, 6L, 6L))
                .addInitializer(random("gamma", 41, 0.5, 2, 4))
                .addInitializer(random("beta", 42, -1, 1, 4))
                .addInitializer(random("rows", 43, 0.5, 2, 6, 1))
                .addInitializer(random("W1", 44, -1, 1, 6, 4, 1, 1))
                .addInitializer(random("b1", 45, -1, 1, 6))
                .addInitializer(random("W2", 46, -1, 1, 4, 2, 3, 3))
                .addInitializer(random("W3", 47, -1, 1, 6, 4, 1, 1))
                // folds both: scale, shift, Transpose, pointwise Conv
                .addNode(op("Mul", List.of("x", "gamma"), "m1"))
                .addNode(op("Add", List.of("m1", "beta"), "a1"))
                .addNode(op("Transpose", List.of("a1"), "t1").addAttribute(ints("perm", 0, 3, 1, 2)))
                .addNode(op("Conv", List.of("t1", "W1", "b1"), "y1"))
                // a scale folds into a padded grouped Conv too (a shift would not: its borders would read zeros)
                .addNode(op("Mul", List.of("gamma", "x"), "m2"))
                .addNode(op("Transpose", List.of("m2"), "t2").addAttribute(ints("perm", 0, 3, 1, 2)))
                .addNode(op("Conv", List.of("t2", "W2"), "y2").addAttribute(Protos.intAttribute("group", 2))
                        .addAttribute(ints("pads", 1, 1, 1, 1)))
                // stays: the scale varies along H, which the Transpose does not make the channels
                .addNode(op("Mul", List.of("x", "rows"), "m3"))
                .addNode(op("Transpose", List.of("m3"), "t3").addAttribute(ints("perm", 0, 3, 1, 2)))
                .addNode(op("Conv", List.of("t3", "W3"), "y3"))
                // stays: the scaled value is also a graph output
                .addNode(op("Mul", List.of("x", "gamma"), "m4"))
                .addNode(op("Transpose", List.of("m4"), "t4").addAttribute(ints("perm", 0, 3, 1, 2)))
                .addNode(op("Conv", List.of("t4", "W3"), "y4"));
        OnnxModel original = model(graph.build(), 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(result.report().channelAffinesFolded()).isEqualTo(3);
        assertThat(ops(prepared)).containsExactly("Transpose", "Conv", "Transpose", "Conv", "Mul", "Transpose",
                "Conv", "Mul", "Transpose", "Conv");
        assertThat(relativeDifference(original, prepared, Map.of("x", new long[] {2, 6, 6, 4})))
                .isLessThanOrEqualTo(TOLERANCE);
    }

    /**
     * A shift before a Conv that pads nothing goes into its bias (PP-LCNetV3's {@code s * hswish(x) + t} before each
     * pointwise Conv): a scalar into a 1x1 Conv with a bias, a per-channel shift into a grouped 3x3 Conv without one.
     * Stay: before a padded Conv (its borders read zeros, not t), a shift also read elsewhere, one varying along a
     * spatial axis.
     */
    @Test
    void shiftsFoldIntoAnUnpaddedConvAfterThem() {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("shifts")
                .addInput(value("x", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("y1", FLOAT, "batch", 6L, 6L, 6L))
                .addOutput(value("y2", FLOAT, "batch", 6L, 4L, 4L))
                .addOutput(value("y3", FLOAT, "batch", 6L, 6L, 6L))
                .addOutput(value("a4", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("y4", FLOAT, "batch", 6L, 6L, 6L))
                .addOutput(value("y5", FLOAT, "batch", 6L, 6L, 6L))
                .addInitializer(random("W1", 31, -1, 1, 6, 4, 1, 1))
                .addInitializer(random("b1", 32, -1, 1, 6))
                .addInitializer(random("W2", 33, -1, 1, 6, 2, 3, 3))
                .addInitializer(random("W3", 34, -1, 1, 6, 4, 3, 3))
                .addInitializer(Protos.floats("t", new long[0], new float[] {0.7f}))
                .addInitializer(random("tc", 35, -2, 2, 1, 4, 1, 1))
                .addInitializer(random("ts", 36, -2, 2, 1, 1, 6, 6))
                .addNode(op("Add", List.of("x", "t"), "a1"))
                .addNode(op("Conv", List.of("a1", "W1", "b1"), "y1"))
                .addNode(op("Add", List.of("tc", "x"), "a2"))
                .addNode(op("Conv", List.of("a2", "W2"), "y2").addAttribute(Protos.intAttribute("group", 2)))
                .addNode(op("Add", List.of("x", "t"), "a3"))
                .addNode(op("Conv", List.of("a3", "W3"), "y3").addAttribute(ints("pads", 1, 1, 1, 1)))
                .addNode(op("Add", List.of("x", "tc"), "a4"))
                .addNode(op("Conv", List.of("a4", "W1", "b1"), "y4"))
                .addNode(op("Add", List.of("x", "ts"), "a5"))
                .addNode(op("Conv", List.of("a5", "W1"), "y5"));
        OnnxModel original = model(graph.build(), 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(result.report().channelAffinesFolded()).isEqualTo(2);
        assertThat(ops(prepared)).containsExactly("Conv", "Conv", "Add", "Conv", "Add", "Conv", "Add", "Conv");
        assertThat(prepared.graph().nodes().get(1).inputs()).hasSize(3).startsWith("x", "W2");
        assertThat(relativeDifference(original, prepared, Map.of("x", new long[] {2, 4, 6, 6})))
                .isLessThanOrEqualTo(TOLERANCE);
    }

    /**
     * torch 1.13 exports an AvgPool2d as an all-zero Pad and an AveragePool; tf2onnx writes explicit padding as a Pad
     * before a Conv. Zero padding of the spatial axes goes into the one Conv or AveragePool reading it (an
     * AveragePool then counts the padding, as the Pad's zeros counted); a Pad of nothing goes. Stay: reflect
     * padding, a value other than 0, and zero padding before a MaxPool (its own padding is -inf, not 0).
     */
    @Test
    void zeroPadsFoldIntoTheConvOrAveragePoolAfterThem() {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("pads")
                .addInput(value("x", FLOAT, "batch", 4L, 8L, 8L))
                .addOutput(value("y1", FLOAT, "batch", 4L, 4L, 4L))
                .addOutput(value("y2", FLOAT, "batch", 6L, 10L, 10L))
                .addOutput(value("y3", FLOAT, "batch", 4L, 8L, 8L))
                .addOutput(value("y4", FLOAT, "batch", 6L, 8L, 8L))
                .addOutput(value("y5", FLOAT, "batch", 4L, 8L, 8L))
                .addOutput(value("y6", FLOAT, "batch", 6L, 8L, 8L))
                .addInitializer(random("W", 51, -1, 1, 6, 4, 3, 3))
                .addInitializer(random("b", 52, -1, 1, 6))
                .addInitializer(Protos.int64s("none", new long[] {8}, new long[8]))
                .addInitializer(Protos.int64s("uneven", new long[] {8}, new long[] {0, 0, 1, 2, 0, 0, 2, 1}))
                .addInitializer(Protos.int64s("one", new long[] {8}, new long[] {0, 0, 1, 1, 0, 0, 1, 1}))
                .addInitializer(Protos.floats("half", new long[0], new float[] {0.5f}))
                .addNode(op("Pad", List.of("x", "none"), "p1"))
                .addNode(op("AveragePool", List.of("p1"), "y1").addAttribute(ints("kernel_shape", 2, 2))
                        .addAttribute(ints("strides", 2, 2)))
                .addNode(op("Pad", List.of("x", "uneven"), "p2"))
                .addNode(op("Conv", List.of("p2", "W", "b"), "y2").addAttribute(ints("pads", 1, 0, 0, 1)))
                .addNode(op("Pad", List.of("x", "one"), "p3"))
                .addNode(op("AveragePool", List.of("p3"), "y3").addAttribute(ints("kernel_shape", 3, 3)))
                .addNode(op("Pad", List.of("x", "one"), "p4")
                        .addAttribute(Protos.stringAttribute("mode", "reflect")))
                .addNode(op("Conv", List.of("p4", "W", "b"), "y4"))
                .addNode(op("Pad", List.of("x", "one"), "p5"))
                .addNode(op("MaxPool", List.of("p5"), "y5").addAttribute(ints("kernel_shape", 3, 3)))
                .addNode(op("Pad", List.of("x", "one", "half"), "p6"))
                .addNode(op("Conv", List.of("p6", "W", "b"), "y6"));
        OnnxModel original = model(graph.build(), 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(result.report().padsFolded()).isEqualTo(3);
        assertThat(ops(prepared)).containsExactly("AveragePool", "Conv", "AveragePool", "Pad", "Conv", "Pad",
                "MaxPool", "Pad", "Conv");
        assertThat(prepared.graph().nodes().get(1).attribute("pads").orElseThrow().ints())
                .containsExactly(2, 2, 2, 2);
        assertThat(prepared.graph().nodes().get(2).intAttribute("count_include_pad", 0)).isEqualTo(1);
        assertThat(result.report().left()).extracting(PreparationReport.Left::op, PreparationReport.Left::reason)
                .containsExactly(tuple("Pad", "not read as the data of a Conv or AveragePool"));
        assertThat(relativeDifference(original, prepared, Map.of("x", new long[] {2, 4, 8, 8})))
                .isLessThanOrEqualTo(TOLERANCE);
    }

    /** Opsets before 11 give the padding as attributes. */
    @Test
    void padAttributesOfOldOpsetsFoldToo() {
        GraphProto graph = GraphProto.newBuilder().setName("pads10")
                .addInput(value("x", FLOAT, "batch", 4L, 8L, 8L))
                .addOutput(value("y", FLOAT, "batch", 6L, 8L, 8L))
                .addInitializer(random("W", 53, -1, 1, 6, 4, 3, 3))
                .addNode(op("Pad", List.of("x"), "p").addAttribute(ints("pads", 0, 0, 1, 1, 0, 0, 1, 1)))
                .addNode(op("Conv", List.of("p", "W"), "y"))
                .build();
        OnnxModel original = model(graph, 10);
        PassResult<PreparationReport> result = prepare(original);

        assertThat(ops(result.model())).containsExactly("Conv");
        assertThat(relativeDifference(original, result.model(), Map.of("x", new long[] {2, 4, 8, 8})))
                .isLessThanOrEqualTo(TOLERANCE);
    }

    /** An If body reads the duplicate by its outer name: it reads the kept one afterwards. */
    @Test
    void equalInitializersAreMergedIncludingReadsFromSubgraphs() {
        TensorProto c1 = random("c1", 21, -1, 1, 4);
        GraphProto thenBranch = GraphProto.newBuilder().setName("then")
                .addNode(op("Mul", List.of("x", "c2"), "t_out")).addOutput(value("t_out", FLOAT, "batch", 4L)).build();
        GraphProto elseBranch = GraphProto.newBuilder().setName("else")
                .addNode(op("Add", List.of("x", "c2"), "e_out")).addOutput(value("e_out", FLOAT, "batch", 4L)).build();
        GraphProto graph = ifOnTheMean(GraphProto.newBuilder().setName("dedup")
                .addInput(value("x", FLOAT, "batch", 4L))
                .addOutput(value("y", FLOAT, "batch", 4L))
                .addOutput(value("y2", FLOAT, "batch", 4L))
                .addInitializer(c1)
                .addInitializer(c1.toBuilder().setName("c2")), thenBranch, elseBranch)
                .addNode(op("Add", List.of("x", "c1"), "y2"))
                .build();
        OnnxModel original = model(graph, 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        assertThat(result.report().initializersDeduplicated()).isEqualTo(1);
        assertThat(prepared.graph().initializers()).containsKey("c1").doesNotContainKey("c2");
        Node ifNode = node(prepared, "If");
        assertThat(ifNode.subgraphs()).allSatisfy(branch ->
                assertThat(branch.nodes().get(0).inputs()).containsExactly("x", "c1"));
        assertThat(relativeDifference(original, prepared, Map.of("x", new long[] {3, 4})))
                .isLessThanOrEqualTo(TOLERANCE);
    }

    /**
     * silero VAD v5's pattern: inside each branch of an If, Constant nodes and Slices and a Concat of a main-graph
     * weight reorder it (LSTM gates) before the layer reads it. The computation folds in each branch, and the equal
     * results go to the main graph once, read by both branches.
     */
    @Test
    void branchWeightsComputedFromOuterConstantsFoldOnceForAllBranches() {
        GraphProto thenBranch = reordered(GraphProto.newBuilder().setName("then"), "t")
                .addNode(op("MatMul", List.of("x", "t_w"), "t_out"))
                .addOutput(value("t_out", FLOAT, "batch", 160L)).build();
        GraphProto elseBranch = reordered(GraphProto.newBuilder().setName("else"), "e")
                .addNode(op("MatMul", List.of("x", "e_w"), "e_m"))
                .addNode(op("Neg", List.of("e_m"), "e_out"))
                .addOutput(value("e_out", FLOAT, "batch", 160L)).build();
        GraphProto graph = ifOnTheMean(GraphProto.newBuilder().setName("branches")
                .addInput(value("x", FLOAT, "batch", 8L))
                .addOutput(value("y", FLOAT, "batch", 160L))
                .addInitializer(random("W", 31, -1, 1, 8, 160)), thenBranch, elseBranch)
                .build();
        OnnxModel original = model(graph, 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        Node ifNode = node(prepared, "If");
        assertThat(ifNode.subgraphs()).map(body -> body.nodes().stream().map(Node::opType).toList())
                .containsExactly(List.of("MatMul"), List.of("MatMul", "Neg"));
        List<String> weights = ifNode.subgraphs().stream().map(body -> body.nodes().get(0).input(1)).toList();
        assertThat(weights.get(0)).isEqualTo(weights.get(1));
        assertThat(prepared.graph().initializer(weights.get(0))).isPresent();
        assertThat(ifNode.subgraphs()).allSatisfy(body -> assertThat(body.initializers()).isEmpty());
        assertThat(prepared.graph().initializers()).doesNotContainKey("W");
        assertThat(result.report().constantsFolded()).isEqualTo(2 * 8); // 5 Constants, 2 Slices, a Concat a branch
        assertThat(result.report().initializersDeduplicated()).isEqualTo(1);
        for (long batch : new long[] {1, 3}) { // the mean of one row or three picks either branch
            assertThat(relativeDifference(original, prepared, Map.of("x", new long[] {batch, 8})))
                    .isLessThanOrEqualTo(TOLERANCE);
        }
    }

    /** {@code y = If(mean(x) > 0, then, else)} added to {@code graph}. */
    private static GraphProto.Builder ifOnTheMean(GraphProto.Builder graph, GraphProto thenBranch,
            GraphProto elseBranch) {
        return graph
                .addInitializer(Protos.floats("zero", new long[0], new float[] {0}))
                .addNode(op("ReduceMean", List.of("x"), "m").addAttribute(Protos.intAttribute("keepdims", 0)))
                .addNode(op("Greater", List.of("m", "zero"), "cond"))
                .addNode(op("If", List.of("cond"), "y")
                        .addAttribute(AttributeProto.newBuilder().setName("then_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(thenBranch))
                        .addAttribute(AttributeProto.newBuilder().setName("else_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(elseBranch)));
    }

    /** {@code W[:, 80:] ++ W[:, :80]} as {@code <prefix>_w}, from Constant nodes and Slices of the outer W. */
    private static GraphProto.Builder reordered(GraphProto.Builder body, String prefix) {
        TensorProto axes = Protos.int64s("", new long[] {1}, new long[] {1});
        return body
                .addNode(constant(prefix + "_zero", Protos.int64s("", new long[] {1}, new long[] {0})))
                .addNode(constant(prefix + "_half", Protos.int64s("", new long[] {1}, new long[] {80})))
                .addNode(constant(prefix + "_all", Protos.int64s("", new long[] {1}, new long[] {160})))
                .addNode(constant(prefix + "_axes", axes))
                .addNode(constant(prefix + "_axes2", axes))
                .addNode(op("Slice", List.of("W", prefix + "_half", prefix + "_all", prefix + "_axes"),
                        prefix + "_high"))
                .addNode(op("Slice", List.of("W", prefix + "_zero", prefix + "_half", prefix + "_axes2"),
                        prefix + "_low"))
                .addNode(op("Concat", List.of(prefix + "_high", prefix + "_low"), prefix + "_w")
                        .addAttribute(Protos.intAttribute("axis", 1)));
    }

    @Test
    void unreadNodesAndInitializersAreRemoved() {
        GraphProto graph = GraphProto.newBuilder().setName("dead")
                .addInput(value("x", FLOAT, "batch", 4L))
                .addOutput(value("y", FLOAT, "batch", 4L))
                .addInitializer(random("orphan", 31, -1, 1, 4))
                .addInitializer(random("w", 32, -1, 1, 4))
                .addNode(op("Mul", List.of("x", "w"), "unused"))
                .addNode(op("Sigmoid", List.of("unused"), "unused2"))
                .addNode(op("Relu", List.of("x"), "y"))
                .build();
        OnnxModel original = model(graph, 13);
        PassResult<PreparationReport> result = prepare(original);

        assertThat(ops(result.model())).containsExactly("Relu");
        assertThat(result.model().graph().initializers()).isEmpty();
        assertThat(result.report().deadNodesRemoved()).isEqualTo(2);
        assertThat(result.report().unusedInitializersRemoved()).isEqualTo(2);
        assertThat(result.report().nodesBefore()).isEqualTo(3);
        assertThat(result.report().nodesAfter()).isEqualTo(1);
        assertThat(relativeDifference(original, result.model(), Map.of("x", new long[] {2, 4})))
                .isLessThanOrEqualTo(TOLERANCE);
    }

    /**
     * torchvision's Swin pads each window from {@code x.shape} modulo the window size, and exports its attention
     * dropouts with training_mode true and ratio 0, as Constant nodes. Here the pad is computed through a Round,
     * which preparation does not fold, so the Pad's output shape is lost to inference: its Shape is found by running
     * the model at three batch sizes, and the Reshape after it gets a constant target. The Dropout of ratio 0 goes;
     * the one of ratio 0.1 in training mode stays.
     */
    @Test
    void shapesInferenceLosesAreFoundByRunningTheModel() {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("windows")
                .addInput(value("x", FLOAT, "batch", 2L, 6L, 6L))
                .addOutput(value("y", FLOAT, "batch", 2L, 64L))
                .addOutput(value("z", FLOAT, "batch", 2L, 6L, 6L))
                .addInitializer(Protos.int64s("i0", new long[0], new long[] {0}))
                .addInitializer(Protos.int64s("i2", new long[0], new long[] {2}))
                .addInitializer(Protos.int64s("i3", new long[0], new long[] {3}))
                .addInitializer(Protos.int64s("four", new long[0], new long[] {4}))
                .addInitializer(Protos.int64s("axes0", new long[] {1}, new long[] {0}))
                .addInitializer(Protos.int64s("zeros6", new long[] {6}, new long[6]))
                .addInitializer(Protos.int64s("two_1d", new long[] {1}, new long[] {2}))
                .addNode(op("Relu", List.of("x"), "h"))
                .addNode(op("Shape", List.of("h"), "s"))
                .addNode(op("Gather", List.of("s", "i2"), "H"))
                .addNode(op("Mod", List.of("H", "four"), "m"))
                .addNode(op("Sub", List.of("four", "m"), "d"))
                .addNode(op("Mod", List.of("d", "four"), "p"))
                .addNode(op("Cast", List.of("p"), "pf").addAttribute(Protos.intAttribute("to", FLOAT)))
                .addNode(op("Round", List.of("pf"), "pr"))
                .addNode(op("Cast", List.of("pr"), "pi").addAttribute(Protos.intAttribute("to",
                        TensorProto.DataType.INT64_VALUE)))
                .addNode(op("Unsqueeze", List.of("pi", "axes0"), "pu"))
                .addNode(op("Concat", List.of("zeros6", "pu", "pu"), "pads").addAttribute(Protos.intAttribute("axis",
                        0)))
                .addNode(op("Pad", List.of("h", "pads"), "hp"))
                .addNode(op("Shape", List.of("hp"), "sp"))
                .addNode(op("Gather", List.of("sp", "i0"), "B"))
                .addNode(op("Gather", List.of("sp", "i2"), "Hp"))
                .addNode(op("Gather", List.of("sp", "i3"), "Wp"))
                .addNode(op("Mul", List.of("Hp", "Wp"), "HW"))
                .addNode(op("Unsqueeze", List.of("B", "axes0"), "Bu"))
                .addNode(op("Unsqueeze", List.of("HW", "axes0"), "HWu"))
                .addNode(op("Concat", List.of("Bu", "two_1d", "HWu"), "target")
                        .addAttribute(Protos.intAttribute("axis", 0)))
                .addNode(op("Reshape", List.of("hp", "target"), "r"))
                .addNode(constant("ratio0", Protos.floats("", new long[0], new float[] {0f})))
                .addNode(constant("ratio1", Protos.floats("", new long[0], new float[] {0.1f})))
                .addNode(constant("training", TensorProto.newBuilder().setDataType(TensorProto.DataType.BOOL_VALUE)
                        .addInt32Data(1).build()))
                .addNode(op("Dropout", List.of("r", "ratio0", "training"), "y"))
                .addNode(op("Dropout", List.of("h", "ratio1", "training"), "z"));
        OnnxModel original = model(graph.build(), 13);
        PassResult<PreparationReport> result = prepare(original);

        OnnxModel prepared = result.model();
        // z is dropped at random: y is compared alone
        OnnxModel originalY = original.copy();
        OnnxModel preparedY = prepared.copy();
        List.of(originalY, preparedY).forEach(m -> m.graph().outputs().removeIf(o -> o.name().equals("z")));
        for (long batch : new long[] {1, 4}) {
            assertThat(relativeDifference(originalY, preparedY, Map.of("x", new long[] {batch, 2, 6, 6})))
                    .isLessThanOrEqualTo(TOLERANCE);
        }
        Node reshape = node(prepared, "Reshape");
        assertThat(prepared.graph().initializer(reshape.input(1)).orElseThrow().longs())
                .containsExactly(0, 2, 64);
        assertThat(reshape.output(0)).isEqualTo("y");
        assertThat(result.report().dropoutRemoved()).isEqualTo(1);
        assertThat(result.report().left()).extracting(PreparationReport.Left::op, PreparationReport.Left::reason)
                .containsExactly(tuple("Dropout", "training_mode is not a constant false"));
        assertThat(ops(prepared)).doesNotContain("Shape", "Gather", "Mul");
    }

    /**
     * A shape that depends on input values (here through NonZero) is not taken from a run, which saw one set of
     * values: it stays computed, and the report says why.
     */
    @Test
    void shapesThatDependOnInputValuesAreNotProbed() {
        GraphProto graph = GraphProto.newBuilder().setName("nonzero")
                .addInput(value("x", FLOAT, "batch", 4L))
                .addOutput(value("y", TensorProto.DataType.INT64_VALUE, 1L))
                .addInitializer(Protos.floats("zero", new long[0], new float[] {0f}))
                .addInitializer(Protos.int64s("i1", new long[] {1}, new long[] {1}))
                .addNode(op("Greater", List.of("x", "zero"), "positive"))
                .addNode(op("NonZero", List.of("positive"), "where"))
                .addNode(op("Shape", List.of("where"), "s"))
                .addNode(op("Gather", List.of("s", "i1"), "y"))
                .build();
        OnnxModel original = model(graph, 13);
        PassResult<PreparationReport> result = prepare(original);

        assertThat(result.model().toBytes()).isEqualTo(original.toBytes());
        assertThat(result.report().left()).extracting(PreparationReport.Left::op, PreparationReport.Left::reason)
                .containsExactly(tuple("Shape", "the shape of 'where' depends on input values"));
    }

    /** What cannot be rewritten without changing the result is left, and the report says why. */
    @Test
    void patternsThatCannotBeRewrittenAreLeftWithTheReason() {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("left")
                .addInput(value("x", FLOAT, "batch", 3L, 8L, 8L))
                .addOutput(value("y", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("pass", FLOAT, "batch", 3L, 8L, 8L))
                .addOutput(value("raw", FLOAT, "batch", 4L, 6L, 6L))
                .addOutput(value("mask", TensorProto.DataType.BOOL_VALUE, "batch", 4L, 6L, 6L))
                .addInitializer(random("W", 41, -1, 1, 4, 3, 3, 3))
                .addNode(op("Identity", List.of("x"), "pass"))
                .addNode(op("Conv", List.of("x", "W"), "raw"))
                .addNode(batchNorm("raw", "n", 6))
                .addNode(Protos.node("Dropout", "dropout", List.of("n"), List.of("y", "mask")));
        addBatchNormParameters(graph, 4, 6);
        OnnxModel original = model(graph.build(), 13);
        PassResult<PreparationReport> result = prepare(original);

        assertThat(result.provenance()).isNull();
        assertThat(result.model().toBytes()).isEqualTo(original.toBytes());
        assertThat(result.report().left()).extracting(PreparationReport.Left::op, PreparationReport.Left::reason)
                .containsExactly(
                        tuple("Identity",
                                "writes graph output 'pass' and its input 'x' is a graph input, an initializer or"
                                        + " another graph output"),
                        tuple("Dropout", "its mask output is read"),
                        tuple("BatchNormalization",
                                "the output of Conv->raw has other readers"));
    }

    @Test
    void resultsOverTheSizeLimitStayComputed() {
        GraphProto graph = GraphProto.newBuilder().setName("big")
                .addInput(value("x", FLOAT, "batch", 1024L))
                .addOutput(value("y", FLOAT, "batch", 1024L))
                .addInitializer(random("A", 51, -1, 1, 513, 1024))
                .addInitializer(random("B", 52, -1, 1, 513, 1024))
                .addNode(op("Concat", List.of("A", "B"), "AB").addAttribute(Protos.intAttribute("axis", 0)))
                .addNode(op("ReduceMean", List.of("AB"), "m").addAttribute(ints("axes", 0))
                        .addAttribute(Protos.intAttribute("keepdims", 0)))
                .addNode(op("Add", List.of("x", "m"), "y"))
                .build();
        OnnxModel original = model(graph, 13);
        PassResult<PreparationReport> result = prepare(original);

        assertThat(result.provenance()).isNull();
        assertThat(result.model().toBytes()).isEqualTo(original.toBytes());
        assertThat(result.report().left()).singleElement().satisfies(left -> {
            assertThat(left.op()).isEqualTo("Concat");
            assertThat(left.reason()).isEqualTo("its result has 1050624 elements, over the 1048576 folded at most");
        });
    }

    /** The shipped fixtures are clean torch exports: nothing to do, the model comes back byte for byte. */
    @ParameterizedTest
    @ValueSource(strings = {"cnn-fp32.onnx", "resnet-fp32.onnx"})
    void shippedFixturesComeBackUnchanged(String fixture) {
        OnnxModel original = OnnxModel.load(TestData.model(fixture));
        PassResult<PreparationReport> result = prepare(original);

        assertThat(result.report().changed()).isFalse();
        assertThat(result.report().left()).isEmpty();
        assertThat(result.provenance()).isNull();
        assertThat(result.model().toBytes()).isEqualTo(original.toBytes());
        Dataset images = ImageDataset.builder()
                .setRoot(TestData.fashionMnist().resolve("calib"))
                .setInputName(ModelInputs.imageInput(original).name())
                .setPreprocessing(ModelInputs.imagePreprocessing(original, Preprocessing.Overrides.NONE))
                .build();
        assertThat(relativeDifference(original, result.model(), images.batches(100))).isZero();
    }

    @Test
    void isARegisteredPassThatRecordsItsCounts() {
        assertThat(Passes.find("prepare")).isInstanceOf(GraphPreparation.class);
        GraphProto graph = GraphProto.newBuilder().setName("one-identity")
                .addInput(value("x", FLOAT, "batch", 4L))
                .addOutput(value("y", FLOAT, "batch", 4L))
                .addNode(op("Identity", List.of("x"), "i"))
                .addNode(op("Relu", List.of("i"), "y"))
                .build();
        OnnxModel prepared = Pipeline.of(new GraphPreparation()).run(model(graph, 13), PassContext.silent()).model();
        assertThat(prepared.metadata().get("compress.preparation")).isEqualTo("{\"batchNormsFolded\":0,"
                + "\"channelAffinesFolded\":0,\"constantsFolded\":0,\"deadNodesRemoved\":0,\"dropoutRemoved\":0,"
                + "\"identityRemoved\":1,"
                + "\"initializersDeduplicated\":0,\"padsFolded\":0,\"reshapeTargetsFolded\":0,"
                + "\"shapeSubgraphsFolded\":0,"
                + "\"unusedInitializersRemoved\":0}");
    }
}
