package dev.compress.cli;

import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code --out} and {@code --report}: the model a command writes and its JSON report beside it. Checked before any
 * work, so a long run does not fail at the end for a typo in a path, and never written over an input.
 */
final class OutputOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    // not required = true: picocli would then demand it of 'compress prune' even when its subcommand runs
    @Option(names = "--out", paramLabel = "OUT", order = 3,
            description = "Required. Where to write the model (.onnx). Its folder must exist.")
    Path out;

    @Option(names = "--report", paramLabel = "FILE.json", order = 60,
            description = "Where to write the JSON report. Default: OUT with .json instead of .onnx.")
    Path report;

    /** {@code --out}; a usage error when it was not given. */
    Path out() {
        if (out == null) {
            throw new ParameterException(mixee.commandLine(), "Missing required option: '--out=OUT'");
        }
        return out;
    }

    /** {@code --report}, or OUT with {@code .json} instead of {@code .onnx}. */
    Path report() {
        return report != null ? report : beside(out(), ".json");
    }

    /** Adds --out (a model, with its external data file) and --report to the files {@code check} covers. */
    Outputs.Check addTo(Outputs.Check check) {
        return check.model("--out", out()).output("--report", report());
    }

    /** {@code model.onnx} → {@code model<suffix>}; other names get the suffix appended. */
    static Path beside(Path file, String suffix) {
        String name = file.getFileName().toString();
        String lower = name.toLowerCase(Locale.ROOT);
        String base = lower.endsWith(".onnx") || lower.endsWith(".json") ? name.substring(0, name.length() - 5)
                : lower.endsWith(".pt") ? name.substring(0, name.length() - 3) : name;
        return file.resolveSibling(base + suffix);
    }
}
