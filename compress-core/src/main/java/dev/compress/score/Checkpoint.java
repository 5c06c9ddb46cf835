package dev.compress.score;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.OrtModel.FloatOutput;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.torch.TorchScriptModel;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** A teacher or student: an ONNX model run by ONNX Runtime, or a TorchScript checkpoint run by DJL's PyTorch engine. */
abstract class Checkpoint implements AutoCloseable {
    final Path file;

    private Checkpoint(Path file) {
        this.file = file;
    }

    static Checkpoint open(Path file, RuntimeOptions options) {
        // TorchScript by its name (.pt, .pth, .ts); anything else is ONNX
        if (TorchScriptModel.isTorchScriptName(file)) {
            return new TorchScript(file, TorchScriptModel.load(file));
        }
        OnnxModel.load(file); // the same clear error as everywhere for a missing, non-ONNX or truncated file
        return new Onnx(file, OrtModel.open(file, options));
    }

    /** The model's input names, or empty when the format has none (TorchScript takes inputs by position). */
    abstract Optional<Set<String>> inputNames();

    /** The first output of the model on {@code batch}. */
    abstract FloatOutput run(Batch batch);

    /** {@code "onnx"} or {@code "torchscript"}, for reports. */
    abstract String format();

    @Override
    public abstract void close();

    private static final class Onnx extends Checkpoint {
        private final OrtModel model;
        private final String output;

        Onnx(Path file, OrtModel model) {
            super(file);
            this.model = model;
            this.output = model.outputNames().get(0);
        }

        @Override
        Optional<Set<String>> inputNames() {
            return Optional.of(model.inputShapes().keySet());
        }

        @Override
        FloatOutput run(Batch batch) {
            if (!model.inputShapes().keySet().equals(batch.inputs().keySet())) {
                throw CompressException.badInput(file, "takes inputs " + model.inputShapes().keySet()
                        + " but the data provides " + batch.inputs().keySet());
            }
            return model.run(batch, Set.of(output)).get(output);
        }

        @Override
        String format() {
            return "onnx";
        }

        @Override
        public void close() {
            model.close();
        }
    }

    private static final class TorchScript extends Checkpoint {
        private final TorchScriptModel model;

        TorchScript(Path file, TorchScriptModel model) {
            super(file);
            this.model = model;
        }

        @Override
        Optional<Set<String>> inputNames() {
            return Optional.empty();
        }

        @Override
        FloatOutput run(Batch batch) {
            List<FloatOutput> outputs = model.run(batch);
            if (outputs.isEmpty()) {
                throw CompressException.badInput(file, "forward() returned no tensor");
            }
            return outputs.get(0);
        }

        @Override
        String format() {
            return "torchscript";
        }

        @Override
        public void close() {
            model.close();
        }
    }
}
