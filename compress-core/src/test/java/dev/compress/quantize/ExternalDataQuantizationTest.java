package dev.compress.quantize;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UnsafeByteOperations;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.graph.SaveOptions;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
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
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The largest model this test budget allows: five 4096 x 4096 MatMul weights, 320 MiB of external data (protobuf's
 * limit is 2 GB; the surefire heap is 2 GB). Loaded once, quantized dynamically, written back with external data,
 * and run by ONNX Runtime from the files.
 */
class ExternalDataQuantizationTest {
    private static final int WIDTH = 4096;
    private static final int LAYERS = 5;
    private static final long DATA_BYTES = 4L * WIDTH * WIDTH * LAYERS;

    @TempDir
    Path dir;

    /** x[n, 4096] through five MatMuls; weights scaled by 1/sqrt(4096) so values stay near 1. */
    private static OnnxModel bigModel() {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("big")
                .addInput(value("x", FLOAT, "n", (long) WIDTH))
                .addOutput(value("y", FLOAT, "n", (long) WIDTH));
        SplittableRandom random = new SplittableRandom(42);
        float scale = (float) (Math.sqrt(3.0 / WIDTH));
        for (int layer = 0; layer < LAYERS; layer++) {
            ByteBuffer bytes = ByteBuffer.allocate(4 * WIDTH * WIDTH).order(ByteOrder.LITTLE_ENDIAN);
            FloatBuffer floats = bytes.asFloatBuffer();
            while (floats.hasRemaining()) {
                floats.put((float) (random.nextDouble(-1, 1) * scale));
            }
            graph.addInitializer(TensorProto.newBuilder().setName("W" + layer).setDataType(FLOAT)
                    .addDims(WIDTH).addDims(WIDTH).setRawData(UnsafeByteOperations.unsafeWrap(bytes)));
            graph.addNode(Protos.node("MatMul", "layer" + layer,
                    List.of(layer == 0 ? "x" : "h" + layer, "W" + layer), List.of(layer == LAYERS - 1 ? "y" : "h" + (layer + 1))));
        }
        return OnnxModel.of(ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(graph).build());
    }

    private static long usedHeap() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    @Test
    void aModelWithHundredsOfMegabytesOfExternalDataIsReadOnceQuantizedAndWrittenBack() throws IOException {
        Path fp32 = dir.resolve("big.onnx");
        bigModel().save(fp32, SaveOptions.withExternalData());
        assertThat(Files.size(fp32.resolveSibling("big.onnx.data"))).isGreaterThanOrEqualTo(DATA_BYTES);
        assertThat(Files.size(fp32)).isLessThan(1 << 20);

        long before = usedHeap();
        OnnxModel model = OnnxModel.load(fp32);
        long loaded = usedHeap() - before;
        // read once into the model: no second copy of the weights stays behind
        assertThat(loaded).as("heap held by the loaded model").isBetween(DATA_BYTES * 9 / 10, DATA_BYTES * 5 / 4);

        QuantizationResult result = Quantizer.builder().setModel(model).optDynamic(true).build().quantize();
        model = null;
        Path int8 = dir.resolve("big-int8.onnx");
        result.model().save(int8, SaveOptions.withExternalData());
        assertThat(result.report().quantizedOps()).containsEntry("MatMul", LAYERS);
        long int8Data = Files.size(int8.resolveSibling("big-int8.onnx.data"));
        assertThat(int8Data).isBetween(DATA_BYTES / 4, DATA_BYTES / 4 + (1 << 20));
        result = null;

        Dataset data = TestGraphs.floats(Map.of("x", b -> new long[] {2, WIDTH}), 1);
        try (OrtModel a = OrtModel.open(fp32, RuntimeOptions.defaults());
                OrtModel b = OrtModel.open(int8, RuntimeOptions.defaults())) {
            var batch = data.batches(2).next();
            float[] expected = a.run(batch).get("y").values();
            float[] actual = b.run(batch).get("y").values();
            double error = 0;
            double peak = 0;
            for (int i = 0; i < expected.length; i++) {
                error = Math.max(error, Math.abs(expected[i] - actual[i]));
                peak = Math.max(peak, Math.abs(expected[i]));
            }
            assertThat(error / peak).isLessThan(0.05);
        }
    }
}
