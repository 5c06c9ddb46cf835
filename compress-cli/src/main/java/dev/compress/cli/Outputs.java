package dev.compress.cli;

import dev.compress.CompressException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Checks on output paths made before any work, so a long run does not fail at the end for a typo in a path. */
final class Outputs {
    private Outputs() {}

    /**
     * Fails unless {@code out} can be created: its folder exists and it is not a folder itself. Nothing is created.
     *
     * @throws CompressException BAD_INPUT naming {@code out}
     */
    static void checkCanWrite(Path out) {
        Path absolute = out.toAbsolutePath();
        Path folder = absolute.getParent();
        if (folder == null || !Files.isDirectory(folder)) {
            throw CompressException.badInput(out, "output folder does not exist");
        }
        if (Files.isDirectory(absolute)) {
            throw CompressException.badInput(out, "is a directory, expected an output file name");
        }
        if (!Files.isWritable(folder)) {
            throw CompressException.badInput(out, "output folder is not writable");
        }
    }

    /** Fails if {@code out} is the same file as {@code input}: writing would replace the input. */
    static void checkNotSame(Path out, Path input) {
        try {
            if (Files.exists(out) && Files.isSameFile(out, input)) {
                throw CompressException.badInput(out, "is the input model; choose another output file");
            }
        } catch (IOException e) {
            // the write itself reports an unusable path
        }
    }

    /** Removes a model this run wrote (and its external data file), best effort. */
    static void deleteModel(Path model) {
        for (Path file : new Path[] {model, model.resolveSibling(model.getFileName() + ".data")}) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // the original error is the one to report
            }
        }
    }

    /** {@code model.onnx} → {@code model.json}; other names get {@code .json} appended. */
    static Path jsonBeside(Path model) {
        String name = model.getFileName().toString();
        String base = name.toLowerCase(Locale.ROOT).endsWith(".onnx") ? name.substring(0, name.length() - 5) : name;
        return model.resolveSibling(base + ".json");
    }

    /**
     * Bytes of a zip archive holding the model file (and its external data file): Deflate at the highest level.
     * Zeros from unstructured pruning shrink this, not the file itself.
     */
    static long zippedBytes(Path model) {
        long[] count = new long[1];
        OutputStream counter = new OutputStream() {
            @Override
            public void write(int b) {
                count[0]++;
            }

            @Override
            public void write(byte[] b, int off, int len) {
                count[0] += len;
            }
        };
        try (ZipOutputStream archive = new ZipOutputStream(counter)) {
            archive.setLevel(Deflater.BEST_COMPRESSION);
            for (Path file : new Path[] {model, model.resolveSibling(model.getFileName() + ".data")}) {
                if (Files.isRegularFile(file)) {
                    archive.putNextEntry(new ZipEntry(file.getFileName().toString()));
                    Files.copy(file, archive);
                    archive.closeEntry();
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return count[0];
    }

    /** Bytes of a model file plus its external data file ({@code <name>.data}) if there is one. */
    static long modelBytes(Path model) {
        try {
            long bytes = Files.size(model);
            Path data = model.resolveSibling(model.getFileName() + ".data");
            if (Files.isRegularFile(data)) {
                bytes += Files.size(data);
            }
            return bytes;
        } catch (IOException e) {
            return -1;
        }
    }
}
