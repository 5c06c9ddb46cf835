package dev.compress.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@link DataOptions} for commands whose data used to be called {@code --calib}, which still works for a release. */
final class CalibDataOptions extends DataOptions {
    @Option(names = "--calib", paramLabel = "DIR", hidden = true)
    void setCalib(Path calib) {
        Deprecation.warn(mixee, "--calib", "--data");
        this.data = calib;
    }
}
