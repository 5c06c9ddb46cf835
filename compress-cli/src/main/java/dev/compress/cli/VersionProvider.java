package dev.compress.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/** {@code compress --version}: the version Maven recorded in the jar, and the Java runtime. */
public final class VersionProvider implements IVersionProvider {
    static final String POM_PROPERTIES = "/META-INF/maven/dev.compress/compress-cli/pom.properties";

    @Override
    public String[] getVersion() {
        return new String[] {
            "compress " + version(),
            "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ")"
        };
    }

    /** The project version from the jar's pom.properties or manifest; "(development build)" when run from classes. */
    static String version() {
        try (InputStream in = VersionProvider.class.getResourceAsStream(POM_PROPERTIES)) {
            if (in != null) {
                Properties properties = new Properties();
                properties.load(in);
                String version = properties.getProperty("version");
                if (version != null && !version.isBlank()) {
                    return version;
                }
            }
        } catch (IOException e) {
            // fall through to the manifest
        }
        String manifest = VersionProvider.class.getPackage().getImplementationVersion();
        return manifest != null ? manifest : "(development build)";
    }
}
