package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.compress.Json;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every command on the shipped fixtures against what it wrote before the stage-contract rework: models and
 * calibration tables and masks byte for byte (SHA-256; in JSON files, folder names replaced by placeholders first),
 * reports by JSON content (with the same placeholders).
 *
 * <p>The golden files in {@code src/test/resources/golden/} were written by this test on the code before the rework;
 * to write them again after a deliberate change of outputs, run it with {@code -Dgolden.update=true} and say why in
 * the commit. Quantize runs skip the latency check: its timings are the one part of a report that differs from run to
 * run.
 */
class GoldenOutputsTest {
    private static final Path GOLDEN = Path.of("src/test/resources/golden");
    private static final boolean UPDATE = Boolean.getBoolean("golden.update");

    @TempDir
    Path temp;

    private final Map<String, String> hashes = new TreeMap<>();
    private final ObjectNode reports = Json.MAPPER.createObjectNode();

    @Test
    void everyCommandWritesWhatItWroteBefore() throws IOException {
        String cnn = Fixtures.cnn().toString();
        String resnet = Fixtures.resnet().toString();
        String calib = Fixtures.calib().toString();
        String heldout = Fixtures.heldout().toString();

        run("quantize", "--model", cnn, "--data", calib, "--out", file("a.onnx"), "--save-table", file("a.table.json"),
                "--eval", heldout, "--max-drop", "5", "--no-latency-check");
        hash("a.onnx", "a.table.json");
        report("a.json");

        run("calibrate", "--model", resnet, "--data", calib, "--out", file("b.table.json"));
        run("quantize", "--model", resnet, "--table", file("b.table.json"), "--method", "entropy",
                "--activations", "int8", "--out", file("b.onnx"));
        hash("b.table.json", "b.onnx");
        report("b.json");

        run("quantize", "--model", resnet, "--data", calib, "--method", "percentile", "--exclude",
                "/stem/stem.0/Conv", "--out", file("c.onnx"), "--no-latency-check");
        hash("c.onnx");
        report("c.json");

        run("quantize", "--model", cnn, "--dynamic", "--out", file("d.onnx"));
        hash("d.onnx");
        report("d.json");

        run("prune", "--model", cnn, "--sparsity", "0.5", "--out", file("e.onnx"), "--eval", heldout);
        hash("e.onnx", "e.masks.json");
        report("e.json");

        run("prune", "--model", resnet, "--sparsity", "0.6", "--global", "--out", file("f.onnx"));
        hash("f.onnx", "f.masks.json");
        report("f.json");

        run("prune", "--model", resnet, "--sparsity", "0.25", "--structured", "--data", calib,
                "--out", file("g.onnx"));
        hash("g.onnx", "g.masks.json");
        report("g.json");

        run("prune", "--model", cnn, "--apply-masks", file("e.masks.json"), "--out", file("h.onnx"));
        hash("h.onnx", "h.masks.json");
        report("h.json");

        run("prune", "scan", "--model", cnn, "--data", heldout, "--sparsities", "0.5,0.9", "--out", file("i.json"));
        report("i.json");

        run("eval", "--model", file("a.onnx"), "--data", heldout, "--baseline", cnn, "--report", file("j.json"));
        report("j.json");

        run("score", "--teacher", cnn, "--student", file("a.onnx"), "--data", heldout, "--report", file("k.json"));
        report("k.json");

        run("debug", "--model", file("c.onnx"), "--baseline", resnet, "--data", heldout, "--report", file("l.json"));
        report("l.json");

        Cli.Result inspect = run("inspect", resnet, "--json");
        reports.set("inspect", normalized(Json.MAPPER.readTree(inspect.out())));

        Path hashFile = GOLDEN.resolve("hashes.json");
        Path reportFile = GOLDEN.resolve("reports.json");
        if (UPDATE) {
            Files.createDirectories(GOLDEN);
            Json.write(hashFile, hashes);
            Json.write(reportFile, reports);
        }
        Map<?, ?> expectedHashes = Json.MAPPER.readValue(hashFile.toFile(), TreeMap.class);
        assertThat(hashes).isEqualTo(expectedHashes);
        JsonNode expectedReports = Json.MAPPER.readTree(reportFile.toFile());
        for (var names = expectedReports.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            assertThat(reports.get(name)).as(name).isEqualTo(expectedReports.get(name));
        }
        assertThat(reports.size()).isEqualTo(expectedReports.size());

        // every JSON file the commands wrote, and inspect's JSON on stdout, in the one layout of Json.pretty
        try (Stream<Path> files = Files.list(temp)) {
            for (Path json : files.filter(f -> f.toString().endsWith(".json")).sorted().toList()) {
                String text = Files.readString(json, StandardCharsets.UTF_8);
                assertThat(text).as(json.toString()).isEqualTo(reprinted(text));
            }
        }
        assertThat(inspect.out()).isEqualTo(reprinted(inspect.out()));
    }

    /**
     * {@code text} written again token by token through {@link Json#prettyWriter()}, numbers as they are spelled: equal
     * to {@code text} only if it was written in that layout (LF line ends, the same indentation and separators).
     */
    private static String reprinted(String text) throws IOException {
        StringWriter out = new StringWriter();
        try (JsonParser parser = Json.MAPPER.createParser(text);
                JsonGenerator generator = Json.prettyWriter().createGenerator(out)) {
            for (JsonToken token = parser.nextToken(); token != null; token = parser.nextToken()) {
                if (token == JsonToken.VALUE_NUMBER_INT || token == JsonToken.VALUE_NUMBER_FLOAT) {
                    generator.writeNumber(parser.getText());
                } else {
                    generator.copyCurrentEvent(parser);
                }
            }
        }
        return out + "\n";
    }

    private String file(String name) {
        return temp.resolve(name).toString();
    }

    private Cli.Result run(String... args) {
        Cli.Result result = Cli.run(args);
        assertThat(result.exitCode()).as(result.toString()).isZero();
        return result;
    }

    /** Models byte for byte; JSON files (tables, masks) byte for byte after the folder names in them. */
    private void hash(String... names) throws IOException {
        for (String name : names) {
            byte[] bytes = Files.readAllBytes(temp.resolve(name));
            if (name.endsWith(".json")) {
                bytes = placeholders(new String(bytes, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8);
            }
            hashes.put(name, sha256(bytes));
        }
    }

    private void report(String name) throws IOException {
        reports.set(name, normalized(Json.MAPPER.readTree(temp.resolve(name).toFile())));
    }

    private JsonNode normalized(JsonNode report) throws IOException {
        return Json.MAPPER.readTree(placeholders(Json.MAPPER.writeValueAsString(report)));
    }

    /** The temporary folder and the fixture folder replaced by placeholders. */
    private String placeholders(String text) {
        return text.replace(temp.toString(), "$OUT")
                .replace(Fixtures.calib().getParent().getParent().toString(), "$DATA");
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
