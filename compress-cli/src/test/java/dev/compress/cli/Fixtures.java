package dev.compress.cli;

import dev.compress.graph.OnnxModel;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.testing.TestData;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/** Real models and images for the CLI tests, and small files made from them. */
final class Fixtures {
    private Fixtures() {}

    static Path cnn() {
        return TestData.model("cnn-fp32.onnx");
    }

    static Path resnet() {
        return TestData.model("resnet-fp32.onnx");
    }

    static Path calib() {
        return TestData.fashionMnist().resolve("calib");
    }

    static Path heldout() {
        return TestData.fashionMnist().resolve("heldout");
    }

    /** The first {@code n} calibration PNGs (in path order), as real 28x28 gray images. */
    static List<Path> calibImages(int n) throws IOException {
        try (Stream<Path> files = Files.walk(calib())) {
            return files.filter(p -> p.toString().endsWith(".png")).sorted().limit(n).toList();
        }
    }

    /** A folder of {@code n} loose calibration PNGs (unlabeled calibration data). */
    static Path smallCalib(Path folder, int n) throws IOException {
        Files.createDirectories(folder);
        for (Path image : calibImages(n)) {
            Files.copy(image, folder.resolve(image.getFileName()));
        }
        return folder;
    }

    /** A 28x28 RGB PNG with colored pixels. */
    static Path rgbPng(Path file) throws IOException {
        BufferedImage image = new BufferedImage(28, 28, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 28; y++) {
            for (int x = 0; x < 28; x++) {
                image.setRGB(x, y, (x * 9) << 16 | (y * 9) << 8 | 0x40);
            }
        }
        if (!ImageIO.write(image, "png", file.toFile())) {
            throw new IOException("no PNG writer");
        }
        return file;
    }

    /** A valid ONNX model whose only input is int64: {@code ids [batch,4] INT64 -> Cast(to=FLOAT) -> out}. */
    static Path int64InputModel(Path file) {
        ValueInfoProto input = tensor("ids", TensorProto.DataType.INT64_VALUE);
        ValueInfoProto output = tensor("out", TensorProto.DataType.FLOAT_VALUE);
        NodeProto cast = NodeProto.newBuilder().setOpType("Cast").setName("cast").addInput("ids").addOutput("out")
                .addAttribute(AttributeProto.newBuilder().setName("to").setType(AttributeProto.AttributeType.INT)
                        .setI(TensorProto.DataType.FLOAT_VALUE))
                .build();
        return save(file, GraphProto.newBuilder().setName("int64-input").addNode(cast).addInput(input)
                .addOutput(output));
    }

    /** Saves {@code graph} as an opset-13 model. */
    private static Path save(Path file, GraphProto.Builder graph) {
        OnnxModel.of(ModelProto.newBuilder()
                .setIrVersion(8)
                .setProducerName("compress-cli-test")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(graph)
                .build()).save(file);
        return file;
    }

    /**
     * A 3-class "classifier" of any image size: {@code x [batch,3,height,width] -> GlobalAveragePool -> Flatten ->
     * out [batch,3]}; its input fixes no height or width, as PP-OCR's are.
     */
    static Path dynamicSizePoolModel(Path file) {
        ValueInfoProto input = ValueInfoProto.newBuilder().setName("x")
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                        .setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(TensorShapeProto.newBuilder()
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(3))
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("height"))
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("width")))))
                .build();
        ValueInfoProto output = ValueInfoProto.newBuilder().setName("out")
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                        .setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(TensorShapeProto.newBuilder()
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(3)))))
                .build();
        return save(file, GraphProto.newBuilder().setName("dynamic-size-pool")
                .addNode(NodeProto.newBuilder().setOpType("GlobalAveragePool").setName("pool").addInput("x")
                        .addOutput("pooled"))
                .addNode(NodeProto.newBuilder().setOpType("Flatten").setName("flatten").addInput("pooled")
                        .addOutput("out"))
                .addInput(input).addOutput(output));
    }

    private static ValueInfoProto tensor(String name, int type) {
        TensorShapeProto shape = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(4))
                .build();
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                        .setElemType(type).setShape(shape)))
                .build();
    }

    /** Every file under {@code folder}, hidden temporary files included. */
    static List<Path> filesUnder(Path folder) throws IOException {
        if (!Files.exists(folder)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(folder)) {
            return files.filter(Files::isRegularFile).toList();
        }
    }
}
