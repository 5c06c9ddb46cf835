package dev.compress.benchmarks;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.Json;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * Where ONNX Runtime spends its time in a model: runs each model given (fp32 and INT8 side by side, say) with ONNX
 * Runtime's profiler on, 2 intra-op threads, ALL optimizations, and prints the kernel time per op type of
 * the optimized graph (share of the total and microseconds per call). This is how the float islands and slow
 * kernels of an INT8 model are found (docs/benchmarks.md); the latency figures themselves come from the interleaved
 * harnesses.
 *
 * <p>{@code ProfileHarness [--runs N] [--batch N] MODEL...}; inputs are seeded uniform [0, 1) floats of the model's input
 * shape with a symbolic first dimension set to {@code --batch} (default 1) and other symbolic ones to 1.
 */
public final class ProfileHarness {
    private ProfileHarness() {}

    public static void main(String[] args) throws Exception {
        int runs = 200;
        int batch = 1;
        int first = 0;
        while (args.length > first + 1 && args[first].startsWith("--")) {
            switch (args[first]) {
                case "--runs" -> runs = Integer.parseInt(args[first + 1]);
                case "--batch" -> batch = Integer.parseInt(args[first + 1]);
                default -> first = args.length; // unknown: usage
            }
            first += 2;
        }
        if (args.length <= first) {
            System.err.println("usage: ProfileHarness [--runs N] [--batch N] MODEL...");
            System.exit(2);
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        for (int m = first; m < args.length; m++) {
            Path model = Path.of(args[m]);
            Map<String, double[]> byOp = profile(env, model, runs, batch);
            int calls = runs;
            double total = byOp.values().stream().mapToDouble(v -> v[0]).sum();
            System.out.printf(Locale.ROOT, "%n%s: %.0f µs of kernel time per call%n", model.getFileName(),
                    total / calls);
            byOp.entrySet().stream()
                    .sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0]))
                    .forEach(e -> System.out.printf(Locale.ROOT, "  %-28s %5.1f%%  %8.1f µs  %4.0f nodes%n",
                            e.getKey(), 100 * e.getValue()[0] / total, e.getValue()[0] / calls,
                            e.getValue()[1] / calls));
        }
    }

    /** Op type -> {total µs, node executions} over {@code runs} calls after 20 warm-up calls. */
    private static Map<String, double[]> profile(OrtEnvironment env, Path model, int runs, int batch)
            throws Exception {
        Path prefix = Files.createTempDirectory("profile").resolve("ort");
        Path trace;
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(2);
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.enableProfiling(prefix.toString());
            try (OrtSession session = env.createSession(model.toString(), options)) {
                Map<String, OnnxTensor> inputs = new HashMap<>();
                Random random = new Random(12);
                for (Map.Entry<String, NodeInfo> input : session.getInputInfo().entrySet()) {
                    long[] shape = ((TensorInfo) input.getValue().getInfo()).getShape().clone();
                    long count = 1;
                    for (int i = 0; i < shape.length; i++) {
                        shape[i] = shape[i] > 0 ? shape[i] : i == 0 ? batch : 1;
                        count *= shape[i];
                    }
                    float[] values = new float[(int) count];
                    for (int i = 0; i < values.length; i++) {
                        values[i] = random.nextFloat();
                    }
                    inputs.put(input.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(values), shape));
                }
                for (int i = 0; i < 20; i++) {
                    session.run(inputs).close();
                }
                for (int i = 0; i < runs; i++) {
                    session.run(inputs).close();
                }
                trace = Path.of(session.endProfiling());
                inputs.values().forEach(OnnxTensor::close);
            }
        }
        Map<String, double[]> byOp = new TreeMap<>();
        int call = 0;
        for (JsonNode event : Json.MAPPER.readTree(trace.toFile())) {
            String name = event.path("name").asText();
            if (event.path("cat").asText().equals("Session") && name.equals("model_run")) {
                call++;
                continue;
            }
            if (!event.path("cat").asText().equals("Node") || !name.endsWith("_kernel_time")) {
                continue;
            }
            // node events of a call come before its model_run event
            if (call < 20) {
                continue;
            }
            String op = event.path("args").path("op_name").asText();
            double[] sum = byOp.computeIfAbsent(op, k -> new double[2]);
            sum[0] += event.path("dur").asDouble();
            sum[1] += 1;
        }
        Files.deleteIfExists(trace);
        return byOp;
    }
}
