package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** Command-line mistakes exit 2; help and version exit 0; unexpected failures exit 1. */
class UsageTest {

    private static void assertUsage(Cli.Result result, String message) {
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.USAGE);
        assertThat(result.errLines().get(0)).as(result.toString()).startsWith("error: ").contains(message);
        assertThat(result.err()).contains("--help' for more information");
        assertThat(result.out()).isEmpty();
    }

    @Test
    void noSubcommand() {
        assertUsage(Cli.run(), "Missing required subcommand");
    }

    @Test
    void unknownSubcommand() {
        assertUsage(Cli.run("quantise"), "Unmatched argument");
    }

    @Test
    void unknownOption() {
        assertUsage(Cli.run("inspect", "model.onnx", "--jsn"), "--jsn");
    }

    @Test
    void missingRequiredOptions() {
        assertUsage(Cli.run("quantize", "--model", "m.onnx"), "--out");
        // --data is required unless --dynamic or --table
        assertUsage(Cli.run("quantize", "--model", "m.onnx", "--out", "m-int8.onnx"), "--data");
    }

    @Test
    void gateNeedsMaxDrop() {
        assertUsage(Cli.run("gate", "report.json"), "--max-drop");
    }

    @Test
    void badValues() {
        String[] base = {"quantize", "--model", "m.onnx", "--data", "c", "--out", "o.onnx"};
        assertUsage(Cli.run(concat(base, "--batch-size", "0")), "--batch-size must be at least 1");
        assertUsage(Cli.run(concat(base, "--batch-size", "many")), "--batch-size");
        assertUsage(Cli.run(concat(base, "--activations", "int4")), "int4");
        assertUsage(Cli.run(concat(base, "--mean", "0.5,abc")), "mean");
        assertUsage(Cli.run(concat(base, "--std", "0")), "std");
        assertUsage(Cli.run(concat(base, "--channels", "2")), "--channels must be 1 or 3");
        assertUsage(Cli.run(concat(base, "--image-size", "big")), "image size");
        assertUsage(Cli.run(concat(base, "--layout", "CHWN")), "layout");
        assertUsage(Cli.run(concat(base, "--eval", "d", "--max-drop", "-1")), "--max-drop must be");
        assertUsage(Cli.run("gate", "a.json", "b.json", "c.json", "--max-drop", "1"), "c.json");
    }

    @Test
    void maxDropNeedsSomethingToCompareWith() {
        assertUsage(Cli.run("quantize", "--model", "m.onnx", "--data", "c", "--out", "o.onnx", "--max-drop", "1"),
                "--max-drop needs --eval");
        assertUsage(Cli.run("eval", "--model", "m.onnx", "--data", "d", "--max-drop", "1"),
                "--max-drop needs --baseline");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "quantize", "eval", "gate", "inspect", "score", "debug"})
    void helpExitsZero(String command) {
        Cli.Result result = command.isEmpty() ? Cli.run("--help") : Cli.run(command, "--help");
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(ExitCode.OK);
        assertThat(result.out()).contains("Usage: compress").contains("--verbose").contains("--quiet");
        assertThat(result.err()).isEmpty();
    }

    @Test
    void topLevelHelpListsCommandsAndExitCodes() {
        Cli.Result result = Cli.run("--help");
        assertThat(result.out()).contains("quantize", "eval", "gate", "inspect", "score", "debug", "Exit codes:");
        assertThat(Cli.run("help", "quantize").out()).contains("--data", "--image-size", "--preprocess");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "quantize", "eval", "gate", "inspect", "score", "debug"})
    void versionExitsZero(String command) {
        Cli.Result result = command.isEmpty() ? Cli.run("--version") : Cli.run(command, "--version");
        assertThat(result.exitCode()).isEqualTo(ExitCode.OK);
        assertThat(result.out()).startsWith("compress ").contains("Java ");
    }

    @Test
    void unexpectedFailureIsAnInternalError() {
        CommandLine commandLine = Main.commandLine();
        StringWriter err = new StringWriter();
        commandLine.setErr(new PrintWriter(err, true));
        int code = new Errors().handleExecutionException(new IllegalStateException("boom\nsecond line"),
                commandLine, null);
        assertThat(code).isEqualTo(ExitCode.INTERNAL);
        assertThat(err.toString().lines().toList()).containsExactly(
                "internal error: java.lang.IllegalStateException: boom second line",
                "Rerun with --verbose for the stack trace.");
    }

    @Test
    void exitCodeMapper() {
        Errors errors = new Errors();
        assertThat(errors.getExitCode(dev.compress.CompressException.badInput("x"))).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(errors.getExitCode(dev.compress.CompressException.internal("x", null)))
                .isEqualTo(ExitCode.INTERNAL);
        assertThat(errors.getExitCode(new NullPointerException())).isEqualTo(ExitCode.INTERNAL);
    }

    private static String[] concat(String[] base, String... more) {
        String[] all = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }
}
