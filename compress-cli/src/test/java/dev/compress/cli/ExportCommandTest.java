package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.compress.Json;
import dev.compress.data.Batch;
import dev.compress.data.DataSources;
import dev.compress.data.Preprocessing;
import dev.compress.export.BudgetCheck;
import dev.compress.export.ManifestSeal;
import dev.compress.export.RequiredOperators;
import dev.compress.graph.OnnxModel;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code compress export} and {@code compress verify} on the shipped ResNet quantized to INT8. */
class ExportCommandTest {
    @TempDir
    static Path shared;

    @TempDir
    Path temp;

    static Path int8;
    static Path report;
    static Path bundle;

    static Path labels() {
        return TestData.fashionMnist().resolve("labels.txt");
    }

    static Path labelsZh() {
        return TestData.fashionMnist().resolve("labels-zh.txt");
    }

    @BeforeAll
    static void quantizeAndExport() {
        int8 = shared.resolve("resnet-int8.onnx");
        report = shared.resolve("resnet-int8.json");
        Cli.Result quantized = Cli.run("quantize", "--model", Fixtures.resnet().toString(), "--data",
                Fixtures.calib().toString(), "--eval", Fixtures.heldout().toString(), "--no-latency-check",
                "--out", int8.toString());
        assertThat(quantized.exitCode()).as(quantized.toString()).isZero();
        bundle = shared.resolve("resnet-int8.zip");
        Cli.Result exported = export(bundle);
        assertThat(exported.exitCode()).as(exported.toString()).isZero();
    }

    static Cli.Result export(Path out) {
        return Cli.run("export", "--model", int8.toString(), "--labels", labels().toString(), "--labels-zh",
                labelsZh().toString(), "--eval-report", report.toString(), "--out", out.toString());
    }

    static Map<String, byte[]> unzip(Path zip) throws IOException {
        Map<String, byte[]> files = new TreeMap<>();
        try (InputStream in = Files.newInputStream(zip); ZipInputStream stream = new ZipInputStream(in)) {
            for (ZipEntry entry = stream.getNextEntry(); entry != null; entry = stream.getNextEntry()) {
                files.put(entry.getName(), stream.readAllBytes());
            }
        }
        return files;
    }

    /** Unzips into {@code folder}, creating subfolders. */
    static void unzipTo(Path zip, Path folder) throws IOException {
        for (Map.Entry<String, byte[]> file : unzip(zip).entrySet()) {
            Path target = folder.resolve(file.getKey());
            Files.createDirectories(target.getParent());
            Files.write(target, file.getValue());
        }
    }

    /** A consistent zip (right CRCs) holding {@code files}: what someone editing a bundle would make. */
    static Path zip(Path zip, Map<String, byte[]> files) throws IOException {
        try (OutputStream out = Files.newOutputStream(zip); ZipOutputStream stream = new ZipOutputStream(out)) {
            for (Map.Entry<String, byte[]> file : files.entrySet()) {
                stream.putNextEntry(new ZipEntry(file.getKey()));
                stream.write(file.getValue());
                stream.closeEntry();
            }
        }
        return zip;
    }

    static String sha256(byte[] content) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
    }

    @Test
    void bundleHoldsTheModelWithItsLabelsAndAManifestOfEveryFile() throws Exception {
        Map<String, byte[]> files = unzip(bundle);
        assertThat(files.keySet()).containsExactly("MODEL_CARD.md", "example/Predict.java", "labels-zh.txt",
                "labels.txt", "manifest.json", "model.onnx", "model.ort", "required_operators.config");
        JsonNode manifest = Json.MAPPER.readTree(files.get("manifest.json"));
        for (String name : files.keySet()) {
            if (!name.equals("manifest.json")) {
                assertThat(manifest.at("/files/" + name.replace("/", "~1") + "/sha256").asText())
                        .as(name).isEqualTo(sha256(files.get(name)));
            }
        }
        assertThat(manifest.at("/model/inputs/0/shape").toString()).isEqualTo("[\"batch\",1,28,28]");
        assertThat(manifest.at("/model/inputs/0/dtype").asText()).isEqualTo("float");
        assertThat(manifest.at("/model/classes").asInt()).isEqualTo(10);
        assertThat(manifest.at("/preprocessing/mean/0").asDouble()).isEqualTo(0.286, org.assertj.core.data.Offset
                .offset(1e-6));
        assertThat(manifest.at("/provenance/compress.quantization/method").asText()).isEqualTo("minmax");
        assertThat(manifest.at("/provenance/sourceModel/file").asText()).isEqualTo("resnet-int8.onnx");
        assertThat(manifest.at("/metrics/samples").asLong()).isEqualTo(2000);
        // the eval report names the models by the absolute paths they were evaluated at; the bundle by file name
        assertThat(manifest.at("/metrics/evaluatedModel").asText()).isEqualTo("resnet-int8.onnx");
        assertThat(new String(files.get("manifest.json"), StandardCharsets.UTF_8)).doesNotContain(shared.toString());
        assertThat(manifest.at("/labelsZh/names/9").asText()).isEqualTo("短靴");
        assertThat(new String(files.get("labels-zh.txt"), StandardCharsets.UTF_8)).startsWith("T恤上衣\n裤子\n");

        Path model = temp.resolve("model.onnx");
        Files.write(model, files.get("model.onnx"));
        Map<String, String> metadata = OnnxModel.load(model).metadata();
        assertThat(metadata.get("names")).startsWith("{0: 'T-shirt_top', 1: 'Trouser',").endsWith("9: 'Ankle boot'}");
        assertThat(metadata.get("imgsz")).isEqualTo("[28, 28]");
        assertThat(metadata.get("compress.labels.zh")).contains("短靴");
        assertThat(metadata.get("compress.preprocess")).contains("\"mean\":[0.286]");

        String card = new String(files.get("MODEL_CARD.md"), StandardCharsets.UTF_8);
        assertThat(card).startsWith("---\n").contains("base_model_relation: quantized\n")
                .contains("resnet-fp32.onnx (baseline) | 92.30% (95% CI 91.05-93.39%)");
    }

    /** Two JVMs, two working folders, model named by relative and by absolute path: the same bytes. */
    @Test
    void bundleIsByteIdenticalAcrossProcessesAndFolders() throws Exception {
        Path first = Files.createDirectories(temp.resolve("one"));
        Path second = Files.createDirectories(temp.resolve("two/deeper"));
        Files.copy(int8, first.resolve("resnet-int8.onnx"));
        runChild(first, "export", "--model", "resnet-int8.onnx", "--labels", labels().toString(), "--labels-zh",
                labelsZh().toString(), "--eval-report", report.toString(), "--out", "bundle.zip");
        runChild(second, "export", "--model", int8.toString(), "--labels", labels().toString(), "--labels-zh",
                labelsZh().toString(), "--eval-report", report.toString(), "--out",
                second.resolve("bundle.zip").toString());
        byte[] expected = Files.readAllBytes(bundle);
        assertThat(Files.readAllBytes(first.resolve("bundle.zip"))).isEqualTo(expected);
        assertThat(Files.readAllBytes(second.resolve("bundle.zip"))).isEqualTo(expected);
    }

    /**
     * ONNX Runtime's work on the calling thread overflowed the main thread's default 1 MB stack in child JVMs here
     * (SIGSEGV at the guard page, exit 139, no hs_err file; it depends on the memory layout, so it comes and goes with
     * unrelated JVM options); the child gets 8 MB.
     */
    static final String CHILD_STACK = "-Xss8m";

    static void runChild(Path folder, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"), CHILD_STACK, "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(folder.toFile()).redirectErrorStream(true)
                .redirectOutput(folder.resolve("child.log").toFile()).start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(Files.readString(folder.resolve("child.log"))).isZero();
    }

    @Test
    void ortCopyLoadsAndGivesTheOnnxCopysOutputs() throws Exception {
        unzipTo(bundle, temp);
        RuntimeOptions basic = RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.BASIC);
        OnnxModel model = OnnxModel.load(temp.resolve("model.onnx"));
        DataSources.Opened data = DataSources.open(Fixtures.heldout(), model, Preprocessing.Overrides.NONE, null);
        try (OrtModel onnx = OrtModel.open(temp.resolve("model.onnx"), basic);
                OrtModel ort = OrtModel.open(temp.resolve("model.ort"), basic)) {
            Iterator<Batch> batches = data.dataset().batches(50);
            for (int i = 0; i < 4; i++) {
                Batch batch = batches.next();
                assertThat(ort.run(batch).get("logits").values()).isEqualTo(onnx.run(batch).get("logits").values());
            }
        }
    }

    /**
     * The config lists what ONNX Runtime itself recorded in model.ort (its kernel type string resolver holds one
     * {@code domain:Op:since} id per op of the graph), and what its BASIC-optimized graph, saved here, holds.
     */
    @Test
    void requiredOperatorsListExactlyTheOpsOfTheOptimizedModel() throws Exception {
        Map<String, byte[]> files = unzip(bundle);
        String config = new String(files.get("required_operators.config"), StandardCharsets.UTF_8);
        Set<String> listed = new TreeSet<>();
        for (String line : config.lines().filter(l -> !l.startsWith("#")).toList()) {
            String[] parts = line.split(";");
            assertThat(parts[1]).isEqualTo("13");
            for (String op : parts[2].split(",")) {
                listed.add(parts[0] + ":" + op);
            }
        }
        Set<String> inOrt = new TreeSet<>();
        Matcher ids = Pattern.compile("([a-z.]*):([A-Z][A-Za-z0-9]*):\\d+\u0000")
                .matcher(new String(files.get("model.ort"), StandardCharsets.ISO_8859_1));
        while (ids.find()) {
            inOrt.add((ids.group(1).isEmpty() ? "ai.onnx" : ids.group(1)) + ":" + ids.group(2));
        }
        assertThat(listed).isEqualTo(inOrt).contains("ai.onnx:QuantizeLinear", "ai.onnx:Conv");

        Path optimized = temp.resolve("optimized.onnx");
        Files.write(temp.resolve("model.onnx"), files.get("model.onnx"));
        OrtModel.open(temp.resolve("model.onnx"), RuntimeOptions.defaults()
                .withOptimization(RuntimeOptions.Optimization.BASIC).withOptimizedModelFile(optimized)).close();
        Set<String> inGraph = new TreeSet<>();
        RequiredOperators.of(OnnxModel.load(optimized)).forEach((domain, ops) ->
                ops.forEach(op -> inGraph.add(domain + ":" + op)));
        assertThat(listed).isEqualTo(inGraph);
    }

    /**
     * Class scores are [N, C]: openWakeWord's speech embedding model ([N, 76, 32, 1] in, [N, 1, 1, 96] out) passed as a
     * 96-class grayscale image classifier, with a model card and an image Predict.java that fit nothing.
     */
    @Test
    void exportRefusesAModelWhoseOutputIsNoClassScores() throws IOException {
        ModelProto cnn;
        try (InputStream in = Files.newInputStream(TestData.model("cnn-fp32.onnx"))) {
            cnn = ModelProto.parseFrom(in);
        }
        GraphProto.Builder graph = cnn.getGraph().toBuilder();
        graph.addInitializer(TensorProto.newBuilder().setName("spatial").setDataType(TensorProto.DataType.INT64_VALUE)
                .addDims(2).addInt64Data(2).addInt64Data(3));
        graph.addNode(NodeProto.newBuilder().setOpType("Unsqueeze").setName("to_map").addInput("logits")
                .addInput("spatial").addOutput("map"));
        ValueInfoProto.Builder map = graph.getOutput(0).toBuilder().setName("map");
        map.getTypeBuilder().getTensorTypeBuilder().getShapeBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(1))
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(1));
        graph.setOutput(0, map);
        Path model = temp.resolve("embedding.onnx");
        Files.write(model, cnn.toBuilder().setGraph(graph).build().toByteArray());
        Path out = temp.resolve("bundle.zip");

        Cli.Result result = Cli.run("export", "--model", model.toString(), "--out", out.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).containsExactly("error: " + model + ": the first output (map FLOAT [batch,10,1,1])"
                + " is not class scores [N, C]; export supports image classifiers");
        assertThat(Fixtures.filesUnder(temp)).containsExactly(model);
    }

    @Test
    void exportRefusesLabelsThatDoNotFitTheModel() throws IOException {
        Path nine = temp.resolve("nine.txt");
        Files.write(nine, Files.readAllLines(labels()).subList(0, 9));
        Path out = temp.resolve("bundle.zip");
        Cli.Result result = Cli.run("export", "--model", int8.toString(), "--labels", nine.toString(), "--out",
                out.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).containsExactly("error: " + nine + ": 9 class names, but the model outputs 10"
                + " classes");
        assertThat(Fixtures.filesUnder(temp)).containsExactly(nine);
    }

    @Test
    void verifyPassesTheBundle() {
        Cli.Result result = Cli.run("verify", bundle.toString(), "--images", Fixtures.heldout().toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).startsWith("OK: " + bundle + ": 8 files match the manifest; model.onnx and model.ort"
                + " agree on 16 samples");
    }

    @Test
    void verifyNamesEveryFileWithAFlippedByte() throws Exception {
        Map<String, byte[]> files = unzip(bundle);
        for (String name : files.keySet()) {
            Map<String, byte[]> changed = new TreeMap<>(files);
            byte[] content = changed.get(name).clone();
            content[content.length / 2] ^= 0x01;
            changed.put(name, content);
            Path zip = zip(temp.resolve("flipped.zip"), changed);
            Cli.Result result = Cli.run("verify", zip.toString());
            assertThat(result.exitCode()).as(name + "\n" + result).isEqualTo(ExitCode.BAD_INPUT);
            assertThat(result.errLines()).as(name).hasSize(1);
            assertThat(result.errLines().get(0)).as(name).startsWith("error: " + zip + "!" + name + ": ");
        }
    }

    @Test
    void verifyNamesTheEntryOfAByteFlippedInTheZip() throws IOException {
        byte[] zip = Files.readAllBytes(bundle);
        zip[zip.length / 2] ^= 0x01; // inside model.onnx or model.ort, the two big entries
        Path flipped = Files.write(temp.resolve("flipped.zip"), zip);
        Cli.Result result = Cli.run("verify", flipped.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).hasSize(1);
        assertThat(result.errLines().get(0)).matches("error: " + Pattern.quote(flipped.toString())
                + "!model\\.(onnx|ort): not a readable zip entry \\(invalid entry CRC.*");
    }

    @Test
    void verifyNamesAMissingFile() throws IOException {
        Map<String, byte[]> files = unzip(bundle);
        files.remove("labels-zh.txt");
        Path zip = zip(temp.resolve("missing.zip"), files);
        Cli.Result result = Cli.run("verify", zip.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).containsExactly("error: " + zip + "!labels-zh.txt: missing (listed in"
                + " manifest.json)");
    }

    /** A manifest re-sealed after one name was dropped, with labels.txt to match: the count no longer fits. */
    @Test
    void verifyRefusesALabelCountThatDiffersFromTheModelsClasses() throws Exception {
        Map<String, byte[]> files = unzip(bundle);
        byte[] nine = String.join("\n", Files.readAllLines(labels()).subList(0, 9)).concat("\n")
                .getBytes(StandardCharsets.UTF_8);
        files.put("labels.txt", nine);
        ObjectNode manifest = (ObjectNode) Json.MAPPER.readTree(files.get("manifest.json"));
        ObjectNode labelsEntry = (ObjectNode) manifest.get("labels");
        labelsEntry.put("count", 9);
        ((com.fasterxml.jackson.databind.node.ArrayNode) labelsEntry.get("names")).remove(9);
        ObjectNode hash = (ObjectNode) manifest.at("/files/labels.txt");
        hash.put("bytes", nine.length);
        hash.put("sha256", sha256(nine));
        manifest.put(ManifestSeal.KEY, ManifestSeal.PLACEHOLDER);
        files.put("manifest.json", ManifestSeal.seal(Json.pretty(manifest)).getBytes(StandardCharsets.UTF_8));
        Path zip = zip(temp.resolve("nine.zip"), files);
        Cli.Result result = Cli.run("verify", zip.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).containsExactly("error: " + zip + "!manifest.json: labels has 9 names (count 9),"
                + " the model outputs 10 classes");
    }

    @Test
    void zipHasFixedTimesSortedEntriesAndNoCompression() throws IOException {
        List<String> names = new ArrayList<>();
        try (InputStream in = Files.newInputStream(bundle); ZipInputStream stream = new ZipInputStream(in)) {
            for (ZipEntry entry = stream.getNextEntry(); entry != null; entry = stream.getNextEntry()) {
                assertThat(entry.getMethod()).isEqualTo(ZipEntry.STORED);
                assertThat(entry.getExtra()).isNull();
                assertThat(entry.getTimeLocal()).isEqualTo(java.time.LocalDateTime.of(1980, 1, 1, 0, 0, 2));
                names.add(entry.getName());
            }
        }
        assertThat(names).isSorted();
    }

    /**
     * The bundle alone, unzipped into a fresh folder, and the ONNX Runtime jar: {@code java -cp onnxruntime.jar
     * Predict.java IMAGE...} (Java's single-file launch) gives, image by image, the top-1 compress's own pipeline
     * gives, with the Chinese name, and as many right as {@code compress eval} counts.
     */
    @Test
    void predictExampleRunsFromTheUnzippedBundleAndAgreesWithEval() throws Exception {
        Path fresh = Files.createDirectories(temp.resolve("fresh"));
        unzipTo(bundle, fresh);
        Path images = Files.createDirectories(temp.resolve("images"));
        List<String> names = Files.readAllLines(labels());
        List<String> chinese = Files.readAllLines(labelsZh());
        List<Path> copied = new ArrayList<>();
        for (String name : names) {
            Path folder = Fixtures.heldout().resolve(name);
            try (Stream<Path> files = Files.list(folder)) {
                for (Path image : files.sorted().limit(3).toList()) {
                    Path copy = Files.createDirectories(images.resolve(name)).resolve(image.getFileName());
                    copied.add(Files.copy(image, copy));
                }
            }
        }
        String ortJar = Stream.of(System.getProperty("java.class.path").split(java.io.File.pathSeparator))
                .filter(entry -> entry.matches(".*/onnxruntime-[0-9.]+\\.jar")).findFirst().orElseThrow();
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"), "-cp", ortJar,
                "Predict.java"));
        copied.forEach(image -> command.add(image.toString()));
        Path log = temp.resolve("predict.log");
        Process process = new ProcessBuilder(command).directory(fresh.resolve("example").toFile())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).isTrue();
        String printed = Files.readString(log, StandardCharsets.UTF_8);
        assertThat(process.exitValue()).as(printed).isZero();

        // top-1 per image as Predict printed it: the image's line, then "  INDEX SCORE NAME" five times
        Map<Path, Integer> predicted = new TreeMap<>();
        List<String> lines = printed.lines().toList();
        for (int i = 0; i < lines.size(); i += 6) {
            Path image = Path.of(lines.get(i));
            String[] top = lines.get(i + 1).strip().split(" ", 3);
            int index = Integer.parseInt(top[0]);
            assertThat(top[2]).isEqualTo(chinese.get(index) + " (" + names.get(index) + ")");
            predicted.put(image, index);
        }
        assertThat(predicted.keySet()).containsExactlyInAnyOrderElementsOf(copied);

        OnnxModel model = OnnxModel.load(int8);
        DataSources.Opened data = DataSources.open(images, model, Preprocessing.Overrides.NONE, labels());
        Map<Path, Integer> expected = new TreeMap<>();
        int right = 0;
        try (OrtModel session = OrtModel.open(int8, RuntimeOptions.defaults())) {
            for (Iterator<Batch> batches = data.dataset().batches(8); batches.hasNext(); ) {
                Batch batch = batches.next();
                float[] logits = session.run(batch).get("logits").values();
                for (int row = 0; row < batch.size(); row++) {
                    int best = 0;
                    for (int c = 1; c < 10; c++) {
                        best = logits[row * 10 + c] > logits[row * 10 + best] ? c : best;
                    }
                    expected.put(batch.sources().get(row), best);
                    right += best == batch.labels()[row] ? 1 : 0;
                }
            }
        }
        assertThat(predicted).isEqualTo(expected);

        Path report = temp.resolve("eval.json");
        Cli.Result eval = Cli.run("eval", "--model", int8.toString(), "--data", images.toString(), "--labels",
                labels().toString(), "--report", report.toString());
        assertThat(eval.exitCode()).as(eval.toString()).isZero();
        assertThat(Json.MAPPER.readTree(report.toFile()).at("/top1/count").asInt()).isEqualTo(right);
        long predictRight = predicted.entrySet().stream()
                .filter(e -> names.get(e.getValue()).equals(e.getKey().getParent().getFileName().toString())).count();
        assertThat(predictRight).isEqualTo(right);
    }

    @Test
    void budgetProfileTheModelMeetsPasses() {
        Path out = temp.resolve("bundle.zip");
        Cli.Result result = Cli.run("export", "--model", int8.toString(), "--out", out.toString(), "--budget", "rpi5");
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).containsPattern("size: [0-9.]+ KB \\(model.onnx\\), limit 64.0 MB: ok\n")
                .containsPattern("memory: [0-9.]+ MB peak RSS \\(of a child JVM: ONNX Runtime session load \\+ 20 runs,"
                        + " 4 threads; JVM included\\), limit 1.00 GB: ok\n")
                .containsPattern("latency: [0-9.]+ ms median \\(host-measured on this machine, not the device: batch 1,"
                        + " 4 threads, 20 runs\\), limit 100 ms: ok\n")
                .endsWith("PASS: budget rpi5\n");
    }

    @Test
    void budgetWithTooLittleMemoryFailsWithExit4AndTheFigure() throws IOException {
        Path out = temp.resolve("bundle.zip");
        Cli.Result result = Cli.run("export", "--model", int8.toString(), "--out", out.toString(), "--budget",
                "size=8MB,memory=20MB");
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(result.out()).containsPattern("\nFAIL: budget size=8MB,memory=20MB: memory [0-9.]+ MB peak RSS is"
                + " above the limit 20.0 MB\n$");
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(sameExportWithoutBudget()));
    }

    /** The bundle of the same export without a budget: a failed budget still writes it. */
    private Path sameExportWithoutBudget() {
        Path plain = temp.resolve("plain.zip");
        assertThat(Cli.run("export", "--model", int8.toString(), "--out", plain.toString()).exitCode()).isZero();
        return plain;
    }

    @Test
    void budgetRefusesAMalformedLimitOrAnUnknownProfile() {
        Path out = temp.resolve("bundle.zip");
        Cli.Result malformed = Cli.run("export", "--model", int8.toString(), "--out", out.toString(), "--budget",
                "memory=600XB");
        assertThat(malformed.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(malformed.errLines()).containsExactly("error: budget 'memory=600XB': size '600XB' is not e.g. 8MB"
                + " or 600MiB");
        Cli.Result unknown = Cli.run("export", "--model", int8.toString(), "--out", out.toString(), "--budget",
                "rpi4");
        assertThat(unknown.exitCode()).isEqualTo(ExitCode.USAGE);
        assertThat(unknown.errLines()).containsExactly("error: no budget profile 'rpi4'; known: jetson-nano-2gb,"
                + " npu-box-4gb, rpi5");
        assertThat(out).doesNotExist();
    }

    /**
     * The peak RSS read from /proc is, within 20%, the maximum RSS /usr/bin/time -v reports for the same child: the
     * probe runs under time, and the figure read from /proc is the wrapped JVM's.
     */
    @Test
    void peakMemoryAgreesWithUsrBinTime() throws Exception {
        org.assertj.core.api.Assumptions.assumeThat(Path.of("/usr/bin/time")).isExecutable();
        Path model = temp.resolve("model.onnx");
        Files.write(model, unzip(bundle).get("model.onnx"));
        Path log = temp.resolve("time.log");
        List<String> timed = new ArrayList<>(List.of("/usr/bin/time", "-v", "-o", log.toString()));
        timed.addAll(BudgetCheck.probeCommand(model, 4, "input", new long[] {1, 1, 28, 28}));
        long fromProc = BudgetCheck.probe(timed).peakRssBytes();

        Matcher max = Pattern.compile("Maximum resident set size \\(kbytes\\): (\\d+)").matcher(Files.readString(log));
        assertThat(max.find()).as(Files.readString(log)).isTrue();
        long fromTime = Long.parseLong(max.group(1)) * 1024;
        assertThat((double) fromProc).isCloseTo(fromTime, org.assertj.core.data.Percentage.withPercentage(20));
    }

    /** --include-source: the fp32 model unchanged as source.onnx, listed with its role, and the same bytes again. */
    @Test
    void includeSourceBundlesTheFp32ModelUnchangedAsAFallback() throws Exception {
        Path first = temp.resolve("first.zip");
        Path second = temp.resolve("second.zip");
        for (Path out : List.of(first, second)) {
            Cli.Result result = Cli.run("export", "--model", int8.toString(), "--labels", labels().toString(),
                    "--include-source", Fixtures.resnet().toString(), "--out", out.toString());
            assertThat(result.exitCode()).as(result.toString()).isZero();
        }
        assertThat(Files.readAllBytes(second)).isEqualTo(Files.readAllBytes(first));
        Map<String, byte[]> files = unzip(first);
        assertThat(files.get("source.onnx")).isEqualTo(Files.readAllBytes(Fixtures.resnet()));
        JsonNode manifest = Json.MAPPER.readTree(files.get("manifest.json"));
        assertThat(manifest.at("/variants/0/file").asText()).isEqualTo("source.onnx");
        assertThat(manifest.at("/variants/0/role").asText()).isEqualTo("fallback");
        assertThat(manifest.at("/files/source.onnx/sha256").asText()).isEqualTo(sha256(files.get("source.onnx")));
        assertThat(Cli.run("verify", first.toString()).exitCode()).isZero();

        // a model that does not take the same input is refused, naming it, and no zip is left
        Path other = Fixtures.int64InputModel(temp.resolve("ids.onnx"));
        Path refused = temp.resolve("refused.zip");
        Cli.Result result = Cli.run("export", "--model", int8.toString(), "--include-source", other.toString(),
                "--out", refused.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).hasSize(1);
        assertThat(result.errLines().get(0)).startsWith("error: " + other + ": ");
        assertThat(refused).doesNotExist();
    }

    /**
     * --measure-latency: measurements.json with the thread count, declared by the manifest and left out of its
     * hashes, so every other file is the same bytes from run to run and verify accepts it.
     */
    @Test
    void measureLatencyAddsAnUnhashedMeasurementsFileAndKeepsEveryOtherFileIdentical() throws Exception {
        List<Map<String, byte[]>> runs = new ArrayList<>();
        for (String name : List.of("one.zip", "two.zip")) {
            Path out = temp.resolve(name);
            Cli.Result result = Cli.run("export", "--model", int8.toString(), "--measure-latency", "2", "--out",
                    out.toString());
            assertThat(result.exitCode()).as(result.toString()).isZero();
            assertThat(Cli.run("verify", out.toString()).exitCode()).isZero();
            runs.add(unzip(out));
        }
        JsonNode measured = Json.MAPPER.readTree(runs.get(0).get("measurements.json"));
        assertThat(measured.at("/latency/threads").asInt()).isEqualTo(2);
        assertThat(measured.at("/latency/medianMs").asDouble()).isPositive();
        assertThat(measured.at("/peakRssBytes").asLong()).isGreaterThan(10_000_000L);
        assertThat(measured.at("/hostMeasured").asBoolean()).isTrue();
        JsonNode manifest = Json.MAPPER.readTree(runs.get(0).get("manifest.json"));
        assertThat(manifest.at("/measurements/file").asText()).isEqualTo("measurements.json");
        assertThat(manifest.at("/files").has("measurements.json")).isFalse();
        for (String name : runs.get(0).keySet()) {
            if (!name.equals("measurements.json")) {
                assertThat(runs.get(1).get(name)).as(name).isEqualTo(runs.get(0).get(name));
            }
        }
        // the same file in a bundle whose manifest does not declare it is an unlisted file
        Map<String, byte[]> plain = unzip(bundle);
        plain.put("measurements.json", runs.get(0).get("measurements.json"));
        Path zip = zip(temp.resolve("undeclared.zip"), plain);
        Cli.Result result = Cli.run("verify", zip.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).containsExactly("error: " + zip + "!measurements.json: not listed in"
                + " manifest.json");

        Cli.Result zero = Cli.run("export", "--model", int8.toString(), "--measure-latency", "0", "--out",
                temp.resolve("zero.zip").toString());
        assertThat(zero.exitCode()).as(zero.toString()).isEqualTo(ExitCode.USAGE);
    }

    /**
     * A model with a dynamic image size records no size (PP-OCR's cls; quantize --image-size keeps it in its report
     * only): export takes the preprocessing the eval report was measured with.
     */
    @Test
    void aDynamicSizeModelTakesItsPreprocessingFromTheEvalReport() throws Exception {
        Path model = Fixtures.dynamicSizePoolModel(temp.resolve("pool.onnx"));
        Path data = temp.resolve("data");
        for (String label : List.of("red", "green", "blue")) {
            Files.createDirectories(data.resolve(label));
            Fixtures.rgbPng(data.resolve(label).resolve("one.png"));
        }
        Path report = temp.resolve("eval.json");
        Cli.Result eval = Cli.run("eval", "--model", model.toString(), "--data", data.toString(), "--image-size",
                "16x24", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--report", report.toString());
        assertThat(eval.exitCode()).as(eval.toString()).isZero();

        Path without = temp.resolve("without.zip");
        Cli.Result refused = Cli.run("export", "--model", model.toString(), "--out", without.toString());
        assertThat(refused.exitCode()).as(refused.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(refused.errLines()).containsExactly("error: " + model + ": input 'x' has dynamic height/width;"
                + " pass --image-size HxW");

        Path out = temp.resolve("bundle.zip");
        Cli.Result exported = Cli.run("export", "--model", model.toString(), "--eval-report", report.toString(),
                "--out", out.toString());
        assertThat(exported.exitCode()).as(exported.toString()).isZero();
        JsonNode manifest = Json.MAPPER.readTree(unzip(out).get("manifest.json"));
        assertThat(manifest.at("/preprocessing/resize").toString()).isEqualTo("[16,24]");
        assertThat(manifest.at("/preprocessing/mean/0").asDouble()).isEqualTo(0.5);
        assertThat(Cli.run("verify", out.toString()).exitCode()).isZero();
    }
}
