package dev.compress.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.IdxDataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.OnnxModel;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The acceptance figures of the shipped ResNet on all 10,000 Fashion-MNIST test images, read from Debian's
 * dataset-fashion-mnist package (installed by .ci/run): INT8 top-1 within 0.5 points of fp32, 99% agreement.
 */
class FullTestSetAccuracyTest {
    @TempDir
    Path dir;

    static IdxDataset fashionMnistTestSet(OnnxModel model) throws IOException {
        Path folder = TestData.debianFashionMnist();
        return IdxDataset.builder()
                .setImages(folder.resolve("t10k-images-idx3-ubyte.gz"))
                .setLabels(folder.resolve("t10k-labels-idx1-ubyte.gz"))
                .setInputName(ModelInputs.imageInput(model).name())
                .setPreprocessing(ModelInputs.imagePreprocessing(model, Preprocessing.Overrides.NONE))
                .optClassNames(Files.readAllLines(TestData.fashionMnist().resolve("labels.txt")))
                .build();
    }

    @Test
    void resnetInt8MatchesFp32OnTheFullTestSet() throws IOException {
        OnnxModel fp32 = QuantizerTest.fp32("resnet");
        Path int8 = dir.resolve("resnet-int8.onnx");
        QuantizerTest.quantize(fp32, ActivationType.UINT8, List.of()).model().save(int8);

        EvalReport report = Evaluator.builder()
                .setModel(int8)
                .optBaseline(fp32.source().orElseThrow())
                .setData(fashionMnistTestSet(fp32))
                .build()
                .evaluate();

        assertThat(report.samples()).isEqualTo(10_000);
        assertThat(report.baseline().dropPoints()).isBetween(-0.5, 0.5);
        assertThat(report.baseline().agreement().fraction()).isGreaterThanOrEqualTo(0.99);
        assertThat(report.baseline().top1().fraction()).isGreaterThan(0.85);
    }
}
