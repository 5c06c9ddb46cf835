package dev.compress.check;

import dev.compress.runtime.KernelProfile;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Where the time of one call goes in the fp32 and the INT8 model: kernel time per op type from ONNX Runtime's
 * profiler ({@link KernelProfile}), each graph as ONNX Runtime runs it. Comparing the two says which integer kernels
 * cost more than the float ones they replace.
 *
 * @param fp32Ms kernel time of one fp32 call, ms
 * @param int8Ms kernel time of one INT8 call, ms
 * @param fp32 op type to ms per call, slowest first
 * @param int8 op type to ms per call, slowest first
 */
public record KernelTimes(double fp32Ms, double int8Ms, Map<String, Double> fp32, Map<String, Double> int8) {
    /** Op types of each model the one-line summary names. */
    static final int SUMMARY_OPS = 5;

    public static KernelTimes of(KernelProfile fp32, KernelProfile int8) {
        return new KernelTimes(ms(fp32.usPerCall()), ms(int8.usPerCall()), ms(fp32.ops()), ms(int8.ops()));
    }

    /** The slowest op types of each model, one line. */
    public String summary() {
        return String.format(Locale.ROOT, "kernel time per call in ONNX Runtime's profiler: INT8 %s ms (%s), fp32 %s"
                + " ms (%s)", text(int8Ms), slowest(int8), text(fp32Ms), slowest(fp32));
    }

    private static String slowest(Map<String, Double> ops) {
        return ops.entrySet().stream().limit(SUMMARY_OPS).map(e -> e.getKey() + " " + text(e.getValue()))
                .collect(Collectors.joining(", ")) + (ops.size() > SUMMARY_OPS ? ", ..." : "");
    }

    private static String text(double ms) {
        return new BigDecimal(ms).round(new MathContext(3)).stripTrailingZeros().toPlainString();
    }

    private static Map<String, Double> ms(Map<String, Double> us) {
        Map<String, Double> ms = new LinkedHashMap<>();
        us.forEach((op, value) -> ms.put(op, ms(value)));
        return ms;
    }

    private static double ms(double us) {
        return new BigDecimal(us / 1000).round(new MathContext(3)).doubleValue();
    }
}
