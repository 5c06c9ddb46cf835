package dev.compress.export;

import dev.compress.CompressException;
import dev.compress.StagedFile;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.Collections;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * The files of an edge bundle by name, and the zip they are written as. The zip is a function of the files alone:
 * entries in name order, every timestamp 1980-01-01 00:00:02 as DOS time without a time zone (for 00:00:00, DOS
 * time's "before 1980" value, Java adds an extended-time field converted through the local zone), no permissions, and
 * STORED rather than deflated, because deflate's output depends on the zlib build the JDK uses and the bundle must be
 * byte-identical on every machine.
 */
public final class Bundle {
    public static final String MANIFEST = "manifest.json";
    public static final String MODEL = "model.onnx";
    public static final String ORT_MODEL = "model.ort";
    public static final String REQUIRED_OPERATORS = "required_operators.config";
    public static final String LABELS = "labels.txt";
    public static final String LABELS_ZH = "labels-zh.txt";
    public static final String MODEL_CARD = "MODEL_CARD.md";
    public static final String PREDICT = "example/Predict.java";
    public static final String SOURCE_MODEL = "source.onnx";
    public static final String MEASUREMENTS = "measurements.json";

    private static final LocalDateTime FIXED_TIME = LocalDateTime.of(1980, 1, 1, 0, 0, 2);

    private final SortedMap<String, byte[]> files;

    Bundle(SortedMap<String, byte[]> files) {
        this.files = Collections.unmodifiableSortedMap(new TreeMap<>(files));
    }

    /** Entry name to content, sorted by name. */
    public SortedMap<String, byte[]> files() {
        return files;
    }

    /** Writes the zip atomically. */
    public void write(Path zip) {
        try (StagedFile staged = StagedFile.create(zip)) {
            try (OutputStream out = staged.open(); ZipOutputStream stream = new ZipOutputStream(out)) {
                for (var file : files.entrySet()) {
                    stream.putNextEntry(entry(file.getKey(), file.getValue()));
                    stream.write(file.getValue());
                    stream.closeEntry();
                }
            }
            staged.commit();
        } catch (IOException e) {
            throw CompressException.badInput(zip, "cannot write (" + e.getMessage() + ")", e);
        }
    }

    private static ZipEntry entry(String name, byte[] content) {
        ZipEntry entry = new ZipEntry(name);
        entry.setMethod(ZipEntry.STORED);
        entry.setSize(content.length);
        entry.setCompressedSize(content.length);
        CRC32 crc = new CRC32();
        crc.update(content);
        entry.setCrc(crc.getValue());
        // local time without a time zone: the same DOS fields wherever it runs
        entry.setTimeLocal(FIXED_TIME);
        return entry;
    }

    /**
     * Reads every file of a bundle zip.
     *
     * @throws CompressException BAD_INPUT naming the zip if it is missing or not a readable zip
     */
    public static Bundle read(Path zip) {
        SortedMap<String, byte[]> files = new TreeMap<>();
        String current = null;
        try (InputStream in = Files.newInputStream(zip); ZipInputStream stream = new ZipInputStream(in)) {
            for (ZipEntry entry = stream.getNextEntry(); entry != null; entry = stream.getNextEntry()) {
                current = entry.getName();
                if (!entry.isDirectory() && files.put(current, stream.readAllBytes()) != null) {
                    throw CompressException.badInput(zip, "holds " + current + " twice");
                }
            }
        } catch (NoSuchFileException e) {
            throw CompressException.badInput(zip, "no such file");
        } catch (ZipException e) {
            // a damaged entry (CRC) is named, as compress verify names every file that does not match
            Path named = current == null ? zip : Path.of(zip + "!" + current);
            throw CompressException.badInput(named, "not a readable zip entry (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw CompressException.badInput(zip, "cannot read (" + e.getMessage() + ")", e);
        }
        if (files.isEmpty()) {
            throw CompressException.badInput(zip, "not a bundle (no files in it)");
        }
        return new Bundle(files);
    }
}
