package dev.compress.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnnxModelTest {
    @TempDir
    Path dir;

    /** x[1,4] -> MatMul(W[4,3]) -> Relu -> y, with a 12-element weight. */
    static ModelProto tinyModel() {
        float[] weights = new float[12];
        Random random = new Random(7);
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (float) random.nextGaussian();
        }
        GraphProto graph = GraphProto.newBuilder()
                .setName("tiny")
                .addInput(floatInput("x", 1, 4))
                .addOutput(floatInput("y", 1, 3))
                .addInitializer(Protos.floats("W", new long[] {4, 3}, weights))
                .addNode(Protos.node("MatMul", "matmul", List.of("x", "W"), List.of("h")))
                .addNode(Protos.node("Relu", "relu", List.of("h"), List.of("y")))
                .build();
        return ModelProto.newBuilder()
                .setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(graph)
                .build();
    }

    static ValueInfoProto floatInput(String name, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long d : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                        .setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape)))
                .build();
    }

    /** torch 1.13 reads a repeated initializer through Identity nodes; readers are pointed at the initializer. */
    @Test
    void identitiesOfInitializersAreBypassedUnlessTheyWriteAGraphOutput() {
        TensorProto bias = TensorProto.newBuilder().setName("b").setDataType(TensorProto.DataType.FLOAT_VALUE)
                .addDims(1).addFloatData(0f).build();
        GraphProto graph = GraphProto.newBuilder()
                .addInput(floatInput("x", 1))
                .addOutput(floatInput("y", 1))
                .addOutput(floatInput("copy_out", 1))
                .addInitializer(bias)
                .addNode(NodeProto.newBuilder().setOpType("Identity").setName("copy").addInput("b").addOutput("b2"))
                .addNode(NodeProto.newBuilder().setOpType("Identity").setName("shown").addInput("b")
                        .addOutput("copy_out"))
                .addNode(NodeProto.newBuilder().setOpType("Add").setName("add").addInput("x").addInput("b2")
                        .addOutput("y"))
                .build();
        Graph g = OnnxModel.of(ModelProto.newBuilder().setGraph(graph).build()).graph();
        assertThat(g.bypassInitializerIdentities()).isEqualTo(1);
        assertThat(g.nodes()).extracting(Node::name).containsExactly("shown", "add");
        assertThat(g.nodes().get(1).inputs()).containsExactly("x", "b");
    }

    @Test
    void roundTripsThroughAFile() throws IOException {
        Path file = dir.resolve("tiny.onnx");
        OnnxModel.of(tinyModel()).save(file);
        OnnxModel loaded = OnnxModel.load(file);
        assertThat(loaded.toProto()).isEqualTo(tinyModel());
        assertThat(loaded.opset("ai.onnx")).isEqualTo(13);
        assertThat(Files.list(dir)).containsExactly(file);
    }

    @Test
    void externalDataIsWrittenBesideTheModelAndReadBack() throws IOException {
        Path file = dir.resolve("ext.onnx");
        OnnxModel.of(tinyModel()).save(file, new SaveOptions(true, 16));
        Path data = dir.resolve("ext.onnx.data");
        assertThat(data).exists();
        ModelProto onDisk = ModelProto.parseFrom(Files.readAllBytes(file));
        TensorProto weight = onDisk.getGraph().getInitializer(0);
        assertThat(weight.getDataLocation()).isEqualTo(TensorProto.DataLocation.EXTERNAL);
        assertThat(weight.hasRawData()).isFalse();
        assertThat(Files.size(data)).isEqualTo(48);

        assertThat(OnnxModel.load(file).toProto()).isEqualTo(tinyModel());
    }

    @Test
    void truncatedExternalDataNamesTheDataFile() throws IOException {
        Path file = dir.resolve("ext.onnx");
        OnnxModel.of(tinyModel()).save(file, new SaveOptions(true, 16));
        Path data = dir.resolve("ext.onnx.data");
        Files.write(data, new byte[10]);
        assertThatThrownBy(() -> OnnxModel.load(file))
                .isInstanceOf(CompressException.class)
                .hasMessageStartingWith(data.toString())
                .hasMessageContaining("truncated");
    }

    @Test
    void externalDataOutsideTheModelFolderIsRefused() throws IOException {
        ModelProto escaping = tinyModel().toBuilder().setGraph(tinyModel().getGraph().toBuilder()
                .setInitializer(0, tinyModel().getGraph().getInitializer(0).toBuilder().clearRawData()
                        .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                        .addExternalData(dev.compress.onnx.proto.Onnx.StringStringEntryProto.newBuilder()
                                .setKey("location").setValue("../../etc/passwd"))))
                .build();
        Path file = dir.resolve("escape.onnx");
        Files.write(file, escaping.toByteArray());
        assertThatThrownBy(() -> OnnxModel.load(file))
                .hasMessageStartingWith(file.toString())
                .hasMessageContaining("outside the model folder");
    }

    @Test
    void missingFileIsBadInput() {
        Path missing = dir.resolve("missing.onnx");
        assertThatThrownBy(() -> OnnxModel.load(missing))
                .isInstanceOfSatisfying(CompressException.class,
                        e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT))
                .hasMessage(missing + ": no such file");
    }

    @Test
    void textFileIsNotAnOnnxModel() throws IOException {
        Path text = dir.resolve("notes.onnx");
        Files.writeString(text, "this is not a model\n", StandardCharsets.UTF_8);
        assertThatThrownBy(() -> OnnxModel.load(text))
                .hasMessageStartingWith(text + ": not a valid ONNX model");
    }

    @Test
    void truncatedModelSaysSo() throws IOException {
        byte[] bytes = tinyModel().toByteArray();
        Path cut = dir.resolve("cut.onnx");
        Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        assertThatThrownBy(() -> OnnxModel.load(cut))
                .hasMessageStartingWith(cut + ": not a valid ONNX model")
                .hasMessageContaining("truncated");
    }

    @Test
    void savingIntoAMissingFolderLeavesNothing() {
        Path out = dir.resolve("no-such-folder").resolve("m.onnx");
        assertThatThrownBy(() -> OnnxModel.of(tinyModel()).save(out))
                .hasMessage(out + ": output folder does not exist");
        assertThat(dir.resolve("no-such-folder")).doesNotExist();
    }

    @Test
    void savedFilesGetTheUsualPermissionsNotPrivateTempFilePermissions() throws IOException {
        Path plain = dir.resolve("plain.bin");
        Files.newOutputStream(plain).close();
        Path file = dir.resolve("tiny.onnx");
        OnnxModel.of(tinyModel()).save(file);
        assertThat(Files.getPosixFilePermissions(file)).isEqualTo(Files.getPosixFilePermissions(plain));
    }

    @Test
    void graphKnowsProducersConsumersAndFreshNames() {
        Graph graph = OnnxModel.of(tinyModel()).graph();
        Node relu = graph.producer("y").orElseThrow();
        assertThat(relu.opType()).isEqualTo("Relu");
        assertThat(graph.consumers("h")).containsExactly(relu);
        assertThat(graph.consumers("W")).extracting(Node::name).containsExactly("matmul");
        assertThat(graph.producer("x")).isEmpty();
        assertThat(graph.inputs()).extracting(ValueInfo::name).containsExactly("x");
        String fresh = graph.uniqueName("h");
        assertThat(fresh).isEqualTo("h_1");
        assertThat(graph.uniqueName("h")).isEqualTo("h_2");
    }

    @Test
    void copiesAreIndependent() {
        OnnxModel model = OnnxModel.of(tinyModel());
        OnnxModel copy = model.copy();
        copy.graph().nodes().remove(1);
        copy.metadata().put("k", "v");
        assertThat(model.graph().nodes()).hasSize(2);
        assertThat(model.metadata()).isEmpty();
    }
}
