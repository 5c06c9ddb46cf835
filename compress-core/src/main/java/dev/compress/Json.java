package dev.compress;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * JSON as every file, report and metadata entry of the project is written: one mapper, one printer, stable key order,
 * UTF-8, {@code \n} line endings whatever the platform, files written atomically. Nothing else creates an
 * {@link ObjectMapper} for writing.
 */
public final class Json {
    /** Shared mapper; map keys sorted so that output does not depend on hash order. */
    public static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    // Jackson's default layout ("key" : value, short arrays on one line), but objects broken with '\n' instead of the
    // platform's line separator, so the bytes are the same on every machine
    private static final ObjectWriter PRETTY = MAPPER.writer(
            new DefaultPrettyPrinter().withObjectIndenter(new DefaultIndenter("  ", "\n")));

    /**
     * For files a decision rests on (a gate's reports): a repeated key or anything after the value is an error, not
     * silently the last key or ignored, and {@code null} is never taken for a number or flag.
     */
    public static final ObjectReader STRICT = MAPPER.reader()
            .with(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS, DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    private Json() {}

    /** The JSON in {@code file}, read with {@link #STRICT}. */
    public static JsonNode readStrict(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return STRICT.readTree(in);
        }
    }

    /** One line, for ONNX metadata values. */
    public static String compact(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw CompressException.internal("cannot serialize " + value.getClass().getSimpleName(), e);
        }
    }

    /** Indented, ending with a newline, for report files and stdout. */
    public static String pretty(Object value) {
        try {
            return PRETTY.writeValueAsString(value) + "\n";
        } catch (JsonProcessingException e) {
            throw CompressException.internal("cannot serialize " + value.getClass().getSimpleName(), e);
        }
    }

    /** The indented writer behind {@link #pretty}, for writing JSON as a stream in the same layout. */
    public static ObjectWriter prettyWriter() {
        return PRETTY;
    }

    /** Writes {@code value} as indented JSON to {@code file}, atomically (see {@link StagedFile}). */
    public static void write(Path file, Object value) {
        StagedFile.writeString(file, pretty(value));
    }
}
