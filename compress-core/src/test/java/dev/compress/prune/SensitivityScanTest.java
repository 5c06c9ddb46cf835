package dev.compress.prune;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Dataset;
import dev.compress.eval.Evaluator;
import dev.compress.graph.OnnxModel;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sensitivity scan of the shipped CNN on the held-out images. */
class SensitivityScanTest {
    @TempDir
    Path dir;

    @Test
    void scansEveryLayerAndTheWholeModelAndPlotsDeterministically() throws IOException {
        OnnxModel model = OnnxModel.load(TestData.model("cnn-fp32.onnx"));
        Dataset heldout = StructuredPruningTest.heldout(model);
        SensitivityReport report = SensitivityScan.builder().setModel(model).setData(heldout)
                .optLayerSparsities(List.of(0.9, 0.5)).optGlobalSparsities(List.of(0.5)).build().scan();

        assertThat(report.baselineTop1()).isEqualTo(0.903);
        assertThat(report.samples()).isEqualTo(2000);
        assertThat(report.layers()).extracting(SensitivityReport.LayerCurve::weight)
                .containsExactly("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight");
        for (SensitivityReport.LayerCurve layer : report.layers()) {
            assertThat(layer.points()).extracting(SensitivityReport.Point::sparsity).containsExactly(0.5, 0.9);
        }
        // one point checked against an independent prune + evaluation
        SensitivityReport.LayerCurve conv1 = report.layers().get(0);
        OnnxModel pruned = Pruner.builder().setModel(model).setSparsity(0)
                .optLayerSparsity(Map.of("/conv1/Conv", 0.9)).build().prune().model();
        double expected = Evaluator.builder().setModel(pruned).setData(heldout).build().evaluate().top1().fraction();
        assertThat(conv1.points().get(1).top1()).isEqualTo(expected);
        // the 144-weight first conv is far more sensitive than the 100k-weight dense layer
        assertThat(conv1.points().get(1).top1()).isLessThan(report.layers().get(2).points().get(1).top1());

        Path a = dir.resolve("a.png");
        Path b = dir.resolve("b.png");
        report.writePlot(a);
        report.writePlot(b);
        byte[] png = Files.readAllBytes(a);
        assertThat(png).startsWith(0x89, 'P', 'N', 'G');
        assertThat(png.length).isGreaterThan(10_000);
        assertThat(Files.readAllBytes(b)).isEqualTo(png);
        assertThat(dev.compress.Json.MAPPER.readValue(report.toJson(), SensitivityReport.class)).isEqualTo(report);
    }
}
