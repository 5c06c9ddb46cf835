package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.StagedFile;
import dev.compress.ZippedSize;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/**
 * Checks on output paths made before any work, so a long run does not fail at the end for a typo in a path, and
 * never writes over one of its inputs.
 */
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

    /**
     * Starts the check of a command's files: name every file it reads and every file it will write, each with its
     * option, then {@link Check#run}. The one place that keeps a command from writing over its input.
     */
    static Check check(CommandSpec command) {
        return new Check(command);
    }

    /** The files of one command run, by role (the option that names them). */
    static final class Check {
        private final CommandSpec command;
        private final Map<String, Path> inputs = new LinkedHashMap<>();
        private final Map<String, Path> outputs = new LinkedHashMap<>();

        private Check(CommandSpec command) {
            this.command = command;
        }

        /** A file or folder the command reads; null (option not given) is skipped. */
        Check input(String role, Path path) {
            if (path != null) {
                inputs.put(role, path);
            }
            return this;
        }

        /** A file the command writes; null (option not given) is skipped. */
        Check output(String role, Path path) {
            if (path != null) {
                outputs.put(role, path);
            }
            return this;
        }

        /** A model the command writes, and the external data file a large one gets beside it. */
        Check model(String role, Path path) {
            return output(role, path).output("the external data of " + role, externalData(path));
        }

        /**
         * Fails unless every output can be written, none is (or is inside a folder of) an input, links resolved,
         * and no two outputs are the same file.
         *
         * @throws CompressException BAD_INPUT naming the output that would overwrite an input
         * @throws ParameterException when two outputs name the same file
         */
        void run() {
            StagedFile.recover(List.copyOf(outputs.values()));
            Map<Path, String> seen = new LinkedHashMap<>();
            outputs.forEach((role, output) -> {
                checkCanWrite(output);
                inputs.forEach((inputRole, input) -> {
                    if (overwrites(output, input)) {
                        throw CompressException.badInput(output, role + " would overwrite "
                                + (Files.isDirectory(input) ? "a file of the " + inputRole + " folder"
                                        : "the " + inputRole + " input") + "; choose another file");
                    }
                });
                String other = seen.putIfAbsent(identity(output), role);
                if (other != null) {
                    throw new ParameterException(command.commandLine(), other + " and " + role
                            + " name the same file (" + output + "); give each its own");
                }
            });
        }

        /** Whether writing {@code output} replaces {@code input} or a file in the folder {@code input}. */
        private static boolean overwrites(Path output, Path input) {
            try {
                if (!Files.exists(output) || !Files.exists(input)) {
                    return false; // nothing there to lose; a missing input is reported when it is read
                }
                return Files.isSameFile(output, input)
                        || Files.isDirectory(input) && output.toRealPath().startsWith(input.toRealPath());
            } catch (IOException e) {
                return false; // the write itself reports an unusable path
            }
        }

        /** The file {@code path} names, links resolved as far as they exist, so two spellings of it compare equal. */
        private static Path identity(Path path) {
            try {
                return path.toRealPath();
            } catch (IOException e) {
                Path absolute = path.toAbsolutePath().normalize();
                try {
                    return absolute.getParent().toRealPath().resolve(absolute.getFileName());
                } catch (IOException | RuntimeException again) {
                    return absolute;
                }
            }
        }
    }

    /** The external data file {@link dev.compress.graph.OnnxModel#save} writes beside a large model. */
    static Path externalData(Path model) {
        return model.resolveSibling(model.getFileName() + ".data");
    }

    /**
     * Bytes of a zip archive holding the model file (and its external data file), see {@link ZippedSize}.
     */
    static long zippedBytes(Path model) {
        return ZippedSize.of(model, externalData(model));
    }

    /** Bytes of a model file plus its external data file ({@code <name>.data}) if there is one. */
    static long modelBytes(Path model) {
        try {
            long bytes = Files.size(StagedFile.written(model));
            Path data = StagedFile.written(externalData(model));
            if (Files.isRegularFile(data)) {
                bytes += Files.size(data);
            }
            return bytes;
        } catch (IOException e) {
            return -1;
        }
    }
}
