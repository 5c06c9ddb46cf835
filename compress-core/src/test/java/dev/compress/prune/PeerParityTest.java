package dev.compress.prune;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import dev.compress.data.ImageDataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.eval.Evaluator;
import dev.compress.graph.OnnxModel;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Per-layer unstructured L1 pruning against PyTorch's {@code torch.nn.utils.prune.l1_unstructured} on the same
 * weights: masks and held-out accuracies exported by {@code calibration-data/export_prune_masks.py}.
 */
class PeerParityTest {
    @ParameterizedTest
    @CsvSource({"cnn,0.3", "cnn,0.5", "resnet,0.3", "resnet,0.5"})
    void masksAndAccuracyMatchTorch(String name, double sparsity) throws IOException {
        JsonNode peer = Json.MAPPER.readTree(TestData.model("prune-peer.json").toFile()).path("models").path(name);
        String key = String.format(java.util.Locale.ROOT, "%.1f", sparsity);
        OnnxModel model = OnnxModel.load(TestData.model(name + "-fp32.onnx"));
        PruneResult result = Pruner.builder().setModel(model).setSparsity(sparsity).build().prune();

        List<String> weights = new ArrayList<>();
        peer.path("weights").forEach(w -> weights.add(w.asText()));
        assertThat(result.masks().tensors()).extracting(PruneMasks.Entry::weight).containsExactlyElementsOf(weights);
        for (PruneMasks.Entry entry : result.masks().tensors()) {
            boolean[] ours = entry.prunedElements();
            PruneMasks.Entry torch = new PruneMasks.Entry(entry.node(), entry.weight(), entry.shape(), 0, null,
                    peer.path("masks").path(key).path(entry.weight()).asText(), null, null, null);
            boolean[] theirs = torch.prunedElements();
            float[] w = model.graph().initializers().get(entry.weight()).floats();
            // ties aside: elements may differ only where |w| equals the largest pruned magnitude
            float threshold = 0;
            for (int i = 0; i < w.length; i++) {
                if (theirs[i]) {
                    threshold = Math.max(threshold, Math.abs(w[i]));
                }
            }
            int differing = 0;
            for (int i = 0; i < w.length; i++) {
                if (ours[i] != theirs[i]) {
                    assertThat(Math.abs(w[i])).as("%s[%d] differs off the threshold", entry.weight(), i)
                            .isEqualTo(threshold);
                    differing++;
                }
            }
            assertThat(count(ours)).as(entry.weight()).isEqualTo(count(theirs));
            assertThat(differing).as("tied elements of " + entry.weight()).isLessThanOrEqualTo(2);
        }

        double top1 = Evaluator.builder()
                .setModel(result.model())
                .setData(ImageDataset.builder()
                        .setRoot(TestData.fashionMnist().resolve("heldout"))
                        .setInputName(ModelInputs.imageInput(model).name())
                        .setPreprocessing(ModelInputs.imagePreprocessing(model, Preprocessing.Overrides.NONE))
                        .build())
                .build()
                .evaluate()
                .top1()
                .fraction();
        assertThat(100 * top1).isCloseTo(100 * peer.path("heldoutTop1").path(key).asDouble(),
                org.assertj.core.data.Offset.offset(0.1));
    }

    private static int count(boolean[] mask) {
        int n = 0;
        for (boolean b : mask) {
            n += b ? 1 : 0;
        }
        return n;
    }
}
