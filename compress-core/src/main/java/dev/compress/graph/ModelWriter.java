package dev.compress.graph;

import dev.compress.CompressException;
import dev.compress.StagedFile;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.StringStringEntryProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;

/** Writes models atomically, optionally moving large initializers to an external data file. */
final class ModelWriter {
    private ModelWriter() {}

    static void write(ModelProto model, Path out, SaveOptions options) {
        boolean external = options.externalData() || inlineSize(model) >= SaveOptions.INLINE_LIMIT_BYTES;
        try (StagedFile modelFile = StagedFile.create(out);
                StagedFile dataFile = StagedFile.create(out.resolveSibling(out.getFileName() + ".data"))) {
            if (external) {
                try (OutputStream data = dataFile.open()) {
                    model = writeExternal(model, data, dataFile.target().getFileName().toString(),
                            options.externalThresholdBytes());
                }
            }
            try (OutputStream stream = modelFile.open()) {
                model.writeTo(stream);
            }
            if (external) {
                dataFile.commit();
            }
            modelFile.commit();
        } catch (IOException e) {
            throw CompressException.badInput(out, "cannot write (" + e.getClass().getSimpleName() + ": "
                    + e.getMessage() + ")", e);
        }
    }

    private static long inlineSize(ModelProto model) {
        long total = 0;
        for (TensorProto t : model.getGraph().getInitializerList()) {
            total += t.getRawData().size() + 4L * t.getFloatDataCount() + 8L * t.getInt64DataCount();
        }
        return total;
    }

    private static ModelProto writeExternal(ModelProto model, OutputStream data, String location, long threshold)
            throws IOException {
        GraphProto.Builder graph = model.getGraph().toBuilder();
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
        return model.toBuilder().setGraph(graph).build();
    }

    private static StringStringEntryProto entry(String key, String value) {
        return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }
}
