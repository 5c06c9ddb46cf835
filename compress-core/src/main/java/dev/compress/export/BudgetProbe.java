package dev.compress.export;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Map;

/**
 * The child process {@link BudgetCheck} measures: opens an ONNX Runtime session on a model, runs it
 * {@value BudgetCheck#RUNS} times on one zero-filled input, prints the median latency and {@code done}, then waits
 * for its standard input to close so that the parent can read its peak memory from outside. Uses ONNX Runtime
 * and the JDK only, so the child holds nothing a deployed application would not.
 *
 * <p>Arguments: model file, intra-op threads, input name, input shape (comma-separated).
 */
public final class BudgetProbe {
    private BudgetProbe() {}

    public static void main(String[] args) throws Exception {
        String model = args[0];
        int threads = Integer.parseInt(args[1]);
        String input = args[2];
        long[] shape = Arrays.stream(args[3].split(",")).mapToLong(Long::parseLong).toArray();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        float[] zeros = new float[(int) Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
        long[] nanos = new long[BudgetCheck.RUNS];
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(threads);
            try (OrtSession session = env.createSession(model, options);
                    OnnxTensor tensor = OnnxTensor.createTensor(env, FloatBuffer.wrap(zeros), shape)) {
                for (int i = 0; i < nanos.length; i++) {
                    long start = System.nanoTime();
                    session.run(Map.of(input, tensor)).close();
                    nanos[i] = System.nanoTime() - start;
                }
            }
        }
        Arrays.sort(nanos);
        System.out.println("median-ns " + nanos[nanos.length / 2]);
        System.out.println("done");
        System.out.flush();
        // the parent reads VmHWM while this process still exists, then closes our stdin
        System.in.readAllBytes();
    }
}
