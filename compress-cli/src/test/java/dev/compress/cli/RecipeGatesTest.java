package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.eval.Statistics;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.stream.StreamSource;
import javax.xml.validation.SchemaFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Recipe gates beyond top-1 drop, agreement and McNemar against the source: relative drop, fidelity cosine and SQNR,
 * size, latency ratio, and a baseline report from an earlier run as the reference.
 */
class RecipeGatesTest {
    @TempDir
    Path temp;

    private static final String DATA = "data:\n  calibration: " + Fixtures.calib() + "\n  evaluation: "
            + Fixtures.heldout() + "\n";

    private Path recipe(String name, String text) throws IOException {
        return Files.writeString(temp.resolve(name), "model: " + Fixtures.resnet() + "\n" + text);
    }

    private static JsonNode json(Path file) throws IOException {
        return Json.MAPPER.readTree(file.toFile());
    }

    @Test
    void relativeDropFidelitySizeAndLatencyGatesGiveTheirFiguresInJsonJunitAndMarkdown() throws Exception {
        Path recipe = recipe("figures.yaml", DATA + "steps:\n  - {name: quantize, pass: quantize-static}\n"
                + "checks:\n  - {name: eval, check: eval}\n  - {name: fid, check: fidelity}\n"
                + "  - {name: size, check: size}\n  - {name: speed, check: latency, seconds: 0.3, threads: 1}\n"
                + "gates:\n"
                + "  - {name: relative, metric: eval.top1-relative-drop, max: 1}\n"
                + "  - {name: cosine, metric: fid.cosine, min: 0.99}\n"
                + "  - {name: sqnr, metric: fid.sqnr, min: 60}\n"
                + "  - {name: bytes, metric: size.bytes, max: 300000}\n"
                + "  - {name: ratio, metric: size.ratio, max: 0.3}\n"
                + "  - {name: latency, metric: speed.ratio, max: 100}\n");
        Path run = temp.resolve("run");
        Path junit = temp.resolve("gates.xml");
        Path markdown = temp.resolve("gates.md");

        Cli.Result result = Cli.run("run", recipe.toString(), "--run-dir", run.toString(), "--junit",
                junit.toString(), "--markdown", markdown.toString(), "--step-summary", temp.resolve("s.md").toString());

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.GATE_FAILED);
        // relative drop: 100 x (source top-1 - model top-1) / source top-1, with the paired interval scaled alike
        JsonNode eval = json(run.resolve("02-eval.json"));
        long n = eval.get("samples").asLong();
        long source = eval.at("/baseline/top1/count").asLong();
        long model = eval.at("/top1/count").asLong();
        JsonNode relative = json(run.resolve("06-relative.json"));
        assertThat(relative.get("value").asDouble()).isCloseTo(100.0 * (source - model) / source, within(1e-6));
        long b = eval.at("/baseline/mcnemar/b").asLong();
        long c = eval.at("/baseline/mcnemar/c").asLong();
        Statistics.Interval drop = Statistics.pairedDifference(source - b, b, c, n - (source - b) - b - c);
        assertThat(relative.get("ci95Low").asDouble()).isCloseTo(100 * drop.low() * n / source, within(1e-5));
        assertThat(relative.get("ci95High").asDouble()).isCloseTo(100 * drop.high() * n / source, within(1e-5));
        assertThat(relative.get("passed").asBoolean()).isTrue();
        // fidelity: the lowest output's figures of the check's report
        JsonNode fidelity = json(run.resolve("03-fid.json"));
        assertThat(json(run.resolve("07-cosine.json")).get("value").asDouble())
                .isEqualTo(fidelity.at("/outputs/0/meanCosine").asDouble());
        JsonNode sqnr = json(run.resolve("08-sqnr.json"));
        assertThat(sqnr.get("value").asDouble()).isEqualTo(fidelity.at("/outputs/0/sqnrDb").asDouble());
        assertThat(sqnr.get("passed").asBoolean()).isFalse();
        // size: the file's bytes, and against the source's
        long bytes = Files.size(run.resolve("01-quantize.onnx"));
        JsonNode size = json(run.resolve("09-bytes.json"));
        assertThat(size.get("value").asLong()).isEqualTo(bytes);
        assertThat(size.get("passed").asBoolean()).isFalse();
        assertThat(size.get("message").asText()).isEqualTo(String.format(java.util.Locale.ROOT,
                "FAIL: model size %,d bytes, maximum 300,000", bytes));
        assertThat(json(run.resolve("10-ratio.json")).get("value").asDouble())
                .isCloseTo((double) bytes / Files.size(Fixtures.resnet()), within(1e-4));
        // latency: the check's median ratio
        assertThat(json(run.resolve("11-latency.json")).get("value").asDouble())
                .isEqualTo(json(run.resolve("05-speed.json")).get("int8OverFp32").asDouble());

        SchemaFactory.newInstance(XMLConstants.W3C_XML_SCHEMA_NS_URI)
                .newSchema(RecipeGatesTest.class.getResource("/junit.xsd"))
                .newValidator()
                .validate(new StreamSource(junit.toFile()));
        Document xml = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(junit.toFile());
        assertThat(((Element) xml.getElementsByTagName("testsuite").item(0)).getAttribute("failures"))
                .isEqualTo("2");
        NodeList failures = xml.getElementsByTagName("failure");
        assertThat(failures.item(0).getTextContent()).isEqualTo("fid.sqnr = " + plain(sqnr.get("value"))
                + ", limit 60");
        assertThat(failures.item(1).getTextContent()).isEqualTo("size.bytes = " + bytes + ", limit 300000");
        assertThat(Files.readString(markdown)).contains("2 of 6 gates failed")
                .contains("| relative | eval.top1-relative-drop | " + plain(relative.get("value")) + " (95% CI "
                        + plain(relative.get("ci95Low")) + " to " + plain(relative.get("ci95High")) + ") | 1 | pass |")
                .contains("| bytes | size.bytes | " + bytes + " | 300000 | **FAIL** |");
    }

    private static String plain(JsonNode number) {
        return java.math.BigDecimal.valueOf(number.asDouble()).stripTrailingZeros().toPlainString();
    }

    @Test
    void anEarlierRunIsTheBaselineSampleBySampleAndAnEvalReportByItsCounts() throws IOException {
        // the accepted run: the README's quantization
        Path accepted = recipe("main.yaml", DATA + "steps:\n  - {name: quantize, pass: quantize-static}\n"
                + "checks:\n  - {name: eval, check: eval}\n  - {name: size, check: size}\n");
        Path mainRun = temp.resolve("main.run");
        Cli.Result first = Cli.run("run", accepted.toString(), "--run-dir", mainRun.toString());
        assertThat(first.exitCode()).as(first.toString()).isZero();

        // a change that costs accuracy: pruning 30% of every layer first (about 1.2 points)
        String candidate = DATA + "steps:\n  - {name: prune, pass: prune, sparsity: 0.3}\n"
                + "  - {name: quantize, pass: quantize-static}\n"
                + "checks:\n  - {name: eval, check: eval}\n  - {name: size, check: size}\n";
        Path change = recipe("change.yaml", "baseline: " + mainRun.resolve("run.json") + "\n" + candidate
                + "gates:\n"
                + "  - {name: regression, metric: eval.top1-drop, against: baseline, max: 0.5}\n"
                + "  - {name: agreement, metric: eval.agreement, against: baseline, min: 0.9}\n"
                + "  - {name: not-worse, metric: eval.mcnemar, against: baseline}\n"
                + "  - {name: growth, metric: size.bytes, against: baseline, max: 1000}\n"
                + "  - {name: drop, metric: eval.top1-drop, max: 5}\n");
        Path run = temp.resolve("change.run");

        Cli.Result second = Cli.run("run", change.toString(), "--run-dir", run.toString());

        assertThat(second.exitCode()).as(second.toString()).isEqualTo(ExitCode.GATE_FAILED);
        // the figures from both runs' per-sample predictions
        JsonNode then = json(mainRun.resolve("01-quantize.json").resolveSibling("02-eval.predictions.json"));
        JsonNode now = json(run.resolve("03-eval.predictions.json"));
        int n = now.get("labels").size();
        long thenRight = 0;
        long nowRight = 0;
        long b = 0;
        long c = 0;
        long agree = 0;
        for (int i = 0; i < n; i++) {
            int label = now.get("labels").get(i).asInt();
            boolean wasRight = then.get("model").get(i).asInt() == label;
            boolean isRight = now.get("model").get(i).asInt() == label;
            thenRight += wasRight ? 1 : 0;
            nowRight += isRight ? 1 : 0;
            b += wasRight && !isRight ? 1 : 0;
            c += isRight && !wasRight ? 1 : 0;
            agree += then.get("model").get(i).asInt() == now.get("model").get(i).asInt() ? 1 : 0;
        }
        assertThat(b).isGreaterThan(c);
        JsonNode regression = json(run.resolve("05-regression.json"));
        assertThat(regression.get("against").asText()).isEqualTo("baseline");
        assertThat(regression.get("value").asDouble()).isCloseTo(100.0 * (thenRight - nowRight) / n, within(1e-6));
        Statistics.Interval paired = Statistics.pairedDifference(thenRight - b, b, c, n - thenRight - c);
        assertThat(regression.get("ci95Low").asDouble()).isCloseTo(100 * paired.low(), within(1e-5));
        assertThat(regression.get("passed").asBoolean()).isFalse();
        assertThat(json(run.resolve("06-agreement.json")).get("value").asDouble())
                .isCloseTo((double) agree / n, within(1e-6));
        JsonNode mcnemar = json(run.resolve("07-not-worse.json"));
        assertThat(mcnemar.get("message").asText()).contains("McNemar b=" + b + " c=" + c)
                .contains("than the baseline");
        assertThat(mcnemar.get("passed").asBoolean()).isFalse();
        // unstructured pruning leaves the weights' bytes as they are: the file changes by a few bytes only
        JsonNode size = json(run.resolve("08-growth.json"));
        assertThat(size.get("value").asLong()).isEqualTo(Files.size(run.resolve("02-quantize.onnx"))
                - Files.size(mainRun.resolve("01-quantize.onnx")));
        assertThat(size.get("passed").asBoolean()).isTrue();
        assertThat(second.out()).contains("regression: FAIL: top-1 drop").contains("baseline " + percent(thenRight, n))
                .contains("drop: PASS");

        // an eval report as the baseline: the same drop from its counts, unpaired (a wider interval), no McNemar
        Path fromReport = recipe("report.yaml", "baseline: " + mainRun.resolve("02-eval.json") + "\n" + candidate
                + "gates:\n  - {name: regression, metric: eval.top1-drop, against: baseline, max: 0.5}\n");
        Cli.Result third = Cli.run("run", fromReport.toString(), "--run-dir", run.toString());

        assertThat(third.exitCode()).as(third.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(third.out()).contains("(4 of 5 steps cached)");
        JsonNode unpaired = json(run.resolve("05-regression.json"));
        assertThat(unpaired.get("value").asDouble()).isEqualTo(regression.get("value").asDouble());
        assertThat(unpaired.get("ci95High").asDouble() - unpaired.get("ci95Low").asDouble())
                .isGreaterThan(regression.get("ci95High").asDouble() - regression.get("ci95Low").asDouble());
        assertThat(unpaired.get("message").asText()).contains("McNemar not available");

        // which an agreement gate cannot use: a recipe error naming the gate's line, and nothing run
        Path agreement = recipe("agreement.yaml", "baseline: " + mainRun.resolve("02-eval.json") + "\n" + candidate
                + "gates:\n  - name: agreement\n    metric: eval.agreement\n    against: baseline\n    min: 0.9\n");
        Cli.Result fourth = Cli.run("run", agreement.toString(), "--run-dir", temp.resolve("none").toString());

        assertThat(fourth.exitCode()).as(fourth.toString()).isEqualTo(ExitCode.USAGE);
        assertThat(fourth.errLines()).containsExactly("error: " + agreement + ":14: metric 'eval.agreement' against"
                + " the baseline needs its per-sample predictions, which only a run's run.json has (the baseline is"
                + " an eval report)");
        assertThat(temp.resolve("none")).doesNotExist();

        // a baseline run whose files changed since (here its predictions) is no baseline: exit 3 naming the file
        Path predictions = mainRun.resolve("02-eval.predictions.json");
        Files.writeString(predictions, Files.readString(predictions).replaceFirst("\\[ 9,", "[ 8,"));
        Cli.Result fifth = Cli.run("run", change.toString(), "--run-dir", temp.resolve("none").toString());

        assertThat(fifth.exitCode()).as(fifth.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(fifth.errLines()).containsExactly("error: " + change + ":2: baseline " + predictions
                + ": changed since the baseline run (its SHA-256 is not the one run.json records)");
        assertThat(temp.resolve("none")).doesNotExist();
    }

    private static String percent(long count, long n) {
        return String.format(java.util.Locale.ROOT, "%.2f%%", 100.0 * count / n);
    }

    @Test
    void aQuantizeReportIsABaselineForSizeAndAccuracy() throws IOException {
        Path report = temp.resolve("resnet-int8.json");
        Cli.Result command = Cli.run("quantize", "--model", Fixtures.resnet().toString(), "--data",
                Fixtures.calib().toString(), "--eval", Fixtures.heldout().toString(), "--out",
                temp.resolve("resnet-int8.onnx").toString(), "--no-latency-check");
        assertThat(command.exitCode()).as(command.toString()).isZero();
        Path recipe = recipe("same.yaml", "baseline: " + report + "\n" + DATA
                + "steps:\n  - {name: quantize, pass: quantize-static}\n"
                + "checks:\n  - {name: eval, check: eval}\n  - {name: size, check: size}\n"
                + "gates:\n  - {name: same-accuracy, metric: eval.top1-drop, against: baseline, max: 0}\n"
                + "  - {name: same-size, metric: size.ratio, against: baseline, max: 0}\n");

        Cli.Result result = Cli.run("run", recipe.toString(), "--run-dir", temp.resolve("run").toString());

        // the same settings give the same model: no change in either figure
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(json(temp.resolve("run/04-same-accuracy.json")).get("value").asDouble()).isZero();
        assertThat(json(temp.resolve("run/05-same-size.json")).get("value").asDouble()).isZero();
        assertThat(result.out()).contains("same-size: PASS: size over the source's");
    }
}
