package dev.compress.inspect;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.inspect.ModelSummary.Dim;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.StringStringEntryProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ModelInspectorTest {

    @ParameterizedTest
    @ValueSource(strings = {"cnn-fp32.onnx", "resnet-fp32.onnx"})
    void describesTheShippedFixtures(String name) throws Exception {
        Path file = TestData.model(name);
        ModelProto proto = ModelProto.parseFrom(Files.readAllBytes(file));

        ModelSummary summary = ModelInspector.inspect(OnnxModel.load(file));

        // format fields, read straight from the protobuf
        assertThat(summary.file()).isEqualTo(file.toString());
        assertThat(summary.fileBytes()).isEqualTo(Files.size(file));
        assertThat(summary.irVersion()).isEqualTo(proto.getIrVersion());
        assertThat(summary.producerName()).isEqualTo(proto.getProducerName()).isEqualTo("pytorch");
        assertThat(summary.opsets()).containsEntry("ai.onnx", 13L);

        // make_fixtures.py exports input [batch,1,28,28] and output logits [batch,10], batch dynamic
        assertThat(summary.inputs()).hasSize(1);
        assertThat(summary.inputs().get(0).name()).isEqualTo("input");
        assertThat(summary.inputs().get(0).elementType()).isEqualTo("FLOAT");
        assertThat(summary.inputs().get(0).shape())
                .containsExactly(Dim.named("batch"), Dim.of(1), Dim.of(28), Dim.of(28));
        assertThat(summary.inputs().get(0).shapeString()).isEqualTo("[batch,1,28,28]");
        assertThat(summary.outputs()).hasSize(1);
        assertThat(summary.outputs().get(0).shapeString()).isEqualTo("[batch,10]");

        // parameters: every initializer's dims multiplied out, independently of Tensors; no Constant nodes here
        long elements = 0;
        long bytes = 0;
        for (TensorProto t : proto.getGraph().getInitializerList()) {
            long n = 1;
            for (long d : t.getDimsList()) {
                n *= d;
            }
            elements += n;
            bytes += t.hasRawData() ? t.getRawData().size() : 4L * t.getFloatDataCount();
            assertThat(t.getDataType()).isEqualTo(TensorProto.DataType.FLOAT_VALUE);
        }
        assertThat(proto.getGraph().getNodeList()).noneMatch(n -> n.getOpType().equals("Constant"));
        assertThat(summary.parameterCount()).isEqualTo(elements);
        assertThat(summary.parameterBytes()).isEqualTo(bytes).isEqualTo(4 * elements);
        assertThat(summary.parametersByType()).containsOnlyKeys("FLOAT");
        assertThat(summary.parametersByType().get("FLOAT").tensors())
                .isEqualTo(proto.getGraph().getInitializerCount());

        // op histogram: counts as in the file, ordered by count descending then name
        Map<String, Integer> expected = new TreeMap<>();
        proto.getGraph().getNodeList().forEach(n -> expected.merge(n.getOpType(), 1, Integer::sum));
        assertThat(summary.ops()).isEqualTo(expected);
        assertThat(summary.nodeCount()).isEqualTo(proto.getGraph().getNodeCount());
        List<Map.Entry<String, Integer>> order = new ArrayList<>(summary.ops().entrySet());
        for (int i = 1; i < order.size(); i++) {
            Map.Entry<String, Integer> a = order.get(i - 1);
            Map.Entry<String, Integer> b = order.get(i);
            assertThat(a.getValue() > b.getValue()
                    || (a.getValue().equals(b.getValue()) && a.getKey().compareTo(b.getKey()) < 0))
                    .as("%s before %s", a, b).isTrue();
        }

        assertThat(summary.metadata()).containsKeys("compress.preprocess", "compress.labels");

        String text = summary.summary();
        assertThat(text).contains("input FLOAT [batch,1,28,28]", "ai.onnx 13");
        for (String op : expected.keySet()) {
            assertThat(text).containsPattern("(?m)^  " + op + " +" + expected.get(op) + "$");
        }
        assertThat(ModelSummary.fromJson(summary.toJson())).isEqualTo(summary);
    }

    @Test
    void countsConstantsSubgraphsAndOtherDomains() {
        TensorProto weight = Protos.floats("w", new long[] {2, 3}, new float[6]);
        TensorProto shape = Protos.int64s("", new long[] {2}, new long[] {3, 2});
        NodeProto constant = NodeProto.newBuilder().setOpType("Constant").setName("c")
                .addOutput("shape")
                .addAttribute(AttributeProto.newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR)
                        .setT(shape))
                .build();
        NodeProto scalar = NodeProto.newBuilder().setOpType("Constant").setName("s")
                .addOutput("scale")
                .addAttribute(AttributeProto.newBuilder().setName("value_floats")
                        .setType(AttributeProto.AttributeType.FLOATS).addFloats(1f).addFloats(2f))
                .build();
        GraphProto body = GraphProto.newBuilder().setName("body")
                .addNode(NodeProto.newBuilder().setOpType("Identity").addInput("w").addOutput("y"))
                .addInitializer(Protos.uint8s("u", new long[] {4}, new byte[4]))
                .build();
        NodeProto branch = NodeProto.newBuilder().setOpType("If").setName("if")
                .addInput("cond").addOutput("branch")
                .addAttribute(AttributeProto.newBuilder().setName("then_branch")
                        .setType(AttributeProto.AttributeType.GRAPH).setG(body))
                .addAttribute(AttributeProto.newBuilder().setName("else_branch")
                        .setType(AttributeProto.AttributeType.GRAPH).setG(body))
                .build();
        NodeProto custom = NodeProto.newBuilder().setOpType("QLinearConv").setDomain("com.microsoft")
                .addInput("x").addOutput("z").build();
        GraphProto graph = GraphProto.newBuilder().setName("g")
                .addNode(constant).addNode(scalar).addNode(branch).addNode(custom)
                .addInitializer(weight)
                .addInput(value("x", TensorProto.DataType.FLOAT_VALUE, dim(-1), dim(3)))
                .addInput(value("w", TensorProto.DataType.FLOAT_VALUE, dim(2), dim(3))) // an initializer listed as input
                .addInput(value("cond", TensorProto.DataType.BOOL_VALUE))
                .addOutput(value("z", TensorProto.DataType.FLOAT_VALUE, null))
                .build();
        ModelProto proto = ModelProto.newBuilder().setIrVersion(8).setProducerName("test")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("k").setValue("v"))
                .setGraph(graph)
                .build();

        ModelSummary summary = ModelInspector.inspect(OnnxModel.of(proto));

        assertThat(summary.file()).isNull();
        assertThat(summary.opsets()).containsExactly(Map.entry("ai.onnx", 17L), Map.entry("com.microsoft", 1L));
        // w is an initializer: not an input a caller feeds
        assertThat(summary.inputs()).extracting(ModelSummary.ValueSummary::name).containsExactly("x", "cond");
        assertThat(summary.inputs().get(0).shapeString()).isEqualTo("[?,3]");
        assertThat(summary.inputs().get(1).shape()).isEmpty();
        assertThat(summary.outputs().get(0).shape()).isNull();
        // two Identity nodes inside the two branches
        assertThat(summary.ops()).containsExactly(Map.entry("Constant", 2), Map.entry("Identity", 2),
                Map.entry("If", 1), Map.entry("com.microsoft:QLinearConv", 1));
        assertThat(summary.nodeCount()).isEqualTo(6);
        // w (6 floats) + value_floats (2 floats); shape constant (2 int64); u in each branch (4 uint8 each)
        assertThat(summary.parametersByType()).containsExactly(
                Map.entry("FLOAT", new ModelSummary.ParameterStats(2, 8, 32)),
                Map.entry("INT64", new ModelSummary.ParameterStats(1, 2, 16)),
                Map.entry("UINT8", new ModelSummary.ParameterStats(2, 8, 8)));
        assertThat(summary.parameterCount()).isEqualTo(18);
        assertThat(summary.parameterBytes()).isEqualTo(56);
        assertThat(summary.metadata()).containsExactly(Map.entry("k", "v"));
        assertThat(ModelSummary.fromJson(summary.toJson())).isEqualTo(summary);
        assertThat(summary.toJson()).contains("\"shape\" : [ null, 3 ]");
    }

    private static TensorShapeProto.Dimension dim(long value) {
        return value < 0 ? TensorShapeProto.Dimension.getDefaultInstance()
                : TensorShapeProto.Dimension.newBuilder().setDimValue(value).build();
    }

    private static ValueInfoProto value(String name, int type, TensorShapeProto.Dimension... dims) {
        TypeProto.Tensor.Builder tensor = TypeProto.Tensor.newBuilder().setElemType(type);
        if (dims != null) {
            TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
            for (TensorShapeProto.Dimension d : dims) {
                shape.addDim(d);
            }
            tensor.setShape(shape);
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(tensor)).build();
    }
}
