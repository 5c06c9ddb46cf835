package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.DataSources;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The batch size follows the model when the user gives none: a fixed batch, or fewer samples for large inputs. */
class BatchSizeTest {
    @TempDir
    Path temp;

    /** The shipped CNN with its input's dimensions set to {@code dims} (batch first; -1 is open). */
    private Path withInput(String name, long... dims) {
        OnnxModel model = OnnxModel.load(Fixtures.cnn());
        ValueInfo input = model.graph().declaredInputs().get(0);
        List<ValueInfo.Dim> shape = IntStream.range(0, dims.length).mapToObj(i -> dims[i] > 0
                ? new ValueInfo.Dim(dims[i], "") : new ValueInfo.Dim(-1, i == 0 ? "batch" : "open" + i)).toList();
        model.graph().declaredInputs().set(0, ValueInfo.tensor(input.name(), input.elementType(), shape));
        Path file = temp.resolve(name);
        model.save(file);
        return file;
    }

    @Test
    void defaultsFollowTheInputs() {
        assertThat(defaultFor(Fixtures.cnn())).isEqualTo(32);
        assertThat(ModelInputs.fixedBatchSize(OnnxModel.load(Fixtures.cnn()))).isZero();
        assertThat(defaultFor(withInput("one.onnx", 1, 1, 28, 28))).isEqualTo(1);
        assertThat(ModelInputs.fixedBatchSize(OnnxModel.load(withInput("four.onnx", 4, 1, 28, 28)))).isEqualTo(4);
        // an RGB 224x224 input: one sample a call; 3x48x320 (an OCR text line): 5
        assertThat(defaultFor(withInput("big.onnx", -1, 3, 224, 224))).isEqualTo(1);
        assertThat(defaultFor(withInput("line.onnx", -1, 3, 48, 320))).isEqualTo(5);
    }

    private static int defaultFor(Path model) {
        return ModelInputs.defaultBatchSize(OnnxModel.load(model), null);
    }

    @Test
    void anOpenDimensionIsReadFromTheFirstSample() throws IOException {
        // PP-OCR's recogniser takes [N,3,48,W]: counted as 1, the width chose 32 lines of 48x320 and 9 GB
        OnnxModel line = OnnxModel.load(withInput("open-width.onnx", -1, 3, 48, -1));
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 3);
        Dataset images = DataSources.open(calib, line, Preprocessing.Overrides.builder()
                .optImageSize(new Preprocessing.Size(48, 320)).optChannels(3).build(), null).dataset();

        assertThat(ModelInputs.defaultBatchSize(line, images)).isEqualTo(5);
        assertThat(ModelInputs.defaultBatchSize(line, null)).isEqualTo(32);
        // known dimensions are the model's, whatever the data
        assertThat(ModelInputs.defaultBatchSize(OnnxModel.load(withInput("big.onnx", -1, 3, 224, 224)), images))
                .isEqualTo(1);
    }

    @Test
    void aModelWithAFixedBatchQuantizesWithDefaultFlags() throws IOException {
        Path model = withInput("batch1.onnx", 1, 1, 28, 28);
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 6);
        Path out = temp.resolve("q.onnx");

        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(),
                "--out", out.toString());

        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.errLines()).contains("batch size 1 (fixed by the model)");
        assertThat(out).exists();
    }

    /**
     * The shipped CNN whose output is its logits minus {@code m}, which {@code nodes} compute (openWakeWord's
     * melspectrogram floors its log-mel below the ReduceMax of the whole batch); in memory.
     */
    private static OnnxModel reducing(List<Tensor> initializers, Node... nodes) {
        OnnxModel model = OnnxModel.load(Fixtures.cnn());
        Graph graph = model.graph();
        initializers.forEach(graph::putInitializer);
        String logits = graph.outputs().get(0).name();
        graph.nodes().addAll(List.of(nodes));
        graph.nodes().add(Node.of("Sub", "centre", List.of(logits, "m"), List.of("centred")));
        ValueInfo output = graph.outputs().get(0);
        graph.outputs().set(0, ValueInfo.tensor("centred", output.elementType(), output.shape().orElseThrow()));
        return model;
    }

    @Test
    void aModelThatReducesOverTheSamplesRunsThemOneAtATime() throws IOException {
        String logits = OnnxModel.load(Fixtures.cnn()).graph().outputs().get(0).name();
        OnnxModel whole = reducing(List.of(), Node.of("ReduceMax", "peak", List.of(logits), List.of("m")));
        assertThat(ModelInputs.batchMixer(whole)).map(Node::name).contains("peak");
        assertThat(ModelInputs.defaultBatchSize(whole, null)).isEqualTo(1);
        // over the classes only (axes as an input, as ReduceSum takes them at opset 13), or over a shape: the
        // samples stay apart
        Node sum = Node.of("ReduceSum", "total", List.of(logits, "axis"), List.of("m"));
        OnnxModel classes = reducing(List.of(Tensor.int64s("axis", new long[] {1}, new long[] {1})), sum);
        assertThat(ModelInputs.batchMixer(classes)).isEmpty();
        assertThat(ModelInputs.defaultBatchSize(classes, null)).isEqualTo(32);
        OnnxModel samples = reducing(List.of(Tensor.int64s("axis", new long[] {1}, new long[] {0})), sum);
        assertThat(ModelInputs.batchMixer(samples)).map(Node::name).contains("total");
        OnnxModel counted = reducing(List.of(), Node.of("Shape", "dims_of", List.of(logits), List.of("dims")),
                Node.of("ReduceProd", "count", List.of("dims"), List.of("m")));
        assertThat(ModelInputs.batchMixer(counted)).isEmpty();
        OnnxModel weights = reducing(List.of(Tensor.floats("scale", new long[] {2}, new float[] {1, 2})),
                Node.of("Neg", "negate", List.of("scale"), List.of("negated")),
                Node.of("ReduceMax", "peak", List.of("negated"), List.of("m")));
        assertThat(ModelInputs.batchMixer(weights)).isEmpty();

        Path model = temp.resolve("whole.onnx");
        whole.save(model);
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 6);
        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(),
                "--out", temp.resolve("q.onnx").toString());
        assertThat(result.exitCode()).as(result.toString()).isZero();
        assertThat(result.errLines()).contains("batch size 1 (peak (ReduceMax) reduces over the samples' axis: in a"
                + " batch they would change each other's outputs; --batch-size to change)");
    }

    @Test
    void aBatchSizeTheModelCannotTakeIsBadInputNamingIt() throws IOException {
        Path model = withInput("batch1.onnx", 1, 1, 28, 28);
        Path calib = Fixtures.smallCalib(temp.resolve("calib"), 6);
        Path out = temp.resolve("q.onnx");

        Cli.Result result = Cli.run("quantize", "--model", model.toString(), "--data", calib.toString(),
                "--out", out.toString(), "--batch-size", "4");

        assertThat(result.exitCode()).isEqualTo(ExitCode.BAD_INPUT);
        assertThat(result.errLines()).containsExactly("error: " + model + ": takes batches of exactly 1 (its inputs"
                + " fix the batch dimension); leave out --batch-size or give 1");
        assertThat(out).doesNotExist();
    }
}
