package dev.compress;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * The size of files zipped (Deflate, highest level), as a model is shipped. Unstructured pruning leaves the file
 * size unchanged: its zeros only show here.
 */
public final class ZippedSize {
    private ZippedSize() {}

    /**
     * Bytes of a zip archive holding {@code files} (the ones that exist); nothing is written to disk.
     *
     * @throws CompressException BAD_INPUT naming a file that cannot be read
     */
    public static long of(Path... files) {
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
        Path current = null;
        try (ZipOutputStream archive = new ZipOutputStream(counter)) {
            archive.setLevel(Deflater.BEST_COMPRESSION);
            for (Path file : files) {
                Path bytes = StagedFile.written(file); // a file of this run may still be under its temporary name
                if (Files.isRegularFile(bytes)) {
                    current = file;
                    archive.putNextEntry(new ZipEntry(file.getFileName().toString()));
                    Files.copy(bytes, archive);
                    archive.closeEntry();
                }
            }
        } catch (IOException e) {
            throw CompressException.badInput(current, "cannot read (" + e.getMessage() + ")", e);
        }
        return count[0];
    }
}
