package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/** The {@code export} step of a recipe: the bundle with the run's provenance and metrics, its budget as gates, cache. */
class RecipeExportTest {
    static final Path RECIPE = TestData.calibrationData().resolve("recipes/resnet-quantize-export.yaml");

    @TempDir
    Path temp;

    /** The shipped recipe in {@code temp} (paths made absolute), with {@code old} replaced by {@code replacement}. */
    private Path copy(String old, String replacement) throws IOException {
        String text = Files.readString(RECIPE);
        assertThat(text).contains(old);
        Path file = temp.resolve("export.yaml");
        Files.writeString(file, text.replace("../", TestData.calibrationData() + "/").replace(old, replacement));
        return file;
    }

    private static Map<String, String> hashes(Path folder) throws Exception {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(folder)) {
            for (Path file : list.toList()) {
                files.put(file.getFileName().toString(), ExportCommandTest.sha256(Files.readAllBytes(file)));
            }
        }
        return files;
    }

    @Test
    void theExportStepBundlesTheRunWithItsProvenanceCachesAndGatesOnItsBudget() throws Exception {
        Path run = temp.resolve("run");
        Path shipped = copy("budget: rpi5", "budget: rpi5");

        Cli.Result first = Cli.run("run", shipped.toString(), "--run-dir", run.toString());

        assertThat(first.exitCode()).as(first.toString()).isZero();
        assertThat(first.out()).contains("(0 of 4 steps cached)").contains("bundle.memory: PASS: memory: ");
        Path zip = run.resolve("02-bundle.zip");
        assertThat(Cli.run("verify", zip.toString()).exitCode()).isZero();
        Map<String, byte[]> files = ExportCommandTest.unzip(zip);
        JsonNode manifest = Json.MAPPER.readTree(files.get("manifest.json"));
        JsonNode recipe = manifest.at("/provenance/recipe");
        assertThat(recipe.at("/sourceModel/sha256").asText()).isEqualTo(ExportCommandTest.sha256(
                Files.readAllBytes(Fixtures.resnet())));
        assertThat(recipe.at("/steps/0/pass").asText()).isEqualTo("quantize-static");
        assertThat(recipe.at("/steps/0/method").asText()).isEqualTo("minmax");
        assertThat(recipe.at("/steps").size()).isEqualTo(1);
        assertThat(files.get("source.onnx")).isEqualTo(Files.readAllBytes(Fixtures.resnet()));
        assertThat(manifest.at("/variants/0/role").asText()).isEqualTo("fallback");
        assertThat(recipe.at("/file").asText()).isEqualTo("export.yaml");
        assertThat(recipe.at("/data/calibration/path").asText())
                .isEqualTo(TestData.calibrationData() + "/fashion-mnist/calib");
        assertThat(recipe.at("/data/calibration/sha256").asText()).hasSize(64);
        assertThat(recipe.at("/data/evaluation/samples").asLong()).isEqualTo(2000);
        assertThat(manifest.at("/provenance/compress.quantization/calibrationSamples").asInt()).isEqualTo(500);
        // the metrics are the eval check's, intervals included
        JsonNode eval = Json.MAPPER.readTree(run.resolve("03-eval.json").toFile());
        assertThat(manifest.at("/metrics/top1")).isEqualTo(eval.get("top1"));
        assertThat(manifest.at("/metrics/top1/ci95Low").asDouble()).isPositive();
        assertThat(manifest.at("/metrics/baseline/agreement")).isEqualTo(eval.at("/baseline/agreement"));
        // labels from the eval check's classes, Chinese ones from the step's file
        assertThat(new String(files.get("labels.txt"), java.nio.charset.StandardCharsets.UTF_8))
                .isEqualTo(Files.readString(ExportCommandTest.labels()));
        assertThat(manifest.at("/labelsZh/names/9").asText()).isEqualTo("短靴");
        JsonNode record = Json.MAPPER.readTree(run.resolve("run.json").toFile());
        assertThat(record.at("/gates").findValuesAsText("name")).containsExactly("bundle.size", "bundle.memory",
                "bundle.latency", "top1-drop");

        // unchanged: every step cached, every file the same bytes
        Map<String, String> before = hashes(run);
        Cli.Result again = Cli.run("run", shipped.toString(), "--run-dir", run.toString());
        assertThat(again.out()).contains("(4 of 4 steps cached)");
        assertThat(hashes(run)).isEqualTo(before);

        // a budget the model cannot meet: the export step alone runs again, the bundle keeps its bytes, exit 4
        Path strict = copy("budget: rpi5", "budget: size=8MB,memory=10MB");
        Path junit = temp.resolve("gates.xml");
        Path markdown = temp.resolve("summary.md");
        Cli.Result failed = Cli.run("run", strict.toString(), "--run-dir", run.toString(), "--junit",
                junit.toString(), "--markdown", markdown.toString());
        assertThat(failed.exitCode()).as(failed.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(failed.out()).contains("(3 of 4 steps cached)")
                .contains("bundle.memory: FAIL: memory: ").contains(", limit 10.0 MB: FAIL");
        assertThat(hashes(run).get("02-bundle.zip")).isEqualTo(before.get("02-bundle.zip"));
        Document xml = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(junit.toFile());
        Element failure = (Element) xml.getElementsByTagName("failure").item(0);
        assertThat(xml.getElementsByTagName("failure").getLength()).isEqualTo(1);
        assertThat(((Element) failure.getParentNode()).getAttribute("name"))
                .isEqualTo("bundle.memory (budget size=8MB,memory=10MB)");
        assertThat(failure.getTextContent()).contains("limit 10000000");
        assertThat(Files.readString(markdown)).contains("1 of 3 gates failed").contains("| bundle.memory |");
    }

    static Stream<Arguments> badExportSteps() {
        String head = "model: MODELS/resnet-fp32.onnx\ndata:\n  evaluation: DATA/heldout\nsteps:\n";
        String checks = "checks:\n  - name: eval\n    check: eval\n";
        return Stream.of(
                Arguments.of(head + "  - name: b\n    pass: export\n  - name: p\n    pass: prepare\n", 5,
                        "export step 'b' must be the last step (it bundles the final model)"),
                Arguments.of(head + "  - name: b\n    pass: export\n    budget: pi-zero\n" + checks, 7,
                        "no budget profile 'pi-zero'; known: jetson-nano-2gb, npu-box-4gb, rpi5"),
                Arguments.of(head + "  - name: b\n    pass: export\n    metrics: accuracy\n" + checks, 7,
                        "no eval check named 'accuracy' (eval checks: eval)"),
                Arguments.of(head + "  - name: b\n    pass: export\n    budget: size=8MB,colour=red\n", 7,
                        "budget 'size=8MB,colour=red': unknown limit 'colour' (size, memory, latency)"));
    }

    @ParameterizedTest
    @MethodSource("badExportSteps")
    void aBadExportStepIsOneLineWithExitTwoAndNoRunFolder(String text, int line, String problem) throws IOException {
        Path recipe = temp.resolve("bad.yaml");
        Files.writeString(recipe, text.replace("MODELS", TestData.calibrationData().resolve("models").toString())
                .replace("DATA", TestData.fashionMnist().toString()));
        Path run = temp.resolve("run");

        Cli.Result result = Cli.run("run", recipe.toString(), "--run-dir", run.toString());

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.USAGE);
        assertThat(result.errLines()).containsExactly("error: " + recipe + ":" + line + ": " + problem);
        assertThat(run).doesNotExist();
    }
}
