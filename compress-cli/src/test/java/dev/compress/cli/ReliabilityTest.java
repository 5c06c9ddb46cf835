package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import dev.compress.Json;
import dev.compress.eval.EvalReport;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;
import java.util.zip.CRC32;
import java.util.zip.DeflaterOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The defects of issue 15, each as the hostile or careless run that found it: no command writes over its inputs,
 * the gate cannot be talked past, decompression bombs and malformed models end in exit 3 with one line.
 */
class ReliabilityTest {
    @TempDir
    Path temp;

    private Path model;
    private Path calib;

    @BeforeEach
    void inputs() throws IOException {
        model = Files.copy(Fixtures.cnn(), temp.resolve("model.onnx"));
        calib = Fixtures.smallCalib(temp.resolve("calib"), 4);
    }

    /** Exit {@code code}, one stderr line starting {@code error: <prefix>} and holding {@code problem}. */
    private static void assertError(Cli.Result result, int code, String prefix, String... problem) {
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(code);
        assertThat(result.errLines()).as(result.toString()).hasSize(1);
        assertThat(result.errLines().get(0)).as(result.toString())
                .startsWith("error: " + prefix).contains(problem);
        assertThat(result.err()).doesNotContain("\tat ", "Exception");
    }

    /** {@code input} still holds {@code bytes}. */
    private static void assertUnchanged(Path input, byte[] bytes) throws IOException {
        assertThat(Files.readAllBytes(input)).as(input + " overwritten").isEqualTo(bytes);
    }

    // ---- 1. inputs overwritten

    @Test
    void quantizeReportOverTheModelIsRefused() throws IOException {
        byte[] before = Files.readAllBytes(model);
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(),
                "--out", temp.resolve("q.onnx").toString(), "--report", model.toString());
        assertError(result, ExitCode.BAD_INPUT, model + ": ", "--report would overwrite the --model input");
        assertUnchanged(model, before);
        assertThat(temp.resolve("q.onnx")).doesNotExist();
    }

    @Test
    void evalReportOverTheBaselineIsRefused() throws IOException {
        Path baseline = Files.copy(Fixtures.resnet(), temp.resolve("baseline.onnx"));
        byte[] before = Files.readAllBytes(baseline);
        Cli.Result result = Cli.run("eval", "--model", model.toString(), "--baseline", baseline.toString(),
                "--data", Fixtures.heldout().toString(), "--report", baseline.toString());
        assertError(result, ExitCode.BAD_INPUT, baseline + ": ", "--report would overwrite the --baseline input");
        assertUnchanged(baseline, before);
    }

    @Test
    void calibrateOutOverTheModelThroughALinkIsRefused() throws IOException {
        byte[] before = Files.readAllBytes(model);
        Path link = Files.createSymbolicLink(temp.resolve("table.json"), model);
        Cli.Result result = Cli.run("calibrate", "--model", model.toString(), "--data", calib.toString(),
                "--out", link.toString());
        assertError(result, ExitCode.BAD_INPUT, link + ": ", "--out would overwrite the --model input");
        assertUnchanged(model, before);
    }

    @Test
    void scoreMarkdownOverTheStudentIsRefused() throws IOException {
        byte[] before = Files.readAllBytes(model);
        Cli.Result result = Cli.run("score", "--teacher", Fixtures.resnet().toString(), "--student",
                model.toString(), "--data", calib.toString(), "--markdown", model.toString());
        assertError(result, ExitCode.BAD_INPUT, model + ": ", "--markdown would overwrite the --student input");
        assertUnchanged(model, before);
    }

    @Test
    void debugChartOverTheBaselineIsRefused() throws IOException {
        byte[] before = Files.readAllBytes(model);
        Cli.Result result = Cli.run("debug", "--model", Fixtures.resnet().toString(), "--baseline",
                model.toString(), "--data", calib.toString(), "--chart", model.toString());
        assertError(result, ExitCode.BAD_INPUT, model + ": ", "--chart would overwrite the --baseline input");
        assertUnchanged(model, before);
    }

    @Test
    void aReportOverAnImageOfTheDataFolderIsRefused() throws IOException {
        Path image;
        try (var files = Files.list(calib)) {
            image = files.sorted().findFirst().orElseThrow();
        }
        byte[] before = Files.readAllBytes(image);
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(),
                "--out", temp.resolve("q.onnx").toString(), "--report", image.toString());
        assertError(result, ExitCode.BAD_INPUT, image + ": ", "--report would overwrite a file of the --data folder");
        assertUnchanged(image, before);
    }

    @Test
    void saveTableEqualToTheReportNamesBothOptions() {
        Path json = temp.resolve("q.json");
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(),
                "--out", temp.resolve("q.onnx").toString(), "--save-table", json.toString());
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.USAGE);
        assertThat(result.err()).contains("--report and --save-table name the same file (" + json + ")")
                .doesNotContain("input model");
        assertThat(json).doesNotExist();
    }

    // ---- 2. gate bypass

    /** A paired report: candidate top-1 100 of 1000 against a baseline's 940 (drop 84 points). */
    private Path report(UnaryOperator<ObjectNode> edit) throws IOException {
        EvalReport report = new EvalReport("cand.onnx", "data", 1000, List.of("a", "b"),
                EvalReport.Proportion.of(100, 1000), EvalReport.Proportion.of(1000, 1000),
                List.of(new EvalReport.ClassAccuracy("a", 500, 50, 0.1), new EvalReport.ClassAccuracy("b", 500, 50,
                        0.1)),
                new EvalReport.Baseline("base.onnx", EvalReport.Proportion.of(940, 1000),
                        EvalReport.Proportion.of(1000, 1000), 84, EvalReport.Proportion.of(160, 1000),
                        new EvalReport.McNemar(840, 0, "chi-square-continuity-corrected", 0, true)),
                null);
        ObjectNode tree = (ObjectNode) Json.MAPPER.readTree(report.toJson());
        Path file = temp.resolve("report.json");
        Files.writeString(file, Json.pretty(edit.apply(tree)), StandardCharsets.UTF_8);
        return file;
    }

    @Test
    void gateOnAnHonestReportFails() throws IOException {
        Cli.Result result = Cli.run("gate", report(t -> t).toString(), "--max-drop", "1");
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.GATE_FAILED);
        assertThat(result.out()).startsWith("FAIL: top-1 drop 84 points");
    }

    @Test
    void gateRejectsAnEditedDropPoints() throws IOException {
        Path file = report(t -> {
            ((ObjectNode) t.get("baseline")).put("dropPoints", 0);
            return t;
        });
        assertError(Cli.run("gate", file.toString(), "--max-drop", "1"), ExitCode.BAD_INPUT, file + ": ",
                "inconsistent evaluation report: baseline.dropPoints is 0 but the top-1 counts (940 and 100 of"
                        + " 1000) give 84");
    }

    @Test
    void gateRejectsAMissingDropPoints() throws IOException {
        Path file = report(t -> {
            ((ObjectNode) t.get("baseline")).remove("dropPoints");
            return t;
        });
        assertError(Cli.run("gate", file.toString(), "--max-drop", "1"), ExitCode.BAD_INPUT, file + ": ",
                "not an evaluation report", "dropPoints");
    }

    @Test
    void gateRejectsEditedCountsThatNoLongerMatchTheFractions() throws IOException {
        Path file = report(t -> {
            ((ObjectNode) t.get("top1")).put("count", 940);
            return t;
        });
        assertError(Cli.run("gate", file.toString(), "--max-drop", "1"), ExitCode.BAD_INPUT, file + ": ",
                "top1.fraction is 0.1 but top1.count 940 of 1000 samples gives 0.94");
    }

    @Test
    void gateOnAJsonNullReport() throws IOException {
        Path file = Files.writeString(temp.resolve("null.json"), "null\n");
        assertError(Cli.run("gate", file.toString(), "--max-drop", "1"), ExitCode.BAD_INPUT, file + ": ",
                "not an evaluation report (expected a JSON object, got null)");
    }

    @Test
    void gateOnANullField() throws IOException {
        Path file = report(t -> {
            ((ObjectNode) t.get("baseline")).putNull("dropPoints");
            return t;
        });
        assertError(Cli.run("gate", file.toString(), "--max-drop", "1"), ExitCode.BAD_INPUT, file + ": ",
                "not an evaluation report");
    }

    @Test
    void gateRejectsTrailingGarbage() throws IOException {
        Path file = report(t -> t);
        Files.writeString(file, Files.readString(file) + "{\"top1\": 1}\n");
        assertError(Cli.run("gate", file.toString(), "--max-drop", "1"), ExitCode.BAD_INPUT, file + ": ",
                "not an evaluation report", "Trailing token");
    }

    @Test
    void gateRejectsDuplicateKeys() throws IOException {
        Path file = report(t -> t);
        // a second "baseline" after the real one would win under a lenient parser
        String json = Files.readString(file);
        Files.writeString(file, json.substring(0, json.lastIndexOf('}')) + ", \"samples\" : 1000 }\n");
        assertError(Cli.run("gate", file.toString(), "--max-drop", "1"), ExitCode.BAD_INPUT, file + ": ",
                "not an evaluation report", "Duplicate field 'samples'");
    }

    // ---- 3. decompression bomb

    /**
     * A small PNG declaring {@code width} x {@code height} 8-bit gray pixels: its one IDAT holds the first row (zeros,
     * deflated), so it is a few hundred bytes that a decoder would expand to width x height bytes and more.
     */
    private static byte[] bombPng(int width, int height) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        DataOutputStream fields = new DataOutputStream(header);
        fields.writeInt(width);
        fields.writeInt(height);
        fields.write(new byte[] {8, 0, 0, 0, 0}); // 8-bit gray, deflate, no filter, no interlace
        chunk(out, "IHDR", header.toByteArray());
        ByteArrayOutputStream row = new ByteArrayOutputStream();
        try (DeflaterOutputStream deflated = new DeflaterOutputStream(row)) {
            deflated.write(new byte[width + 1]);
        }
        chunk(out, "IDAT", row.toByteArray());
        chunk(out, "IEND", new byte[0]);
        return bytes.toByteArray();
    }

    private static void chunk(DataOutputStream out, String type, byte[] data) throws IOException {
        byte[] typed = (type + new String(data, StandardCharsets.ISO_8859_1)).getBytes(StandardCharsets.ISO_8859_1);
        out.writeInt(data.length);
        out.write(typed);
        CRC32 crc = new CRC32();
        crc.update(typed);
        out.writeInt((int) crc.getValue());
    }

    @Test
    void anImageDeclaring30000x30000PixelsIsRefusedBeforeDecoding() throws IOException {
        Path bomb = Files.write(calib.resolve("zz-bomb.png"), bombPng(30000, 30000));
        Path out = temp.resolve("q.onnx");
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(),
                "--out", out.toString());
        assertError(result, ExitCode.BAD_INPUT, bomb + ": ",
                "image declares 30000x30000 pixels, more than the limit of 64 megapixels");
        assertThat(out).doesNotExist();
    }

    @Command(name = "oom")
    static final class RunsOutOfMemory implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new OutOfMemoryError("Java heap space");
        }
    }

    @Test
    void outOfMemoryIsOneLineWithoutAStackTrace() {
        CommandLine commandLine = Main.commandLine().addSubcommand("oom", new RunsOutOfMemory());
        StringWriter err = new StringWriter();
        commandLine.setErr(new PrintWriter(err, true));
        int code = commandLine.execute("oom");
        assertThat(code).isEqualTo(ExitCode.INTERNAL);
        assertThat(err.toString().lines().toList()).containsExactly("error: out of memory (Java heap space); give"
                + " Java more heap (JAVA_OPTS=-Xmx8g) or lower --batch-size / --threads");
    }

    // ---- 5. malformed weights and inputs

    /** {@code x[1,4] -> MatMul(W[4,3]) -> y}, W's raw data and x's dims as given. */
    private Path matmulModel(String name, int weightBytes, long inputDim) throws IOException {
        ModelProto proto = ModelProto.newBuilder()
                .setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(GraphProto.newBuilder().setName("matmul")
                        .addInput(floatTensor("x", 1, inputDim))
                        .addOutput(floatTensor("y", 1, 3))
                        .addInitializer(TensorProto.newBuilder().setName("W")
                                .setDataType(TensorProto.DataType.FLOAT_VALUE).addDims(4).addDims(3)
                                .setRawData(ByteString.copyFrom(new byte[weightBytes])))
                        .addNode(NodeProto.newBuilder().setOpType("MatMul").setName("matmul")
                                .addInput("x").addInput("W").addOutput("y")))
                .build();
        return Files.write(temp.resolve(name), proto.toByteArray());
    }

    private static ValueInfoProto floatTensor(String name, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long d : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }

    @Test
    void dynamicQuantizationOfAWeightWithFewerValuesThanItsDims() throws IOException {
        Path short_ = matmulModel("short.onnx", 8, 4);
        Path out = temp.resolve("short-int8.onnx");
        Cli.Result result = Cli.run("quantize", "--model", short_.toString(), "--dynamic", "--out", out.toString());
        assertError(result, ExitCode.BAD_INPUT, short_ + ": ", "initializer 'W' holds 8 bytes, but FLOAT dims [4, 3]"
                + " need 48");
        assertThat(out).doesNotExist();
    }

    @Test
    void anInputDimOf2To40() throws IOException {
        Path huge = matmulModel("huge.onnx", 48, 1L << 40);
        Cli.Result result = Cli.run("quantize", "--model", huge.toString(), "--data", calib.toString(),
                "--out", temp.resolve("huge-int8.onnx").toString());
        assertError(result, ExitCode.BAD_INPUT, huge + ": ", "input 'x' has dim 1099511627776, outside 0..");
    }

    @Test
    void pruneRefusesACycle() throws IOException {
        ModelProto cyclic;
        try (var in = Files.newInputStream(matmulModel("ok.onnx", 48, 4))) {
            ModelProto ok = ModelProto.parseFrom(in);
            cyclic = ok.toBuilder().setGraph(ok.getGraph().toBuilder().setNode(0, ok.getGraph().getNode(0)
                    .toBuilder().setInput(0, "y"))).build();
        }
        Path file = Files.write(temp.resolve("cyclic.onnx"), cyclic.toByteArray());
        Cli.Result result = Cli.run("prune", "--model", file.toString(), "--sparsity", "0.5", "--out",
                temp.resolve("cyclic-pruned.onnx").toString());
        assertError(result, ExitCode.BAD_INPUT, file + ": ", "node 'matmul' (MatMul) reads 'y'",
                "topological order");
    }

    // ---- 8. smaller ones

    @Test
    void maxSamplesZeroIsAUsageErrorNotAll() {
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(),
                "--out", temp.resolve("q.onnx").toString(), "--max-samples", "0");
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.USAGE);
        assertThat(result.err()).contains("--max-samples must be at least 1 (leave it out for all samples), got 0");
    }

    @Test
    void threadsAboveTheLimitIsAUsageError() {
        Cli.Result result = Cli.run("calibrate", "--model", model.toString(), "--data", calib.toString(),
                "--out", temp.resolve("t.json").toString(), "--threads", "2000");
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.USAGE);
        assertThat(result.err()).contains("--threads must be in 1..64 (each thread runs its own ONNX Runtime"
                + " session), got 2000");
    }

    @Test
    void inspectOnAFifoIsRefusedInsteadOfBlocking() throws Exception {
        Path fifo = temp.resolve("model-fifo.onnx");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        Cli.Result result = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> Cli.run("inspect",
                fifo.toString()));
        assertError(result, ExitCode.BAD_INPUT, fifo + ": ", "is not a regular file (a FIFO, device or socket)");
    }

    // ---- 8. links and FIFOs in a data folder, ONNX Runtime's own log

    /** {@code calibrate} on the 4-image folder after {@code make} added an entry to it. */
    private Cli.Result calibrateWith(Callable<?> make) throws Exception {
        make.call();
        return Cli.run("calibrate", "--model", model.toString(), "--data", calib.toString(), "--out",
                temp.resolve("table.json").toString());
    }

    @Test
    void aDanglingLinkInTheDataFolderIsReportedNotSkipped() throws Exception {
        Path link = calib.resolve("gone.png");
        Cli.Result result = calibrateWith(() -> Files.createSymbolicLink(link, Path.of("missing.png")));
        assertError(result, ExitCode.BAD_INPUT, link + ": ", "is a link to missing.png, which does not exist");
        assertThat(temp.resolve("table.json")).doesNotExist();
    }

    @Test
    void aLoopingLinkInTheDataFolderIsReportedNotSkipped() throws Exception {
        Path link = calib.resolve("loop.png");
        Cli.Result result = calibrateWith(() -> Files.createSymbolicLink(link, link.getFileName()));
        assertError(result, ExitCode.BAD_INPUT, link + ": ", "is a link that never reaches a file (it loops");
    }

    @Test
    void aFifoInTheDataFolderIsReportedInsteadOfSkipped() throws Exception {
        Path fifo = calib.resolve("pipe.png");
        Cli.Result result = calibrateWith(
                () -> new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        assertError(result, ExitCode.BAD_INPUT, fifo + ": ", "is not a regular file (a FIFO, device or socket)");
    }

    @Test
    void aFifoInAClassFolderIsReportedToo() throws Exception {
        Path labeled = Files.createDirectories(temp.resolve("labeled/shirt"));
        Files.copy(Fixtures.calibImages(1).get(0), labeled.resolve("a.png"));
        Path fifo = labeled.resolve("b.png");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        Cli.Result result = Cli.run("calibrate", "--model", model.toString(), "--data",
                labeled.getParent().toString(), "--out", temp.resolve("table.json").toString());
        assertError(result, ExitCode.BAD_INPUT, fifo + ": ", "is not a regular file");
    }

    /**
     * A model ONNX Runtime loads but fails running (Reshape of 784 values to [3]): the one error line, without the
     * log line ORT printed to the process's stderr in terminal colours before it. Only a child JVM shows native
     * stderr.
     */
    @Test
    void anOnnxRuntimeFailureIsOneLineWithoutItsColouredLog() throws Exception {
        ModelProto proto = ModelProto.newBuilder()
                .setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(GraphProto.newBuilder().setName("reshape")
                        .addInput(floatTensor("x", 1, 1, 28, 28))
                        .addOutput(floatTensor("y", 3))
                        .addInitializer(TensorProto.newBuilder().setName("shape")
                                .setDataType(TensorProto.DataType.INT64_VALUE).addDims(1).addInt64Data(3))
                        .addNode(NodeProto.newBuilder().setOpType("Reshape").setName("reshape")
                                .addInput("x").addInput("shape").addOutput("y")))
                .build();
        Path bad = Files.write(temp.resolve("bad-reshape.onnx"), proto.toByteArray());
        Path err = temp.resolve("child.err");
        Process child = new ProcessBuilder(Cli.childCommand(List.of(), "score", "--teacher", bad.toString(),
                "--student", bad.toString(), "--data", calib.toString()))
                .redirectOutput(temp.resolve("child.out").toFile()).redirectError(err.toFile()).start();
        assertThat(child.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        String printed = Files.readString(err);
        assertThat(child.exitValue()).as(printed).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(printed).as(printed).doesNotContain("\u001b", "[E:onnxruntime");
        assertThat(printed.lines().filter(line -> line.startsWith("error: ")).toList()).as(printed).hasSize(1)
                .allMatch(line -> line.contains("Reshape"));
    }

    // ---- 9. foreign models

    /** {@code quantize --model FILE}: exit 3, naming what the file is and how to get ONNX from it. */
    private void assertForeign(Path file, String... problem) {
        Cli.Result result = Cli.run("quantize", "--dynamic", "--model", file.toString(), "--out",
                temp.resolve("q.onnx").toString());
        assertError(result, ExitCode.BAD_INPUT, file + ": ", problem);
        assertThat(temp.resolve("q.onnx")).doesNotExist();
    }

    @Test
    void aTorchScriptCheckpointIsRecognisedNotAnInvalidTag() {
        assertForeign(dev.compress.testing.TestData.model("resnet-fp32.pt"), "is a TorchScript checkpoint",
                "torch.onnx.export", "prune --apply-masks and score take the TorchScript file itself");
    }

    @Test
    void aTorchSaveCheckpointIsRecognised() throws IOException {
        Path pt = temp.resolve("weights.pth");
        try (java.util.zip.ZipOutputStream zip = new java.util.zip.ZipOutputStream(Files.newOutputStream(pt))) {
            zip.putNextEntry(new java.util.zip.ZipEntry("weights/data.pkl"));
            zip.write(new byte[] {(byte) 0x80, 2, '}', '.'});
            zip.closeEntry();
        }
        assertForeign(pt, "is a PyTorch checkpoint saved with torch.save (weights, no graph)");
    }

    @Test
    void aTfliteModelIsRecognised() throws IOException {
        byte[] flatbuffer = new byte[64];
        System.arraycopy("TFL3".getBytes(StandardCharsets.US_ASCII), 0, flatbuffer, 4, 4);
        assertForeign(Files.write(temp.resolve("model.tflite"), flatbuffer), "is a TensorFlow Lite model",
                "tf2onnx.convert --opset 13 --tflite model.tflite");
    }

    @Test
    void aSavedModelFolderIsRecognised() throws IOException {
        Path folder = Files.createDirectories(temp.resolve("saved"));
        Files.write(folder.resolve("saved_model.pb"), new byte[] {8, 1});
        assertForeign(folder, "is a TensorFlow SavedModel", "--saved-model " + folder);
    }

    @Test
    void aSafetensorsFileIsRecognised() throws IOException {
        byte[] header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
                .getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        file.write(java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(header.length)
                .array());
        file.write(header);
        file.write(new byte[4]);
        assertForeign(Files.write(temp.resolve("model.safetensors"), file.toByteArray()),
                "is a safetensors file: weights only, no graph");
    }

    /** {@code y = x * float(sr)}: x [1,4] float and a scalar int64 {@code sr}, as silero VAD's sample rate. */
    private Path scalarInputModel() throws IOException {
        ValueInfoProto sr = ValueInfoProto.newBuilder().setName("sr").setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.INT64_VALUE)
                        .setShape(TensorShapeProto.getDefaultInstance()))).build();
        ModelProto proto = ModelProto.newBuilder()
                .setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(GraphProto.newBuilder().setName("scaled")
                        .addInput(floatTensor("x", 1, 4)).addInput(sr)
                        .addOutput(floatTensor("y", 1, 4))
                        .addNode(NodeProto.newBuilder().setOpType("Cast").setName("cast").addInput("sr")
                                .addOutput("srf").addAttribute(dev.compress.onnx.proto.Onnx.AttributeProto.newBuilder()
                                        .setName("to").setType(dev.compress.onnx.proto.Onnx.AttributeProto
                                                .AttributeType.INT).setI(TensorProto.DataType.FLOAT_VALUE)))
                        .addNode(NodeProto.newBuilder().setOpType("Mul").setName("mul").addInput("x").addInput("srf")
                                .addOutput("y")))
                .build();
        return Files.write(temp.resolve("scalar-input.onnx"), proto.toByteArray());
    }

    @Test
    void scalarNpyFilesFeedAScalarInput() throws IOException {
        Path scalar = scalarInputModel();
        Path data = temp.resolve("npy");
        Files.createDirectories(data.resolve("x"));
        Files.createDirectories(data.resolve("sr"));
        for (int i = 0; i < 3; i++) {
            dev.compress.data.NpyWriter.floats(data.resolve("x/s" + i + ".npy"), new long[] {4}, i, 1, 2, 3);
            dev.compress.data.NpyWriter.longs(data.resolve("sr/s" + i + ".npy"), new long[0], 16000);
        }
        Cli.Result result = Cli.run("score", "--teacher", scalar.toString(), "--student", scalar.toString(),
                "--data", data.toString(), "--outputs", "embedding");
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).contains("3 samples");
    }

    /** Samples of {@link dev.compress.data.BatchAxisModels}: x [4] and h [2, 3] per sample, in folders x/ and h/. */
    private Path stateSamples(int count) throws IOException {
        Path data = temp.resolve("state-npy");
        Files.createDirectories(data.resolve("x"));
        Files.createDirectories(data.resolve("h"));
        for (int i = 0; i < count; i++) {
            dev.compress.data.NpyWriter.floats(data.resolve("x/s" + i + ".npy"), new long[] {4}, i, -1, 2, i % 3);
            dev.compress.data.NpyWriter.floats(data.resolve("h/s" + i + ".npy"), new long[] {2, 3}, 0.5f * i, -1, 1,
                    -i, 2, 0.25f);
        }
        return data;
    }

    @Test
    void staticQuantizationOfAModelWhoseStateStacksSamplesOnItsSecondAxis() throws IOException {
        Path model = temp.resolve("state.onnx");
        dev.compress.data.BatchAxisModels.stateModel(false).save(model);
        Path data = stateSamples(12);
        Path out = temp.resolve("state-int8.onnx");
        String[] args = {"quantize", "--model", model.toString(), "--data", data.toString(), "--batch-size", "4",
            "--out", out.toString()};
        // unnamed dims: h [2, ?, 3] stacks four samples of [2, 3] as [4, 2, 3], which ONNX Runtime refuses
        Cli.Result unsaid = Cli.run(args);
        assertThat(unsaid.exitCode()).as(unsaid.toString()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(Files.exists(out)).isFalse();
        Cli.Result said = Cli.run(java.util.stream.Stream.concat(java.util.Arrays.stream(args),
                java.util.stream.Stream.of("--batch-axis", "h=1")).toArray(String[]::new));
        assertThat(said.exitCode()).as(said.toString()).isZero();
        // the fidelity check reads hn [2, batch, 3] (Relu, left in float) per sample on axis 1 too
        com.fasterxml.jackson.databind.JsonNode report = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(temp.resolve("state-int8.json").toFile());
        List<String> checked = new java.util.ArrayList<>();
        report.findValues("outputs").forEach(outputs -> outputs.forEach(o -> {
            checked.add(o.get("name").asText());
            if (o.get("name").asText().equals("hn")) {
                assertThat(o.get("meanCosine").asDouble()).isEqualTo(1.0);
            }
        }));
        assertThat(checked).contains("y", "hn");
        assertThat(dev.compress.graph.OnnxModel.load(out).graph().nodes())
                .anyMatch(node -> node.opType().equals("QuantizeLinear"));
    }

    @Test
    void scoreWithoutParitySaysNothingOfExceedingATolerance() {
        String[] args = {"score", "--teacher", Fixtures.resnet().toString(), "--student", Fixtures.cnn().toString(),
            "--data", calib.toString()};
        Cli.Result plain = Cli.run(args);
        assertThat(plain.exitCode()).as(plain.toString()).isZero();
        assertThat(plain.out()).contains("max |diff|").doesNotContain("tolerance");
        Cli.Result parity = Cli.run(java.util.stream.Stream.concat(java.util.Arrays.stream(args),
                java.util.stream.Stream.of("--parity")).toArray(String[]::new));
        assertThat(parity.out()).contains("EXCEEDS tolerance");
    }

    /** {@code y = flatten(x) . W}: two classes from a 28x28 image. */
    private Path twoClassModel() throws IOException {
        ModelProto proto = ModelProto.newBuilder()
                .setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(GraphProto.newBuilder().setName("two")
                        .addInput(floatTensor("x", 1, 1, 28, 28))
                        .addOutput(floatTensor("y", 1, 2))
                        .addInitializer(TensorProto.newBuilder().setName("W")
                                .setDataType(TensorProto.DataType.FLOAT_VALUE).addDims(784).addDims(2)
                                .setRawData(ByteString.copyFrom(new byte[784 * 2 * 4])))
                        .addNode(NodeProto.newBuilder().setOpType("Flatten").setName("flatten").addInput("x")
                                .addOutput("f"))
                        .addNode(NodeProto.newBuilder().setOpType("MatMul").setName("matmul")
                                .addInput("f").addInput("W").addOutput("y")))
                .build();
        return Files.write(temp.resolve("two-class.onnx"), proto.toByteArray());
    }

    @Test
    void evalOfATwoClassModelShowsNoTop5() throws IOException {
        Path labeled = temp.resolve("labeled");
        List<Path> images = Fixtures.calibImages(4);
        for (int i = 0; i < 4; i++) {
            Path folder = Files.createDirectories(labeled.resolve(i % 2 == 0 ? "no" : "yes"));
            Files.copy(images.get(i), folder.resolve(images.get(i).getFileName()));
        }
        Cli.Result result = Cli.run("eval", "--model", twoClassModel().toString(), "--data", labeled.toString(),
                "--report", temp.resolve("eval.json").toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.out()).contains("top-1 ").doesNotContain("top-5");
    }

    @Test
    void evalOfNpySamplesWithoutLabelsSuggestsLabelsNpy() throws IOException {
        Path data = Files.createDirectories(temp.resolve("npy"));
        dev.compress.data.NpyWriter.floats(data.resolve("s0.npy"), new long[] {1, 28, 28}, new float[784]);
        Cli.Result result = Cli.run("eval", "--model", model.toString(), "--data", data.toString());
        assertError(result, ExitCode.BAD_INPUT, data + ": ", "needs labels.npy beside them");
    }

    /** {@code x -> OP(x, W) -> y}, W 2-D of {@code type}, as an initializer or, with {@code constant}, a Constant. */
    private Path weightModel(String name, String op, TensorProto.DataType type, boolean constant, long... dims)
            throws IOException {
        long count = java.util.Arrays.stream(dims).reduce(1, (a, b) -> a * b);
        int size = type == TensorProto.DataType.FLOAT16 ? 2 : 4;
        // fp32 weights 0.1, 0.2, ... (magnitude order = element order); fp16 weights zero
        java.nio.ByteBuffer raw = java.nio.ByteBuffer.allocate((int) (count * size))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; size == 4 && i < count; i++) {
            raw.putFloat(0.1f * (i + 1));
        }
        TensorProto weight = TensorProto.newBuilder().setName("W").setDataType(type.getNumber())
                .addAllDims(java.util.Arrays.stream(dims).boxed().toList())
                .setRawData(ByteString.copyFrom(raw.array())).build();
        // Conv filters are [out, in, k, k], ConvTranspose filters [in, out, k, k]
        long[] input = op.equals("Conv") ? new long[] {1, dims[1], 4, 4}
                : op.equals("ConvTranspose") ? new long[] {1, dims[0], 4, 4} : new long[] {1, dims[0]};
        GraphProto.Builder graph = GraphProto.newBuilder().setName(name)
                .addInput(tensorOf("x", type, input))
                .addOutput(ValueInfoProto.newBuilder().setName("y").setType(TypeProto.newBuilder().setTensorType(
                        TypeProto.Tensor.newBuilder().setElemType(type.getNumber()))))
                .addNode(NodeProto.newBuilder().setOpType(op).setName(op.toLowerCase(java.util.Locale.ROOT))
                        .addInput("x").addInput("W").addOutput("y"));
        if (constant) {
            graph.addNode(0, NodeProto.newBuilder().setOpType("Constant").setName("w").addOutput("W")
                    .addAttribute(dev.compress.onnx.proto.Onnx.AttributeProto.newBuilder().setName("value")
                            .setType(dev.compress.onnx.proto.Onnx.AttributeProto.AttributeType.TENSOR)
                            .setT(weight)));
        } else {
            graph.addInitializer(weight);
        }
        ModelProto proto = ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).setGraph(graph).build();
        return Files.write(temp.resolve(name), proto.toByteArray());
    }

    private static ValueInfoProto tensorOf(String name, TensorProto.DataType type, long... dims) {
        ValueInfoProto floats = floatTensor(name, dims);
        return floats.toBuilder().setType(floats.getType().toBuilder().setTensorType(
                floats.getType().getTensorType().toBuilder().setElemType(type.getNumber()))).build();
    }

    @Test
    void dynamicQuantizationOfAnFp16ConvDoesNotSendTheUserToStaticQuantization() throws IOException {
        Path fp16 = weightModel("conv-fp16.onnx", "Conv", TensorProto.DataType.FLOAT16, false, 2, 1, 3, 3);
        Cli.Result result = Cli.run("quantize", "-q", "--dynamic", "--model", fp16.toString(), "--out",
                temp.resolve("q.onnx").toString());
        assertError(result, ExitCode.BAD_INPUT, fp16 + ": ",
                "(1 Conv: weight is FLOAT16 (fp16 models are not quantized: convert to fp32 first))");
        assertThat(result.err()).doesNotContain("use static quantization");
        // an fp32 ConvTranspose is pointed to static quantization: ONNX has no integer form of it
        Path fp32 = weightModel("deconv-fp32.onnx", "ConvTranspose", TensorProto.DataType.FLOAT, false, 1, 2, 3, 3);
        assertError(Cli.run("quantize", "-q", "--dynamic", "--model", fp32.toString(), "--out",
                temp.resolve("q32.onnx").toString()), ExitCode.BAD_INPUT, fp32 + ": ",
                "(1 ConvTranspose: dynamic mode quantizes only MatMul, Gemm, Conv, LSTM and Gather (ONNX has no"
                        + " integer ConvTranspose; use static quantization))");
    }

    /** {@code prune} on {@code model}: nothing to prune, and {@code reason} why. */
    private void assertNothingToPrune(Path model, String reason) {
        Cli.Result result = Cli.run("prune", "-q", "--model", model.toString(), "--sparsity", "0.5", "--out",
                temp.resolve("p.onnx").toString());
        assertError(result, ExitCode.BAD_INPUT, model + ": ", "nothing to prune", reason);
    }

    /**
     * paddle2onnx and tf2onnx put weights in Constant nodes (PP-OCRv4 rec: 47 Convs); prune said "nothing to prune".
     * They are pruned like initializers: the smallest half of the weight is zero, and the Constant became an
     * initializer of the same name.
     */
    @Test
    void weightsInConstantNodesArePrunedLikeInitializers() throws IOException {
        Path model = weightModel("constant-weight.onnx", "MatMul", TensorProto.DataType.FLOAT, true, 4, 3);
        Path out = temp.resolve("p.onnx");
        Cli.Result result = Cli.run("prune", "-q", "--model", model.toString(), "--sparsity", "0.5", "--out",
                out.toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        GraphProto pruned = ModelProto.parseFrom(Files.readAllBytes(out)).getGraph();
        assertThat(pruned.getNodeList()).extracting(NodeProto::getOpType).containsExactly("MatMul");
        TensorProto w = pruned.getInitializerList().stream().filter(t -> t.getName().equals("W")).findFirst()
                .orElseThrow();
        java.nio.FloatBuffer values = w.getRawData().asReadOnlyByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .asFloatBuffer();
        for (int i = 0; i < 12; i++) {
            assertThat(values.get(i)).as("W[" + i + "]").isEqualTo(i < 6 ? 0f : 0.1f * (i + 1));
        }
    }

    @Test
    void pruneSaysWhyFp16WeightsAreNotPruned() throws IOException {
        assertNothingToPrune(weightModel("matmul-fp16.onnx", "MatMul", TensorProto.DataType.FLOAT16, false, 4, 3),
                "1 have FLOAT16 weights: convert the model to fp32 first");
    }

    /**
     * Fuzz seed 138 of the CNN fixture: the input is 28x3, so the first Gemm's inner dimensions no longer match (1568
     * against 224). ONNX's checker passes it, even with full_check; ONNX Runtime does not load it. Dynamic quantization,
     * which never runs the model, wrote its INT8 copy with exit 0, and that copy failed the full check (7 of 55 such
     * outputs in the 500-mutant run).
     */
    @Test
    void quantizeDynamicRefusesAModelWhoseRewriteCannotLoad() throws IOException {
        Path mutant = Files.write(temp.resolve("mutant.onnx"),
                ModelMutator.mutate(Files.readAllBytes(Fixtures.cnn()), 138));
        Path out = temp.resolve("dynamic.onnx");
        assertError(Cli.run("quantize", "--dynamic", "--model", mutant.toString(), "--out", out.toString()),
                ExitCode.BAD_INPUT, mutant + ": ", "ONNX Runtime cannot load the model",
                "Dimension mismatch in unification between 1568 and 224");
        assertThat(out).doesNotExist();
    }
}
