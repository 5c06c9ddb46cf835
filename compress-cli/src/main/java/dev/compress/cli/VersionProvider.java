package dev.compress.cli;

import dev.compress.Version;
import picocli.CommandLine.IVersionProvider;

/** {@code compress --version}: the project version and the Java runtime. */
public final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {
            "compress " + Version.get(),
            "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ")"
        };
    }
}
