package dev.compress.benchmarks;

import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.runtime.InterleavedTiming;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.torch.TorchScriptModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Latency of several models of one input shape, measured alternately in one process so that load from other work on
 * the machine falls on all of them alike (e.g. an fp32 model and its INT8 versions).
 *
 * <p>Usage: {@code InterleavedLatency ROUNDS RUNS THREADS N,C,H,W MODEL...}; prints each model's median over rounds of
 * the per-round median time per call, and the median over rounds of its ratio to the first model in the same round
 * (robust to load that changes between rounds). A {@code .pt} model is TorchScript run by libtorch through DJL (e.g. a
 * torch.ao INT8 model, the peer of an ONNX Runtime one) with THREADS intra-op threads and one inter-op thread.
 */
public final class InterleavedLatency {
    private InterleavedLatency() {}

    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(args[0]);
        int runs = Integer.parseInt(args[1]);
        int threads = Integer.parseInt(args[2]);
        long[] shape = Arrays.stream(args[3].split(",")).mapToLong(Long::parseLong).toArray();
        List<Path> files = Arrays.stream(args, 4, args.length).map(Path::of).toList();
        // read when DJL starts its engine, so before the first TorchScript model loads
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        List<AutoCloseable> models = new ArrayList<>();
        List<InterleavedTiming.Call> sessions = new ArrayList<>();
        String input = null;
        for (Path file : files) {
            if (TorchScriptModel.isTorchScriptName(file)) {
                TorchScriptModel model = TorchScriptModel.load(file);
                models.add(model);
                sessions.add(model::run);
            } else {
                OrtModel model = OrtModel.open(file, RuntimeOptions.defaults().withIntraOpThreads(threads));
                models.add(model);
                sessions.add(model::run);
                input = input == null ? model.inputShapes().keySet().iterator().next() : input;
            }
        }
        float[] x = new float[(int) HostTensor.elementCount(shape)];
        Random random = new Random(0);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        input = input == null ? "input" : input; // TorchScript takes inputs by position
        Batch batch = new Batch(Map.of(input, HostTensor.ofFloats(shape, x)), new int[(int) shape[0]],
                Collections.nCopies((int) shape[0], Path.of("random")));
        int[] calls = new int[sessions.size()];
        Arrays.fill(calls, runs);
        InterleavedTiming.Times times = InterleavedTiming.measureOf(sessions, List.of(batch), rounds, calls, 20);
        for (int m = 0; m < sessions.size(); m++) {
            System.out.printf(Locale.ROOT, "%-40s %8.3f ms  ratio %.3f  rounds (ms) %s%n", files.get(m).getFileName(),
                    times.medianMs(m), times.ratio(m, 0), Arrays.toString(Arrays.stream(times.roundMedians()[m])
                            .map(v -> Math.round(v * 100) / 100.0).toArray()));
        }
        for (AutoCloseable model : models) {
            model.close();
        }
    }
}
