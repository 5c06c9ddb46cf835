package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.StagedFile;
import dev.compress.graph.OnnxModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15, item 7: a {@code quantize} run killed (SIGKILL) or interrupted (SIGINT) at each point of writing its
 * model and report leaves the old pair or the new one, complete, never a new model beside an old report. The run is
 * a child JVM that waits {@link #PAUSE_MILLIS} before and after each step of its commit
 * ({@code compress.test.commitPauseMillis}), so the test can stop it at a known point by watching the folder.
 */
class InterruptedWriteTest {
    private static final long PAUSE_MILLIS = 1500;
    private static final int SIGINT = 2;
    private static final int SIGTERM = 15;

    @TempDir
    Path temp;

    private Path model;
    private Path out;
    private Path report;
    private byte[] oldModel;
    private byte[] oldReport;

    /** An earlier run (static, on 4 images) left q.onnx and q.json; the killed run is a --dynamic one. */
    @BeforeEach
    void earlierRun() throws IOException {
        model = Files.copy(Fixtures.cnn(), temp.resolve("model.onnx"));
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 4);
        Files.createDirectories(temp.resolve("out"));
        out = temp.resolve("out/q.onnx");
        report = temp.resolve("out/q.json");
        Cli.Result first = Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(), "--out",
                out.toString());
        assertThat(first.exitCode()).as(first.toString()).isZero();
        oldModel = Files.readAllBytes(out);
        oldReport = Files.readAllBytes(report);
    }

    @Test
    void sigkillWithAllFilesWrittenBeforeTheCommitLeavesTheOldPair() throws Exception {
        Process child = start();
        awaitThen(child, folder -> has(folder, ".q.json.") && !has(folder, ".compress-commit."));
        child.destroyForcibly().waitFor();
        assertOldPair();
        assertThat(leftovers()).as("a SIGKILL leaves the temporaries").isNotEmpty();
        StagedFile.recover(List.of(out, report));
        assertOldPair();
        assertThat(leftovers()).isEmpty();
    }

    @Test
    void sigkillAfterTheJournalBeforeAnyMoveIsFinishedByTheNextRun() throws Exception {
        Process child = start();
        awaitThen(child, folder -> has(folder, ".journal") && unchanged(out, oldModel));
        child.destroyForcibly().waitFor();
        assertOldPair(); // nothing moved yet
        StagedFile.recover(List.of(out, report));
        assertNewPair();
    }

    @Test
    void sigkillBetweenTheModelAndTheReportIsFinishedByTheNextRun() throws Exception {
        Process child = start();
        awaitThen(child, folder -> has(folder, ".journal") && !unchanged(out, oldModel));
        child.destroyForcibly().waitFor();
        assertThat(Files.readAllBytes(report)).as("the report is still the old one").isEqualTo(oldReport);
        assertThat(leftovers()).as("the journal says what is left to do").anyMatch(f -> f.endsWith(".journal"));
        StagedFile.recover(List.of(out, report));
        assertNewPair();
    }

    @Test
    void aCommandThatOnlyReadsTheModelFinishesTheCommitFirst() throws Exception {
        Process child = start();
        awaitThen(child, folder -> has(folder, ".journal") && !unchanged(out, oldModel));
        child.destroyForcibly().waitFor();
        assertThat(Files.readAllBytes(report)).as("the report is still the old one").isEqualTo(oldReport);
        // inspect writes nothing: it finishes the commit because it reads q.onnx, before reading it
        Cli.Result inspect = Cli.run("inspect", out.toString());
        assertThat(inspect.exitCode()).as(inspect.toString()).isZero();
        assertNewPair();
    }

    @Test
    void aReportInAnotherFolderFindsTheJournalBesideIt() throws Exception {
        Path elsewhere = Files.createDirectories(temp.resolve("reports")).resolve("q.json");
        Files.copy(report, elsewhere);
        Process child = start("--report", elsewhere.toString());
        awaitThen(child, folder -> has(folder, ".journal") && !unchanged(out, oldModel));
        child.destroyForcibly().waitFor();
        assertThat(Files.readAllBytes(elsewhere)).as("the report is still the old one").isEqualTo(oldReport);
        assertThat(has(elsewhere.getParent(), ".journal")).as("a journal beside the report too").isTrue();
        // gate reads only the report, in another folder than the model; it is not an evaluation report (exit 3)
        Cli.Result gate = Cli.run("gate", elsewhere.toString(), "--max-drop", "1");
        assertThat(gate.exitCode()).as(gate.toString()).isEqualTo(ExitCode.BAD_INPUT);
        JsonNode written = Json.readStrict(elsewhere);
        assertThat(written.path("quantization").path("method").asText()).isEqualTo("dynamic");
        assertThat(written.path("size").path("int8Bytes").asLong()).isEqualTo(Files.size(out));
        assertThat(has(elsewhere.getParent(), ".compress-commit.")).isFalse();
    }

    @Test
    void sigkillLeftoversAreCleanedByTheNextRunOfTheSameTarget() throws Exception {
        Process child = start();
        awaitThen(child, folder -> has(folder, ".q.json."));
        child.destroyForcibly().waitFor();
        Cli.Result rerun = Cli.run("quantize", "--dynamic", "--model", model.toString(), "--out", out.toString());
        assertThat(rerun.exitCode()).as(rerun.toString()).isZero();
        assertNewPair();
    }

    @Test
    void sigintBeforeTheCommitLeavesTheOldPairAndNoTemporaries() throws Exception {
        Process child = start();
        awaitThen(child, folder -> has(folder, ".q.json.") && !has(folder, ".compress-commit."));
        int signal = interrupt(child);
        assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(child.exitValue()).isEqualTo(128 + signal);
        assertOldPair();
        assertThat(leftovers()).isEmpty();
    }

    @Test
    void sigintDuringTheCommitWaitsForItToFinish() throws Exception {
        Process child = start();
        awaitThen(child, folder -> has(folder, ".journal") && !unchanged(out, oldModel));
        interrupt(child);
        assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertNewPair();
    }

    private Process start(String... more) throws IOException {
        List<String> command = Cli.childCommand(List.of("-Dcompress.test.commitPauseMillis=" + PAUSE_MILLIS),
                Stream.concat(Stream.of("quantize", "--dynamic", "--model", model.toString(), "--out",
                        out.toString()), Arrays.stream(more)).toArray(String[]::new));
        return new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(temp.resolve("child.log").toFile()).start();
    }

    /** Polls the output folder until {@code point} holds, failing if the child ends or a minute passes first. */
    private void awaitThen(Process child, Predicate<Path> point) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!point.test(out.getParent())) {
            assertThat(child.isAlive()).as("the child ended before the point: " + log()).isTrue();
            assertThat(System.nanoTime()).as("point not reached in 60 s: " + log()).isLessThan(deadline);
            Thread.sleep(10);
        }
    }

    /**
     * Sends the child SIGINT, as Ctrl-C does; or SIGTERM, which runs the same shutdown hook, when the child ignores
     * SIGINT: a command started in the background by a shell without job control (CI scripts, {@code nohup}) has it
     * ignored, the child inherits that, and the JVM then installs no handler. Returns the signal's number.
     */
    private static int interrupt(Process child) throws Exception {
        boolean ignored = Files.readAllLines(Path.of("/proc/" + child.pid() + "/status")).stream()
                .filter(line -> line.startsWith("SigIgn:"))
                .anyMatch(line -> (Long.parseLong(line.substring(7).strip(), 16) & (1L << (SIGINT - 1))) != 0);
        int signal = ignored ? SIGTERM : SIGINT;
        assertThat(new ProcessBuilder("kill", "-" + signal, Long.toString(child.pid())).start().waitFor()).isZero();
        return signal;
    }

    private String log() throws IOException {
        return Files.readString(temp.resolve("child.log"));
    }

    private static boolean has(Path folder, String part) {
        try (Stream<Path> files = Files.list(folder)) {
            return files.anyMatch(f -> f.getFileName().toString().contains(part));
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean unchanged(Path file, byte[] bytes) {
        try {
            return Arrays.equals(Files.readAllBytes(file), bytes);
        } catch (IOException e) {
            return false; // mid-rename
        }
    }

    /** Dot-files in the output folder: temporaries and journals. */
    private List<String> leftovers() throws IOException {
        try (Stream<Path> files = Files.list(out.getParent())) {
            return files.map(f -> f.getFileName().toString()).filter(name -> name.startsWith(".")).toList();
        }
    }

    private void assertOldPair() throws IOException {
        assertThat(Files.readAllBytes(out)).as("the old model").isEqualTo(oldModel);
        assertThat(Files.readAllBytes(report)).as("the old report").isEqualTo(oldReport);
    }

    /** The --dynamic run's model and its report, which describes that very file; nothing left over. */
    private void assertNewPair() throws IOException {
        assertThat(Files.readAllBytes(out)).isNotEqualTo(oldModel);
        assertThat(OnnxModel.load(out).toProto().getGraph().getNodeList())
                .anyMatch(node -> node.getOpType().equals("DynamicQuantizeLinear"));
        JsonNode written = Json.readStrict(report);
        assertThat(written.path("quantization").path("method").asText()).as(written.toString()).isEqualTo("dynamic");
        assertThat(written.path("size").path("int8Bytes").asLong()).isEqualTo(Files.size(out));
        assertThat(leftovers()).isEmpty();
    }
}
