package dev.compress.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

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

    /**
     * The 10,000 Fashion-MNIST test images of Debian's {@code dataset-fashion-mnist} (or the folder the
     * {@code compress.fashion.mnist.dir} property names). A test that needs them is skipped, naming the package, on a
     * machine without it, so the README's test command passes on a fresh machine; {@code .ci/run} installs it.
     */
    public static Path debianFashionMnist() {
        Path folder = Path.of(System.getProperty("compress.fashion.mnist.dir", "/usr/share/datasets/fashion-mnist"));
        Assumptions.assumeTrue(Files.isRegularFile(folder.resolve("t10k-images-idx3-ubyte.gz")),
                "Debian package dataset-fashion-mnist is not installed (" + folder + ")");
        return folder;
    }

    /** {@code calibration-data/models/<name>}. */
    public static Path model(String name) {
        return calibrationData().resolve("models").resolve(name);
    }
}
