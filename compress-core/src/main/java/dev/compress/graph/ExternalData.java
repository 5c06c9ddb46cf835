package dev.compress.graph;

import com.google.protobuf.UnsafeByteOperations;
import dev.compress.CompressException;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.StringStringEntryProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Resolves ONNX external data (tensors stored in files beside the model) into inline raw data. */
final class ExternalData {
    private ExternalData() {}

    static ModelProto inline(ModelProto model, Path folder, Path modelFile) {
        if (!usesExternalData(model.getGraph())) {
            return model;
        }
        return model.toBuilder().setGraph(inline(model.getGraph(), folder, modelFile)).build();
    }

    private static boolean usesExternalData(GraphProto graph) {
        for (TensorProto t : graph.getInitializerList()) {
            if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
                return true;
            }
        }
        for (NodeProto node : graph.getNodeList()) {
            for (AttributeProto attr : node.getAttributeList()) {
                if (attr.hasT() && attr.getT().getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
                    return true;
                }
                if (attr.hasG() && usesExternalData(attr.getG())) {
                    return true;
                }
                for (GraphProto g : attr.getGraphsList()) {
                    if (usesExternalData(g)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private static GraphProto inline(GraphProto graph, Path folder, Path modelFile) {
        GraphProto.Builder builder = graph.toBuilder();
        for (int i = 0; i < builder.getInitializerCount(); i++) {
            builder.setInitializer(i, inline(builder.getInitializer(i), folder, modelFile));
        }
        for (int n = 0; n < builder.getNodeCount(); n++) {
            NodeProto.Builder node = builder.getNodeBuilder(n);
            for (int a = 0; a < node.getAttributeCount(); a++) {
                AttributeProto.Builder attr = node.getAttributeBuilder(a);
                if (attr.hasT()) {
                    attr.setT(inline(attr.getT(), folder, modelFile));
                }
                if (attr.hasG()) {
                    attr.setG(inline(attr.getG(), folder, modelFile));
                }
                for (int g = 0; g < attr.getGraphsCount(); g++) {
                    attr.setGraphs(g, inline(attr.getGraphs(g), folder, modelFile));
                }
            }
        }
        return builder.build();
    }

    private static TensorProto inline(TensorProto tensor, Path folder, Path modelFile) {
        if (tensor.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
            return tensor;
        }
        String location = null;
        long offset = 0;
        long length = -1;
        for (StringStringEntryProto entry : tensor.getExternalDataList()) {
            switch (entry.getKey()) {
                case "location" -> location = entry.getValue();
                case "offset" -> offset = parseLong(entry.getValue(), tensor, modelFile);
                case "length" -> length = parseLong(entry.getValue(), tensor, modelFile);
                default -> { } // checksum and unknown keys do not affect reading
            }
        }
        if (location == null || location.isEmpty()) {
            throw CompressException.badInput(
                    modelFile, "tensor '" + tensor.getName() + "' has external data without a location");
        }
        Path relative = Path.of(location);
        // Same rule as ONNX Runtime: data files live beside the model, never elsewhere on disk.
        if (relative.isAbsolute() || relative.normalize().startsWith("..")) {
            throw CompressException.badInput(
                    modelFile, "tensor '" + tensor.getName() + "' points outside the model folder: " + location);
        }
        Path dataFile = folder.resolve(relative);
        checkInsideFolder(dataFile, folder, tensor, location, modelFile);
        try (FileChannel channel = FileChannel.open(dataFile, StandardOpenOption.READ)) {
            long available = channel.size() - offset;
            long size = length >= 0 ? length : available;
            if (offset < 0 || size > available || size > Integer.MAX_VALUE - 8) {
                throw CompressException.badInput(dataFile, "external data for tensor '" + tensor.getName()
                        + "' is truncated (needs " + size + " bytes at offset " + offset + ", file has "
                        + channel.size() + ")");
            }
            ByteBuffer buffer = ByteBuffer.allocate((int) size);
            while (buffer.hasRemaining()) {
                if (channel.read(buffer, offset + buffer.position()) < 0) {
                    throw CompressException.badInput(dataFile, "unexpected end of file");
                }
            }
            buffer.flip();
            // wrapped, not copied: the buffer is never touched again, so the model holds the only copy
            return tensor.toBuilder()
                    .clearExternalData()
                    .clearDataLocation()
                    .setRawData(UnsafeByteOperations.unsafeWrap(buffer))
                    .build();
        } catch (IOException e) {
            throw CompressException.badInput(dataFile, "cannot read external data of tensor '" + tensor.getName()
                    + "' referenced by " + modelFile.getFileName() + " (" + e.getClass().getSimpleName() + ")", e);
        }
    }

    /**
     * Refuses a location that resolves (through symbolic links in it) outside the model folder: a {@code p.bin}
     * link to {@code /etc/passwd} would otherwise be read in and written into every output model.
     */
    private static void checkInsideFolder(Path dataFile, Path folder, TensorProto tensor, String location,
            Path modelFile) {
        Path real;
        Path realFolder;
        try {
            real = dataFile.toRealPath();
            realFolder = folder.toRealPath();
        } catch (IOException e) {
            return; // missing or unreadable: opening it below says so, naming the file
        }
        if (!real.startsWith(realFolder)) {
            throw CompressException.badInput(modelFile, "tensor '" + tensor.getName() + "' has external data "
                    + location + ", a link to a file outside the model folder (" + real + "); copy the data beside"
                    + " the model");
        }
    }

    private static long parseLong(String value, TensorProto tensor, Path modelFile) {
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw CompressException.badInput(
                    modelFile, "tensor '" + tensor.getName() + "' has a bad external data field: " + value);
        }
    }
}
