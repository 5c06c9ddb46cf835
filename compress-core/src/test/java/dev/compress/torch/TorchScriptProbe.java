package dev.compress.torch;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.ImageDataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.OrtModel.FloatOutput;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.Iterator;

/**
 * Runs a TorchScript checkpoint in a JVM of its own (so each run starts DJL's engine afresh) next to its ONNX export
 * on an image folder, and prints {@code ok <samples> <max |diff|> <parameters>}; or the error message, with exit
 * code 3 (bad input) or 1 (internal).
 *
 * <p>Arguments: the {@code .pt} file, its {@code .onnx} export, the image folder.
 */
public final class TorchScriptProbe {
    private TorchScriptProbe() {}

    public static void main(String[] args) {
        try (TorchScriptModel torch = TorchScriptModel.load(Path.of(args[0]))) {
            OnnxModel onnx = OnnxModel.load(Path.of(args[1]));
            Dataset data = ImageDataset.builder()
                    .setRoot(Path.of(args[2]))
                    .setInputName(ModelInputs.imageInput(onnx).name())
                    .setPreprocessing(ModelInputs.imagePreprocessing(onnx, Preprocessing.Overrides.NONE))
                    .build();
            double maxDiff = 0;
            long samples = 0;
            try (OrtModel ort = OrtModel.open(onnx, RuntimeOptions.defaults())) {
                Iterator<Batch> batches = data.batches(100);
                while (batches.hasNext()) {
                    Batch batch = batches.next();
                    float[] a = torch.run(batch).get(0).values();
                    FloatOutput b = ort.run(batch).values().iterator().next();
                    for (int i = 0; i < a.length; i++) {
                        maxDiff = Math.max(maxDiff, Math.abs(a[i] - b.values()[i]));
                    }
                    samples += batch.size();
                }
            }
            System.out.println("ok " + samples + " " + maxDiff + " " + torch.parameters().size());
        } catch (CompressException e) {
            System.out.println("error " + e.getMessage());
            System.exit(e.kind() == CompressException.Kind.BAD_INPUT ? 3 : 1);
        }
    }
}
