package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.ZippedSize;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

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
        deleteQuietly(model);
        deleteQuietly(model.resolveSibling(model.getFileName() + ".data"));
    }

    /** Removes a file this run wrote, best effort. */
    static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // the original error is the one to report
        }
    }

    /**
     * Bytes of a zip archive holding the model file (and its external data file), see {@link ZippedSize}.
     */
    static long zippedBytes(Path model) {
        return ZippedSize.of(model, model.resolveSibling(model.getFileName() + ".data"));
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
