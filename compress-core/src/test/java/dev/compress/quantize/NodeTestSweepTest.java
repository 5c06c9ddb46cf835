package dev.compress.quantize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.OrtException;
import dev.compress.CompressException;
import dev.compress.convert.NodeTests;
import dev.compress.convert.OrtRun;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.graph.OnnxModel;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.pipeline.PassContext;
import dev.compress.prepare.GraphPreparation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Models nobody here made, by the hundred: every model of ONNX's backend tests (Debian's libonnx-testdata: the node
 * tests, PyTorch's exports of its layers and operators, the simple set) goes
 * through graph preparation, static quantization calibrated on the test's own inputs, and dynamic quantization. Each
 * step either refuses with a {@link CompressException} (a one-line message) or writes a model that ONNX Runtime loads
 * and runs on those inputs, with outputs of the same shapes; preparation must also keep every output value.
 */
class NodeTestSweepTest {
    @Test
    void everyNodeTestModelIsPreparedAndQuantizedOrRefusedCleanly() throws IOException {
        assumeTrue(Files.isDirectory(NodeTests.FOLDER), NodeTests.MISSING);
        long start = System.nanoTime();
        Map<String, String> defects = new TreeMap<>();
        Map<String, Integer> counts = new TreeMap<>();
        for (Path dir : NodeTests.dirs()) {
            NodeTests.Case test = NodeTests.load(dir);
            if (test == null) {
                continue;
            }
            Map<String, OrtRun.Values> reference;
            try {
                reference = OrtRun.run(test.model(), test.inputs());
            } catch (OrtException e) {
                count(counts, "not runnable in ONNX Runtime");
                continue;
            }
            count(counts, "runnable");
            step(defects, counts, test, "prepare", reference, true,
                    () -> new GraphPreparation().apply(test.model(), PassContext.silent()).model());
            // every input a constant: preparation folds the whole graph
            NodeTests.Case constant = frozen(test, 0);
            step(defects, counts, constant, "prepare constants", reference, true,
                    () -> new GraphPreparation().apply(constant.model(), PassContext.silent()).model());
            // as exported models hold them: every input after the first becomes an initializer (a weight)
            NodeTests.Case frozen = frozen(test, 1);
            Dataset data = dataset(frozen);
            if (data == null) {
                count(counts, "first input not float/int64 with a batch axis");
                continue;
            }
            step(defects, counts, frozen, "prepare weights", reference, true,
                    () -> new GraphPreparation().apply(frozen.model(), PassContext.silent()).model());
            step(defects, counts, frozen, "static", reference, false, () -> Quantizer.builder()
                    .setModel(frozen.model()).setCalibrationData(data).build().quantize().model());
            step(defects, counts, frozen, "dynamic", reference, false, () -> Quantizer.builder()
                    .setModel(frozen.model()).optDynamic(true).build().quantize().model());
        }
        System.out.printf("ONNX node tests through prepare, static and dynamic quantization: %s; %d defects %s;"
                + " %.1f s%n", counts, defects.size(), defects, (System.nanoTime() - start) / 1e9);
        assertThat(defects).isEmpty();
        assertThat(counts.get("prepare: kept the outputs")).isGreaterThan(800);
        assertThat(counts.get("prepare constants: kept the outputs")).isGreaterThan(800);
        // Conv, ConvTranspose and Gemm in every attribute combination ONNX tests, MatMul, and PyTorch's opset-6
        // exports of its layers (converted first)
        assertThat(counts.get("static: runs")).isGreaterThan(55);
        assertThat(counts.get("dynamic: runs")).isGreaterThan(35);
    }

    private interface Step {
        OnnxModel run();
    }

    private static void step(Map<String, String> defects, Map<String, Integer> counts, NodeTests.Case test,
            String name, Map<String, OrtRun.Values> reference, boolean exact, Step step) {
        OnnxModel result;
        try {
            result = step.run();
        } catch (CompressException e) {
            count(counts, name + ": refused");
            if (e.getMessage() == null || e.getMessage().isBlank() || e.getMessage().contains("\n")) {
                defects.put(test.name() + " " + name, "refusal is not one line: " + e.getMessage());
            }
            return;
        } catch (RuntimeException | StackOverflowError e) {
            defects.put(test.name() + " " + name, e.toString());
            return;
        }
        Map<String, OrtRun.Values> outputs;
        try {
            outputs = OrtRun.run(result, test.inputs());
        } catch (OrtException e) {
            defects.put(test.name() + " " + name, "ONNX Runtime cannot run the result: " + e.getMessage());
            return;
        }
        String mismatch = exact ? OrtRun.mismatch(reference, outputs) : shapes(reference, outputs);
        if (mismatch == null && !exact && cosine(reference, outputs) < 0.999) {
            // calibrated on the very inputs it is run on: 8 bits keep a cosine of 0.99999 on every such test
            mismatch = "output cosine " + cosine(reference, outputs) + " on its own calibration sample";
        }
        if (mismatch != null) {
            defects.put(test.name() + " " + name, mismatch);
        } else {
            count(counts, name + (exact ? ": kept the outputs" : ": runs"));
        }
    }

    /** The test with every fed input from {@code from} on turned into an initializer holding the test's value. */
    private static NodeTests.Case frozen(NodeTests.Case test, int from) {
        List<String> names = new ArrayList<>(test.inputs().keySet());
        ModelProto proto = test.model().toProto();
        GraphProto.Builder graph = proto.getGraph().toBuilder().clearInput();
        for (ValueInfoProto input : proto.getGraph().getInputList()) {
            int index = names.indexOf(input.getName());
            if (index >= from) {
                graph.addInitializer(test.inputs().get(input.getName()).toBuilder().setName(input.getName()));
            } else {
                graph.addInput(input);
            }
        }
        Map<String, TensorProto> first = new LinkedHashMap<>();
        if (from > 0 && !names.isEmpty()) {
            first.put(names.get(0), test.inputs().get(names.get(0)));
        }
        return new NodeTests.Case(test.name(), OnnxModel.of(proto.toBuilder().setGraph(graph).build()), first,
                test.expected());
    }

    private static String shapes(Map<String, OrtRun.Values> reference, Map<String, OrtRun.Values> outputs) {
        for (Map.Entry<String, OrtRun.Values> output : reference.entrySet()) {
            OrtRun.Values got = outputs.get(output.getKey());
            if (got == null || !Arrays.equals(got.shape(), output.getValue().shape())) {
                return output.getKey() + ": shape " + (got == null ? "missing" : Arrays.toString(got.shape()))
                        + ", expected " + Arrays.toString(output.getValue().shape());
            }
        }
        return null;
    }

    /** The cosine of all outputs of {@code a} and {@code b} taken as one vector each. */
    private static double cosine(Map<String, OrtRun.Values> a, Map<String, OrtRun.Values> b) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (String name : a.keySet()) {
            double[] x = a.get(name).values();
            double[] y = b.get(name).values();
            for (int i = 0; i < x.length; i++) {
                ab += x[i] * y[i];
                aa += x[i] * x[i];
                bb += y[i] * y[i];
            }
        }
        return ab / Math.sqrt(aa * bb);
    }

    private static void count(Map<String, Integer> counts, String what) {
        counts.merge(what, 1, Integer::sum);
    }

    /** The test's inputs as one batch along axis 0, or null when an input is not float or int64 or they disagree. */
    private static Dataset dataset(NodeTests.Case test) {
        Map<String, HostTensor> inputs = new LinkedHashMap<>();
        long rows = -1;
        for (Map.Entry<String, TensorProto> input : test.inputs().entrySet()) {
            TensorProto t = input.getValue();
            long[] shape = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
            if (shape.length == 0 || shape[0] == 0 || (rows >= 0 && shape[0] != rows)) {
                return null;
            }
            rows = shape[0];
            double[] values = OrtRun.values(t).values();
            if (t.getDataType() == TensorProto.DataType.FLOAT_VALUE) {
                float[] floats = new float[values.length];
                for (int i = 0; i < values.length; i++) {
                    floats[i] = (float) values[i];
                }
                inputs.put(input.getKey(), HostTensor.ofFloats(shape, floats));
            } else if (t.getDataType() == TensorProto.DataType.INT64_VALUE) {
                inputs.put(input.getKey(), HostTensor.ofLongs(shape,
                        Arrays.stream(values).mapToLong(v -> (long) v).toArray()));
            } else {
                return null;
            }
        }
        if (rows <= 0 || rows > Integer.MAX_VALUE) {
            return null;
        }
        int n = (int) rows;
        int[] labels = new int[n];
        Arrays.fill(labels, -1);
        List<Path> sources = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            sources.add(Path.of(test.name(), "row" + i));
        }
        return TestGraphs.rows(Path.of(test.name()), new Batch(inputs, labels, sources));
    }
}
