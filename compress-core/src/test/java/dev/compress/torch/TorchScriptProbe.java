package dev.compress.torch;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.runtime.OrtModel.FloatOutput;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Loads a TorchScript file in a JVM of its own (so each run starts DJL's engine afresh) and prints the first output
 * value of an all-0.5 image batch, or the error message with exit code 3 (bad input) or 1 (internal).
 */
public final class TorchScriptProbe {
    private TorchScriptProbe() {}

    public static void main(String[] args) {
        try (TorchScriptModel model = TorchScriptModel.load(Path.of(args[0]))) {
            float[] pixels = new float[28 * 28];
            java.util.Arrays.fill(pixels, 0.5f);
            Batch batch = new Batch(Map.of("input", HostTensor.ofFloats(new long[] {1, 1, 28, 28}, pixels)),
                    new int[] {-1}, List.of(Path.of("constant.png")));
            FloatOutput out = model.run(batch).get(0);
            System.out.println("ok " + out.values().length + " " + out.values()[0]
                    + " parameters=" + model.parameters().size());
        } catch (CompressException e) {
            System.out.println("error " + e.getMessage());
            System.exit(e.kind() == CompressException.Kind.BAD_INPUT ? 3 : 1);
        }
    }
}
