package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.ModelInputs;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The batch size follows the model when the user gives none: a fixed batch, or fewer samples for large inputs. */
class BatchSizeTest {
    @TempDir
    Path temp;

    /** The shipped CNN with its input's dimensions set to {@code dims} (batch first). */
    private Path withInput(String name, long... dims) {
        OnnxModel model = OnnxModel.load(Fixtures.cnn());
        ValueInfo input = model.graph().declaredInputs().get(0);
        List<ValueInfo.Dim> shape = Arrays.stream(dims)
                .mapToObj(d -> d > 0 ? new ValueInfo.Dim(d, "") : new ValueInfo.Dim(-1, "batch")).toList();
        model.graph().declaredInputs().set(0, ValueInfo.tensor(input.name(), input.elementType(), shape));
        Path file = temp.resolve(name);
        model.save(file);
        return file;
    }

    @Test
    void defaultsFollowTheInputs() {
        assertThat(ModelInputs.defaultBatchSize(OnnxModel.load(Fixtures.cnn()))).isEqualTo(32);
        assertThat(ModelInputs.fixedBatchSize(OnnxModel.load(Fixtures.cnn()))).isZero();
        assertThat(ModelInputs.defaultBatchSize(OnnxModel.load(withInput("one.onnx", 1, 1, 28, 28)))).isEqualTo(1);
        assertThat(ModelInputs.fixedBatchSize(OnnxModel.load(withInput("four.onnx", 4, 1, 28, 28)))).isEqualTo(4);
        // an RGB 224x224 input: one sample a call; 3x48x320 (an OCR text line): 5
        assertThat(ModelInputs.defaultBatchSize(OnnxModel.load(withInput("big.onnx", -1, 3, 224, 224)))).isEqualTo(1);
        assertThat(ModelInputs.defaultBatchSize(OnnxModel.load(withInput("line.onnx", -1, 3, 48, 320)))).isEqualTo(5);
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
