package dev.compress.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/** Runs the real {@code compress} command line in-process with stdout and stderr captured. */
final class Cli {
    private Cli() {}

    /** Exit code and what the command printed. */
    record Result(int exitCode, String out, String err) {
        /** Non-empty stderr lines. */
        List<String> errLines() {
            return err.lines().filter(l -> !l.isBlank()).toList();
        }

        @Override
        public String toString() {
            return "exit " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /**
     * The command line that runs {@code compress ARGS} in a child JVM with this test's class path, its temporary
     * folder, the thread stack ONNX Runtime needs ({@link ExportCommandTest#CHILD_STACK}) and {@code jvmOptions}:
     * for what only a separate process shows (signals, native stderr).
     */
    static List<String> childCommand(List<String> jvmOptions, String... args) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
                ExportCommandTest.CHILD_STACK));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        return command;
    }

    static Result run(String... args) {
        CommandLine commandLine = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        commandLine.setOut(new PrintWriter(out, true));
        commandLine.setErr(new PrintWriter(err, true));
        int code = commandLine.execute(args);
        return new Result(code, out.toString(), err.toString());
    }
}
