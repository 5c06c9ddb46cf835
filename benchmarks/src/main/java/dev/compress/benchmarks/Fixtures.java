package dev.compress.benchmarks;

import dev.compress.data.Dataset;
import dev.compress.data.IdxDataset;
import dev.compress.data.ImageDataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.graph.OnnxModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The shipped models and data the benchmarks measure, located from the repository root. */
final class Fixtures {
    private Fixtures() {}

    /** The repository root: {@code -Dcompress.repo.root}, else the working directory or its parent. */
    static Path repoRoot() {
        String property = System.getProperty("compress.repo.root");
        if (property != null) {
            return Path.of(property);
        }
        Path here = Path.of("").toAbsolutePath();
        return Files.isDirectory(here.resolve("calibration-data")) ? here : here.getParent();
    }

    static Path model(String name) {
        return repoRoot().resolve("calibration-data/models/" + name + "-fp32.onnx");
    }

    static Path fashionMnist() {
        return repoRoot().resolve("calibration-data/fashion-mnist");
    }

    static Preprocessing preprocessing(OnnxModel model) {
        return ModelInputs.imagePreprocessing(model, Preprocessing.Overrides.NONE);
    }

    /** A folder of the shipped PNG samples ("calib" or "heldout"). */
    static Dataset images(OnnxModel model, String folder) {
        return images(model, fashionMnist().resolve(folder));
    }

    /** A folder of images (class sub-folders, or flat for unlabeled samples) read as the model's metadata says. */
    static Dataset images(OnnxModel model, Path folder) {
        return images(model, folder, preprocessing(model));
    }

    /** A folder of images read with the given preprocessing (models that record none, e.g. PaddleOCR's). */
    static Dataset images(OnnxModel model, Path folder, Preprocessing preprocessing) {
        return ImageDataset.builder()
                .setRoot(folder)
                .setInputName(ModelInputs.imageInput(model).name())
                .setPreprocessing(preprocessing)
                .build();
    }

    /** All 10,000 Fashion-MNIST test images from Debian's dataset-fashion-mnist package. */
    static Dataset testSet(OnnxModel model) throws IOException {
        return idx(model, "t10k");
    }

    /** The 60,000 Fashion-MNIST training images: calibration data apart from the test set. */
    static Dataset trainSet(OnnxModel model) throws IOException {
        return idx(model, "train");
    }

    private static Dataset idx(OnnxModel model, String prefix) throws IOException {
        Path folder = Path.of(System.getProperty("compress.fashion.mnist.dir", "/usr/share/datasets/fashion-mnist"));
        return IdxDataset.builder()
                .setImages(folder.resolve(prefix + "-images-idx3-ubyte.gz"))
                .setLabels(folder.resolve(prefix + "-labels-idx1-ubyte.gz"))
                .setInputName(ModelInputs.imageInput(model).name())
                .setPreprocessing(preprocessing(model))
                .optClassNames(Files.readAllLines(fashionMnist().resolve("labels.txt")))
                .build();
    }
}
