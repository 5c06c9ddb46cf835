package dev.compress.check;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Locale;

/**
 * fp32 and INT8 call times in ONNX Runtime, measured interleaved ({@link LatencyCheck}). The only timings in a report:
 * unlike every other field they differ from run to run (reports without them are byte-identical).
 *
 * @param int8OverFp32 median over rounds of INT8 time / fp32 time in the same round, to 3 decimals; below 1 is faster
 * @param fp32Ms median time of one fp32 call, ms, to 3 significant digits
 * @param int8Ms median time of one INT8 call, ms, to 3 significant digits
 * @param batchSize samples per call
 * @param threads ONNX Runtime intra-op threads of each session
 * @param runs timed calls of each model
 * @param int8Slower whether the INT8 model took longer than the fp32 one
 * @param int8Graph the INT8 graph ONNX Runtime ran, after its optimizations
 * @param kernels where the time of a call goes in each model, when INT8 took more than
 *     {@link LatencyCheck#EXPLAIN_ABOVE} of the fp32 time; otherwise {@code null}
 */
@JsonPropertyOrder({"int8OverFp32", "fp32Ms", "int8Ms", "batchSize", "threads", "runs", "int8Slower", "int8Graph",
        "kernels"})
public record LatencyReport(double int8OverFp32, double fp32Ms, double int8Ms, int batchSize, int threads, int runs,
        boolean int8Slower, RuntimeGraph int8Graph, KernelTimes kernels) {
    public LatencyReport {
        int8OverFp32 = Math.round(int8OverFp32 * 1000) / 1000.0;
        fp32Ms = FidelityReport.round(fp32Ms);
        int8Ms = FidelityReport.round(int8Ms);
    }

    /** The one line a front end prints. */
    public String summary() {
        return String.format(Locale.ROOT, "latency: INT8 %.2fx fp32 time (%.3g ms vs %.3g ms per call of %d, %d"
                + " thread%s, %d interleaved runs each)", int8OverFp32, int8Ms, fp32Ms, batchSize, threads,
                threads == 1 ? "" : "s", runs);
    }
}
