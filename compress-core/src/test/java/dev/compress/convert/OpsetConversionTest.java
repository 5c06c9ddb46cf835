package dev.compress.convert;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.Pipeline;
import dev.compress.pipeline.PipelineResult;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Small graphs at old opsets, converted and run in ONNX Runtime next to the original. */
class OpsetConversionTest {
    private static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;

    private static ValueInfoProto value(String name, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            shape.addDim(d instanceof String param ? TensorShapeProto.Dimension.newBuilder().setDimParam(param)
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
        }
        TypeProto.Tensor.Builder type = TypeProto.Tensor.newBuilder().setElemType(FLOAT);
        if (dims.length > 0) { // none: unknown shape
            type.setShape(shape);
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(type)).build();
    }

    private static AttributeProto ints(String name, long... values) {
        return Protos.intsAttribute(name, values);
    }

    private static AttributeProto floatAttribute(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value)
                .build();
    }

    private static AttributeProto string(String name, String value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING)
                .setS(com.google.protobuf.ByteString.copyFromUtf8(value)).build();
    }

    private static OnnxModel model(GraphProto graph, long opset) {
        return OnnxModel.of(ModelProto.newBuilder().setIrVersion(4)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
                .setGraph(graph).build());
    }

    private static TensorProto random(long... shape) {
        Random random = new Random(shape.length * 31L + shape[shape.length - 1]);
        float[] values = new float[(int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian() * 3;
        }
        return Protos.floats("", shape, values);
    }

    /** Converts {@code model} to {@code target} and checks that ONNX Runtime gives the same outputs for both. */
    private static OpsetConversionReport convertsAlike(OnnxModel model, long target, Map<String, TensorProto> inputs)
            throws Exception {
        PipelineResult result = Pipeline.of(OpsetConversion.builder().optTargetOpset(target).build())
                .run(model, PassContext.silent());
        OnnxModel converted = result.model();
        assertThat(converted.opset("")).isEqualTo(target);
        assertThat(converted.irVersion()).isEqualTo(OpsetConversion.irVersion(target));
        Map<String, OrtRun.Values> before = OrtRun.run(model, inputs);
        Map<String, OrtRun.Values> after = OrtRun.run(converted, inputs);
        assertThat(after.keySet()).isEqualTo(before.keySet());
        before.forEach((name, values) -> {
            assertThat(after.get(name).shape()).as(name).isEqualTo(values.shape());
            assertThat(after.get(name).values()).as(name).containsExactly(values.values());
        });
        return result.report(OpsetConversionReport.class);
    }

    /** x[2,3,4] -> Unsqueeze(0) -> Squeeze(0) -> Clip(-1, 2) -> Slice(axis 2, 1:3) -> ReduceSum(axes 1) -> Split. */
    private static GraphProto.Builder attributesGraph() {
        return GraphProto.newBuilder().setName("opset9")
                .addInput(value("x", 2, 3, 4))
                .addOutput(value("a", 2, 1, 1))
                .addOutput(value("b", 2, 1, 1))
                .addNode(Protos.node("Unsqueeze", "unsqueeze", List.of("x"), List.of("u")).addAttribute(ints("axes", 0)))
                .addNode(Protos.node("Squeeze", "squeeze", List.of("u"), List.of("s")).addAttribute(ints("axes", 0)))
                .addNode(Protos.node("Clip", "clip", List.of("s"), List.of("c"))
                        .addAttribute(floatAttribute("min", -1)).addAttribute(floatAttribute("max", 2)))
                .addNode(Protos.node("Slice", "slice", List.of("c"), List.of("sl"))
                        .addAttribute(ints("starts", 1)).addAttribute(ints("ends", 3)).addAttribute(ints("axes", 2)))
                .addNode(Protos.node("ReduceSum", "sum", List.of("sl"), List.of("r")).addAttribute(ints("axes", 1)))
                .addNode(Protos.node("Split", "split", List.of("r"), List.of("a", "b"))
                        .addAttribute(Protos.intAttribute("axis", 2)).addAttribute(ints("split", 1, 1)));
    }

    @Test
    void attributesThatBecameInputsAreMovedAndTheResultsStayTheSame() throws Exception {
        OpsetConversionReport report = convertsAlike(model(attributesGraph().build(), 9), 13,
                Map.of("x", random(2, 3, 4)));
        assertThat(report.fromOpset()).isEqualTo(9);
        assertThat(report.rewritten()).extracting(OpsetConversionReport.Rewrite::op,
                OpsetConversionReport.Rewrite::adapter).containsExactly(
                        org.assertj.core.groups.Tuple.tuple("Unsqueeze", "axes attribute to input"),
                        org.assertj.core.groups.Tuple.tuple("Squeeze", "axes attribute to input"),
                        org.assertj.core.groups.Tuple.tuple("Clip", "min/max attributes to inputs"),
                        org.assertj.core.groups.Tuple.tuple("Slice", "starts/ends/axes attributes to inputs"),
                        org.assertj.core.groups.Tuple.tuple("ReduceSum", "axes attribute to input"),
                        org.assertj.core.groups.Tuple.tuple("Split", "split attribute to input"));
        OnnxModel converted = Pipeline.of(OpsetConversion.builder().build())
                .run(model(attributesGraph().build(), 9), PassContext.silent()).model();
        assertThat(converted.graph().nodes()).allSatisfy(node -> assertThat(node.attributes())
                .noneMatch(a -> List.of("axes", "split", "starts", "ends", "min", "max").contains(a.name())));
        assertThat(converted.metadata().get("compress.opsetConversion"))
                .contains("\"from\":9", "\"to\":13", "\"Slice: starts/ends/axes attributes to inputs\":1");
    }

    @Test
    void laterTargetsMoveTheReduceAxesAndSplitCountsToo() throws Exception {
        GraphProto graph = attributesGraph()
                .addOutput(value("m", 2, 1, 4))
                .addNode(Protos.node("ReduceMean", "mean", List.of("x"), List.of("m")).addAttribute(ints("axes", 1)))
                .addNode(Protos.node("HardSigmoid", "hs", List.of("x"), List.of("h")))
                .addOutput(value("h", 2, 3, 4))
                .build();
        OpsetConversionReport report = convertsAlike(model(graph, 9), 18, Map.of("x", random(2, 3, 4)));
        assertThat(report.rewritten()).extracting(OpsetConversionReport.Rewrite::op)
                .contains("ReduceMean");
        assertThat(report.unchanged()).containsEntry("HardSigmoid", 1);
    }

    @Test
    void softmaxOverAnInnerAxisKeepsItsOldMeaning() throws Exception {
        for (String op : List.of("Softmax", "LogSoftmax", "Hardmax")) {
            for (long axis : new long[] {0, 1, 2, -1}) {
                GraphProto graph = GraphProto.newBuilder().setName("softmax")
                        .addInput(value("x", "n", 3, 4)).addOutput(value("y", "n", 3, 4))
                        .addNode(Protos.node("Relu", "relu", List.of("x"), List.of("r")))
                        .addNode(Protos.node(op, "softmax", List.of("r"), List.of("y"))
                                .addAttribute(Protos.intAttribute("axis", axis)))
                        .build();
                OpsetConversionReport report = convertsAlike(model(graph, 11), 13, Map.of("x", random(2, 3, 4)));
                assertThat(report.rewritten()).singleElement().isEqualTo(new OpsetConversionReport.Rewrite(op,
                        axis == 2 || axis == -1 ? "axis semantics: last axis"
                                : "axis semantics: inner axis, Flatten/Reshape around it", 1));
                // the rank of the Relu output comes from ONNX Runtime: over the last axis no helper nodes are needed
                assertThat(Pipeline.of(OpsetConversion.builder().build()).run(model(graph, 11),
                        PassContext.silent()).model().graph().nodes()).hasSize(axis == 2 || axis == -1 ? 2 : 5);
            }
        }
    }

    @Test
    void upsampleAndResize10BecomeResizeWithTheirOldCoordinates() throws Exception {
        for (String mode : List.of("nearest", "linear")) {
            GraphProto upsample = GraphProto.newBuilder().setName("upsample")
                    .addInput(value("x", 1, 2, 3, 4)).addOutput(value("y"))
                    .addNode(Protos.node("Upsample", "up", List.of("x"), List.of("y")).addAttribute(string("mode", mode))
                            .addAttribute(AttributeProto.newBuilder().setName("scales")
                                    .setType(AttributeProto.AttributeType.FLOATS)
                                    .addAllFloats(List.of(1f, 1f, 2f, 3f))))
                    .build();
            OpsetConversionReport report = convertsAlike(model(upsample, 7), 13, Map.of("x", random(1, 2, 3, 4)));
            assertThat(report.rewritten()).extracting(OpsetConversionReport.Rewrite::adapter).containsExactly(
                    "scales attribute to input", "to Resize", "roi input, asymmetric coordinates");
            for (float[] scales : List.of(new float[] {1, 1, 2, 2.5f}, new float[] {1, 1, 0.5f, 0.6f})) {
                GraphProto resize = GraphProto.newBuilder().setName("resize")
                        .addInput(value("x", 1, 2, 6, 8)).addOutput(value("y"))
                        .addInitializer(Protos.floats("scales", new long[] {4}, scales))
                        .addNode(Protos.node("Resize", "resize", List.of("x", "scales"), List.of("y"))
                                .addAttribute(string("mode", mode)))
                        .build();
                convertsAlike(model(resize, 10), 13, Map.of("x", random(1, 2, 6, 8)));
            }
        }
    }

    /**
     * PyTorch 0.3's opset-6 exports, which ONNX Runtime cannot run (no Add-6, BatchNormalization-6 or Upsample-1
     * kernel): a bias added along axis 1 (a constant B reshaped), a scale along axis 1 fed as an input (an Unsqueeze),
     * a PRelu slope per channel, BatchNormalization with is_test, an experimental Upsample. Computed here by hand.
     */
    @Test
    void opset6LegacyBroadcastingKeepsItsMeaning() throws Exception {
        float[] bias = {0.5f, -1, 2};
        float[] slope = {0.1f, 0.2f, 0.3f};
        GraphProto graph = GraphProto.newBuilder().setName("opset6")
                .addInput(value("x", 2, 3, 2, 2))
                .addInput(value("s", 3))
                .addOutput(value("y", 2, 3, 4, 4))
                .addInitializer(Protos.floats("bias", new long[] {3}, bias))
                .addInitializer(Protos.floats("slope", new long[] {3}, slope))
                .addInitializer(Protos.floats("gamma", new long[] {3}, new float[] {1, 1, 1}))
                .addInitializer(Protos.floats("beta", new long[] {3}, new float[] {0, 0, 0}))
                .addInitializer(Protos.floats("mean", new long[] {3}, new float[] {0, 0, 0}))
                .addInitializer(Protos.floats("var", new long[] {3}, new float[] {1, 1, 1}))
                .addNode(Protos.node("Add", "add", List.of("x", "bias"), List.of("a"))
                        .addAttribute(Protos.intAttribute("broadcast", 1)).addAttribute(Protos.intAttribute("axis", 1)))
                .addNode(Protos.node("Mul", "mul", List.of("a", "s"), List.of("m"))
                        .addAttribute(Protos.intAttribute("broadcast", 1)).addAttribute(Protos.intAttribute("axis", 1)))
                .addNode(Protos.node("PRelu", "prelu", List.of("m", "slope"), List.of("p")))
                .addNode(Protos.node("BatchNormalization", "bn", List.of("p", "gamma", "beta", "mean", "var"),
                        List.of("n")).addAttribute(Protos.intAttribute("is_test", 1))
                        .addAttribute(floatAttribute("epsilon", 0)))
                .addNode(Protos.node("Upsample", "up", List.of("n"), List.of("y"))
                        .addAttribute(floatAttribute("height_scale", 2)).addAttribute(floatAttribute("width_scale", 2)))
                .build();
        OnnxModel converted = OpsetConversion.builder().build().apply(model(graph, 6), PassContext.silent()).model();

        TensorProto x = random(2, 3, 2, 2);
        float[] scale = {2, -1, 0.5f};
        Map<String, OrtRun.Values> out = OrtRun.run(converted, Map.of("x", x,
                "s", Protos.floats("", new long[] {3}, scale)));
        double[] xs = OrtRun.values(x).values();
        double[] ys = out.get("y").values();
        assertThat(out.get("y").shape()).containsExactly(2, 3, 4, 4);
        for (int n = 0; n < 2; n++) {
            for (int c = 0; c < 3; c++) {
                for (int h = 0; h < 4; h++) {
                    for (int w = 0; w < 4; w++) {
                        double m = (xs[((n * 3 + c) * 2 + h / 2) * 2 + w / 2] + bias[c]) * scale[c];
                        double expected = m < 0 ? m * slope[c] : m;
                        assertThat(ys[((n * 3 + c) * 4 + h) * 4 + w]).isCloseTo(expected,
                                org.assertj.core.data.Offset.offset(1e-5));
                    }
                }
            }
        }
        OnnxModel training = model(graph.toBuilder().setNode(3, graph.getNode(3).toBuilder().clearAttribute())
                .build(), 6);
        assertThatThrownBy(() -> OpsetConversion.builder().build().apply(training, PassContext.silent()))
                .hasMessage("cannot convert BatchNormalization (opset 6) to opset 13: is_test=0 normalizes with"
                        + " each batch's own statistics (training mode), which opset 7 has no form for (node bn)");
    }

    @Test
    void subgraphBodiesAreConvertedToo() throws Exception {
        GraphProto body = GraphProto.newBuilder().setName("then")
                .addOutput(value("t"))
                .addNode(Protos.node("Squeeze", "inner", List.of("x"), List.of("t")).addAttribute(ints("axes", 0)))
                .build();
        GraphProto other = body.toBuilder().setName("else").setNode(0, body.getNode(0).toBuilder()
                .setName("inner_else")).build();
        TensorProto flag = TensorProto.newBuilder().setName("c").setDataType(TensorProto.DataType.BOOL_VALUE)
                .addInt32Data(1).build();
        GraphProto graph = GraphProto.newBuilder().setName("if")
                .addInput(value("x", 1, 3)).addOutput(value("y")).addInitializer(flag)
                .addNode(Protos.node("If", "if", List.of("c"), List.of("y"))
                        .addAttribute(AttributeProto.newBuilder().setName("then_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(body))
                        .addAttribute(AttributeProto.newBuilder().setName("else_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(other)))
                .build();
        OpsetConversionReport report = convertsAlike(model(graph, 11), 13, Map.of("x", random(1, 3)));
        assertThat(report.rewritten()).containsExactly(
                new OpsetConversionReport.Rewrite("Squeeze", "axes attribute to input", 2));
    }

    @Test
    void whatCannotBeConvertedIsNamedInOneLine() {
        Map<String, GraphProto.Builder> cases = new LinkedHashMap<>();
        cases.put("cannot convert BatchNormalization (opset 8) to opset 13: spatial=0 (statistics per position) has"
                + " no form from opset 9 on (node bn)", GraphProto.newBuilder().addNode(Protos.node(
                        "BatchNormalization", "bn", List.of("x", "s", "b", "m", "v"), List.of("y"))
                        .addAttribute(Protos.intAttribute("spatial", 0))));
        cases.put("cannot convert Dropout (opset 8) to opset 13: its mask output, read by the graph, became boolean"
                + " at opset 10 (node drop)", GraphProto.newBuilder().addOutput(value("mask"))
                        .addNode(Protos.node("Dropout", "drop", List.of("x"), List.of("y", "mask"))));
        cases.put("cannot convert Scan (opset 8) to opset 13: Scan changed meaning at opset 9 and there is no"
                + " adapter (node scan)", GraphProto.newBuilder()
                        .addNode(Protos.node("Scan", "scan", List.of("", "x"), List.of("y"))));
        cases.put("cannot convert Frobnicate (opset 8) to opset 13: not an operator of the default ONNX domain (up to"
                + " opset 28) (node frob)", GraphProto.newBuilder()
                        .addNode(Protos.node("Frobnicate", "frob", List.of("x"), List.of("y"))));
        cases.put("cannot convert Resize (opset 8) to opset 13: the operator does not exist yet at opset 8 (node"
                + " resize)", GraphProto.newBuilder()
                        .addNode(Protos.node("Resize", "resize", List.of("x", "scales"), List.of("y"))));
        cases.forEach((message, graph) -> {
            OnnxModel model = model(graph.setName("bad").build(), 8);
            assertThatThrownBy(() -> OpsetConversion.builder().build().apply(model, PassContext.silent()))
                    .isInstanceOfSatisfying(CompressException.class,
                            e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT))
                    .hasMessage(message);
        });
        OnnxModel mixed = model(GraphProto.newBuilder().setName("mixed")
                .addInitializer(Protos.floats("scales", new long[] {4}, new float[] {1, 1, 2, 0.5f}))
                .addNode(Protos.node("Resize", "resize", List.of("x", "scales"), List.of("y"))).build(), 10);
        assertThatThrownBy(() -> OpsetConversion.builder().build().apply(mixed, PassContext.silent()))
                .hasMessage("cannot convert Resize (opset 10) to opset 13: nearest mode that enlarges some axes and"
                        + " shrinks others (node resize)");
        OnnxModel old = model(GraphProto.newBuilder().setName("old")
                .addNode(Protos.node("Relu", "relu", List.of("x"), List.of("y"))).build(), 5);
        assertThatThrownBy(() -> OpsetConversion.builder().build().apply(old, PassContext.silent()))
                .hasMessage("cannot convert opset 5 to opset 13: models before opset 6 are not supported");
        OnnxModel newer = model(GraphProto.newBuilder().setName("new")
                .addNode(Protos.node("Relu", "relu", List.of("x"), List.of("y"))).build(), 14);
        assertThatThrownBy(() -> OpsetConversion.builder().build().apply(newer, PassContext.silent()))
                .isInstanceOfSatisfying(CompressException.class,
                        e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.INVALID_SETTINGS));
        assertThatThrownBy(() -> OpsetConversion.builder().optTargetOpset(29))
                .hasMessage("target opset 29 is not between 7 and 28");
    }

    @Test
    void aModelAtTheTargetIsLeftAsItIsWithoutProvenance() {
        OnnxModel model = model(GraphProto.newBuilder().setName("at13")
                .addNode(Protos.node("Relu", "relu", List.of("x"), List.of("y"))).build(), 13);
        var result = OpsetConversion.builder().build().apply(model, PassContext.silent());
        assertThat(result.provenance()).isNull();
        assertThat(result.report().unchanged()).containsEntry("Relu", 1);
        assertThat(result.model().toProto()).isEqualTo(model.toProto());
    }

    @Test
    void everyVersionStepSinceOpset6IsCompatibleOrHasAnAdapter() {
        // a table or adapter gap would otherwise show only on a model that uses the op
        List<String> missing = new java.util.ArrayList<>();
        for (String op : OperatorVersions.ops()) {
            for (int version = 7; version <= OperatorVersions.MAX_OPSET; version++) {
                if (OperatorVersions.next(op, version - 1, version).isPresent()
                        && OperatorVersions.at(op, version - 1).isPresent()
                        && !OperatorVersions.compatible(op, version) && Adapters.find(op, version) == null) {
                    missing.add(op + "-" + version);
                }
            }
        }
        assertThat(missing).containsExactlyInAnyOrder("Scan-9", "GridSample-20", "DFT-20");
    }
}
