package dev.compress.calibrate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.graph.Graph;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.quantize.QuantizationReport;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * MinMax calibration measures extremes inside ONNX Runtime ({@link ExtremesProbe}): its figures must be exactly what
 * the whole tensors hold, fetched with {@link OnnxModel#withExtraOutputs} and reduced in Java, batch by batch (the
 * probe itself) and over the whole run (the table).
 */
class ExtremesProbeTest {
    private static final int BATCH = 32;
    private static final int FIXTURE_SAMPLES = 200;

    /** Finite extremes and counts of a tensor's values, computed in Java. */
    private static final class Whole {
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        long count;
        long nonFinite;

        void add(float[] values) {
            for (float v : values) {
                if (Float.isFinite(v)) {
                    // -0.0 and 0.0 are one value to a range; tables record 0.0
                    min = Math.min(min, v + 0f);
                    max = Math.max(max, v + 0f);
                    count++;
                } else {
                    nonFinite++;
                }
            }
        }
    }

    /** Exact float text (-0 and 0 alike: every range holds 0), so mismatches of all tensors show at once. */
    private static String describe(float min, float max, long count, long nonFinite) {
        return String.format(Locale.ROOT, "[%s, %s] count %d, non-finite %d", Float.toString(min + 0f),
                Float.toString(max + 0f), count, nonFinite);
    }

    private static Set<String> graphInputs(OnnxModel model) {
        Set<String> inputs = new LinkedHashSet<>();
        model.graph().inputs().forEach(input -> inputs.add(input.name()));
        return inputs;
    }

    private static float[] floats(HostTensor tensor) {
        FloatBuffer buffer = tensor.floats();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    /** The whole tensors over the samples calibration selects, fetched as graph outputs. */
    private static Map<String, Whole> wholeTensors(OnnxModel model, Set<String> tensors, Dataset data, int samples,
            int batchSize) {
        Set<String> inputs = graphInputs(model);
        Set<String> fetched = new LinkedHashSet<>(tensors);
        fetched.removeAll(inputs);
        Map<String, Whole> whole = new LinkedHashMap<>();
        tensors.forEach(t -> whole.put(t, new Whole()));
        try (OrtModel session = OrtModel.open(model.withExtraOutputs(fetched),
                RuntimeOptions.defaults().withIntraOpThreads(1))) {
            Iterator<Batch> batches = new SampleSelection(data, batchSize, samples);
            while (batches.hasNext()) {
                Batch batch = batches.next();
                session.run(batch, fetched).forEach((name, output) -> whole.get(name).add(output.values()));
                batch.inputs().forEach((name, tensor) -> {
                    if (whole.containsKey(name)) {
                        whole.get(name).add(floats(tensor));
                    }
                });
            }
        }
        return whole;
    }

    private static CalibrationTable minMax(OnnxModel model, Set<String> tensors, Dataset data, int samples,
            int batchSize) {
        return Calibrator.builder()
                .setModel(model)
                .setData(data)
                .setTensors(tensors)
                .optBins(0)
                .optMaxSamples(samples)
                .optBatchSize(batchSize)
                .optThreads(2, 1)
                .build()
                .calibrate();
    }

    private static boolean nonNegative(OnnxModel model, String tensor) {
        Graph graph = model.graph();
        return ExtremesProbe.isNonNegative(graph, graph.index(), tensor, new HashMap<>());
    }

    /**
     * The table against whole tensors: max and counts always exact; min exact, or 0 for a tensor non-negative by
     * construction, whose whole-tensor minimum must then really be >= 0.
     */
    private static void assertTableExact(CalibrationTable table, OnnxModel model, Map<String, Whole> whole) {
        List<String> mismatches = new ArrayList<>();
        whole.forEach((name, w) -> {
            TensorStatistics stats = table.statistics(name);
            if (stats == null) {
                mismatches.add(name + ": missing from the table");
                return;
            }
            boolean nonNegative = nonNegative(model, name);
            if (nonNegative && w.min < 0) {
                mismatches.add(name + ": judged non-negative, but the whole tensor reaches " + w.min);
            }
            String expected = describe(nonNegative ? 0f : w.min, w.max, w.count, w.nonFinite);
            String actual = describe(stats.min, stats.max, stats.count, stats.nonFinite);
            if (!actual.equals(expected)) {
                mismatches.add(name + ": table " + actual + ", whole tensors " + expected);
            }
        });
        assertThat(mismatches).isEmpty();
    }

    // ---------------------------------------------------------------- fixture models

    /** The activations a default (uint8) quantization calibrates, taken from its report. */
    private static Set<String> quantizedActivations(OnnxModel model) {
        QuantizationReport report = Quantizer.builder().setModel(model)
                .setCalibrationData(CalibrationDeterminismTest.calib(model)).optMaxSamples(8).build().quantize()
                .report();
        Set<String> tensors = new LinkedHashSet<>();
        report.activations().forEach(a -> tensors.add(a.tensor()));
        return tensors;
    }

    @ParameterizedTest
    @CsvSource({"cnn, quantized", "cnn, all", "resnet, quantized", "resnet, all"})
    void fixtureExtremesEqualWholeTensors(String name, String selection) {
        OnnxModel model = OnnxModel.load(TestData.model(name + "-fp32.onnx"));
        Dataset data = CalibrationDeterminismTest.calib(model);
        Set<String> tensors = selection.equals("quantized") ? quantizedActivations(model)
                : CalibrationDeterminismTest.allComputed(model);
        Map<String, Whole> whole = wholeTensors(model, tensors, data, FIXTURE_SAMPLES, BATCH);
        CalibrationTable table = minMax(model, tensors, data, FIXTURE_SAMPLES, BATCH);
        assertThat(table.samples()).isEqualTo(FIXTURE_SAMPLES);
        assertTableExact(table, model, whole);
        // the fast path's shortcuts are exercised: some minima are skipped, and some tensors can be negative
        assertThat(tensors).anyMatch(t -> nonNegative(model, t)).anyMatch(t -> whole.get(t).min < 0);
        assertThat(table.warnings()).isEmpty();
    }

    /** The probe alone, batch by batch: every figure clean and exact (no slow path hides a wrong one). */
    @ParameterizedTest
    @ValueSource(strings = {"cnn", "resnet"})
    void probeFiguresEqualWholeTensorsPerBatch(String name) {
        OnnxModel model = OnnxModel.load(TestData.model(name + "-fp32.onnx"));
        Set<String> tensors = CalibrationDeterminismTest.allComputed(model);
        tensors.removeAll(graphInputs(model));
        assertProbeExact(model, tensors, CalibrationDeterminismTest.calib(model), 64, BATCH);
    }

    /** Builds the probe as the calibrator does and compares each batch's figures with the whole tensors. */
    private static void assertProbeExact(OnnxModel model, Set<String> tensors, Dataset data, int samples,
            int batchSize) {
        ExtremesProbe probe;
        try (OrtModel shapes = OrtModel.open(model.withExtraOutputs(tensors),
                RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE).withIntraOpThreads(1))) {
            probe = ExtremesProbe.of(model, tensors, shapes.outputShapes(), shapes.outputDimensionNames());
        }
        List<String> mismatches = new ArrayList<>();
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(1);
        try (OrtModel fast = OrtModel.open(probe.model, options);
                OrtModel full = OrtModel.open(model.withExtraOutputs(tensors), options)) {
            Iterator<Batch> batches = new SampleSelection(data, batchSize, samples);
            for (int b = 0; batches.hasNext(); b++) {
                Batch batch = batches.next();
                Map<String, ExtremesProbe.Extremes> figures = probe.read(fast.run(batch, probe.outputs()));
                Map<String, OrtModel.FloatOutput> outputs = full.run(batch, tensors);
                for (String tensor : tensors) {
                    Whole w = new Whole();
                    w.add(outputs.get(tensor).values());
                    ExtremesProbe.Extremes e = figures.get(tensor);
                    String expected = describe(probe.nonNegative(tensor) ? 0f : w.min, w.max, w.count, 0) + " clean";
                    String actual = describe(e.min(), e.max(), e.count(), 0) + (e.clean() ? " clean" : " unclean");
                    if (!actual.equals(expected)) {
                        mismatches.add("batch " + b + ", " + tensor + ": probe " + actual + ", whole " + expected);
                    }
                }
            }
        }
        assertThat(mismatches).isEmpty();
    }

    // ---------------------------------------------------------------- synthetic models

    /** A small opset-13 graph with input x of shape [N, dims...]; outputs are named, their types inferred. */
    private static final class TinyGraph {
        private final GraphProto.Builder graph = GraphProto.newBuilder().setName("tiny");
        private final Random random = new Random(11);

        TinyGraph(long... dims) {
            TensorShapeProto.Builder shape = TensorShapeProto.newBuilder()
                    .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("N"));
            for (long d : dims) {
                shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
            }
            graph.addInput(ValueInfoProto.newBuilder().setName("x").setType(TypeProto.newBuilder().setTensorType(
                    TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))));
        }

        /** Gaussian weights with both signs, so convolutions reach negative values. */
        TinyGraph weight(String name, long... dims) {
            float[] values = new float[(int) Arrays.stream(dims).reduce(1, (a, b) -> a * b)];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) random.nextGaussian() * 0.5f;
            }
            graph.addInitializer(Protos.floats(name, dims, values));
            return this;
        }

        TinyGraph constant(String name, long[] dims, float... values) {
            graph.addInitializer(Protos.floats(name, dims, values));
            return this;
        }

        TinyGraph int64s(String name, long... values) {
            graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE)
                    .addDims(values.length).addAllInt64Data(Arrays.stream(values).boxed().toList()));
            return this;
        }

        TinyGraph node(String op, List<String> inputs, String output, AttributeProto... attributes) {
            graph.addNode(Protos.node(op, output + "_node", inputs, List.of(output)).addAllAttribute(List.of(attributes)));
            return this;
        }

        OnnxModel build(String output) {
            graph.addOutput(ValueInfoProto.newBuilder().setName(output));
            return OnnxModel.of(ModelProto.newBuilder().setIrVersion(8).setProducerName("test")
                    .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                    .setGraph(graph).build());
        }
    }

    private static AttributeProto ints(String name, long... values) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS)
                .addAllInts(Arrays.stream(values).boxed().toList()).build();
    }

    /** In-memory samples of input x, one float array each. */
    static Dataset samples(long[] sampleShape, List<float[]> samples) {
        return new Dataset() {
            @Override
            public Path source() {
                return Path.of("synthetic");
            }

            @Override
            public int size() {
                return samples.size();
            }

            @Override
            public List<String> classNames() {
                return List.of();
            }

            @Override
            public Iterator<Batch> batches(int batchSize) {
                int per = samples.get(0).length;
                List<Batch> batches = new ArrayList<>();
                for (int from = 0; from < samples.size(); from += batchSize) {
                    int n = Math.min(batchSize, samples.size() - from);
                    float[] values = new float[per * n];
                    List<Path> sources = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        System.arraycopy(samples.get(from + i), 0, values, per * i, per);
                        sources.add(Path.of("sample-" + (from + i)));
                    }
                    long[] shape = new long[sampleShape.length + 1];
                    shape[0] = n;
                    System.arraycopy(sampleShape, 0, shape, 1, sampleShape.length);
                    batches.add(new Batch(Map.of("x", HostTensor.ofFloats(shape, values)), new int[n], sources));
                }
                return batches.iterator();
            }
        };
    }

    /** {@code count} samples uniform in [-1, 1) (fixed seed). */
    private static List<float[]> uniform(int count, int size) {
        Random random = new Random(5);
        List<float[]> samples = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            float[] values = new float[size];
            for (int i = 0; i < size; i++) {
                values[i] = random.nextFloat() * 2 - 1;
            }
            samples.add(values);
        }
        return samples;
    }

    /** MinMax on synthetic data (batch 4, two sessions: several batches merged) against the whole tensors. */
    private static CalibrationTable assertCalibrationExact(OnnxModel model, Set<String> tensors, Dataset data) {
        Map<String, Whole> whole = wholeTensors(model, tensors, data, data.size(), 4);
        CalibrationTable table = minMax(model, tensors, data, 0, 4);
        assertTableExact(table, model, whole);
        Set<String> computed = new LinkedHashSet<>(tensors);
        computed.removeAll(graphInputs(model));
        assertProbeExact(model, computed, data, data.size(), 4);
        return table;
    }

    /**
     * m = 2x on [C=2, size, size] feeds a max-pool; one sample holds 50 at (h, w) and -50 elsewhere. When the pool's
     * windows miss (h, w), m's maximum is not the pool's and must be measured on m itself.
     */
    @ParameterizedTest(name = "size {0}, kernel {1}, stride {2}, ceil {3}, outlier at ({4}, {5}), covered {6}")
    @CsvSource({
        "8, 1, 2, 0, 7, 7, false", // strides longer than the kernel skip every odd row and column
        "8, 2, 3, 0, 5, 2, false", // windows at 0, 3, 6 skip rows and columns 2 and 5
        "7, 2, 2, 0, 6, 6, false", // the last row and column fall outside the last window
        "8, 2, 2, 0, 7, 7, true",
        "7, 2, 2, 1, 6, 6, true", // ceil mode adds a window over the last row and column
        "7, 3, 2, 0, 6, 0, true"})
    void maxPoolInputExtremesAreExactWhetherOrNotThePoolCoversIt(int size, int kernel, int stride, int ceil,
            int h, int w, boolean covered) {
        OnnxModel model = new TinyGraph(2, size, size)
                .constant("two", new long[0], 2f)
                .node("Mul", List.of("x", "two"), "m")
                .node("MaxPool", List.of("m"), "p", ints("kernel_shape", kernel, kernel), ints("strides", stride, stride),
                        Protos.intAttribute("ceil_mode", ceil))
                .build("p");
        List<float[]> samples = uniform(10, 2 * size * size);
        samples.get(3)[size * size + h * size + w] = 50; // channel 1
        samples.get(6)[h * size + (size - 1 - w)] = -50;
        Dataset data = samples(new long[] {2, size, size}, samples);
        Set<String> tensors = new LinkedHashSet<>(List.of("m", "p"));
        Map<String, Whole> whole = wholeTensors(model, tensors, data, data.size(), 4);
        // the case is what it claims: the pool sees the outlier exactly when it covers its input
        assertThat(whole.get("m").max).isEqualTo(100f);
        assertThat(whole.get("p").max == whole.get("m").max).isEqualTo(covered);
        assertCalibrationExact(model, tensors, data);
    }

    /** Pool after pool: both inputs take their maximum from the last output, which alone is measured. */
    @Test
    void chainedMaxPoolsGiveExactExtremes() {
        OnnxModel model = new TinyGraph(2, 8, 8)
                .weight("w", 3, 2, 1, 1)
                .node("Conv", List.of("x", "w"), "c")
                .node("MaxPool", List.of("c"), "p1", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
                .node("MaxPool", List.of("p1"), "p2", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
                .node("MaxPool", List.of("p2"), "p3", ints("kernel_shape", 1, 1), ints("strides", 2, 2))
                .build("p3");
        Dataset data = samples(new long[] {2, 8, 8}, uniform(10, 128));
        assertCalibrationExact(model, new LinkedHashSet<>(List.of("c", "p1", "p2", "p3")), data);
    }

    /**
     * Operators that do or do not prove a tensor non-negative: only the first kind may skip the minimum, and the
     * others' minima, negative here, must be measured.
     */
    @Test
    void nonNegativeByConstructionIsJudgedFromTheOperators() {
        OnnxModel model = new TinyGraph(2, 6, 6)
                .weight("w", 4, 2, 3, 3)
                .constant("zero", new long[0], 0f)
                .constant("six", new long[0], 6f)
                .constant("minus", new long[0], -0.25f)
                .int64s("perm", 0, 1, 3, 2)
                .node("Conv", List.of("x", "w"), "c", ints("pads", 1, 1, 1, 1))
                .node("Sigmoid", List.of("c"), "sigmoid")
                .node("Softmax", List.of("c"), "softmax", Protos.intAttribute("axis", 1))
                .node("Clip", List.of("c", "zero", "six"), "relu6")
                .node("Clip", List.of("c", "minus", "six"), "clipped")
                .node("Relu", List.of("c"), "relu")
                .node("AveragePool", List.of("relu"), "average", ints("kernel_shape", 3, 3))
                .node("Concat", List.of("relu", "relu6"), "both", Protos.intAttribute("axis", 1))
                .node("Concat", List.of("relu", "c"), "mixed", Protos.intAttribute("axis", 1))
                .node("Abs", List.of("clipped"), "abs")
                .node("Sub", List.of("relu", "sigmoid"), "difference")
                .node("Add", List.of("difference", "abs"), "sum")
                .build("sum");
        Dataset data = samples(new long[] {2, 6, 6}, uniform(10, 72));
        Set<String> tensors = new LinkedHashSet<>(List.of("c", "sigmoid", "softmax", "relu6", "clipped", "relu",
                "average", "both", "mixed", "abs", "difference", "sum"));
        Map<String, Whole> whole = wholeTensors(model, tensors, data, data.size(), 4);
        Set<String> nonNegative = new LinkedHashSet<>(tensors);
        nonNegative.removeIf(t -> !nonNegative(model, t));
        assertThat(nonNegative).containsExactlyInAnyOrder("sigmoid", "softmax", "relu6", "relu", "average", "both",
                "abs");
        // the others really are negative somewhere, so a wrong judgement shows as a wrong minimum
        tensors.stream().filter(t -> !nonNegative.contains(t)).forEach(t -> assertThat(whole.get(t).min).as(t)
                .isNegative());
        assertCalibrationExact(model, tensors, data);
    }

    /**
     * Reshaping [N, 4, 4, 4] to [2N, 2, 4, 4] gives 4-d tensors of two different batch sizes, whose per-channel figures
     * cannot be concatenated together.
     */
    @Test
    void tensorsOfDifferentFirstDimensionsAreMeasuredApart() {
        OnnxModel model = new TinyGraph(4, 4, 4)
                .weight("w1", 4, 4, 1, 1)
                .weight("w2", 3, 2, 3, 3)
                .int64s("shape", -1, 2, 4, 4)
                .node("Conv", List.of("x", "w1"), "a")
                .node("Reshape", List.of("a", "shape"), "r")
                .node("Conv", List.of("r", "w2"), "b", ints("pads", 1, 1, 1, 1))
                .node("Relu", List.of("b"), "c")
                .build("c");
        Dataset data = samples(new long[] {4, 4, 4}, uniform(10, 64));
        assertCalibrationExact(model, new LinkedHashSet<>(List.of("x", "a", "r", "b", "c")), data);
    }

    /** Conv, Relu, MaxPool, Flatten: every operator NaN-safe, so only the graph input is checked for NaN. */
    private static OnnxModel nanSafeModel() {
        return new TinyGraph(1, 8, 8)
                .weight("w", 2, 1, 3, 3)
                .node("Conv", List.of("x", "w"), "c", ints("pads", 1, 1, 1, 1))
                .node("Relu", List.of("c"), "r")
                .node("MaxPool", List.of("r"), "p", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
                .node("Flatten", List.of("p"), "f")
                .build("f");
    }

    @ParameterizedTest
    @CsvSource({"NaN, true", "NaN, false", "Infinity, true", "-Infinity, false"})
    void nonFiniteInputsOfANanSafeGraphAreCountedAndLeftOut(float bad, boolean calibrateInput) {
        OnnxModel model = nanSafeModel();
        assertThat(model.graph().nodes()).allMatch(n -> ExtremesProbe.NAN_SAFE.contains(n.opType()));
        List<float[]> samples = uniform(10, 64);
        samples.get(5)[3 * 8 + 4] = bad;
        Dataset data = samples(new long[] {1, 8, 8}, samples);
        Set<String> tensors = new LinkedHashSet<>(List.of("c", "r", "p", "f"));
        if (calibrateInput) {
            tensors.add("x");
        }
        Map<String, Whole> whole = wholeTensors(model, tensors, data, data.size(), 4);
        // the bad pixel spreads through the 3 x 3 convolution to both channels
        assertThat(whole.get("c").nonFinite).isGreaterThan(0);
        CalibrationTable table = minMax(model, tensors, data, 0, 4);
        assertTableExact(table, model, whole);
        List<String> expected = new ArrayList<>();
        for (String tensor : table.tensors()) {
            Whole w = whole.get(tensor);
            if (w.nonFinite > 0) {
                expected.add(String.format(Locale.ROOT, "tensor '%s': %d of %d values were NaN or infinite and were"
                        + " left out of its range", tensor, w.nonFinite, w.nonFinite + w.count));
            }
        }
        assertThat(table.warnings()).containsExactlyElementsOf(expected).isNotEmpty();
        table.observed(tensors).forEach((tensor, range) -> {
            assertThat(Float.isFinite(range.min()) && Float.isFinite(range.max())).as(tensor).isTrue();
            assertThat(range.max()).as(tensor).isEqualTo(whole.get(tensor).max);
        });
    }

    /**
     * Sqrt makes NaN from a finite input, so the graph is not NaN-safe: the per-channel mean of each 4-d tensor must
     * reveal the NaN that max-pooling may skip, though every graph input is finite.
     */
    @Test
    void nanMadeInsideAGraphThatIsNotNanSafeIsCountedAndLeftOut() {
        OnnxModel model = new TinyGraph(1, 8, 8)
                .weight("w", 2, 1, 3, 3)
                .node("Sqrt", List.of("x"), "s")
                .node("Conv", List.of("s", "w"), "c", ints("pads", 1, 1, 1, 1))
                .node("MaxPool", List.of("c"), "p", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
                .build("p");
        assertThat(model.graph().nodes()).anyMatch(n -> !ExtremesProbe.NAN_SAFE.contains(n.opType()));
        List<float[]> samples = uniform(10, 64);
        samples.forEach(sample -> {
            for (int i = 0; i < sample.length; i++) {
                sample[i] = Math.abs(sample[i]);
            }
        });
        samples.get(6)[2 * 8 + 5] = -1; // the one NaN of s
        Dataset data = samples(new long[] {1, 8, 8}, samples);
        Set<String> tensors = new LinkedHashSet<>(List.of("s", "c", "p"));
        Map<String, Whole> whole = wholeTensors(model, tensors, data, data.size(), 4);
        assertThat(whole.get("s").nonFinite).isEqualTo(1);
        assertThat(whole.get("c").nonFinite).isGreaterThan(1);
        CalibrationTable table = minMax(model, tensors, data, 0, 4);
        assertTableExact(table, model, whole);
        assertThat(table.warnings()).hasSize(whole.get("p").nonFinite > 0 ? 3 : 2);
    }

    @Test
    void aFlattenedTensorGetsTheStatisticsOfItsSource() {
        OnnxModel model = nanSafeModel();
        Dataset data = samples(new long[] {1, 8, 8}, uniform(10, 64));
        Set<String> tensors = new LinkedHashSet<>(List.of("x", "c", "r", "p", "f"));
        CalibrationTable table = assertCalibrationExact(model, tensors, data);
        TensorStatistics p = table.statistics("p");
        TensorStatistics f = table.statistics("f");
        assertThat(f).isNotSameAs(p);
        assertThat(describe(f.min, f.max, f.count, f.nonFinite)).isEqualTo(describe(p.min, p.max, p.count,
                p.nonFinite));
        assertThat(Calibrator.sameValues(model.graph(), tensors)).containsExactly(Map.entry("f", "p"));
    }

    /**
     * A graph of NaN-safe operators, but 10 x 1e38 overflows to infinity in one convolution and becomes NaN
     * (inf - inf) in the next, though every graph input is finite. When the infinity shows in a calibrated tensor, the
     * whole batch is observed again and the NaN counted exactly. When it does not (the overflowing tensor is not
     * calibrated), max-pooling skips the NaN: the documented limit of the fast path. The ranges are then still those
     * of the finite values; only the NaN goes uncounted.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void nanMadeFromAnOverflowInsideANanSafeGraphIsLeftOut(boolean observeOverflow) {
        OnnxModel model = new TinyGraph(1, 4, 4)
                .constant("w1", new long[] {2, 1, 1, 1}, 10f, 10f)
                .constant("w2", new long[] {1, 2, 1, 1}, 1f, -1f)
                .node("Conv", List.of("x", "w1"), "a")
                .node("Conv", List.of("a", "w2"), "b")
                .node("MaxPool", List.of("b"), "p", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
                .build("p");
        assertThat(model.graph().nodes()).allMatch(n -> ExtremesProbe.NAN_SAFE.contains(n.opType()));
        List<float[]> samples = uniform(8, 16);
        samples.get(2)[5] = 1e38f; // finite; 10 x 1e38 overflows
        Dataset data = samples(new long[] {1, 4, 4}, samples);
        Set<String> tensors = new LinkedHashSet<>(observeOverflow ? List.of("a", "b", "p") : List.of("b", "p"));
        Map<String, Whole> whole = wholeTensors(model, tensors, data, data.size(), 4);
        assertThat(whole.get("b").nonFinite).isEqualTo(1);
        CalibrationTable table = minMax(model, tensors, data, 0, 4);
        if (observeOverflow) {
            assertTableExact(table, model, whole);
        } else {
            for (String name : tensors) {
                TensorStatistics stats = table.statistics(name);
                assertThat(new float[] {stats.min, stats.max}).as(name)
                        .containsExactly(whole.get(name).min, whole.get(name).max);
            }
        }
    }

    /** More than 2^24 values of one tensor in one batch: a float count would round; the count is exact. */
    @Test
    void elementCountsAboveTwoToTheTwentyFourAreExact() {
        int size = (1 << 24) + 3;
        OnnxModel model = new TinyGraph(size).node("Relu", List.of("x"), "r").node("Neg", List.of("r"), "n")
                .build("n");
        Dataset data = samples(new long[] {size}, uniform(1, size));
        CalibrationTable table = minMax(model, new LinkedHashSet<>(List.of("r", "n")), data, 0, 1);
        assertThat(table.statistics("r").count).isEqualTo(size);
        assertThat(table.statistics("n").count).isEqualTo(size);
    }

    /**
     * The probe of the ResNet's calibrated tensors, as ONNX Runtime optimizes it: every convolution stays in the
     * blocked layout and the residual Adds and ReLUs are fused into convolutions again, as in the plain model (an
     * observed Conv output alone would leave them as separate passes); only the figures are reordered.
     */
    @Test
    void theResNetProbeKeepsOnnxRuntimesFusions(@org.junit.jupiter.api.io.TempDir Path temp) {
        OnnxModel model = OnnxModel.load(TestData.model("resnet-fp32.onnx"));
        Set<String> tensors = quantizedActivations(model);
        tensors.removeAll(graphInputs(model));
        tensors.removeAll(Calibrator.sameValues(model.graph(), tensors).keySet()); // as the calibrator does
        ExtremesProbe probe;
        try (OrtModel shapes = OrtModel.open(model.withExtraOutputs(tensors),
                RuntimeOptions.defaults().withOptimization(RuntimeOptions.Optimization.NONE).withIntraOpThreads(1))) {
            probe = ExtremesProbe.of(model, tensors, shapes.outputShapes(), shapes.outputDimensionNames());
        }
        Path optimized = temp.resolve("probe-optimized.onnx");
        OrtModel.open(probe.model, RuntimeOptions.defaults().withIntraOpThreads(1).withOptimizedModelFile(optimized))
                .close();
        Map<String, Integer> ops = new LinkedHashMap<>();
        OnnxModel.load(optimized).graph().nodes().forEach(n -> ops.merge(n.opType(), 1, Integer::sum));
        assertThat(ops).doesNotContainKeys("Add", "Relu", "ReduceMax", "ReduceMin", "Neg", "Mul");
        // the plain model's reorders (one before the pooling head) plus one for the concatenated figures
        assertThat(ops.get("ReorderOutput")).isEqualTo(2);
        assertThat(ops.get("Concat")).isEqualTo(1);
    }
}
