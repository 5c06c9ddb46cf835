package dev.compress.eval;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import dev.compress.CompressException;
import dev.compress.Json;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/** Reading and writing {@link EvalReport} JSON, and the number formatting that keeps it byte-stable. */
final class ReportJson {
    private static final int DECIMALS = 6;

    // map keys sorted (Json.MAPPER) so free-form maps (preprocessing) come out the same whatever order they were
    // built in
    private static final ObjectMapper MAPPER = Json.MAPPER;

    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {};

    private ReportJson() {}

    /** {@code value} rounded half-even to 6 decimals: the value JSON holds, so reports equal their read-back. */
    static double round(double value) {
        return decimal(value).doubleValue();
    }

    private static BigDecimal decimal(double value) {
        return new BigDecimal(value).setScale(DECIMALS, RoundingMode.HALF_EVEN);
    }

    /** {@code value} without trailing zeros or exponent, for messages: {@code 0.35}, {@code 1}, {@code -0.05}. */
    static String plain(double value) {
        BigDecimal stripped = decimal(value).stripTrailingZeros();
        return (stripped.signum() == 0 ? BigDecimal.ZERO : stripped).toPlainString();
    }

    /** A p-value for messages; tiny ones as a bound, since the report keeps 6 decimals. */
    static String pValue(double p) {
        return p < 1e-4 ? "p < 0.0001" : String.format(Locale.ROOT, "p = %.4f", p);
    }

    /**
     * A free-form map as it will read back from JSON (plain JSON types, keys sorted, unmodifiable), so a report
     * holding it equals its read-back; {@code null} stays {@code null}.
     */
    static Map<String, Object> normalize(Map<String, Object> map) {
        if (map == null) {
            return null;
        }
        try {
            return Collections.unmodifiableMap(MAPPER.readValue(MAPPER.writeValueAsString(map), MAP));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("preprocessing is not representable as JSON: " + e.getOriginalMessage(),
                    e);
        }
    }

    static EvalReport read(Path file) {
        if (!Files.exists(file)) {
            throw CompressException.badInput(file, "no such file");
        }
        if (!Files.isRegularFile(file)) {
            throw CompressException.badInput(file, "is not a file, expected an evaluation report (.json)");
        }
        try {
            return fromJson(file, Json.readStrict(file));
        } catch (JsonProcessingException e) {
            throw CompressException.badInput(file, "not an evaluation report (" + problem(e) + ")", e);
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot read (" + e.getMessage() + ")", e);
        }
    }

    /**
     * A report from parsed JSON (a file's top level, or the part of a larger report that holds it), checked complete
     * and consistent: a gate decides on it.
     */
    static EvalReport fromJson(Path file, JsonNode node) {
        if (node == null || !node.isObject()) {
            throw CompressException.badInput(file, "not an evaluation report (expected a JSON object, got "
                    + (node == null || node.isMissingNode() ? "nothing" : node.getNodeType().name().toLowerCase(
                            Locale.ROOT)) + ")");
        }
        EvalReport report;
        try {
            report = Json.STRICT.treeToValue(node, EvalReport.class);
        } catch (JsonProcessingException e) {
            throw CompressException.badInput(file, "not an evaluation report (" + problem(e) + ")", e);
        } catch (IllegalArgumentException e) {
            throw CompressException.badInput(file, "not an evaluation report (" + e.getMessage() + ")", e);
        }
        String inconsistency = report.inconsistency();
        if (inconsistency != null) {
            throw CompressException.badInput(file, "inconsistent evaluation report: " + inconsistency);
        }
        return report;
    }

    // Jackson wraps a record constructor's rejection; its own message is the useful part, prefixed with the field
    // where Jackson knows it
    private static String problem(JsonProcessingException e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = String.valueOf(
                root instanceof JsonProcessingException j ? j.getOriginalMessage() : root.getMessage()).strip();
        int newline = message.indexOf('\n');
        message = newline < 0 ? message : message.substring(0, newline);
        if (e instanceof JsonMappingException mapping) {
            String field = mapping.getPath().stream()
                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(Collectors.joining(".")).replace(".[", "[");
            if (!field.isEmpty()) {
                message = "at '" + field + "': " + message;
            }
        }
        return message;
    }

    /** Writes a double with exactly 6 decimals, never in exponent form. */
    static final class SixDecimals extends StdSerializer<Double> {
        private static final long serialVersionUID = 1L;

        SixDecimals() {
            super(Double.class);
        }

        @Override
        public void serialize(Double value, JsonGenerator generator, SerializerProvider provider) throws IOException {
            generator.writeNumber(decimal(value).toPlainString());
        }
    }
}
