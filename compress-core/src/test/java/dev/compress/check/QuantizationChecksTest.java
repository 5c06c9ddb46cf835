package dev.compress.check;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.compress.Json;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.data.Batch;
import dev.compress.data.DataSources;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.data.Preprocessing;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.KernelProfile;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fidelity and latency checks on the ResNet fixture: a good INT8 model passes, one quantized with destroyed
 * ranges (a calibration table whose every range is ±0.001) is caught and its worst layers named.
 */
class QuantizationChecksTest {
    private static OnnxModel fp32;
    private static Dataset calib;
    private static OnnxModel good;

    @TempDir
    Path dir;

    @BeforeAll
    static void quantize() {
        fp32 = OnnxModel.load(TestData.model("resnet-fp32.onnx"));
        calib = DataSources.open(TestData.fashionMnist().resolve("calib"), fp32, Preprocessing.Overrides.NONE, null)
                .dataset();
        good = Quantizer.builder().setModel(fp32).setCalibrationData(calib).optMaxSamples(100).build().quantize()
                .model();
    }

    @Test
    void aGoodModelPassesOnSamplesCalibrationDidNotUse() {
        FidelityReport report = FidelityCheck.builder().setFloatModel(fp32).setQuantizedModel(good).setData(calib)
                .optCalibratedSamples(100).optMinFidelity(0.9).build().run();
        assertThat(report.samples()).isEqualTo(FidelityCheck.DEFAULT_SAMPLES);
        assertThat(report.heldOut()).isTrue();
        assertThat(report.outputs()).singleElement().satisfies(output -> {
            assertThat(output.classifier()).isTrue();
            assertThat(output.top1Agreement()).isGreaterThan(0.95);
            assertThat(output.meanCosine()).isGreaterThan(0.99);
            assertThat(output.sqnrDb()).isBetween(20.0, 60.0);
        });
        assertThat(report.belowThreshold()).isFalse();
        assertThat(report.passed()).isTrue();
        assertThat(report.worstLayers()).isNull();
        assertThat(report.fidelity()).isEqualTo(report.outputs().get(0).top1Agreement());
    }

    @Test
    void aDestroyedModelIsCaughtAndItsWorstLayersNamed() throws IOException {
        Path table = dir.resolve("table.json");
        Quantizer.builder().setModel(fp32).setCalibrationData(calib).optMaxSamples(100).build().calibrate()
                .save(table, CalibrationSettings.defaults(), false);
        ObjectNode json = (ObjectNode) Json.MAPPER.readTree(table.toFile());
        for (Map.Entry<String, JsonNode> tensor : json.get("tensors").properties()) {
            for (ObjectNode range : new ObjectNode[] {(ObjectNode) tensor.getValue(),
                    (ObjectNode) tensor.getValue().get("range")}) {
                range.put("min", -0.001).put("max", 0.001);
            }
        }
        Json.write(table, json);
        OnnxModel destroyed = Quantizer.builder().setModel(fp32).optTable(CalibrationTable.load(table)).build()
                .quantize().model();

        FidelityReport report = FidelityCheck.builder().setFloatModel(fp32).setQuantizedModel(destroyed)
                .setData(calib).optCalibratedSamples(100).optMinFidelity(0.5).build().run();
        assertThat(report.fidelity()).isLessThan(0.5);
        assertThat(report.belowThreshold()).isTrue();
        assertThat(report.passed()).isFalse();
        assertThat(report.worstLayers()).hasSize(FidelityCheck.WORST_LAYERS);
        // the names are what the remedy needs: the quantizer takes them as exclusions
        Quantizer.builder().setModel(fp32).optTable(CalibrationTable.load(table))
                .optExclude(report.worstLayers().stream().map(FidelityReport.Layer::node).toList()).build().quantize();
        assertThat(report.summary()).contains("top-1 agreement", "held-out samples of", "(not calibrated on)");
    }

    /** The checks, like the quantizer, run a model that fixes its batch at 1 without being told (library users). */
    @Test
    void aModelWithAFixedBatchIsCheckedWithoutBeingToldItsBatchSize() {
        OnnxModel one = OnnxModel.load(TestData.model("cnn-fp32.onnx"));
        ValueInfo input = one.graph().declaredInputs().get(0);
        List<ValueInfo.Dim> dims = new ArrayList<>(input.shape().orElseThrow());
        dims.set(0, new ValueInfo.Dim(1, ""));
        one.graph().declaredInputs().set(0, ValueInfo.tensor(input.name(), input.elementType(), dims));
        OnnxModel quantized = Quantizer.builder().setModel(one).setCalibrationData(calib).optMaxSamples(20).build()
                .quantize().model();

        FidelityReport fidelity = FidelityCheck.builder().setFloatModel(one).setQuantizedModel(quantized)
                .setData(calib).optMaxSamples(20).build().run();
        assertThat(fidelity.samples()).isEqualTo(20);
        assertThat(fidelity.fidelity()).isGreaterThan(0.9);
        LatencyReport latency = LatencyCheck.builder().setFloatModel(one).setQuantizedModel(quantized).setData(calib)
                .optSeconds(0.1).build().run();
        assertThat(latency.int8OverFp32()).isPositive();
    }

    @Test
    void calibrationThatUsedEverySampleLeavesAFixedSubset() {
        FidelityReport report = FidelityCheck.builder().setFloatModel(fp32).setQuantizedModel(good).setData(calib)
                .optMaxSamples(20).build().run();
        assertThat(report.samples()).isEqualTo(20);
        assertThat(report.heldOut()).isFalse();
        FidelityReport again = FidelityCheck.builder().setFloatModel(fp32).setQuantizedModel(good).setData(calib)
                .optMaxSamples(20).optBatchSize(7).build().run();
        assertThat(Json.pretty(again)).isEqualTo(Json.pretty(report));
    }

    @Test
    void heldApartSamplesAreExactlyThoseCalibrationSkipped() {
        for (int size : new int[] {1, 7, 100, 500}) {
            for (int calibrated : new int[] {1, 3, size / 2, size - 1}) {
                if (calibrated < 1 || calibrated >= size) {
                    continue;
                }
                Set<Integer> used = new HashSet<>();
                for (int j = 0; j < calibrated; j++) {
                    used.add((int) ((long) j * size / calibrated)); // the calibrator's selection
                }
                HeldApart all = HeldApart.of(new Indices(size), calibrated, Integer.MAX_VALUE, true);
                Set<Integer> taken = new HashSet<>();
                all.batches(3).forEachRemaining(b -> b.sources().forEach(s -> taken.add(Integer.parseInt(
                        s.toString()))));
                assertThat(taken).as("size %d, calibrated %d", size, calibrated).hasSize(size - used.size())
                        .doesNotContainAnyElementsOf(used);
                assertThat(all.heldOut()).isTrue();
            }
        }
    }

    @Test
    void latencyIsMeasuredWithinABudget() {
        LatencyReport report = LatencyCheck.builder().setFloatModel(fp32).setQuantizedModel(good).setData(calib)
                .optThreads(1).optSeconds(0.2).optBatchSize(8).build().run();
        assertThat(report.int8OverFp32()).isPositive().isFinite();
        assertThat(report.fp32Ms()).isPositive().isFinite();
        assertThat(report.int8Ms()).isPositive().isFinite();
        assertThat(report.batchSize()).isEqualTo(8);
        assertThat(report.threads()).isEqualTo(1);
        assertThat(report.runs()).isGreaterThanOrEqualTo(LatencyCheck.ROUNDS);
        assertThat(report.int8Slower()).isEqualTo(report.int8OverFp32() > 1);
        assertThat(report.summary()).startsWith("latency: INT8 ");
        // where the time goes is profiled only when INT8 gains less than expected
        assertThat(report.kernels() != null).isEqualTo(report.int8OverFp32() > LatencyCheck.EXPLAIN_ABOVE);
        // the ResNet's 9 Convs all run as NHWC QLinearConv with nothing float between them
        RuntimeGraph graph = report.int8Graph();
        assertThat(graph.qlinearConvs()).isEqualTo(9);
        assertThat(graph.nchwQlinearConvs()).isZero();
        assertThat(graph.floatOps()).isEmpty();
        assertThat(graph.reasons()).isEmpty();
    }

    @Test
    void theKernelProfileSaysWhereACallsTimeGoes() throws IOException {
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(1);
        List<Batch> batches = calib.firstBatches(8, 2);
        KernelProfile int8 = KernelProfile.measure(good, options, batches, 6, 2);
        KernelProfile float32 = KernelProfile.measure(fp32, options, batches, 6, 2);
        // the graphs as ONNX Runtime runs them: the 9 Convs become integer kernels in one, stay float in the other
        assertThat(int8.ops()).containsKey("QLinearConv").doesNotContainKey("Conv");
        assertThat(int8.nodes().keySet().stream().filter(n -> n.endsWith(" (QLinearConv)"))).hasSize(9);
        assertThat(float32.ops().keySet()).anyMatch(op -> op.endsWith("Conv")).noneMatch(op -> op.startsWith("QLinear"));
        for (KernelProfile profile : List.of(int8, float32)) {
            assertThat(profile.usPerCall()).isPositive()
                    .isCloseTo(profile.ops().values().stream().mapToDouble(Double::doubleValue).sum(), within(1e-6))
                    .isCloseTo(profile.nodes().values().stream().mapToDouble(Double::doubleValue).sum(),
                            within(1e-6));
            List<Double> times = new ArrayList<>(profile.ops().values());
            assertThat(times).isSortedAccordingTo(Comparator.reverseOrder());
        }
        String summary = KernelTimes.of(float32, int8).summary();
        assertThat(summary).startsWith("kernel time per call in ONNX Runtime's profiler: INT8 ")
                .contains("QLinearConv ", "), fp32 ");
        // a profile with no call beyond those to skip says so
        Path trace = dir.resolve("trace.json");
        Files.writeString(trace, "[{\"cat\": \"Session\", \"name\": \"model_run\", \"dur\": 5}]");
        assertThatThrownBy(() -> KernelProfile.read(trace, 1)).isInstanceOf(IOException.class)
                .hasMessageContaining("holds 1 calls");
        Files.writeString(trace, "{\"traceEvents\": []}");
        assertThatThrownBy(() -> KernelProfile.read(trace, 0)).isInstanceOf(IOException.class)
                .hasMessageContaining("is not ONNX Runtime's list of profile events");
    }

    @Test
    void theRuntimeGraphNamesWhatRunsInFloatAndInWhichLayout() {
        // the source model, not quantized at all: every op reads float data
        RuntimeGraph graph = RuntimeGraph.of(fp32, RuntimeOptions.defaults());
        assertThat(graph.qlinearConvs()).isZero();
        assertThat(graph.floatOps()).isNotEmpty();
        assertThat(graph.reasons()).startsWith("ONNX Runtime runs {");
    }

    /** Samples whose source names their index. */
    private record Indices(int size) implements Dataset {
        @Override
        public Path source() {
            return Path.of("indices");
        }

        @Override
        public List<String> classNames() {
            return List.of();
        }

        @Override
        public Iterator<Batch> batches(int batchSize) {
            List<Batch> batches = new ArrayList<>();
            for (int from = 0; from < size; from += batchSize) {
                int n = Math.min(batchSize, size - from);
                float[] values = new float[n];
                List<Path> sources = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    values[i] = from + i;
                    sources.add(Path.of(Integer.toString(from + i)));
                }
                batches.add(new Batch(
                        Map.of("x", HostTensor.ofFloats(new long[] {n, 1}, values)), new int[n],
                        sources));
            }
            return batches.iterator();
        }
    }
}
