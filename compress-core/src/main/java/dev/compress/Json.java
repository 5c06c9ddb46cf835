package dev.compress;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.file.Path;

/** JSON as every report and metadata entry writes it: stable key order, UTF-8, files written atomically. */
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

    /** Writes {@code value} as indented JSON to {@code file}, atomically (see {@link StagedFile}). */
    public static void write(Path file, Object value) {
        StagedFile.writeString(file, pretty(value));
    }
}
