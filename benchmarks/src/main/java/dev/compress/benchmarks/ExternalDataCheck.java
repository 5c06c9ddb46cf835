package dev.compress.benchmarks;

import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.SaveOptions;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.quantize.QuantizationResult;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Models beyond protobuf's 2 GB limit: builds a chain of {@code layers} MatMuls with {@code width x width} fp32
 * weights in external data, loads it, quantizes it dynamically, writes it back with external data and runs both in
 * ONNX Runtime from the files. Prints sizes, heap held by the loaded model, times and the output error.
 *
 * <p>Run: {@code java -Xmx8g -cp 'benchmarks/target/classes:benchmarks/target/lib/*'
 * dev.compress.benchmarks.ExternalDataCheck [width] [layers] [dir]} (defaults 8192 9: 2.25 GiB of weights).
 */
public final class ExternalDataCheck {
    private ExternalDataCheck() {}

    public static void main(String[] args) throws IOException {
        int width = args.length > 0 ? Integer.parseInt(args[0]) : 8192;
        int layers = args.length > 1 ? Integer.parseInt(args[1]) : 9;
        Path dir = args.length > 2 ? Path.of(args[2]) : Files.createTempDirectory("big-model");
        Path fp32 = dir.resolve("big.onnx");
        long start = System.nanoTime();
        build(width, layers).save(fp32, SaveOptions.withExternalData());
        report("built and saved", start, "%,d B model + %,d B external data", Files.size(fp32),
                Files.size(dir.resolve("big.onnx.data")));

        long heapBefore = usedHeap();
        start = System.nanoTime();
        OnnxModel model = OnnxModel.load(fp32);
        report("loaded", start, "heap held by the model: %,d B", usedHeap() - heapBefore);

        start = System.nanoTime();
        QuantizationResult result = Quantizer.builder().setModel(model).optDynamic(true).build().quantize();
        model = null;
        Path int8 = dir.resolve("big-int8.onnx");
        result.model().save(int8, SaveOptions.withExternalData());
        result = null;
        report("quantized and saved", start, "%,d B external data", Files.size(dir.resolve("big-int8.onnx.data")));

        float[] x = new float[2 * width];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.sin(0.37 * i);
        }
        Batch batch = new Batch(Map.of("x", HostTensor.ofFloats(new long[] {2, width}, x)), new int[] {-1, -1},
                List.of(fp32, fp32));
        start = System.nanoTime();
        float[] expected;
        try (OrtModel session = OrtModel.open(fp32, RuntimeOptions.defaults())) {
            expected = session.run(batch).get("y").values();
        }
        float[] actual;
        try (OrtModel session = OrtModel.open(int8, RuntimeOptions.defaults())) {
            actual = session.run(batch).get("y").values();
        }
        double error = 0;
        double peak = 0;
        for (int i = 0; i < expected.length; i++) {
            error = Math.max(error, Math.abs(expected[i] - actual[i]));
            peak = Math.max(peak, Math.abs(expected[i]));
        }
        report("ran both in ONNX Runtime", start, "max |int8 - fp32| / max |fp32| = %.4f", error / peak);
    }

    private static OnnxModel build(int width, int layers) {
        Graph graph = Graph.named("big");
        graph.declaredInputs().add(value("x", width));
        graph.outputs().add(value("y", width));
        SplittableRandom random = new SplittableRandom(42);
        float scale = (float) Math.sqrt(3.0 / width); // keeps activations near 1 through the chain
        for (int layer = 0; layer < layers; layer++) {
            ByteBuffer bytes = ByteBuffer.allocate(4 * width * width).order(ByteOrder.LITTLE_ENDIAN);
            FloatBuffer floats = bytes.asFloatBuffer();
            while (floats.hasRemaining()) {
                floats.put((float) (random.nextDouble(-1, 1) * scale));
            }
            graph.putInitializer(Tensor.of("W" + layer, DataType.FLOAT, new long[] {width, width}, bytes));
            graph.nodes().add(Node.of("MatMul", "layer" + layer, List.of(layer == 0 ? "x" : "h" + layer, "W" + layer),
                    List.of(layer == layers - 1 ? "y" : "h" + (layer + 1))));
        }
        return OnnxModel.of(8, Map.of("", 13L), graph);
    }

    private static ValueInfo value(String name, int width) {
        return ValueInfo.tensor(name, DataType.FLOAT, List.of(new ValueInfo.Dim(-1, "n"), new ValueInfo.Dim(width, "")));
    }

    private static long usedHeap() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static void report(String step, long start, String format, Object... args) {
        System.out.println(String.format(Locale.ROOT, "%-26s %6.1f s  ", step, (System.nanoTime() - start) / 1e9)
                + String.format(Locale.ROOT, format, args));
    }
}
