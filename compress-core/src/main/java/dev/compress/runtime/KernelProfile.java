package dev.compress.runtime;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.data.Batch;
import dev.compress.graph.OnnxModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Where ONNX Runtime spends a call of a model, from its own profiler: kernel time per op type and per node of the
 * graph it runs after its optimizations, so fused kernels appear as ONNX Runtime names them (fp32 SiLU as
 * {@code QuickGelu}, NCHWc layout changes as {@code ReorderInput}/{@code ReorderOutput}, INT8 convolutions as
 * {@code QLinearConv}). An INT8 model that gains less than expected is explained here, not guessed at: EfficientNet-B0's
 * integer SiLU and squeeze-excite kernels take longer than the fused float ones (docs/benchmarks.md).
 *
 * @param usPerCall kernel time of one call, µs (time between kernels, such as thread hand-offs, is not in it)
 * @param ops op type to µs per call, slowest first
 * @param nodes node name, then its op type in parentheses, to µs per call, slowest first
 */
public record KernelProfile(double usPerCall, Map<String, Double> ops, Map<String, Double> nodes) {
    /**
     * Runs {@code model} on {@code batches} in turn for {@code warmup} and then {@code calls} calls in a session with
     * ONNX Runtime's profiler on, and reads the profile of the timed calls.
     *
     * @throws CompressException BAD_INPUT if ONNX Runtime fails on the model or the batches, INTERNAL if its profile
     *     cannot be written or read
     */
    public static KernelProfile measure(OnnxModel model, RuntimeOptions options, List<Batch> batches, int calls,
            int warmup) {
        if (calls < 1 || warmup < 0 || batches.isEmpty()) {
            throw new IllegalArgumentException("calls " + calls + ", warmup " + warmup + ", " + batches.size()
                    + " batches");
        }
        Path folder = null;
        try {
            folder = Files.createTempDirectory("compress-profile");
            Path trace;
            try (OrtModel session = OrtModel.open(model, options.withProfiling(folder.resolve("ort")))) {
                for (int i = 0; i < warmup + calls; i++) {
                    session.run(batches.get(i % batches.size()));
                }
                trace = session.endProfiling();
            }
            return read(trace, warmup);
        } catch (IOException e) {
            throw CompressException.internal("cannot write or read ONNX Runtime's profile: " + e.getMessage(), e);
        } finally {
            deleteQuietly(folder);
        }
    }

    /**
     * Reads a profile ONNX Runtime wrote ({@code OrtSession.endProfiling()}), leaving out its first {@code skipCalls}
     * calls (warm-up: the first calls allocate and pack weights).
     *
     * @throws IOException if the file cannot be read or is not ONNX Runtime's JSON event list
     */
    public static KernelProfile read(Path trace, int skipCalls) throws IOException {
        Map<String, Double> byOp = new HashMap<>();
        Map<String, Double> byNode = new HashMap<>();
        int call = 0;
        // event by event: a large graph profiled over many calls writes hundreds of thousands of them
        try (JsonParser parser = Json.MAPPER.getFactory().createParser(trace.toFile())) {
            if (parser.nextToken() != JsonToken.START_ARRAY) {
                throw new IOException(trace + " is not ONNX Runtime's list of profile events");
            }
            while (parser.nextToken() == JsonToken.START_OBJECT) {
                JsonNode event = Json.MAPPER.readTree(parser);
                String name = event.path("name").asText();
                String category = event.path("cat").asText();
                if (category.equals("Session") && name.equals("model_run")) {
                    call++;
                } else if (category.equals("Node") && name.endsWith("_kernel_time") && call >= skipCalls) {
                    // a call's node events come before its model_run event
                    String op = event.path("args").path("op_name").asText();
                    double us = event.path("dur").asDouble();
                    byOp.merge(op, us, Double::sum);
                    byNode.merge(name.substring(0, name.length() - "_kernel_time".length()) + " (" + op + ")", us,
                            Double::sum);
                }
            }
        }
        int timed = call - skipCalls;
        if (timed < 1) {
            throw new IOException(trace + " holds " + call + " calls, not more than the " + skipCalls + " to skip");
        }
        double total = byOp.values().stream().mapToDouble(Double::doubleValue).sum();
        return new KernelProfile(total / timed, perCall(byOp, timed), perCall(byNode, timed));
    }

    private static Map<String, Double> perCall(Map<String, Double> sums, int calls) {
        return sums.entrySet().stream()
                .sorted(Map.Entry.<String, Double>comparingByValue(Comparator.reverseOrder())
                        .thenComparing(Map.Entry.comparingByKey()))
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue() / calls, (a, b) -> a,
                        LinkedHashMap::new));
    }

    private static void deleteQuietly(Path folder) {
        if (folder == null) {
            return;
        }
        try (var files = Files.list(folder)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(file);
            }
            Files.deleteIfExists(folder);
        } catch (IOException ignored) {
            // a temporary profile left behind is not worth failing the run for
        }
    }
}
