package dev.compress.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import dev.compress.CompressException;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.StringStringEntryProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every model goes through {@link ModelValidator} on {@link OnnxModel#load}: a broken model is refused with its file
 * and the node or tensor at fault (issue 15: crashes and corrupt outputs from fuzzed models), a valid one loads.
 */
class ModelValidatorTest {
    @TempDir
    Path dir;

    private Path write(ModelProto model) throws IOException {
        return Files.write(dir.resolve("model.onnx"), model.toByteArray());
    }

    private static ModelProto withGraph(UnaryOperator<GraphProto.Builder> change) {
        ModelProto tiny = OnnxModelTest.tinyModel();
        return tiny.toBuilder().setGraph(change.apply(tiny.getGraph().toBuilder())).build();
    }

    private void assertRefused(ModelProto model, String... problem) throws IOException {
        Path file = write(model);
        assertThatThrownBy(() -> OnnxModel.load(file))
                .isInstanceOfSatisfying(CompressException.class,
                        e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT))
                .hasMessageStartingWith(file + ": ")
                .hasMessageContainingAll(problem);
    }

    @Test
    void fixtureAndRealModelsLoad() throws IOException {
        assertThat(OnnxModel.load(write(OnnxModelTest.tinyModel())).graph().nodes()).hasSize(2);
        for (String name : List.of("cnn-fp32.onnx", "resnet-fp32.onnx")) {
            assertThat(OnnxModel.load(TestData.model(name)).graph().nodes()).isNotEmpty();
        }
    }

    /** ONNX's own backend node tests (Debian's libonnx-testdata): about a thousand valid models, none refused. */
    @Test
    void everyOnnxNodeTestModelLoads() throws IOException {
        Path nodeTests = Path.of("/usr/share/libonnx-testdata/data/node");
        assumeTrue(Files.isDirectory(nodeTests), "Debian package libonnx-testdata is not installed");
        List<Path> models;
        try (Stream<Path> files = Files.walk(nodeTests)) {
            models = files.filter(p -> p.getFileName().toString().endsWith(".onnx")).sorted().toList();
        }
        List<String> refused = new ArrayList<>();
        for (Path model : models) {
            try {
                OnnxModel.load(model);
            } catch (CompressException e) {
                refused.add(e.getMessage());
            }
        }
        assertThat(models).hasSizeGreaterThan(900);
        assertThat(refused).isEmpty();
    }

    @Test
    void nodesOutOfTopologicalOrderAreRefused() throws IOException {
        assertRefused(withGraph(g -> {
            var matmul = g.getNode(0);
            return g.setNode(0, g.getNode(1)).setNode(1, matmul);
        }), "node 'relu' (Relu) reads 'h'", "not in topological order");
    }

    @Test
    void aCycleIsRefused() throws IOException {
        assertRefused(withGraph(g -> g.setNode(0, g.getNode(0).toBuilder().setInput(0, "y"))),
                "node 'matmul' (MatMul) reads 'y'", "topological order");
    }

    @Test
    void aMissingTensorIsRefused() throws IOException {
        assertRefused(withGraph(g -> g.setNode(0, g.getNode(0).toBuilder().setInput(1, "W_missing"))),
                "node 'matmul' (MatMul) reads 'W_missing', which no node produces");
    }

    @Test
    void aNameProducedTwiceIsRefused() throws IOException {
        assertRefused(withGraph(g -> g.setNode(1, g.getNode(1).toBuilder().setOutput(0, "h"))),
                "node 'relu' (Relu) produces 'h', which is already defined");
    }

    @Test
    void anUnproducedGraphOutputIsRefused() throws IOException {
        assertRefused(withGraph(g -> g.setOutput(0, g.getOutput(0).toBuilder().setName("z"))),
                "graph output 'z' is produced by no node");
    }

    @Test
    void aWeightHoldingFewerValuesThanItsDimsIsRefused() throws IOException {
        assertRefused(withGraph(g -> g.setInitializer(0, g.getInitializer(0).toBuilder()
                        .setRawData(g.getInitializer(0).getRawData().substring(0, 8)))),
                "initializer 'W' holds 8 bytes, but FLOAT dims [4, 3] need 48");
    }

    @Test
    void typedDataOfTheWrongLengthIsRefused() throws IOException {
        assertRefused(withGraph(g -> g.setInitializer(0, TensorProto.newBuilder().setName("W")
                        .setDataType(TensorProto.DataType.FLOAT_VALUE).addDims(4).addDims(3).addFloatData(1f))),
                "initializer 'W' holds 1 values, but FLOAT dims [4, 3] need 12");
    }

    @Test
    void negativeDimsAreRefused() throws IOException {
        assertRefused(withGraph(g -> g.setInitializer(0, g.getInitializer(0).toBuilder().setDims(0, -4))),
                "initializer 'W' has negative dim -4");
    }

    @Test
    void overflowingDimsAreRefused() throws IOException {
        assertRefused(withGraph(g -> g.setInitializer(0, g.getInitializer(0).toBuilder()
                        .setDims(0, 1L << 40).setDims(1, 1L << 40))),
                "initializer 'W' has dims", "overflows");
    }

    @Test
    void anUnknownElementTypeIsRefused() throws IOException {
        assertRefused(withGraph(g -> g.setInitializer(0, g.getInitializer(0).toBuilder().setDataType(99))),
                "initializer 'W' has unknown element type 99");
    }

    @Test
    void anInputDimOf2To40IsRefused() throws IOException {
        assertRefused(withGraph(g -> g.setInput(0, OnnxModelTest.floatInput("x", 1L << 40, 1L << 40))),
                "input 'x' has dim 1099511627776, outside 0..2147483647");
    }

    @Test
    void aModelWithoutOpsetImportsIsRefused() throws IOException {
        assertRefused(OnnxModelTest.tinyModel().toBuilder().clearOpsetImport().build(),
                "declares no opset imports");
    }

    @Test
    void aNodeOfAnUnimportedDomainIsRefused() throws IOException {
        assertRefused(withGraph(g -> g.setNode(1, g.getNode(1).toBuilder().setDomain("com.example"))),
                "node 'relu' (Relu) is in domain 'com.example', which the model does not import");
    }

    @Test
    void subgraphsMayReadNamesOfTheGraphAroundThem() throws IOException {
        // If(cond) { then: Relu(h) } else { Identity(h) }: both bodies read the outer 'h'
        GraphProto thenBranch = GraphProto.newBuilder().setName("then")
                .addNode(Protos.node("Relu", "then_relu", List.of("h"), List.of("t")))
                .addOutput(ValueInfoProto.newBuilder().setName("t")).build();
        GraphProto elseBranch = GraphProto.newBuilder().setName("else")
                .addNode(Protos.node("Identity", "else_id", List.of("h"), List.of("e")))
                .addOutput(ValueInfoProto.newBuilder().setName("e")).build();
        ModelProto model = withGraph(g -> g
                .addInitializer(TensorProto.newBuilder().setName("cond").setDataType(TensorProto.DataType.BOOL_VALUE)
                        .setRawData(ByteString.copyFrom(new byte[] {1})))
                .setNode(1, Protos.node("If", "if", List.of("cond"), List.of("y"))
                        .addAttribute(AttributeProto.newBuilder().setName("then_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(thenBranch))
                        .addAttribute(AttributeProto.newBuilder().setName("else_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(elseBranch))));
        assertThat(OnnxModel.load(write(model)).graph().nodes()).hasSize(2);

        GraphProto readsUnknown = thenBranch.toBuilder().setNode(0, thenBranch.getNode(0).toBuilder()
                .setInput(0, "nowhere")).build();
        assertRefused(model.toBuilder().setGraph(model.getGraph().toBuilder().setNode(1, model.getGraph().getNode(1)
                        .toBuilder().setAttribute(0, model.getGraph().getNode(1).getAttribute(0).toBuilder()
                                .setG(readsUnknown)))).build(),
                "node 'then_relu' (Relu) reads 'nowhere'");
    }

    @Test
    void externalDataThroughASymlinkOutOfTheFolderIsRefused() throws IOException {
        Path outside = Files.createDirectories(dir.resolve("outside"));
        Path secret = Files.write(outside.resolve("secret.bin"), new byte[48]);
        Path modelFolder = Files.createDirectories(dir.resolve("model"));
        Files.createSymbolicLink(modelFolder.resolve("p.bin"), secret);
        ModelProto linked = withGraph(g -> g.setInitializer(0, g.getInitializer(0).toBuilder().clearRawData()
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("p.bin"))));
        Path file = Files.write(modelFolder.resolve("linked.onnx"), linked.toByteArray());

        assertThatThrownBy(() -> OnnxModel.load(file))
                .isInstanceOf(CompressException.class)
                .hasMessageStartingWith(file + ": tensor 'W' has external data p.bin, a link to a file outside the"
                        + " model folder");

        // a link that stays inside the folder is fine
        Files.delete(modelFolder.resolve("p.bin"));
        Files.copy(secret, modelFolder.resolve("real.bin"));
        Files.createSymbolicLink(modelFolder.resolve("p.bin"), modelFolder.resolve("real.bin"));
        assertThat(OnnxModel.load(file).graph().initializer("W")).isPresent();
    }

    /** A dim given symbolically (batch) is not a number and passes. */
    @Test
    void symbolicInputDimsPass() throws IOException {
        ValueInfoProto x = OnnxModelTest.floatInput("x", 1, 4);
        ValueInfoProto batch = x.toBuilder().setType(x.getType().toBuilder().setTensorType(x.getType()
                .getTensorType().toBuilder().setShape(x.getType().getTensorType().getShape().toBuilder()
                        .setDim(0, TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))))).build();
        assertThat(OnnxModel.load(write(withGraph(g -> g.setInput(0, batch)))).graph().inputs()).hasSize(1);
    }
}
