package dev.compress.inspect;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.core.JsonProcessingException;
import dev.compress.Json;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * What {@link ModelInspector} found in a model. Serializes to JSON with Jackson ({@link #toJson()}) and reads back
 * ({@link #fromJson(String)}); {@link #summary()} is the same as aligned text for a terminal.
 *
 * @param file the model file, or {@code null} for a model built in memory
 * @param fileBytes size of {@code file}, or {@code null}
 * @param graphName the main graph's name
 * @param irVersion ONNX IR version
 * @param producerName who wrote the file, e.g. {@code pytorch}
 * @param producerVersion version of the producer
 * @param opsets imported opsets, domain ({@code ai.onnx} for the default domain) to version, in file order
 * @param inputs inputs a caller feeds (initializers listed as inputs are left out)
 * @param outputs graph outputs
 * @param nodeCount nodes, including nodes in subgraphs
 * @param ops op type to count, sorted by count descending then name; ops outside the default domain are written
 *     {@code domain:OpType}
 * @param parameterCount elements in all initializers and Constant node tensors
 * @param parameterBytes bytes those tensors take
 * @param parametersByType element type (e.g. {@code FLOAT}, {@code INT8}) to counts, by bytes descending
 * @param metadata the model's metadata_props, in file order
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ModelSummary(
        String file,
        Long fileBytes,
        String graphName,
        long irVersion,
        String producerName,
        String producerVersion,
        Map<String, Long> opsets,
        List<ValueSummary> inputs,
        List<ValueSummary> outputs,
        int nodeCount,
        Map<String, Integer> ops,
        long parameterCount,
        long parameterBytes,
        Map<String, ParameterStats> parametersByType,
        Map<String, String> metadata) {

    public ModelSummary {
        opsets = unmodifiable(opsets);
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        ops = unmodifiable(ops);
        parametersByType = unmodifiable(parametersByType);
        metadata = unmodifiable(metadata);
    }

    private static <K, V> Map<K, V> unmodifiable(Map<K, V> map) {
        return java.util.Collections.unmodifiableMap(new LinkedHashMap<>(map == null ? Map.of() : map));
    }

    /** A graph input or output: name, element type and shape. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record ValueSummary(String name, String elementType, List<Dim> shape) {
        public ValueSummary {
            // JSON null is an unknown dimension; Jackson hands it over as a null element
            shape = shape == null ? null : shape.stream().map(d -> d == null ? Dim.unknown() : d).toList();
        }

        /** E.g. {@code input FLOAT [batch,1,28,28]}; the shape is omitted when the model does not record one. */
        @Override
        public String toString() {
            return name + " " + elementType + (shape == null ? "" : " " + shapeString());
        }

        /** E.g. {@code [batch,1,28,28]}, {@code ?} for a dimension with neither a value nor a name. */
        public String shapeString() {
            return shape == null ? "?" : shape.stream().map(Dim::toString).collect(Collectors.joining(",", "[", "]"));
        }
    }

    /**
     * One dimension of a shape: a size, a symbolic name (e.g. {@code batch}) or unknown. In JSON a number, a string
     * or {@code null}.
     */
    public record Dim(Long value, String param) {
        public static Dim of(long value) {
            return new Dim(value, null);
        }

        public static Dim named(String param) {
            return new Dim(null, param);
        }

        public static Dim unknown() {
            return new Dim(null, null);
        }

        public boolean isKnown() {
            return value != null;
        }

        @JsonValue
        Object json() {
            return value != null ? value : param;
        }

        @JsonCreator
        static Dim fromJson(Object json) {
            if (json instanceof Number n) {
                return of(n.longValue());
            }
            return json == null ? unknown() : named(json.toString());
        }

        @Override
        public String toString() {
            return value != null ? value.toString() : param != null ? param : "?";
        }
    }

    /** Parameter tensors of one element type. */
    public record ParameterStats(long tensors, long elements, long bytes) {}

    /** Pretty-printed JSON ({@link Json#pretty}). */
    public String toJson() {
        return Json.pretty(this);
    }

    /** Reads what {@link #toJson()} wrote. */
    public static ModelSummary fromJson(String json) {
        try {
            return Json.MAPPER.readValue(json, ModelSummary.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a model summary: " + e.getOriginalMessage(), e);
        }
    }

    /** Multi-line text for a terminal, ending with a newline. */
    public String summary() {
        StringBuilder out = new StringBuilder();
        List<String[]> head = new ArrayList<>();
        if (file != null) {
            head.add(new String[] {"model", file + (fileBytes == null ? "" : " (" + bytes(fileBytes) + ")")});
        }
        if (graphName != null && !graphName.isEmpty()) {
            head.add(new String[] {"graph", graphName});
        }
        String producer = (producerName + " " + producerVersion).strip();
        head.add(new String[] {"ir version", Long.toString(irVersion)});
        head.add(new String[] {"producer", producer.isEmpty() ? "-" : producer});
        head.add(new String[] {"opsets", opsets.entrySet().stream()
                .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", "))});
        for (int i = 0; i < inputs.size(); i++) {
            head.add(new String[] {i == 0 ? "inputs" : "", inputs.get(i).toString()});
        }
        if (inputs.isEmpty()) {
            head.add(new String[] {"inputs", "-"});
        }
        for (int i = 0; i < outputs.size(); i++) {
            head.add(new String[] {i == 0 ? "outputs" : "", outputs.get(i).toString()});
        }
        head.add(new String[] {"parameters", String.format(Locale.ROOT, "%,d (%s)", parameterCount,
                bytes(parameterBytes))});
        appendColumns(out, head, "");
        List<String[]> types = new ArrayList<>();
        parametersByType.forEach((type, s) -> types.add(new String[] {type,
                String.format(Locale.ROOT, "%,d tensors", s.tensors()),
                String.format(Locale.ROOT, "%,d elements", s.elements()), bytes(s.bytes())}));
        appendColumns(out, types, "  ");

        out.append(String.format(Locale.ROOT, "%-10s  %,d nodes, %d op types%n", "ops", nodeCount, ops.size()));
        List<String[]> histogram = new ArrayList<>();
        ops.forEach((op, count) -> histogram.add(new String[] {op, Integer.toString(count)}));
        appendColumns(out, histogram, "  ");
        if (!metadata.isEmpty()) {
            out.append(String.format(Locale.ROOT, "metadata%n"));
            metadata.forEach((key, value) -> out.append("  ").append(key).append(" = ")
                    .append(value.replace("\n", "\\n")).append('\n'));
        }
        return out.toString();
    }

    private static void appendColumns(StringBuilder out, List<String[]> rows, String indent) {
        int columns = rows.stream().mapToInt(r -> r.length).max().orElse(0);
        int[] widths = new int[columns];
        for (String[] row : rows) {
            for (int c = 0; c < row.length; c++) {
                widths[c] = Math.max(widths[c], row[c].length());
            }
        }
        if (indent.isEmpty() && columns > 0) {
            widths[0] = Math.max(widths[0], 10);
        }
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder(indent);
            for (int c = 0; c < row.length; c++) {
                boolean numeric = c > 0 && indent.length() > 0;
                String cell = row[c];
                String pad = " ".repeat(widths[c] - cell.length());
                line.append(c == 0 ? "" : "  ").append(numeric ? pad + cell : cell + (c < row.length - 1 ? pad : ""));
            }
            out.append(line.toString().stripTrailing()).append('\n');
        }
    }

    /** Human-readable size with binary units, e.g. {@code 1.5 MiB}. */
    public static String bytes(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
    }
}
