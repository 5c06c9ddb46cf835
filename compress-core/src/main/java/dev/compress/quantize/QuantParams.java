package dev.compress.quantize;

/**
 * Scale and zero point of one quantized tensor, and the arithmetic that derives them from a float range.
 *
 * <p>Rounding is half-to-even, as ONNX's QuantizeLinear specifies. Ranges are widened to contain 0 so that zero
 * (padding, ReLU) is exactly representable.
 */
record QuantParams(float scale, int zeroPoint, ActivationType type) {
    static final int INT8_MAX = 127;

    static QuantParams forRange(float min, float max, ActivationType type) {
        double lo = Math.min(0.0, min);
        double hi = Math.max(0.0, max);
        if (type == ActivationType.INT8) {
            double absMax = Math.max(-lo, hi);
            float scale = absMax == 0 ? 1f : (float) (absMax / INT8_MAX);
            return new QuantParams(scale, 0, type);
        }
        if (hi == lo) {
            return new QuantParams(1f, 0, type);
        }
        float scale = (float) ((hi - lo) / 255.0);
        int zeroPoint = (int) Math.rint(-lo / scale);
        return new QuantParams(scale, Math.max(0, Math.min(255, zeroPoint)), type);
    }

    /** What QuantizeLinear gives for {@code x}: float division, half-to-even rounding, saturation to the type. */
    int quantize(float x) {
        int low = type == ActivationType.UINT8 ? 0 : -128;
        double q = Math.rint(x / scale) + zeroPoint;
        return (int) Math.max(low, Math.min(low + 255, q));
    }

    /**
     * Whether quantizing with these parameters clamps to [{@code min}, {@code max}] by itself: every value at or
     * below {@code min} saturates to the type's lowest code and every value at or above {@code max} to its highest,
     * so {@code quantize(clip(x, min, max)) == quantize(x)} for every x.
     */
    boolean saturatesAt(float min, float max) {
        int low = type == ActivationType.UINT8 ? 0 : -128;
        return quantize(min) == low && quantize(max) == low + 255;
    }

    /** Symmetric int8 scale for weights whose largest magnitude is {@code absMax}: maps it to ±127. */
    static float weightScale(double absMax) {
        return absMax == 0 ? 1f : (float) (absMax / INT8_MAX);
    }

    /** Quantizes a weight to [-127, 127]; the restricted range keeps the int8 grid symmetric around zero. */
    static byte quantizeWeight(float value, float scale) {
        return quantizeWeight(value, scale, INT8_MAX);
    }

    /** Symmetric scale mapping {@code absMax} to ±{@code max} (64 for 7-bit "reduce range" weights). */
    static float weightScale(double absMax, int max) {
        return absMax == 0 ? 1f : (float) (absMax / max);
    }

    /** Quantizes a weight to [-max, max]. */
    static byte quantizeWeight(float value, float scale, int max) {
        double q = Math.rint(value / (double) scale);
        return (byte) Math.max(-max, Math.min(max, q));
    }

    /** Quantizes a bias to int32 at scale {@code inputScale * weightScale}. */
    static int quantizeBias(float value, double scale) {
        double q = Math.rint(value / scale);
        return (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, q));
    }
}
