package dev.compress.data;

import dev.compress.CompressException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A small RFC 4180 reader: comma-separated fields; a double-quoted field may hold commas, newlines and doubled
 * quotes. Unquoted fields are trimmed; blank lines are skipped.
 */
final class Csv {
    /** One record and the line it starts on, for messages. */
    record Row(int line, List<String> fields) {}

    private Csv() {}

    /** The records of {@code text}, read from {@code file} (named in errors). */
    static List<Row> parse(String text, Path file) {
        Parser parser = new Parser();
        int n = text.length();
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (parser.inQuotes) {
                if (c == '"' && i + 1 < n && text.charAt(i + 1) == '"') {
                    parser.field.append('"');
                    i++;
                } else if (c == '"') {
                    parser.inQuotes = false;
                } else {
                    if (c == '\n') {
                        parser.line++;
                    }
                    parser.field.append(c);
                }
            } else if (c == '"' && !parser.quoted && parser.field.toString().isBlank()) {
                parser.field.setLength(0);
                parser.inQuotes = true;
                parser.quoted = true;
                parser.quoteLine = parser.line;
            } else if (c == ',') {
                parser.endField();
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') {
                    i++;
                }
                parser.endRow();
                parser.line++;
                parser.rowLine = parser.line;
            } else if (parser.quoted) {
                if (!Character.isWhitespace(c)) {
                    throw CompressException.badInput(
                            file, "line " + parser.line + ": unexpected text after a closing quote");
                }
            } else {
                parser.field.append(c);
            }
        }
        if (parser.inQuotes) {
            throw CompressException.badInput(file, "line " + parser.quoteLine + ": quoted field is not closed");
        }
        parser.endRow();
        return parser.rows;
    }

    private static final class Parser {
        final List<Row> rows = new ArrayList<>();
        final List<String> fields = new ArrayList<>();
        final StringBuilder field = new StringBuilder();
        boolean inQuotes;
        boolean quoted;
        int line = 1;
        int rowLine = 1;
        int quoteLine;

        void endField() {
            fields.add(quoted ? field.toString() : field.toString().strip());
            field.setLength(0);
            quoted = false;
        }

        void endRow() {
            boolean blank = fields.isEmpty() && !quoted && field.toString().isBlank();
            if (!blank) {
                endField();
                rows.add(new Row(rowLine, List.copyOf(fields)));
            }
            fields.clear();
            field.setLength(0);
            quoted = false;
        }
    }
}
