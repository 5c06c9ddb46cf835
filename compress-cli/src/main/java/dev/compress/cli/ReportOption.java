package dev.compress.cli;

import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code --report FILE.json} for commands that write a report but no model; {@code --json FILE}, its old spelling in
 * {@code score} and {@code debug}, still works for a release.
 */
final class ReportOption {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    Path report;

    @Option(names = "--report", paramLabel = "FILE.json", order = 60,
            description = "Write the report as JSON. Default: none.")
    void setReport(Path report) {
        this.report = report;
    }

    @Option(names = "--json", paramLabel = "FILE.json", hidden = true)
    void setJson(Path report) {
        Deprecation.warn(mixee, "--json FILE", "--report FILE");
        this.report = report;
    }

    /** The report file, or null. */
    Path report() {
        return report;
    }
}
