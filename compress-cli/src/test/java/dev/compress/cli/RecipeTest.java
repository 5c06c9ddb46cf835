package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.stream.StreamSource;
import javax.xml.validation.SchemaFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/** {@code compress run RECIPE.yaml} on the shipped recipe and ResNet: bytes, cache, CI outputs, bad recipes. */
class RecipeTest {
    static final Path RECIPE = TestData.calibrationData().resolve("recipes/resnet-prune-quantize.yaml");

    @TempDir
    Path temp;

    /** The shipped recipe in {@code temp} (paths made absolute), with {@code old} replaced by {@code replacement}. */
    private Path copy(String name, String old, String replacement) throws IOException {
        String text = Files.readString(RECIPE);
        assertThat(text).contains(old);
        Path file = temp.resolve(name);
        Files.writeString(file, text.replace("../", TestData.calibrationData() + "/").replace(old, replacement));
        return file;
    }

    /** {@code compress run ARGS}, its Markdown summary kept from a CI runner's $GITHUB_STEP_SUMMARY. */
    private Cli.Result run(String... args) {
        String[] all = Arrays.copyOf(args, args.length + 2);
        all[args.length] = "--step-summary";
        all[args.length + 1] = temp.resolve("github-step-summary.md").toString();
        return Cli.run(all);
    }

    private static Map<String, String> snapshot(Path folder) throws IOException {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(folder)) {
            for (Path file : list.toList()) {
                files.put(file.getFileName().toString(), new String(Files.readAllBytes(file),
                        java.nio.charset.StandardCharsets.ISO_8859_1));
            }
        }
        return files;
    }

    @Test
    void theShippedRecipeGivesTheChainedCommandsBytesThenCachesEveryStepAndAGateChangeRerunsOnlyThatGate()
            throws IOException {
        Path run = temp.resolve("run");

        Cli.Result first = run("run", RECIPE.toString(), "--run-dir", run.toString());

        assertThat(first.exitCode()).as(first.toString()).isZero();
        assertThat(first.out()).contains("(0 of 6 steps cached)").contains("agreement: PASS");
        Map<String, String> before = snapshot(run);
        assertThat(before).containsOnlyKeys("01-prune.onnx", "01-prune.json", "02-quantize.onnx",
                "02-quantize.json", "03-eval.json", "03-eval.predictions.json", "04-top1-drop.json",
                "05-agreement.json", "06-not-worse.json",
                "run.json", "report.html");
        JsonNode record = Json.MAPPER.readTree(run.resolve("run.json").toFile());
        assertThat(record.at("/steps/1/artifacts/02-quantize.onnx").asText())
                .isEqualTo(sha256(run.resolve("02-quantize.onnx")));
        assertThat(record.at("/passed").asBoolean()).isTrue();

        // the same settings as separate commands: compress prune, then the README's compress quantize on its output
        Path pruned = temp.resolve("pruned.onnx");
        Path quantized = temp.resolve("pruned-int8.onnx");
        assertThat(Cli.run("prune", "--model", Fixtures.resnet().toString(), "--sparsity", "0.1", "--out",
                pruned.toString()).exitCode()).isZero();
        assertThat(Cli.run("quantize", "--model", pruned.toString(), "--data", Fixtures.calib().toString(),
                "--out", quantized.toString(), "--no-latency-check").exitCode()).isZero();
        assertThat(Files.readAllBytes(run.resolve("01-prune.onnx"))).isEqualTo(Files.readAllBytes(pruned));
        assertThat(Files.readAllBytes(run.resolve("02-quantize.onnx"))).isEqualTo(Files.readAllBytes(quantized));

        Cli.Result second = run("run", RECIPE.toString(), "--run-dir", run.toString());

        assertThat(second.exitCode()).as(second.toString()).isZero();
        assertThat(second.out()).contains("(6 of 6 steps cached)");
        assertThat(snapshot(run)).isEqualTo(before);

        // only the agreement gate's limit changes (the copy's paths are absolute: the cache is keyed on contents)
        Path stricter = copy("stricter.yaml", "min: 0.98", "min: 0.99");
        Cli.Result third = run("run", stricter.toString(), "--run-dir", run.toString());

        assertThat(third.exitCode()).as(third.toString()).isZero();
        assertThat(third.out()).contains("(5 of 6 steps cached)").containsPattern("gate +agreement +ran in");
        Map<String, String> after = snapshot(run);
        before.keySet().stream().filter(name -> !name.equals("05-agreement.json") && !name.equals("run.json")
                        && !name.equals("report.html"))
                .forEach(name -> assertThat(after.get(name)).as(name).isEqualTo(before.get(name)));
        assertThat(after.get("05-agreement.json")).contains("\"limit\" : 0.99");

        // a lost artifact is made again; its bytes are the same, so the check after it stays cached
        Files.delete(run.resolve("02-quantize.onnx"));
        Cli.Result fourth = run("run", stricter.toString(), "--run-dir", run.toString());

        assertThat(fourth.exitCode()).as(fourth.toString()).isZero();
        assertThat(fourth.out()).contains("(5 of 6 steps cached)").containsPattern("pass +quantize +ran in");
        assertThat(snapshot(run)).isEqualTo(after);
    }

    @Test
    void aQuantizeOnlyRecipeWritesTheModelOfTheReadmesFirstCommand() throws IOException {
        Path recipe = temp.resolve("quantize.yaml");
        Files.writeString(recipe, "model: " + Fixtures.resnet() + "\ndata:\n  calibration: " + Fixtures.calib()
                + "\n  evaluation: " + Fixtures.heldout() + "\nsteps:\n  - name: quantize\n    pass: quantize-static\n"
                + "checks:\n  - {name: eval, check: eval}\ngates:\n  - {name: drop, metric: eval.top1-drop, max: 1}\n");
        Path readme = temp.resolve("resnet-int8.onnx");

        Cli.Result command = Cli.run("quantize", "--model", Fixtures.resnet().toString(), "--data",
                Fixtures.calib().toString(), "--eval", Fixtures.heldout().toString(), "--max-drop", "1", "--out",
                readme.toString());
        Cli.Result run = run("run", recipe.toString());

        assertThat(command.exitCode()).as(command.toString()).isZero();
        assertThat(run.exitCode()).as(run.toString()).isZero();
        Path folder = temp.resolve("quantize.run");
        assertThat(Files.readAllBytes(folder.resolve("01-quantize.onnx"))).isEqualTo(Files.readAllBytes(readme));
        // the same evaluation figures as the command's report
        JsonNode report = Json.MAPPER.readTree(temp.resolve("resnet-int8.json").toFile());
        JsonNode eval = Json.MAPPER.readTree(folder.resolve("02-eval.json").toFile());
        assertThat(eval.get("top1")).isEqualTo(report.at("/evaluation/top1"));
    }

    @Test
    void aFailedGateExitsFourWithItsFiguresInValidJunitXmlAndMarkdown() throws Exception {
        Path recipe = copy("strict.yaml", "min: 0.98", "min: 0.9999");
        Path junit = temp.resolve("gates.xml");
        Path markdown = temp.resolve("summary.md");
        Path stepSummary = temp.resolve("step-summary.md");
        Files.writeString(stepSummary, "earlier step\n");

        Cli.Result result = Cli.run("run", recipe.toString(), "--junit", junit.toString(), "--markdown",
                markdown.toString(), "--step-summary", stepSummary.toString());

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(result.out()).contains("agreement: FAIL");
        SchemaFactory.newInstance(XMLConstants.W3C_XML_SCHEMA_NS_URI)
                .newSchema(RecipeTest.class.getResource("/junit.xsd"))
                .newValidator()
                .validate(new StreamSource(junit.toFile()));
        Document xml = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(junit.toFile());
        Element suite = (Element) xml.getElementsByTagName("testsuite").item(0);
        assertThat(suite.getAttribute("tests")).isEqualTo("3");
        assertThat(suite.getAttribute("failures")).isEqualTo("1");
        assertThat(xml.getElementsByTagName("testcase").getLength()).isEqualTo(3);
        assertThat(xml.getElementsByTagName("failure").getLength()).isEqualTo(1);
        Element failure = (Element) xml.getElementsByTagName("failure").item(0);
        assertThat(((Element) failure.getParentNode()).getAttribute("name")).isEqualTo("agreement (eval.agreement)");
        assertThat(failure.getAttribute("message")).isEqualTo(
                "FAIL: top-1 agreement with the source 99.45% (95% CI 99.02-99.69%), minimum 99.99%");
        assertThat(failure.getTextContent()).isEqualTo(
                "eval.agreement = 0.9945 (95% CI 0.990178 to 0.996926), limit 0.9999");
        assertThat(Files.readString(markdown)).contains("1 of 3 gates failed")
                .contains("| agreement | eval.agreement | 0.9945 (95% CI 0.990178 to 0.996926) | 0.9999 | **FAIL** |");
        assertThat(Files.readString(stepSummary)).startsWith("earlier step\n### compress run strict.yaml");
    }

    /** A quantize-dynamic step with a latency fallback times its variants on data.calibration. */
    @Test
    void aDynamicStepsLatencyFallbackTimesOnTheCalibrationData() throws IOException {
        Path recipe = temp.resolve("dynamic.yaml");
        Files.writeString(recipe, "model: " + Fixtures.resnet() + "\ndata:\n  calibration: " + Fixtures.calib()
                + "\nsteps:\n  - name: quantize\n    pass: quantize-dynamic\n    latencyFallback: 0.05\n");
        Cli.Result run = run("run", recipe.toString());

        assertThat(run.exitCode()).as(run.toString()).isZero();
        assertThat(temp.resolve("dynamic.run").resolve("01-quantize.onnx")).exists();
    }

    @Test
    void explainPrintsTheRecipeWithItsDefaults() {
        Cli.Result result = run("run", RECIPE.toString(), "--explain");

        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).contains("- pass: quantize-static\n  name: quantize\n  method: minmax\n"
                + "  percentile: 99.99\n  bins: 2048\n  activations: uint8\n").contains("alpha: 0.05");
        assertThat(RECIPE.resolveSibling("resnet-prune-quantize.run")).doesNotExist();
    }

    static Stream<Arguments> badRecipes() {
        String model = "model: MODELS/resnet-fp32.onnx\n";
        return Stream.of(
                Arguments.of(model + "steps:\n  - name: a\n    pass: prepare\n    colour: red\n", 2, 5,
                        "unknown key 'colour' in steps[0] (known: name)"),
                Arguments.of(model + "steps:\n  - name: a\n    pass: prune\n    colour: red\n    sparsity: 0.1\n",
                        2, 5, "unknown key 'colour' in steps[0] (known: exclude, name, scope, sparsity, structured)"),
                Arguments.of(model + "steps:\n  - name: a\n    pass: frobnicate\n", 2, 4,
                        "steps[0]: unknown pass 'frobnicate' (one of prepare, prune, quantize-static,"
                                + " quantize-dynamic, convert-opset, export)"),
                Arguments.of(model + "steps:\n  - name: a\n    pass: prune\n    sparsity: lots\n", 2, 5,
                        "steps[0].sparsity: expected a number, got 'lots'"),
                Arguments.of(model + "data:\n  calibration: DATA/calib\nsteps:\n  - name: q\n    pass: quantize-static\n"
                        + "    latencyFallback: -1\n", 2, 7,
                        "latency fallback seconds must be 0 (off) or a positive number, got -1.0"),
                Arguments.of(model + "steps:\n  - name: a\n    pass: prepare\n  - name: a\n    pass: prepare\n", 2, 5,
                        "duplicate name 'a'"),
                Arguments.of("model: MODELS/missing.onnx\nsteps:\n  - name: a\n    pass: prepare\n", 3, 1,
                        "model MODELS/missing.onnx does not exist"),
                Arguments.of(model + "data:\n  calibration: MODELS/nowhere\nsteps:\n  - name: a\n    pass: prepare\n",
                        3, 3, "calibration data MODELS/nowhere does not exist"),
                Arguments.of(model + "data:\n  evaluation: DATA/heldout\nsteps:\n  - name: a\n    pass: prepare\n"
                        + "checks:\n  - name: eval\n    check: eval\ngates:\n  - name: g\n    metric: eval.cosine\n"
                        + "    min: 0.9\n", 2, 12, "no check produces metric 'eval.cosine' (produced: eval.agreement,"
                        + " eval.mcnemar, eval.top1-drop, eval.top1-relative-drop)"),
                Arguments.of(model + "data:\n  evaluation: DATA/heldout\nsteps:\n  - name: a\n    pass: prepare\n"
                        + "checks:\n  - name: c\n    check: frobnicate\n", 2, 9, "checks[0]: unknown check"
                        + " 'frobnicate' (one of eval, fidelity, latency, size, debug, prune-scan, score)"),
                Arguments.of(model + "steps:\n  - name: a\n    pass: prepare\nchecks:\n  - {name: s, check: size}\n"
                        + "gates:\n  - name: g\n    metric: s.bytes\n    min: 10\n", 2, 8,
                        "gate 'g': bytes takes 'max' (bytes) only"),
                Arguments.of(model + "steps:\n  - name: a\n    pass: prepare\nchecks:\n  - {name: s, check: size}\n"
                        + "gates:\n  - name: g\n    metric: s.bytes\n    against: baseline\n    max: 10\n", 2, 10,
                        "gate 'g' is against the baseline, but the recipe names no 'baseline' (compress run"
                                + " --baseline FILE gives one)"),
                Arguments.of(model + "baseline: MODELS/main.run/run.json\nsteps:\n  - name: a\n    pass: prepare\n",
                        3, 2, "baseline MODELS/main.run/run.json does not exist"),
                Arguments.of(model + "baseline: MODELS/fixtures.json\nsteps:\n  - name: a\n    pass: prepare\n",
                        3, 2, "baseline " + "MODELS/fixtures.json: is neither a run's run.json, an eval report nor a"
                                + " quantize report"),
                Arguments.of(model + "data:\n  calibration: DATA/calib\nsteps:\n  - name: a\n    pass: prepare\n"
                        + "checks:\n  - name: layers\n    check: debug\n", 2, 8, "debug check 'layers' compares"
                        + " INT8 with fp32 layers; the recipe has no quantize step"),
                Arguments.of(model + "data:\n  calibration: DATA/calib\nsteps:\n  - name: a\n    pass: prepare\n"
                        + "checks:\n  - name: f\n    check: fidelity\n    data: evaluation\n", 2, 8,
                        "fidelity check 'f' needs data.evaluation"),
                Arguments.of(model + "steps:\n  - name: q\n    pass: quantize-static\n", 2, 3,
                        "quantize-static step 'q' needs data.calibration"),
                Arguments.of(model + "steps:\n  - name: q\n    pass: quantize-dynamic\n    latencyFallback: 1\n", 2,
                        5, "the latency fallback of quantize-dynamic step 'q' times its variants on"
                                + " data.calibration, which the recipe lacks"),
                Arguments.of("model: MODELS/resnet-fp32.pt\nsteps:\n  - name: a\n    pass: prepare\n", 2, 1,
                        "model MODELS/resnet-fp32.pt is a TorchScript checkpoint; steps rewrite ONNX: give its ONNX"
                                + " export (torch.onnx.export) as 'model' and the checkpoint as 'teacher'"),
                Arguments.of(model + "teacher: MODELS/missing.pt\nsteps:\n  - name: a\n    pass: prepare\n", 3, 2,
                        "teacher MODELS/missing.pt does not exist"),
                Arguments.of(model + "teacher: MODELS/resnet-fp32.pt\ndata:\n  evaluation: DATA/heldout\nsteps:\n"
                        + "  - name: a\n    pass: prepare\nchecks:\n  - name: s\n    check: score\n"
                        + "    temperature: 2\n", 2, 11, "unknown key 'temperature' in checks[0] (known: data, name,"
                        + " outputs, student, temperatures)"),
                Arguments.of(model + "teacher: MODELS/resnet-fp32.pt\ndata:\n  evaluation: DATA/heldout\nsteps:\n"
                        + "  - name: a\n    pass: prepare\nchecks:\n  - name: s\n    check: score\n"
                        + "    temperatures: hot\n", 2, 11, "checks[0].temperatures: expected a list"),
                Arguments.of(model + "data:\n  evaluation: DATA/heldout\nsteps:\n  - name: a\n    pass: prepare\n"
                        + "checks:\n  - name: s\n    check: score\n    student: source\n", 2, 10,
                        "score check 's' would compare the source model with itself: give the recipe a 'teacher'"),
                Arguments.of(model + "teacher: MODELS/resnet-fp32.pt\nsteps:\n  - name: a\n    pass: prepare\n"
                        + "checks:\n  - name: s\n    check: score\n", 2, 7, "score check 's' needs data."),
                Arguments.of(model + "teacher: MODELS/resnet-fp32.pt\ndata:\n  evaluation: DATA/heldout\nsteps:\n"
                        + "  - name: a\n    pass: prepare\nchecks:\n  - {name: s, check: score, outputs: embedding}\n"
                        + "gates:\n  - name: g\n    metric: s.kl\n    max: 0.1\n", 2, 12, "no check produces metric"
                        + " 's.kl' (produced: s.cosine, s.relative-max-diff)"),
                Arguments.of(model + "teacher: MODELS/resnet-fp32.pt\ndata:\n  evaluation: DATA/heldout\nsteps:\n"
                        + "  - name: a\n    pass: prepare\nchecks:\n  - {name: s, check: score}\n"
                        + "gates:\n  - name: g\n    metric: s.agreement\n    max: 0.1\n", 2, 11,
                        "gate 'g': agreement takes 'min' (a fraction in [0, 1]) only"),
                Arguments.of("{\"model\": \"MODELS/resnet-fp32.onnx\",\n \"steps\": [{\"name\": \"a\",\n"
                        + "   \"pass\": \"prune\", \"sparsity\": true}]}\n", 2, 3,
                        "steps[0].sparsity: expected a number, got boolean"));
    }

    @ParameterizedTest
    @MethodSource("badRecipes")
    void aBadRecipeIsOneLineNamingFileAndLineAndLeavesNoRunFolder(String text, int exit, int line, String problem)
            throws IOException {
        Path recipe = temp.resolve("bad.yaml");
        Files.writeString(recipe, text.replace("MODELS", TestData.calibrationData().resolve("models").toString())
                .replace("DATA", TestData.fashionMnist().toString()));
        Path run = temp.resolve("run");

        Cli.Result result = run("run", recipe.toString(), "--run-dir", run.toString());

        assertThat(result.exitCode()).as(result.toString()).isEqualTo(exit);
        assertThat(result.errLines()).hasSize(1);
        assertThat(result.errLines().get(0)).startsWith("error: " + recipe + ":" + line + ": ")
                .contains(problem.replace("MODELS", TestData.calibrationData().resolve("models").toString()));
        assertThat(run).doesNotExist();
    }

    private static String sha256(Path file) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                    .digest(Files.readAllBytes(file)));
        } catch (IOException | java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
