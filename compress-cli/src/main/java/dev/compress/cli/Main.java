package dev.compress.cli;

import dev.compress.CompressException;
import dev.compress.StagedFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Mixin;
import picocli.CommandLine;

/**
 * The {@code compress} command. Subcommands only parse arguments and call compress-core; results go to stdout,
 * logs, progress and errors to stderr, and the exit code is one of {@link ExitCode}.
 */
@Command(
        name = "compress",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Compress ONNX models: INT8 quantization and calibration, pruning, accuracy evaluation and gates,"
                + " teacher-student scoring, layer-wise debugging.",
        subcommands = {
            QuantizeCommand.class,
            CalibrateCommand.class,
            PruneCommand.class,
            EvalCommand.class,
            GateCommand.class,
            InspectCommand.class,
            ScoreCommand.class,
            DebugCommand.class,
            RunCommand.class,
            ExportCommand.class,
            VerifyCommand.class,
            HelpCommand.class
        },
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:success (gate passed)",
            "1:internal error (rerun with --verbose for the stack trace)",
            "2:usage error (unknown option, missing argument)",
            "3:bad input (missing or corrupt file, data that does not fit the model)",
            "4:gate failed (accuracy drop above --max-drop, fidelity below --min-fidelity, export --budget exceeded)"
        },
        footer = {"%nDocumentation: docs/cli.md"})
public final class Main {
    @Mixin
    GlobalOptions global;

    public static void main(String[] args) {
        // DJL logs through SLF4J (slf4j-simple, to stderr): warnings and errors only, so stderr stays for our own
        // progress and errors; and no SLF4J self-diagnostics if the backend is missing
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        // DJL's PyTorch engine and its tokenizers probe for CUDA and warn on every CPU-only run; not a problem here
        if (System.getProperty("org.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils") == null) {
            System.setProperty("org.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils", "error");
        }
        if (System.getProperty("slf4j.internal.verbosity") == null) {
            System.setProperty("slf4j.internal.verbosity", "ERROR");
        }
        // ONNX Runtime works on the calling thread and recurses over graphs: the JVM's default 1 MiB thread stack
        // overflowed (SIGSEGV, exit 139, no error printed) quantizing EfficientNet-B0 with nodes excluded and in
        // `eval`; the command runs on a thread with room for it (virtual memory, touched only as deep as used)
        int[] exit = {ExitCode.INTERNAL};
        Thread command = new Thread(null, () -> exit[0] = commandLine().execute(args), "compress", 64L << 20);
        command.start();
        try {
            command.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        System.exit(exit[0]);
    }

    /** The configured command line: error handlers and exit codes set; stdout/stderr can be replaced for tests. */
    public static CommandLine commandLine() {
        CommandLine commandLine = new CommandLine(new Main());
        Errors errors = new Errors();
        commandLine.setExecutionExceptionHandler(errors);
        commandLine.setParameterExceptionHandler(errors);
        commandLine.setExitCodeExceptionMapper(errors);
        // every file the command writes waits in a batch and is moved into place when it returns, so an interrupted
        // or failed run leaves the old outputs, never a new model beside an old report; picocli wraps only
        // exceptions for the handler: an Error (OutOfMemoryError) would end in a stack trace
        CommandLine.IExecutionStrategy run = new CommandLine.RunLast();
        commandLine.setExecutionStrategy(parseResult -> {
            // a commit a SIGKILL cut short is finished before any file it concerns is read
            StagedFile.settle(paths(parseResult));
            try (StagedFile.Batch outputs = StagedFile.Batch.begin()) {
                int exit = run.execute(parseResult);
                outputs.commit();
                return exit;
            } catch (IOException e) {
                throw CompressException.badInput("cannot move the outputs into place (" + e.getMessage() + ")");
            } catch (Error e) {
                throw new CommandLine.ExecutionException(parseResult.commandSpec().commandLine(), e.toString(), e);
            }
        });
        commandLine.setUsageHelpAutoWidth(true);
        return commandLine;
    }

    /** Every file or folder named on the command line, of the command and its subcommands. */
    private static List<Path> paths(CommandLine.ParseResult parseResult) {
        List<Path> paths = new ArrayList<>();
        for (CommandLine.ParseResult r = parseResult; r != null; r = r.subcommand()) {
            List<CommandLine.Model.ArgSpec> args = new ArrayList<>(r.matchedOptions());
            args.addAll(r.matchedPositionals());
            for (CommandLine.Model.ArgSpec arg : args) {
                Object value = arg.getValue();
                if (value instanceof Path path) {
                    paths.add(path);
                } else if (value instanceof Collection<?> values) {
                    values.stream().filter(Path.class::isInstance).map(Path.class::cast).forEach(paths::add);
                }
            }
        }
        return paths;
    }
}
