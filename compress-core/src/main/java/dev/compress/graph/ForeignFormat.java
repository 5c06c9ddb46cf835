package dev.compress.graph;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Recognises model files of other frameworks given where an ONNX model is expected, by their first bytes, and says
 * what to do with them: protobuf's parser otherwise reports them as "invalid tag (zero)" or parses them into an
 * empty model.
 */
final class ForeignFormat {
    private static final String TO_ONNX_TORCH = "export it to ONNX with torch.onnx.export(model, example_input,"
            + " \"model.onnx\", opset_version=13) and give the .onnx here";
    private static final String TF2ONNX = "convert it with tf2onnx (python -m tf2onnx.convert --opset 13 ";

    private ForeignFormat() {}

    /** What {@code path} is, with the way to an ONNX model, if it is a known non-ONNX format; else null. */
    static String describe(Path path) {
        if (Files.isDirectory(path)) {
            return Files.isRegularFile(path.resolve("saved_model.pb")) ? savedModel(path) : null;
        }
        if (path.getFileName() != null && path.getFileName().toString().equals("saved_model.pb")) {
            return savedModel(path.toAbsolutePath().getParent());
        }
        if (!Files.isRegularFile(path)) {
            return null; // reading a FIFO would block; the ONNX reader refuses it
        }
        byte[] head = new byte[16];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            return null; // the ONNX reader reports the unreadable file
        }
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            return zip(path);
        }
        if (n >= 8 && new String(head, 4, 4, StandardCharsets.ISO_8859_1).equals("TFL3")) {
            return "is a TensorFlow Lite model, not ONNX: " + TF2ONNX + "--tflite " + path.getFileName()
                    + " --output model.onnx) and give the .onnx here";
        }
        if (n >= 8 && head[0] == (byte) 0x89 && new String(head, 1, 3, StandardCharsets.ISO_8859_1).equals("HDF")) {
            return "is an HDF5 file (a Keras .h5 model?), not ONNX: " + TF2ONNX + "--keras " + path.getFileName()
                    + " --output model.onnx) and give the .onnx here";
        }
        if (n >= 9 && head[8] == '{') {
            long header = ByteBuffer.wrap(head, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            try {
                if (header > 1 && header < Files.size(path)) {
                    return "is a safetensors file: weights only, no graph to run. Export the model that uses them to"
                            + " ONNX (torch.onnx.export, or optimum-cli export onnx for Hugging Face models) and give"
                            + " the .onnx here";
                }
            } catch (IOException e) {
                return null;
            }
        }
        return null;
    }

    private static String savedModel(Path folder) {
        return "is a TensorFlow SavedModel, not ONNX: " + TF2ONNX + "--saved-model " + folder
                + " --output model.onnx) and give the .onnx here";
    }

    /** TorchScript (code/ and constants.pkl inside), a torch.save checkpoint (data.pkl only), or another zip. */
    private static String zip(Path path) {
        boolean code = false;
        boolean pickle = false;
        try (ZipFile zip = new ZipFile(path.toFile())) {
            for (ZipEntry entry : Collections.list(zip.entries())) {
                String name = entry.getName();
                code |= name.contains("/code/") || name.endsWith("/constants.pkl");
                pickle |= name.endsWith("/data.pkl");
            }
        } catch (IOException e) {
            return "is a zip archive (damaged), not an ONNX model";
        }
        if (code) {
            return "is a TorchScript checkpoint, not ONNX: this command needs ONNX; " + TO_ONNX_TORCH
                    + " (prune --apply-masks and score take the TorchScript file itself)";
        }
        if (pickle) {
            return "is a PyTorch checkpoint saved with torch.save (weights, no graph), not ONNX: load it into its"
                    + " model class in Python, then " + TO_ONNX_TORCH;
        }
        return "is a zip archive, not an ONNX model; unpack it and give the .onnx file inside";
    }
}
