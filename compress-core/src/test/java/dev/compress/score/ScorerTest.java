package dev.compress.score;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.data.Dataset;
import dev.compress.data.ImageDataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.quantize.Quantizer;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Scores the shipped fixtures against each other and against the PyTorch reference figures. */
class ScorerTest {
    @TempDir
    Path dir;

    static Dataset heldOut(String folder) {
        OnnxModel model = OnnxModel.load(TestData.model("cnn-fp32.onnx"));
        return ImageDataset.builder()
                .setRoot(TestData.fashionMnist().resolve(folder))
                .setInputName(ModelInputs.imageInput(model).name())
                .setPreprocessing(ModelInputs.imagePreprocessing(model, Preprocessing.Overrides.NONE))
                .build();
    }

    static ScoreReport score(Path teacher, Path student, Dataset data) {
        return Scorer.builder().setTeacher(teacher).setStudent(student).setData(data).optTemperatures(1, 4).build()
                .score();
    }

    /**
     * ResNet teacher (TorchScript through DJL) vs CNN student (ONNX through ONNX Runtime) on the 2000 held-out
     * images: every metric equals what export_score_reference.py computed with PyTorch.
     */
    @Test
    void matchesPyTorchReferenceForResNetTeacherAndCnnStudent() {
        ScoreReport report = score(TestData.model("resnet-fp32.pt"), TestData.model("cnn-fp32.onnx"),
                heldOut("heldout"));
        JsonNode expected = ScoreReference.pair("resnet-vs-cnn");
        assertThat(report.samples()).isEqualTo(2000);
        ScoreReference.assertMatches(report, expected, 1e-5);
        assertThat(report.labeled().teacherTop1().count()).isEqualTo(expected.get("teacherTop1").asLong());
        assertThat(report.labeled().studentTop1().count()).isEqualTo(expected.get("studentTop1").asLong());
        // a CNN is no faithful copy of a ResNet: the parity check says so
        assertThat(report.parity().withinTolerance()).isFalse();
    }

    @Test
    void torchScriptTeacherAgainstItsOnnxExportIsWithinParity() {
        ScoreReport report = score(TestData.model("resnet-fp32.pt"), TestData.model("resnet-fp32.onnx"),
                heldOut("heldout"));
        assertThat(report.parity().maxAbsDiff()).isLessThanOrEqualTo(1e-4);
        assertThat(report.parity().withinTolerance()).isTrue();
        assertThat(report.agreement().count()).isEqualTo(2000);
        assertThat(report.cosine().min()).isGreaterThan(0.999999);
    }

    /** An export whose last layer lost 1% of its weight scale, as a wrong constant in an exporter would do. */
    @Test
    void brokenExportIsFlagged() throws IOException {
        OnnxModel broken = OnnxModel.load(TestData.model("resnet-fp32.onnx"));
        Node gemm = broken.graph().nodes().stream().filter(n -> n.opType().equals("Gemm")).findFirst()
                .orElseThrow();
        Tensor weight = broken.graph().initializer(gemm.input(1)).orElseThrow();
        float[] values = weight.floats();
        for (int i = 0; i < values.length; i++) {
            values[i] *= 1.01f;
        }
        broken.graph().putInitializer(Tensor.floats(weight.name(), weight.dims(), values));
        Path file = dir.resolve("resnet-broken.onnx");
        broken.save(file);
        ScoreReport report = score(TestData.model("resnet-fp32.pt"), file, heldOut("calib"));
        assertThat(report.parity().relativeMaxDiff()).isGreaterThan(1e-3);
        assertThat(report.parity().withinTolerance()).isFalse();
        // top-1 hardly moves: only the parity check catches this
        assertThat(report.agreement().fraction()).isGreaterThan(0.99);
    }

    /** INT8 from the project's own quantizer against its fp32 source: close, but measurably not identical. */
    @Test
    void int8StudentOfFp32Teacher() {
        OnnxModel fp32 = OnnxModel.load(TestData.model("resnet-fp32.onnx"));
        Path int8 = dir.resolve("resnet-int8.onnx");
        Quantizer.builder().setModel(fp32).setCalibrationData(heldOut("calib")).build().quantize().model().save(int8);
        ScoreReport report = score(TestData.model("resnet-fp32.onnx"), int8, heldOut("heldout"));
        assertThat(report.agreement().fraction()).isGreaterThan(0.98);
        assertThat(report.kl().get(0).kl().mean()).isBetween(1e-6, 1e-2);
        assertThat(report.cosine().p5()).isGreaterThan(0.99).isLessThan(1);
        assertThat(report.cosine().min()).isLessThanOrEqualTo(report.cosine().p5());
        assertThat(report.kl().get(1).klScaled().mean()).isCloseTo(16 * report.kl().get(1).kl().mean(),
                within(1e-6 * report.kl().get(1).klScaled().mean()));
        // the same run gives the same bytes
        assertThat(score(TestData.model("resnet-fp32.onnx"), int8, heldOut("heldout")).toJson())
                .isEqualTo(report.toJson());
    }

    /** The pooled 128-d features of the ResNet, fp32 against INT8: scored as embeddings, without labels. */
    @Test
    void embeddingModelsWithoutLabels() throws IOException {
        OnnxModel fp32 = OnnxModel.load(TestData.model("resnet-fp32.onnx"));
        Path teacher = embedding(fp32, "features-fp32.onnx");
        OnnxModel int8 = Quantizer.builder().setModel(fp32).setCalibrationData(heldOut("calib")).build().quantize()
                .model();
        Path student = embedding(int8, "features-int8.onnx");
        Path unlabeled = Files.createDirectories(dir.resolve("unlabeled"));
        try (var files = Files.list(TestData.fashionMnist().resolve("heldout/Bag"))) {
            for (Path png : files.sorted().limit(100).toList()) {
                Files.copy(png, unlabeled.resolve(png.getFileName()));
            }
        }
        ScoreReport report = Scorer.builder().setTeacher(teacher).setStudent(student).setData(heldOut(
                unlabeled.toString())).optOutputs(Scorer.Outputs.EMBEDDING).build().score();
        assertThat(report.outputs()).isEqualTo("embedding");
        assertThat(report.outputShape()).containsExactly(128L);
        assertThat(report.kl()).isNull();
        assertThat(report.agreement()).isNull();
        assertThat(report.labeled()).isNull();
        assertThat(report.cosine().mean().mean()).isGreaterThan(0.99);
        assertThat(report.cosine().min()).isLessThanOrEqualTo(report.cosine().p5());
        assertThat(report.toMarkdown()).contains("cosine similarity p5 / min").doesNotContain("KL");
    }

    /** A copy of {@code model} whose output is the flattened global-average-pool features. */
    private Path embedding(OnnxModel model, String name) {
        OnnxModel copy = model.copy();
        Node flatten = copy.graph().nodes().stream().filter(n -> n.opType().equals("Flatten")).findFirst()
                .orElseThrow();
        copy.graph().outputs().clear();
        copy.graph().outputs().add(ValueInfo.named(flatten.output(0)));
        Path file = dir.resolve(name);
        copy.save(file);
        return file;
    }

    @Test
    void outputShapesThatDifferAreBadInput() {
        OnnxModel fp32 = OnnxModel.load(TestData.model("resnet-fp32.onnx"));
        Path features = embedding(fp32, "features.onnx");
        assertThatThrownBy(() -> Scorer.builder().setTeacher(TestData.model("resnet-fp32.onnx"))
                .setStudent(features).setData(heldOut("calib")).optOutputs(Scorer.Outputs.EMBEDDING).build().score())
                .isInstanceOf(CompressException.class)
                .hasMessage(features + ": output shape [32, 128] differs from the teacher's [32, 10] ("
                        + TestData.model("resnet-fp32.onnx") + ")");
    }

    @Test
    void inputNamesThatDifferAreBadInput() {
        OnnxModel renamed = OnnxModel.load(TestData.model("cnn-fp32.onnx"));
        ValueInfo input = renamed.graph().declaredInputs().get(0);
        renamed.graph().declaredInputs().set(0, input.withName("pixels"));
        renamed.graph().replaceUses(input.name(), "pixels");
        Path file = dir.resolve("renamed.onnx");
        renamed.save(file);
        assertThatThrownBy(() -> score(TestData.model("cnn-fp32.onnx"), file, heldOut("calib")))
                .isInstanceOfSatisfying(CompressException.class,
                        e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT))
                .hasMessage(file + ": takes inputs [pixels] but the teacher " + TestData.model("cnn-fp32.onnx")
                        + " takes [input]; both must read the same inputs");
    }

    @Test
    void checkpointThatIsNotTorchScriptIsBadInput() throws IOException {
        Path notTorchScript = Files.writeString(dir.resolve("weights.pt"), "{'fc.weight': ...}\n");
        assertThatThrownBy(() -> score(notTorchScript, TestData.model("cnn-fp32.onnx"), heldOut("calib")))
                .isInstanceOfSatisfying(CompressException.class,
                        e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT))
                .hasMessageStartingWith(notTorchScript + ": not a TorchScript checkpoint");
    }

    @Test
    void temperatureMustBePositive() {
        for (double t : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertThatThrownBy(() -> Scorer.builder().optTemperatures(1, t))
                    .isInstanceOf(CompressException.class)
                    .hasMessage("temperature must be a positive number, got " + t);
        }
    }

    @Test
    void reportJsonHasTheDocumentedFields() throws IOException {
        ScoreReport report = score(TestData.model("cnn-fp32.pt"), TestData.model("cnn-fp32.onnx"), heldOut("calib"));
        Path json = dir.resolve("score.json");
        report.writeJson(json);
        JsonNode tree = Json.MAPPER.readTree(json.toFile());
        assertThat(tree.fieldNames()).toIterable().containsExactly("teacher", "student", "data", "samples", "outputs",
                "outputShape", "kl", "agreement", "top5Overlap", "cosine", "mse", "parity", "labeled");
        assertThat(tree.at("/kl/1/temperature").asDouble()).isEqualTo(4.0);
        assertThat(tree.at("/labeled/perClass").size()).isEqualTo(10);
        assertThat(tree.at("/parity/withinTolerance").asBoolean()).isTrue();
        assertThat(report.toMarkdown()).contains("| top-1 agreement | 100.00% |").contains("## Agreement per class");
    }
}
