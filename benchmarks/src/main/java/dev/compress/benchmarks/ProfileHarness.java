package dev.compress.benchmarks;

import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.KernelProfile;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Where ONNX Runtime spends its time in a model: runs each model given (fp32 and INT8 side by side, say) with ONNX
 * Runtime's profiler on ({@link KernelProfile}, the same reading {@code compress quantize} reports when INT8 gains
 * little), 2 intra-op threads, ALL optimizations, and prints the kernel time per op type of the optimized graph (share
 * of the total and microseconds per call). This is how the float islands and slow kernels of an INT8 model are found
 * (docs/benchmarks.md); the latency figures themselves come from the interleaved harnesses.
 *
 * <p>{@code ProfileHarness [--runs N] [--batch N] [--top N] MODEL...}; {@code --top} also lists the N slowest nodes,
 * which tells one slow node from many cheap ones. Inputs are seeded uniform [0, 1) floats of the model's input shape
 * with a symbolic first dimension set to {@code --batch} (default 1) and other symbolic ones to 1.
 */
public final class ProfileHarness {
    private ProfileHarness() {}

    private static final int WARMUP = 20;

    public static void main(String[] args) {
        int runs = 200;
        int batch = 1;
        int top = 0;
        int first = 0;
        while (args.length > first + 1 && args[first].startsWith("--")) {
            switch (args[first]) {
                case "--runs" -> runs = Integer.parseInt(args[first + 1]);
                case "--batch" -> batch = Integer.parseInt(args[first + 1]);
                case "--top" -> top = Integer.parseInt(args[first + 1]);
                default -> first = args.length; // unknown: usage
            }
            first += 2;
        }
        if (args.length <= first) {
            System.err.println("usage: ProfileHarness [--runs N] [--batch N] [--top N] MODEL...");
            System.exit(2);
        }
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(2);
        for (int m = first; m < args.length; m++) {
            OnnxModel model = OnnxModel.load(Path.of(args[m]));
            KernelProfile profile = KernelProfile.measure(model, options, List.of(randomBatch(model, options, batch)),
                    runs, WARMUP);
            System.out.printf(Locale.ROOT, "%n%s: %.0f µs of kernel time per call%n", args[m], profile.usPerCall());
            profile.ops().forEach((op, us) -> System.out.printf(Locale.ROOT, "  %-28s %5.1f%%  %8.1f µs  %4d nodes%n",
                    op, 100 * us / profile.usPerCall(), us,
                    profile.nodes().keySet().stream().filter(node -> node.endsWith(" (" + op + ")")).count()));
            if (top > 0) {
                System.out.printf(Locale.ROOT, "  slowest nodes:%n");
                profile.nodes().entrySet().stream().limit(top).forEach(e -> System.out.printf(Locale.ROOT,
                        "    %-60s %8.1f µs%n", e.getKey(), e.getValue()));
            }
        }
    }

    private static Batch randomBatch(OnnxModel model, RuntimeOptions options, int batch) {
        Map<String, HostTensor> inputs = new LinkedHashMap<>();
        Random random = new Random(12);
        try (OrtModel session = OrtModel.open(model, options)) {
            for (Map.Entry<String, long[]> input : session.inputShapes().entrySet()) {
                long[] shape = input.getValue().clone();
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = shape[i] > 0 ? shape[i] : i == 0 ? batch : 1;
                }
                float[] values = new float[(int) HostTensor.elementCount(shape)];
                for (int i = 0; i < values.length; i++) {
                    values[i] = random.nextFloat();
                }
                inputs.put(input.getKey(), HostTensor.ofFloats(shape, values));
            }
        }
        int[] labels = new int[(int) inputs.values().iterator().next().shape()[0]];
        Arrays.fill(labels, -1);
        return new Batch(inputs, labels, Collections.nCopies(labels.length, Path.of("random")));
    }
}
