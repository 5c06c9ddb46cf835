package dev.compress.prune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.quantize.TestGraphs;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class PrunerTest {
    @TempDir
    Path dir;

    static OnnxModel fp32(String name) {
        return OnnxModel.load(TestData.model(name + "-fp32.onnx"));
    }

    private static double zeros(OnnxModel model, String weight) {
        float[] w = model.graph().initializers().get(weight).floats();
        int zeros = 0;
        for (float v : w) {
            zeros += v == 0f ? 1 : 0;
        }
        return (double) zeros / w.length;
    }

    @ParameterizedTest
    @CsvSource({"cnn,0.3", "cnn,0.7", "resnet,0.5", "resnet,0.9"})
    void everyLayerReachesTheRequestedSparsity(String name, double sparsity) {
        PruneResult result = Pruner.builder().setModel(fp32(name)).setSparsity(sparsity).build().prune();
        for (PruneReport.LayerResult layer : result.report().layers()) {
            assertThat(zeros(result.model(), layer.weight())).as(layer.node()).isCloseTo(sparsity, within(0.005));
            assertThat(layer.sparsity()).isCloseTo(sparsity, within(0.005));
        }
        assertThat(result.report().sparsity()).isCloseTo(sparsity, within(0.005));
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.3, 0.6, 0.9})
    void globalSparsityIsReachedOverallWithOneThreshold(double sparsity) {
        OnnxModel model = fp32("resnet");
        PruneResult result = Pruner.builder().setModel(model).setSparsity(sparsity)
                .optScope(Pruner.Scope.GLOBAL).build().prune();
        long zeros = 0;
        long total = 0;
        float largestPruned = 0;
        float smallestKept = Float.MAX_VALUE;
        for (PruneReport.LayerResult layer : result.report().layers()) {
            float[] before = model.graph().initializers().get(layer.weight()).floats();
            float[] after = result.model().graph().initializers().get(layer.weight()).floats();
            for (int i = 0; i < before.length; i++) {
                if (after[i] == 0f) {
                    zeros++;
                    largestPruned = Math.max(largestPruned, Math.abs(before[i]));
                } else {
                    smallestKept = Math.min(smallestKept, Math.abs(before[i]));
                }
            }
            total += before.length;
        }
        assertThat((double) zeros / total).isCloseTo(sparsity, within(0.005));
        assertThat(largestPruned).isLessThanOrEqualTo(smallestKept);
        // one threshold: layers end up with different sparsities
        assertThat(result.report().layers().stream().mapToDouble(PruneReport.LayerResult::sparsity).distinct()
                .count()).isGreaterThan(1);
    }

    @Test
    void overridesAndExclusionsApplyPerLayer() {
        PruneResult result = Pruner.builder().setModel(fp32("cnn")).setSparsity(0.5)
                .optExclude(List.of("/conv1/Conv"))
                .optLayerSparsity(Map.of("fc2.weight", 0.1, "/fc1/Gemm", 0.8))
                .build().prune();
        Map<String, Double> expected = Map.of("conv1.weight", 0.0, "conv2.weight", 0.5, "fc1.weight", 0.8,
                "fc2.weight", 0.1);
        expected.forEach((weight, s) -> assertThat(zeros(result.model(), weight)).as(weight)
                .isCloseTo(s, within(0.005)));
        assertThat(result.report().layers().get(0).excluded()).isTrue();
        assertThat(result.masks().tensors()).extracting(PruneMasks.Entry::weight)
                .containsExactly("conv2.weight", "fc1.weight", "fc2.weight");
    }

    @Test
    void globalScopeWithOverridesPrunesTheRestToOneThreshold() {
        PruneResult result = Pruner.builder().setModel(fp32("cnn")).setSparsity(0.6).optScope(Pruner.Scope.GLOBAL)
                .optLayerSparsity(Map.of("/conv1/Conv", 0.2)).build().prune();
        assertThat(zeros(result.model(), "conv1.weight")).isCloseTo(0.2, within(0.005));
        long pooledZeros = 0;
        long pooled = 0;
        for (PruneReport.LayerResult layer : result.report().layers().subList(1, 4)) {
            pooledZeros += layer.pruned();
            pooled += layer.elements();
        }
        assertThat((double) pooledZeros / pooled).isCloseTo(0.6, within(0.005));
    }

    /** Masks from one checkpoint zero exactly the same weights of another (e.g. fine-tuned) checkpoint. */
    @Test
    void unstructuredMasksReapplyToAnotherCheckpoint() {
        OnnxModel model = fp32("cnn");
        PruneResult result = Pruner.builder().setModel(model).setSparsity(0.5).build().prune();
        Path file = dir.resolve("cnn.masks.json");
        result.masks().write(file);

        OnnxModel tuned = model.copy();
        Random random = new Random(3);
        for (String weight : List.of("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")) {
            Tensor t = tuned.graph().initializers().get(weight);
            float[] w = t.floats();
            for (int i = 0; i < w.length; i++) {
                w[i] += (float) random.nextGaussian() * 0.05f;
            }
            tuned.graph().putInitializer(Tensor.floats(weight, t.dims(), w));
        }
        PruneResult again = Pruner.builder().setModel(tuned).optMasks(PruneMasks.read(file), file).build().prune();
        for (PruneMasks.Entry entry : result.masks().tensors()) {
            float[] w = again.model().graph().initializers().get(entry.weight()).floats();
            boolean[] mask = entry.prunedElements();
            for (int i = 0; i < w.length; i++) {
                assertThat(w[i] == 0f).as("%s[%d]", entry.weight(), i).isEqualTo(mask[i]);
            }
        }
        assertThat(again.report().scope()).isEqualTo("masks");
        assertThat(again.report().prunedElements()).isEqualTo(result.report().prunedElements());
    }

    @Test
    void concatAndBatchNormAreShrunkConsistently() {
        OnnxModel model = TinyModels.concatResidual();
        PruneResult result = Pruner.builder().setModel(model).setSparsity(0.25).optStructured(true).build().prune();
        Map<String, List<Integer>> removed = new java.util.HashMap<>();
        result.masks().tensors().forEach(e -> removed.put(e.node(), e.removedChannels()));
        // convA (0..3) and convB (4..7 after Concat) are tied channel by channel to convD through the Add
        List<Integer> expectedD = new java.util.ArrayList<>(removed.get("convA"));
        removed.get("convB").forEach(c -> expectedD.add(c + 4));
        assertThat(removed.get("convD")).containsExactlyElementsOf(expectedD).hasSize(2);
        assertThat(removed.get("convE")).hasSize(1);
        assertThat(removed.get("fc")).isEmpty();
        Graph graph = result.model().graph();
        assertThat(graph.initializers().get("bn_scale").dims()[0])
                .isEqualTo(4 - removed.get("convA").size());
        assertThat(graph.initializers().get("we").dims()).containsExactly(5, 6, 3, 3);
        assertThat(graph.initializers().get("wf").dims()).containsExactly(10, 5);

        // the shrunk model computes what the dense one does with those channels zeroed
        OnnxModel zeroed = model.copy();
        for (PruneMasks.Entry e : result.masks().tensors()) {
            Node node = zeroed.graph().nodes().stream().filter(n -> n.name().equals(e.node())).findFirst()
                    .orElseThrow();
            zeroRows(zeroed.graph(), e.weight(), e.removedChannels());
            zeroRows(zeroed.graph(), node.input(2), e.removedChannels());
        }
        float[] x = new float[5 * 3 * 8 * 8];
        Random random = new Random(11);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        Batch batch = new Batch(Map.of("x", HostTensor.ofFloats(new long[] {5, 3, 8, 8}, x)), new int[5],
                java.util.Collections.nCopies(5, Path.of("random")));
        try (OrtModel a = OrtModel.open(result.model(), RuntimeOptions.defaults());
                OrtModel b = OrtModel.open(zeroed, RuntimeOptions.defaults())) {
            float[] ya = a.run(batch).get("y").values();
            float[] yb = b.run(batch).get("y").values();
            assertThat(ya).hasSize(50);
            for (int i = 0; i < ya.length; i++) {
                assertThat(ya[i]).isCloseTo(yb[i], within(1e-4f));
            }
        }
    }

    private static void zeroRows(Graph graph, String name, List<Integer> rows) {
        Tensor t = graph.initializers().get(name);
        float[] w = t.floats();
        int per = (int) (w.length / t.dim(0));
        for (int r : rows) {
            java.util.Arrays.fill(w, r * per, (r + 1) * per, 0f);
        }
        graph.putInitializer(Tensor.floats(name, t.dims(), w));
    }

    @ParameterizedTest
    @ValueSource(doubles = {1.0, -0.1, 1.5, Double.NaN})
    void sparsityOutsideZeroToOneIsRefused(double sparsity) {
        assertThatThrownBy(() -> Pruner.builder().setSparsity(sparsity))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("sparsity must be in [0, 1), got " + sparsity);
        assertThatThrownBy(() -> Pruner.builder().optLayerSparsity(Map.of("/conv1/Conv", sparsity)))
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("sparsity of /conv1/Conv must be in [0, 1)");
    }

    @Test
    void unknownLayerInOverridesOrExclusionsIsRefused() {
        OnnxModel model = fp32("cnn");
        assertThatThrownBy(() -> Pruner.builder().setModel(model).setSparsity(0.5)
                .optLayerSparsity(Map.of("/conv9/Conv", 0.2)).build().prune())
                .isInstanceOf(CompressException.class)
                .hasMessageStartingWith(model.source().orElseThrow() + ": a layer sparsity override names "
                        + "'/conv9/Conv', which is not a prunable layer of this model (layers: /conv1/Conv "
                        + "(conv1.weight), /conv2/Conv");
        assertThatThrownBy(() -> Pruner.builder().setModel(model).setSparsity(0.5)
                .optExclude(List.of("/Relu")).build().prune())
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("--exclude names '/Relu', which is not a prunable layer");
    }

    /**
     * {@code y = If(mean(x) > 0, x · Wt, x · We)} with Wt in a Constant node of the then-branch (silero VAD's form)
     * and We an initializer of the else-branch, beside a main-graph Gemm; or both branches reading one main-graph
     * weight.
     */
    private static OnnxModel branches(boolean sharedWeight) {
        java.util.function.BiFunction<String, String, GraphProto> branch = (name, weight) -> {
            GraphProto.Builder body = GraphProto.newBuilder().setName(name)
                    .addNode(Protos.node("MatMul", name + "_mm", List.of("x", weight), List.of(name + "_out")))
                    .addOutput(TestGraphs.value(name + "_out", TestGraphs.FLOAT, "batch", 6L));
            if (!sharedWeight && name.equals("then")) {
                body.addNode(0, Protos.node("Constant", "wt", List.of(), List.of(weight)).addAttribute(
                        AttributeProto.newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR)
                                .setT(Protos.floats("", new long[] {8, 6}, random(48, 1)))));
            } else if (!sharedWeight) {
                body.addInitializer(Protos.floats(weight, new long[] {8, 6}, random(48, 2)));
            }
            return body.build();
        };
        GraphProto.Builder graph = GraphProto.newBuilder().setName("branches")
                .addInput(TestGraphs.value("x", TestGraphs.FLOAT, "batch", 8L))
                .addOutput(TestGraphs.value("y", TestGraphs.FLOAT, "batch", 6L))
                .addOutput(TestGraphs.value("z", TestGraphs.FLOAT, "batch", 6L))
                .addInitializer(Protos.floats("zero", new long[0], new float[] {0}))
                .addInitializer(Protos.floats("wm", new long[] {8, 6}, random(48, 3)))
                .addInitializer(Protos.floats("ws", new long[] {8, 6}, random(48, 4)))
                .addNode(Protos.node("ReduceMean", "mean", List.of("x"), List.of("m"))
                        .addAttribute(Protos.intAttribute("keepdims", 0)))
                .addNode(Protos.node("Greater", "positive", List.of("m", "zero"), List.of("cond")))
                .addNode(Protos.node("If", "if", List.of("cond"), List.of("y"))
                        .addAttribute(AttributeProto.newBuilder().setName("then_branch")
                                .setType(AttributeProto.AttributeType.GRAPH)
                                .setG(branch.apply("then", sharedWeight ? "ws" : "wt")))
                        .addAttribute(AttributeProto.newBuilder().setName("else_branch")
                                .setType(AttributeProto.AttributeType.GRAPH)
                                .setG(branch.apply("else", sharedWeight ? "ws" : "we"))))
                .addNode(Protos.node("Gemm", "fc", List.of("x", "wm"), List.of("z")));
        return TestGraphs.model(graph.build(), 13);
    }

    private static float[] random(int n, long seed) {
        Random random = new Random(seed);
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return values;
    }

    /** silero VAD's Convs sit in If branches, their filters in Constant nodes there: unstructured pruning reaches them. */
    @Test
    void unstructuredPruningReachesLayersInsideIfBranches() {
        OnnxModel model = branches(false);
        PruneResult result = Pruner.builder().setModel(model).setSparsity(0.5).build().prune();
        assertThat(result.report().layers()).extracting(PruneReport.LayerResult::weight)
                .containsExactly("wt", "we", "wm");
        assertThat(result.report().layers()).allSatisfy(layer -> assertThat(layer.sparsity()).isEqualTo(0.5));
        Node ifNode = result.model().graph().nodes().stream().filter(n -> n.opType().equals("If")).findFirst()
                .orElseThrow();
        for (Graph body : ifNode.subgraphs()) {
            float[] w = body.initializers().values().iterator().next().floats();
            assertThat(IntStream.range(0, w.length).filter(i -> w[i] == 0f).count()).isEqualTo(24);
        }
        assertThat(zeros(result.model(), "wm")).isEqualTo(0.5);
        // the masks name the branch layers, and re-apply to the unpruned model
        PruneResult again = Pruner.builder().setModel(model).optMasks(result.masks(), dir.resolve("m.json")).build()
                .prune();
        assertThat(again.report().layers()).extracting(PruneReport.LayerResult::sparsity).containsOnly(0.5);
        // structured pruning reshapes the main graph only, and says so when nothing else is left
        assertThatThrownBy(() -> Pruner.builder().setModel(TestGraphs.model(branches(false).toProto().getGraph()
                .toBuilder().removeNode(3).removeOutput(1).build(), 13)).setSparsity(0.5).optStructured(true)
                .build().prune())
                .isInstanceOf(CompressException.class)
                .hasMessageEndingWith("; 2 sit inside If, Loop or Scan subgraphs, which structured pruning does not"
                        + " enter (unstructured pruning prunes them)");
        // one main-graph weight read in both branches is one tensor for two layers
        assertThatThrownBy(() -> Pruner.builder().setModel(branches(true)).setSparsity(0.5).build().prune())
                .isInstanceOf(CompressException.class)
                .hasMessageContaining("tensor 'ws' is shared by then_mm and else_mm");
    }

    @Test
    void weightSharedByTwoNodesIsRefused() {
        for (boolean structured : new boolean[] {false, true}) {
            assertThatThrownBy(() -> Pruner.builder().setModel(TinyModels.sharedWeight()).setSparsity(0.5)
                    .optStructured(structured).build().prune())
                    .isInstanceOf(CompressException.class)
                    .hasMessageContaining("tensor 'w' is shared by 2 nodes (fc1, fc2)");
        }
    }

    @Test
    void masksOfAnotherModelAreRefused() {
        Path file = dir.resolve("cnn.masks.json");
        Pruner.builder().setModel(fp32("cnn")).setSparsity(0.5).build().prune().masks().write(file);
        assertThatThrownBy(() -> Pruner.builder().setModel(fp32("resnet")).optMasks(PruneMasks.read(file), file)
                .build().prune())
                .isInstanceOf(CompressException.class)
                .hasMessage(file + ": was made for another model: it prunes 'conv1.weight', which is not a "
                        + "prunable weight of " + TestData.model("resnet-fp32.onnx"));
    }
}
