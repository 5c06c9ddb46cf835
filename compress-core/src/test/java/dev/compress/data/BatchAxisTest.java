package dev.compress.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.OrtModel.FloatOutput;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Inputs whose samples stack on an axis other than the first (issue 15, item 9): silero VAD's state. */
class BatchAxisTest {
    @TempDir
    Path dir;

    /** Five samples: two single-sample files, then one file of three samples on axis 1 of h. */
    private final List<float[]> xs = new ArrayList<>();
    private final List<float[]> hs = new ArrayList<>();

    private void writeSamples() throws Exception {
        Files.createDirectories(dir.resolve("x"));
        Files.createDirectories(dir.resolve("h"));
        for (int s = 0; s < 5; s++) {
            float[] x = new float[4];
            float[] h = new float[6];
            for (int i = 0; i < 4; i++) {
                x[i] = s * 10 + i;
            }
            for (int i = 0; i < 6; i++) {
                h[i] = (i % 2 == 0 ? 1 : -1) * (s + 1) * (i + 1) * 0.25f; // negative values show the Relu
            }
            xs.add(x);
            hs.add(h);
        }
        for (int s = 0; s < 2; s++) {
            NpyWriter.floats(dir.resolve("x/s" + s + ".npy"), new long[] {4}, xs.get(s));
            NpyWriter.floats(dir.resolve("h/s" + s + ".npy"), new long[] {2, 3}, hs.get(s));
        }
        float[] x3 = new float[12];
        float[] h3 = new float[18];
        for (int s = 0; s < 3; s++) {
            System.arraycopy(xs.get(2 + s), 0, x3, s * 4, 4);
            for (int layer = 0; layer < 2; layer++) {
                System.arraycopy(hs.get(2 + s), layer * 3, h3, (layer * 3 + s) * 3, 3); // [2, 3 samples, 3]
            }
        }
        NpyWriter.floats(dir.resolve("x/t.npy"), new long[] {3, 4}, x3);
        NpyWriter.floats(dir.resolve("h/t.npy"), new long[] {2, 3, 3}, h3);
    }

    @Test
    void aBatchDimNamedLikeTheOtherInputsIsFoundOnTheSecondAxis() {
        assertThat(ModelInputs.batchAxes(BatchAxisModels.stateModel(true), Map.of()))
                .containsExactly(Map.entry("x", 0), Map.entry("h", 1));
        assertThat(ModelInputs.outputBatchAxis(BatchAxisModels.stateModel(true), "hn")).isEqualTo(1);
        // unnamed dims say nothing: the first axis, unless the user says otherwise
        assertThat(ModelInputs.batchAxes(BatchAxisModels.stateModel(false), Map.of()))
                .containsExactly(Map.entry("x", 0), Map.entry("h", 0));
        assertThat(ModelInputs.batchAxes(BatchAxisModels.stateModel(false), Map.of("h", 1)))
                .containsExactly(Map.entry("x", 0), Map.entry("h", 1));
    }

    @Test
    void anAxisOutsideTheInputOrAnUnknownInputIsRefused() {
        OnnxModel model = BatchAxisModels.stateModel(false);
        assertThatThrownBy(() -> ModelInputs.batchAxes(model, Map.of("h", 3)))
                .isInstanceOf(CompressException.class).hasMessageContaining("--batch-axis h=3 is not one of 0..2");
        assertThatThrownBy(() -> ModelInputs.batchAxes(model, Map.of("state", 1)))
                .isInstanceOf(CompressException.class).hasMessageContaining("has no input 'state' (--batch-axis)");
    }

    @Test
    void samplesStackOnTheSecondAxisAndTheModelSeesEachSampleWhole() throws Exception {
        writeSamples();
        for (boolean named : new boolean[] {true, false}) {
            OnnxModel model = BatchAxisModels.stateModel(named);
            Dataset data = DataSources.open(dir, model, Preprocessing.Overrides.NONE, null,
                    named ? Map.of() : Map.of("h", 1)).dataset();
            assertThat(data.size()).isEqualTo(5);
            List<float[]> ys = new ArrayList<>();
            List<float[]> hns = new ArrayList<>();
            try (OrtModel session = OrtModel.open(model, RuntimeOptions.defaults())) {
                // batches of 4 and 1: the first takes two single files and two samples of the batch file
                for (Iterator<Batch> it = data.batches(4); it.hasNext(); ) {
                    Batch batch = it.next();
                    assertThat(batch.inputs().get("h").shape()).containsExactly(2, batch.size(), 3);
                    Map<String, FloatOutput> out = session.run(batch, java.util.Set.of("y", "hn"));
                    float[] y = out.get("y").values();
                    float[] hn = out.get("hn").values();
                    for (int s = 0; s < batch.size(); s++) {
                        ys.add(java.util.Arrays.copyOfRange(y, s * 2, s * 2 + 2));
                        float[] sample = new float[6];
                        for (int layer = 0; layer < 2; layer++) {
                            System.arraycopy(hn, (layer * batch.size() + s) * 3, sample, layer * 3, 3);
                        }
                        hns.add(sample);
                    }
                }
            }
            for (int s = 0; s < 5; s++) {
                assertThat(ys.get(s)).as("y of sample %d", s)
                        .containsExactly(BatchAxisModels.expectedY(xs.get(s), hs.get(s)));
                float[] relu = hs.get(s).clone();
                for (int i = 0; i < 6; i++) {
                    relu[i] = Math.max(0, relu[i]);
                }
                assertThat(hns.get(s)).as("hn of sample %d", s).containsExactly(relu);
            }
        }
    }

    @Test
    void rowsPickedFromBatchesStackOnTheSecondAxisToo() throws Exception {
        writeSamples();
        Dataset data = DataSources.open(dir, BatchAxisModels.stateModel(true), Preprocessing.Overrides.NONE, null)
                .dataset();
        Batch all = data.batches(5).next();
        Batch picked = all.rows(new int[] {4, 0});
        assertThat(picked.inputs().get("h").shape()).containsExactly(2, 2, 3);
        float[] h = new float[12];
        picked.inputs().get("h").floats().get(h);
        for (int layer = 0; layer < 2; layer++) {
            assertThat(java.util.Arrays.copyOfRange(h, layer * 6, layer * 6 + 3))
                    .containsExactly(java.util.Arrays.copyOfRange(hs.get(4), layer * 3, layer * 3 + 3));
            assertThat(java.util.Arrays.copyOfRange(h, layer * 6 + 3, layer * 6 + 6))
                    .containsExactly(java.util.Arrays.copyOfRange(hs.get(0), layer * 3, layer * 3 + 3));
        }
    }

    @Test
    void withoutTheAxisABatchFileOfTheStateIsRefusedNamingIt() throws Exception {
        writeSamples();
        assertThatThrownBy(() -> DataSources.open(dir, BatchAxisModels.stateModel(false),
                Preprocessing.Overrides.NONE, null))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("t.npy").hasMessageContaining("holds 2 samples");
    }
}
