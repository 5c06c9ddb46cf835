package dev.compress;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * An output file written under a temporary name in its target folder and moved into place by {@link #commit()}, so a
 * failure never leaves half a file. Closing without committing deletes the temporary file.
 *
 * <p>The temporary file is created like any new file (not with {@code Files.createTempFile}, which makes it private),
 * so the result gets the permissions the user's umask gives.
 */
public final class StagedFile implements AutoCloseable {
    private final Path target;
    private final Path temp;
    private boolean committed;

    private StagedFile(Path target, Path temp) {
        this.target = target;
        this.temp = temp;
    }

    /**
     * Checks that {@code file} can be written (its folder exists, it is not a folder) and reserves a temporary name.
     *
     * @throws CompressException BAD_INPUT naming {@code file} otherwise
     */
    public static StagedFile create(Path file) {
        Path target = file.toAbsolutePath();
        Path folder = target.getParent();
        if (folder == null || !Files.isDirectory(folder)) {
            throw CompressException.badInput(file, "output folder does not exist");
        }
        if (Files.isDirectory(target)) {
            throw CompressException.badInput(file, "is a directory, expected a file name");
        }
        String name = "." + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong())
                + ".tmp";
        return new StagedFile(target, folder.resolve(name));
    }

    /** Opens the temporary file for writing; it must not exist yet. */
    public OutputStream open() throws IOException {
        try {
            return Files.newOutputStream(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        } catch (FileAlreadyExistsException e) {
            throw new IOException("temporary file " + temp + " already exists", e);
        }
    }

    /** The final path. */
    public Path target() {
        return target;
    }

    /** Moves the written file into place, replacing an existing one. */
    public void commit() throws IOException {
        try {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
        }
        committed = true;
    }

    /** Deletes the temporary file unless it was committed. */
    @Override
    public void close() {
        if (!committed) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // best effort: a leftover has a dot-name and a .tmp suffix
            }
        }
    }

    /**
     * Writes {@code text} as UTF-8 to {@code file} atomically.
     *
     * @throws CompressException BAD_INPUT naming the file if it cannot be written
     */
    public static void writeString(Path file, String text) {
        try (StagedFile staged = create(file)) {
            try (OutputStream out = staged.open()) {
                out.write(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
            staged.commit();
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot write (" + e.getClass().getSimpleName() + ": "
                    + e.getMessage() + ")", e);
        }
    }
}
