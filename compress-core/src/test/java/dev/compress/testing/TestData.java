package dev.compress.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the real test data of the repository lives. Shared with the CLI and benchmark tests through the test-jar.
 *
 * <p>The root is the {@code compress.repo.root} system property (surefire sets it to the Maven project folder), else
 * the nearest folder above the working directory that holds {@code calibration-data}.
 */
public final class TestData {
    private static final String CALIBRATION_DATA = "calibration-data";

    private TestData() {}

    /** The repository root folder. */
    public static Path repoRoot() {
        String property = System.getProperty("compress.repo.root");
        if (property != null && !property.isBlank() && Files.isDirectory(Path.of(property))) {
            return Path.of(property).toAbsolutePath();
        }
        Path start = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve(CALIBRATION_DATA))) {
                return dir;
            }
        }
        throw new IllegalStateException("cannot find the repository root: compress.repo.root is not set and no folder"
                + " above " + start + " holds " + CALIBRATION_DATA);
    }

    /** {@code calibration-data/}: shipped datasets and models. */
    public static Path calibrationData() {
        return repoRoot().resolve(CALIBRATION_DATA);
    }

    /**
     * {@code calibration-data/fashion-mnist/}: {@code calib/} (500 PNGs) and {@code heldout/} (2000 PNGs) in class
     * folders, and {@code labels.txt}.
     */
    public static Path fashionMnist() {
        return calibrationData().resolve("fashion-mnist");
    }

    /** {@code calibration-data/models/<name>}. */
    public static Path model(String name) {
        return calibrationData().resolve("models").resolve(name);
    }
}
