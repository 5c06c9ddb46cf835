package dev.compress.data;

import static dev.compress.data.ImageDatasetTest.badInput;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class CsvTest {
    private static final Path FILE = Path.of("list.csv");

    private static List<List<String>> fields(String text) {
        return Csv.parse(text, FILE).stream().map(Csv.Row::fields).toList();
    }

    @Test
    void plainQuotedAndEscapedFields() {
        assertThat(fields("a,b\n\"c, d\",\"say \"\"hi\"\"\"\n e , f \n"))
                .containsExactly(List.of("a", "b"), List.of("c, d", "say \"hi\""), List.of("e", "f"));
    }

    @Test
    void lineEndingsBlankLinesAndLineNumbers() {
        List<Csv.Row> rows = Csv.parse("a,1\r\n\r\n   \n\"multi\nline\",2\rlast,3", FILE);

        assertThat(rows).extracting(Csv.Row::line).containsExactly(1, 4, 6);
        assertThat(rows).extracting(Csv.Row::fields)
                .containsExactly(List.of("a", "1"), List.of("multi\nline", "2"), List.of("last", "3"));
    }

    @Test
    void emptyFieldsAreKept() {
        assertThat(fields("a,\n,b\n\"\",c\n")).containsExactly(List.of("a", ""), List.of("", "b"), List.of("", "c"));
    }

    @Test
    void malformedQuotesAreErrors() {
        assertThat(badInput(() -> Csv.parse("a,1\n\"b,2\n", FILE)))
                .hasMessage("list.csv: line 2: quoted field is not closed");
        assertThat(badInput(() -> Csv.parse("\"a\"x,1\n", FILE)))
                .hasMessage("list.csv: line 1: unexpected text after a closing quote");
    }
}
