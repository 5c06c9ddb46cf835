package dev.compress.convert;

import dev.compress.graph.OnnxModel;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * ONNX's own backend tests as Debian's libonnx-testdata (ONNX 1.12) installs them: the node tests (one operator
 * each, about a thousand), and the models PyTorch exported for ONNX (layers and operators, opset 6 mostly) and the
 * small multi-node models of its {@code simple} set.
 */
public final class NodeTests {
    public static final Path FOLDER = Path.of("/usr/share/libonnx-testdata/data/node");
    private static final List<Path> EXPORTED = Stream.of("pytorch-converted", "pytorch-operator", "simple")
            .map(FOLDER::resolveSibling).toList();
    public static final String MISSING = "Debian package libonnx-testdata is not installed";

    /** A model with inputs; its reference is {@code expected}, or ONNX Runtime on the model when that is null. */
    public record Case(String name, OnnxModel model, Map<String, TensorProto> inputs,
            Map<String, TensorProto> expected) {}

    private NodeTests() {}

    /** The test folders ({@code test_*}): the node tests, then the exported models, each set sorted. */
    public static List<Path> dirs() throws IOException {
        List<Path> dirs = new ArrayList<>();
        for (Path set : Stream.concat(Stream.of(FOLDER), EXPORTED.stream()).toList()) {
            if (Files.isDirectory(set)) {
                try (Stream<Path> list = Files.list(set)) {
                    list.filter(Files::isDirectory).sorted().forEach(dirs::add);
                }
            }
        }
        return dirs;
    }

    /**
     * The test in {@code dir}: its model, the inputs of its first data set and the outputs ONNX expects; null when
     * an input or output has a type {@link OrtRun} cannot feed or read, or the model imports no ONNX opset.
     */
    public static Case load(Path dir) throws IOException {
        ModelProto proto;
        try (InputStream in = Files.newInputStream(dir.resolve("model.onnx"))) {
            proto = ModelProto.parseFrom(in);
        }
        GraphProto graph = proto.getGraph();
        boolean hasOpset = proto.getOpsetImportList().stream()
                .anyMatch(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx"));
        Set<String> initialized = new HashSet<>();
        graph.getInitializerList().forEach(t -> initialized.add(t.getName()));
        List<ValueInfoProto> fed = graph.getInputList().stream().filter(i -> !initialized.contains(i.getName()))
                .toList();
        if (!hasOpset || Stream.concat(fed.stream(), graph.getOutputList().stream()).anyMatch(v ->
                !v.getType().hasTensorType() || !OrtRun.supported(v.getType().getTensorType().getElemType()))) {
            return null;
        }
        Path data = dir.resolve("test_data_set_0");
        Map<String, TensorProto> inputs = new LinkedHashMap<>();
        for (int i = 0; i < fed.size(); i++) {
            inputs.put(fed.get(i).getName(), tensor(data.resolve("input_" + i + ".pb")));
        }
        Map<String, TensorProto> expected = new LinkedHashMap<>();
        for (int i = 0; i < graph.getOutputCount(); i++) {
            expected.put(graph.getOutput(i).getName(), tensor(data.resolve("output_" + i + ".pb")));
        }
        String name = dir.getFileName().toString();
        return new Case(dir.getParent().equals(FOLDER) ? name : dir.getParent().getFileName() + "/" + name,
                OnnxModel.of(proto), inputs, expected);
    }

    static TensorProto tensor(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return TensorProto.parseFrom(in);
        }
    }
}
