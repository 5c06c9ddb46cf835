package dev.compress.graph;

import dev.compress.CompressException;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.StringStringEntryProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Writes models atomically, optionally moving large initializers to an external data file. */
final class ModelWriter {
    private ModelWriter() {}

    static void write(ModelProto model, Path out, SaveOptions options) {
        Path target = out.toAbsolutePath();
        Path folder = target.getParent();
        if (folder == null || !Files.isDirectory(folder)) {
            throw CompressException.badInput(out, "output folder does not exist");
        }
        if (Files.isDirectory(target)) {
            throw CompressException.badInput(out, "is a directory, expected an output file name");
        }
        boolean external = options.externalData() || inlineSize(model) >= SaveOptions.INLINE_LIMIT_BYTES;
        String dataName = target.getFileName() + ".data";
        Path dataTemp = null;
        Path modelTemp = null;
        try {
            if (external) {
                dataTemp = Files.createTempFile(folder, "." + dataName, ".tmp");
                model = writeExternal(model, dataTemp, dataName, options.externalThresholdBytes());
            }
            modelTemp = Files.createTempFile(folder, "." + target.getFileName(), ".tmp");
            try (OutputStream stream = Files.newOutputStream(modelTemp)) {
                model.writeTo(stream);
            }
            if (dataTemp != null) {
                move(dataTemp, folder.resolve(dataName));
            }
            move(modelTemp, target);
        } catch (IOException e) {
            throw CompressException.badInput(out, "cannot write (" + e.getClass().getSimpleName() + ": "
                    + e.getMessage() + ")", e);
        } finally {
            deleteQuietly(dataTemp);
            deleteQuietly(modelTemp);
        }
    }

    private static long inlineSize(ModelProto model) {
        long total = 0;
        for (TensorProto t : model.getGraph().getInitializerList()) {
            total += t.getRawData().size() + 4L * t.getFloatDataCount() + 8L * t.getInt64DataCount();
        }
        return total;
    }

    private static ModelProto writeExternal(ModelProto model, Path dataFile, String location, long threshold)
            throws IOException {
        GraphProto.Builder graph = model.getGraph().toBuilder();
        try (OutputStream data = Files.newOutputStream(dataFile)) {
            long offset = 0;
            for (int i = 0; i < graph.getInitializerCount(); i++) {
                TensorProto tensor = graph.getInitializer(i);
                if (!tensor.hasRawData() || tensor.getRawData().size() < threshold) {
                    continue;
                }
                // 4 KiB alignment lets runtimes memory-map tensors, as onnx's own writer does
                long padding = (4096 - offset % 4096) % 4096;
                data.write(new byte[(int) padding]);
                offset += padding;
                long length = tensor.getRawData().size();
                tensor.getRawData().writeTo(data);
                graph.setInitializer(i, tensor.toBuilder()
                        .clearRawData()
                        .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                        .addExternalData(entry("location", location))
                        .addExternalData(entry("offset", Long.toString(offset)))
                        .addExternalData(entry("length", Long.toString(length)))
                        .build());
                offset += length;
            }
        }
        return model.toBuilder().setGraph(graph).build();
    }

    private static StringStringEntryProto entry(String key, String value) {
        return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void deleteQuietly(Path path) {
        if (path != null) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // best effort: the temp file has a dot-name and a .tmp suffix
            }
        }
    }
}
