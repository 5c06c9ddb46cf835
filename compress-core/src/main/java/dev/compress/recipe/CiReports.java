package dev.compress.recipe;

import dev.compress.CompressException;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import javax.xml.stream.XMLOutputFactory;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamWriter;

/**
 * A run's gates as CI systems read them: JUnit XML (one testcase per gate, what Jenkins, GitLab and GitHub test
 * reporters show) and a Markdown summary fit for a pull-request comment or {@code $GITHUB_STEP_SUMMARY}.
 */
public final class CiReports {
    private CiReports() {}

    /** JUnit XML: one testsuite named {@code suite}, a testcase per gate, a failure with the figures if it failed. */
    public static String junit(String suite, RecipeRun.Outcome outcome) {
        long failures = outcome.gates().stream().filter(g -> !g.passed()).count();
        StringWriter text = new StringWriter();
        try {
            XMLStreamWriter xml = XMLOutputFactory.newFactory().createXMLStreamWriter(text);
            xml.writeStartDocument("UTF-8", "1.0");
            xml.writeCharacters("\n");
            xml.writeStartElement("testsuites");
            attributes(xml, suite, outcome.gates().size(), failures);
            xml.writeCharacters("\n  ");
            xml.writeStartElement("testsuite");
            attributes(xml, suite, outcome.gates().size(), failures);
            xml.writeAttribute("errors", "0");
            xml.writeAttribute("skipped", "0");
            for (RecipeRun.GateOutcome gate : outcome.gates()) {
                xml.writeCharacters("\n    ");
                xml.writeStartElement("testcase");
                xml.writeAttribute("classname", suite + ".gates");
                xml.writeAttribute("name", gate.name() + " (" + metric(gate) + ")");
                xml.writeAttribute("time", "0");
                if (!gate.passed()) {
                    xml.writeCharacters("\n      ");
                    xml.writeStartElement("failure");
                    xml.writeAttribute("message", gate.message());
                    xml.writeAttribute("type", "GateFailed");
                    xml.writeCharacters(String.format(Locale.ROOT, "%s = %s, limit %s", metric(gate), value(gate),
                            plain(gate.limit())));
                    xml.writeEndElement();
                    xml.writeCharacters("\n    ");
                }
                xml.writeEndElement();
            }
            xml.writeCharacters("\n  ");
            xml.writeEndElement();
            xml.writeCharacters("\n");
            xml.writeEndElement();
            xml.writeCharacters("\n");
            xml.writeEndDocument();
            xml.close();
        } catch (XMLStreamException e) {
            throw CompressException.internal("cannot write JUnit XML", e);
        }
        return text.toString();
    }

    private static void attributes(XMLStreamWriter xml, String suite, int tests, long failures)
            throws XMLStreamException {
        xml.writeAttribute("name", suite);
        xml.writeAttribute("tests", Integer.toString(tests));
        xml.writeAttribute("failures", Long.toString(failures));
    }

    /** Markdown: a verdict line, a table of gates with their figures and a table of steps (ran or cached). */
    public static String markdown(String recipe, RecipeRun.Outcome outcome) {
        StringBuilder md = new StringBuilder();
        long failed = outcome.gates().stream().filter(g -> !g.passed()).count();
        md.append("### compress run ").append(recipe).append(": ")
                .append(outcome.gates().isEmpty() ? "no gates" : failed == 0 ? "all "
                        + outcome.gates().size() + " gates passed" : failed + " of " + outcome.gates().size()
                        + " gates failed")
                .append("\n\n");
        if (!outcome.gates().isEmpty()) {
            md.append("| gate | metric | value (95% CI) | limit | result |\n|---|---|---|---|---|\n");
            for (RecipeRun.GateOutcome gate : outcome.gates()) {
                md.append("| ").append(cell(gate.name())).append(" | ").append(cell(metric(gate))).append(" | ")
                        .append(value(gate)).append(" | ").append(plain(gate.limit())).append(" | ")
                        .append(gate.passed() ? "pass" : "**FAIL**").append(" |\n");
            }
            md.append('\n');
            outcome.gates().forEach(gate -> md.append("- ").append(cell(gate.message())).append('\n'));
            md.append('\n');
        }
        md.append("| step | kind | run |\n|---|---|---|\n");
        for (RecipeRun.StepOutcome step : outcome.steps()) {
            md.append("| ").append(cell(step.name())).append(" | ").append(step.kind()).append(" | ")
                    .append(step.cached() ? "cached" : String.format(Locale.ROOT, "ran (%.1f s)", step.seconds()))
                    .append(" |\n");
        }
        return md.toString();
    }

    /** Appends {@code text} to {@code file} (e.g. {@code $GITHUB_STEP_SUMMARY}), creating it if missing. */
    public static void append(Path file, String text) {
        try {
            Files.writeString(file, text + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot append the summary (" + e.getMessage() + ")");
        }
    }

    /** The metric, marked when measured against the recipe's baseline. */
    static String metric(RecipeRun.GateOutcome gate) {
        return gate.against() == null ? gate.metric() : gate.metric() + " vs baseline";
    }

    /** The figure with its interval when it has one: {@code 0.9945 (95% CI 0.9902 to 0.9969)}; exact SQNR. */
    static String value(RecipeRun.GateOutcome gate) {
        if (gate.value() == null) {
            return "exact";
        }
        return plain(gate.value()) + (gate.ci95Low() == null ? "" : " (95% CI " + plain(gate.ci95Low()) + " to "
                + plain(gate.ci95High()) + ")");
    }

    private static String cell(String text) {
        return text.replace("|", "\\|");
    }

    /** {@code 1}, {@code 0.05}, {@code 0.25}: no trailing zeros, no exponent. */
    static String plain(double value) {
        return java.math.BigDecimal.valueOf(value).stripTrailingZeros().toPlainString();
    }
}
