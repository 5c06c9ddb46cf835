package dev.compress;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** JSON as every report and metadata entry writes it: stable key order, UTF-8, written atomically. */
public final class Json {
    /** Shared mapper; map keys sorted so that output does not depend on hash order. */
    public static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    private Json() {}

    /** One line, for ONNX metadata values. */
    public static String compact(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw CompressException.internal("cannot serialize " + value.getClass().getSimpleName(), e);
        }
    }

    /** Indented, ending with a newline, for report files. */
    public static String pretty(Object value) {
        try {
            return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(value) + "\n";
        } catch (JsonProcessingException e) {
            throw CompressException.internal("cannot serialize " + value.getClass().getSimpleName(), e);
        }
    }

    /**
     * Writes {@code text} to {@code file} through a temporary file in the same folder, so readers never see half a
     * file and a failure leaves nothing behind.
     *
     * @throws CompressException BAD_INPUT if the folder does not exist or cannot be written
     */
    public static void writeAtomically(Path file, String text) {
        Path folder = file.toAbsolutePath().getParent();
        if (folder == null || !Files.isDirectory(folder)) {
            throw CompressException.badInput(file, "output folder does not exist");
        }
        Path temp = null;
        try {
            temp = Files.createTempFile(folder, "." + file.getFileName(), ".tmp");
            Files.writeString(temp, text, StandardCharsets.UTF_8);
            try {
                Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            temp = null;
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot write (" + e.getClass().getSimpleName() + ")", e);
        } finally {
            if (temp != null) {
                try {
                    Files.deleteIfExists(temp);
                } catch (IOException ignored) {
                    // a dot-named .tmp file is all that can remain
                }
            }
        }
    }
}
