package dev.compress.quantize;

import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.HostTensor;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.Tensor;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.TensorShapeProto;
import dev.compress.onnx.proto.Onnx.TypeProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

/** Small graphs built with the project's own graph model, deterministic data for them, and ORT comparisons. */
public final class TestGraphs {
    public static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;

    private TestGraphs() {}

    /** A typed value; each dim is a Long (fixed) or a String (symbolic). */
    public static ValueInfoProto value(String name, int type, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String param) {
                dim.setDimParam(param);
            } else {
                dim.setDimValue(((Number) d).longValue());
            }
            shape.addDim(dim);
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(type).setShape(shape))).build();
    }

    /** Deterministic weights in about [-1, 1], with a few larger columns like real layers have. */
    static float[] weights(int n, long seed) {
        Random random = new Random(seed);
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) (random.nextGaussian() * 0.3 * (i % 7 == 0 ? 3 : 1));
        }
        return w;
    }

    /** A [rows, cols] initializer of {@link #weights}. */
    public static TensorProto weight(String name, long rows, long cols, long seed) {
        return Protos.floats(name, new long[] {rows, cols}, weights((int) (rows * cols), seed));
    }

    public static OnnxModel model(GraphProto graph, long opset) {
        return OnnxModel.of(ModelProto.newBuilder().setIrVersion(opset >= 21 ? 10 : 8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
                .setGraph(graph).build());
    }

    /** {@code batches} batches of float inputs; each input's shape comes from {@code shapes} per batch index. */
    public static Dataset floats(Map<String, IntFunction<long[]>> shapes, int batches) {
        return new Dataset() {
            @Override
            public Path source() {
                return Path.of("generated");
            }

            @Override
            public int size() {
                int n = 0;
                for (int b = 0; b < batches; b++) {
                    n += (int) shapes.values().iterator().next().apply(b)[0];
                }
                return n;
            }

            @Override
            public List<String> classNames() {
                return List.of();
            }

            @Override
            public Iterator<Batch> batches(int batchSize) {
                List<Batch> list = new ArrayList<>();
                for (int b = 0; b < batches; b++) {
                    Map<String, HostTensor> inputs = new LinkedHashMap<>();
                    int samples = 0;
                    int k = 0;
                    for (Map.Entry<String, IntFunction<long[]>> input : shapes.entrySet()) {
                        long[] shape = input.getValue().apply(b);
                        samples = (int) shape[0];
                        float[] x = new float[(int) HostTensor.elementCount(shape)];
                        for (int i = 0; i < x.length; i++) {
                            x[i] = (float) Math.sin(0.37 * i + 1.3 * b + 2.1 * k);
                        }
                        inputs.put(input.getKey(), HostTensor.ofFloats(shape, x));
                        k++;
                    }
                    int[] labels = new int[samples];
                    java.util.Arrays.fill(labels, -1);
                    List<Path> sources = new ArrayList<>();
                    for (int i = 0; i < samples; i++) {
                        sources.add(Path.of("sample" + b));
                    }
                    list.add(new Batch(inputs, labels, sources));
                }
                return list.iterator();
            }
        };
    }

    /** A dataset of {@code all}'s rows, read in batches of the size asked. */
    public static Dataset rows(Path source, Batch all) {
        return new Dataset() {
            @Override
            public Path source() {
                return source;
            }

            @Override
            public int size() {
                return all.size();
            }

            @Override
            public List<String> classNames() {
                return List.of();
            }

            @Override
            public Iterator<Batch> batches(int batchSize) {
                List<Batch> batches = new ArrayList<>();
                for (int from = 0; from < all.size(); from += batchSize) {
                    batches.add(all.rows(IntStream.range(from, Math.min(from + batchSize, all.size())).toArray()));
                }
                return batches.iterator();
            }
        };
    }

    /** Largest |quantized - fp32| over all outputs and batches, relative to the largest |fp32| value. */
    static double relativeError(OnnxModel fp32, OnnxModel quantized, Dataset data) {
        return relativeError(fp32, quantized, data.batches(4), RuntimeOptions.defaults());
    }

    /**
     * Largest |b - a| over all outputs of {@code batches}, relative to the largest |a| value; the outputs must have
     * the same shapes.
     */
    public static double relativeError(OnnxModel a, OnnxModel b, Iterator<Batch> batches, RuntimeOptions options) {
        double maxError = 0;
        double maxValue = 0;
        try (OrtModel first = OrtModel.open(a, options); OrtModel second = OrtModel.open(b, options)) {
            while (batches.hasNext()) {
                Batch batch = batches.next();
                Map<String, OrtModel.FloatOutput> expected = first.run(batch);
                Map<String, OrtModel.FloatOutput> actual = second.run(batch);
                for (String name : expected.keySet()) {
                    float[] e = expected.get(name).values();
                    float[] q = actual.get(name).values();
                    if (!java.util.Arrays.equals(actual.get(name).shape(), expected.get(name).shape())) {
                        throw new AssertionError("output " + name + " changed shape");
                    }
                    for (int i = 0; i < e.length; i++) {
                        maxError = Math.max(maxError, Math.abs(e[i] - q[i]));
                        maxValue = Math.max(maxValue, Math.abs(e[i]));
                    }
                }
            }
        }
        if (!(maxValue > 0)) {
            throw new AssertionError("the reference outputs are all zero: nothing was compared");
        }
        return maxError / maxValue;
    }
}
