package dev.compress.prune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import dev.compress.torch.TorchScriptModel;
import dev.compress.torch.TorchScriptModel.NamedParameter;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Masks computed on the ONNX fixtures applied to their TorchScript checkpoints through DJL. */
class TorchScriptMasksTest {
    @TempDir
    Path dir;

    @Test
    void cnnMasksGiveTheSameModelInTorchScriptAsInOnnx() {
        OnnxModel onnx = OnnxModel.load(TestData.model("cnn-fp32.onnx"));
        PruneResult pruned = Pruner.builder().setModel(onnx).setSparsity(0.5).build().prune();
        Path out = dir.resolve("cnn-pruned.pt");
        try (TorchScriptModel torch = TorchScriptModel.loadEditable(TestData.model("cnn-fp32.pt"))) {
            Map<String, String> applied = TorchScriptMasks.apply(torch, pruned.masks(), null);
            assertThat(applied).containsEntry("conv1.weight", "conv1.weight").hasSize(4);
            torch.save(out);
        }
        Batch batch = StructuredPruningTest.heldout(onnx).batches(100).next();
        try (TorchScriptModel reloaded = TorchScriptModel.load(out);
                OrtModel ort = OrtModel.open(pruned.model(), RuntimeOptions.defaults())) {
            for (PruneMasks.Entry entry : pruned.masks().tensors()) {
                float[] expected = pruned.model().graph().initializers().get(entry.weight()).floats();
                assertThat(reloaded.parameters().get(entry.weight()).values()).containsExactly(expected);
            }
            float[] a = reloaded.run(batch).get(0).values();
            float[] b = ort.run(batch).get("logits").values();
            for (int i = 0; i < a.length; i++) {
                assertThat(a[i]).isCloseTo(b[i], within(1e-3f));
            }
        }
    }

    @Test
    void resnetMasksMapByLayerPositionToTheUnfoldedParameters() {
        OnnxModel onnx = OnnxModel.load(TestData.model("resnet-fp32.onnx"));
        PruneResult pruned = Pruner.builder().setModel(onnx).setSparsity(0.3).build().prune();
        try (TorchScriptModel torch = TorchScriptModel.loadEditable(TestData.model("resnet-fp32.pt"))) {
            Map<String, NamedParameter> before = torch.parameters();
            Map<String, String> applied = TorchScriptMasks.apply(torch, pruned.masks(), null);
            assertThat(applied).containsEntry("onnx::Conv_89", "stem.0.weight")
                    .containsEntry("onnx::Conv_113", "layer3.shortcut.0.weight")
                    .containsEntry("fc.weight", "fc.weight").hasSize(10);
            Map<String, NamedParameter> after = torch.parameters();
            for (PruneMasks.Entry entry : pruned.masks().tensors()) {
                String name = applied.get(entry.weight());
                boolean[] mask = entry.prunedElements();
                float[] old = before.get(name).values();
                float[] now = after.get(name).values();
                for (int i = 0; i < now.length; i++) {
                    assertThat(now[i]).isEqualTo(mask[i] ? 0f : old[i]);
                }
            }
            // BatchNorm weights (rank 1) are not touched
            assertThat(after.get("stem.1.weight").values()).containsExactly(before.get("stem.1.weight").values());
        }
    }

    @Test
    void masksOfAnotherModelOrStructuredMasksAreRefused() {
        PruneMasks resnetMasks = Pruner.builder().setModel(OnnxModel.load(TestData.model("resnet-fp32.onnx")))
                .setSparsity(0.3).build().prune().masks();
        PruneMasks structured = Pruner.builder().setModel(OnnxModel.load(TestData.model("cnn-fp32.onnx")))
                .setSparsity(0.25).optStructured(true).build().prune().masks();
        Path file = dir.resolve("masks.json");
        try (TorchScriptModel torch = TorchScriptModel.loadEditable(TestData.model("cnn-fp32.pt"))) {
            assertThatThrownBy(() -> TorchScriptMasks.apply(torch, resnetMasks, file))
                    .isInstanceOf(CompressException.class)
                    .hasMessageStartingWith(file + ": was made for another model");
            assertThatThrownBy(() -> TorchScriptMasks.apply(torch, structured, file))
                    .isInstanceOf(CompressException.class)
                    .hasMessageContaining("unstructured masks only");
        }
    }
}
