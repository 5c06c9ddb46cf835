package dev.compress.quantize;

/**
 * How a dynamically quantized MatMul, Gemm or Conv is written. All three keep 8-bit weights per output channel; they
 * differ in what ONNX Runtime runs (measured in docs/transformers.md and docs/benchmarks.md).
 */
public enum DynamicFormat {
    /**
     * {@code DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul}, as ONNX Runtime's own quantize_dynamic writes it;
     * ONNX Runtime fuses it into one DynamicQuantizeMatMul kernel. Convs likewise become ConvInteger, which ONNX
     * Runtime does not fuse (and runs slower than its float Conv). Per-channel at any opset from 11. The default.
     */
    MATMUL_INTEGER,
    /**
     * {@code DynamicQuantizeLinear -> DequantizeLinear -> MatMul <- DequantizeLinear(weight)}: the QDQ form, left to
     * ONNX Runtime's QDQ fusions. Per-channel weights need opset 13.
     */
    QDQ,
    /** {@code DequantizeLinear(weight) -> MatMul} (or Conv) in float: int8 storage only, activations stay float. */
    WEIGHT_ONLY;

    /** Parses {@code matmul-integer}, {@code qdq}, {@code weight-only}, case-insensitively. */
    public static DynamicFormat parse(String text) {
        for (DynamicFormat format : values()) {
            if (format.cliName().equalsIgnoreCase(text.strip())) {
                return format;
            }
        }
        throw new IllegalArgumentException("unknown dynamic format '" + text
                + "' (expected matmul-integer, qdq or weight-only)");
    }

    public String cliName() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
}
