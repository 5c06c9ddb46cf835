package dev.compress.runtime;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.compress.CompressException;
import dev.compress.TempFolder;
import dev.compress.graph.OnnxModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * ONNX Runtime's own model format ({@code .ort}, what minimal and reduced builds load), written by ONNX Runtime Java
 * itself: a session at the BASIC optimization level (only optimizations every execution provider and build can run,
 * so the file is portable) saves its graph with {@code session.save_model_format=ORT}.
 */
public final class OrtFormat {
    private OrtFormat() {}

    /**
     * The ORT-format model and the same optimized graph as ONNX (for the operator list of a reduced build).
     *
     * @param ort the {@code .ort} bytes, made byte-reproducible by {@link OrtCanonicalizer}
     * @param optimized the graph ONNX Runtime optimized, as an ONNX model
     */
    public record Converted(byte[] ort, OnnxModel optimized) {}

    /**
     * Converts {@code model} (all tensors inline).
     *
     * @throws CompressException BAD_INPUT naming the model if ONNX Runtime cannot load it
     */
    public static Converted convert(OnnxModel model) {
        byte[] onnx = model.toBytes();
        try (TempFolder folder = TempFolder.create("compress-ort")) {
            Path ort = folder.path().resolve("model.ort");
            Path optimized = folder.path().resolve("optimized.onnx");
            save(model, onnx, ort, "ORT");
            save(model, onnx, optimized, "ONNX");
            byte[] canonical = OrtCanonicalizer.canonicalize(Files.readAllBytes(ort));
            checkLoads(canonical);
            return new Converted(canonical, OnnxModel.load(optimized));
        } catch (IOException e) {
            throw CompressException.internal("cannot read ONNX Runtime's saved model: " + e.getMessage(), e);
        }
    }

    /** The rewritten file is parsed by ONNX Runtime before anyone gets it: a bad rewrite is a bug here. */
    private static void checkLoads(byte[] ort) {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            OrtModel.onLargeStack(() -> OrtModel.environment().createSession(ort, options)).close();
        } catch (OrtException e) {
            throw CompressException.internal("the reordered ORT-format model does not load ("
                    + OrtModel.firstLine(e) + ")", e);
        }
    }

    private static void save(OnnxModel model, byte[] onnx, Path file, String format) {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.BASIC_OPT);
            options.addConfigEntry("session.save_model_format", format);
            options.setOptimizedModelFilePath(file.toString());
            OrtModel.onLargeStack(() -> OrtModel.environment().createSession(onnx, options)).close();
        } catch (OrtException e) {
            throw CompressException.badInput(model.source().orElse(null),
                    "ONNX Runtime cannot convert the model to " + format + " format (" + OrtModel.firstLine(e) + ")",
                    e);
        }
    }
}
