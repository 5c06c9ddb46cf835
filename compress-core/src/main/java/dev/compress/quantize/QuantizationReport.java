package dev.compress.quantize;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.compress.Json;
import java.util.List;
import java.util.Map;

/**
 * What a quantization run did: which nodes run in integer arithmetic, which stay float and why, and the calibrated
 * range of every activation. Deterministic (no timings), so reports of the same inputs are byte-identical.
 *
 * @param model the fp32 model quantized
 * @param method calibration method: minmax, percentile, entropy or mse
 * @param activationType uint8 or int8, "symmetric" added for symmetric uint8
 * @param weightType always int8 symmetric; per channel unless the opset forced per tensor
 * @param perChannel whether weights are quantized per output channel
 * @param calibrationSamples samples the calibration ran over
 * @param quantizedOps op type to count of nodes with quantized inputs
 * @param floatOps op type to count of nodes left in float
 * @param floatNodes node name to the reason it stays float
 * @param foldedRelus Relu, Clip (ReLU6) and Max/Min-of-a-constant nodes folded into the quantized op before them
 * @param activations calibrated ranges and quantization parameters, in graph order
 * @param warnings calibration findings to act on, e.g. NaN or infinite values left out of a range
 * @param equalization what cross-layer equalization did (null when it was off or did not apply)
 * @param biasCorrection what bias correction did (null when it was off)
 * @param convShapes Convs reshaped for ONNX Runtime's 8-bit kernels (null when none was)
 */
@JsonPropertyOrder({"model", "method", "activationType", "weightType", "perChannel", "calibrationSamples",
        "quantizedOps", "floatOps", "floatNodes", "foldedRelus", "equalization", "biasCorrection", "convShapes", "activations",
        "warnings"})
@JsonInclude(JsonInclude.Include.NON_NULL)
public record QuantizationReport(
        String model,
        String method,
        String activationType,
        String weightType,
        boolean perChannel,
        long calibrationSamples,
        Map<String, Integer> quantizedOps,
        Map<String, Integer> floatOps,
        Map<String, String> floatNodes,
        List<String> foldedRelus,
        List<ActivationRange> activations,
        List<String> warnings,
        Equalization equalization,
        BiasCorrected biasCorrection,
        ConvShapes convShapes) {

    QuantizationReport(String model, String method, String activationType, String weightType, boolean perChannel,
            long calibrationSamples, Map<String, Integer> quantizedOps, Map<String, Integer> floatOps,
            Map<String, String> floatNodes, List<String> foldedRelus, List<ActivationRange> activations,
            List<String> warnings) {
        this(model, method, activationType, weightType, perChannel, calibrationSamples, quantizedOps, floatOps,
                floatNodes, foldedRelus, activations, warnings, null, null, null);
    }

    QuantizationReport withDataFree(Equalization equalization, BiasCorrected biasCorrection) {
        return new QuantizationReport(model, method, activationType, weightType, perChannel, calibrationSamples,
                quantizedOps, floatOps, floatNodes, foldedRelus, activations, warnings, equalization, biasCorrection,
                convShapes);
    }

    QuantizationReport withConvShapes(ConvShapes shapes) {
        return new QuantizationReport(model, method, activationType, weightType, perChannel, calibrationSamples,
                quantizedOps, floatOps, floatNodes, foldedRelus, activations, warnings, equalization, biasCorrection,
                shapes);
    }

    /**
     * Cross-layer equalization ({@link CrossLayerEqualization}).
     *
     * @param pairs the Conv pairs equalized, "first -> [Relu ->] second"
     * @param skipped Conv pairs left alone, with the reason
     */
    public record Equalization(List<String> pairs, Map<String, String> skipped) {}

    /**
     * Bias correction ({@link BiasCorrection}).
     *
     * @param samples calibration samples the output shifts were measured on
     * @param layers corrected node to the largest |shift| subtracted from one of its channel biases
     */
    public record BiasCorrected(long samples, Map<String, Float> layers) {}

    /**
     * Quantized Convs given shapes ONNX Runtime's fast 8-bit kernels take, computing the same ({@link
     * ConvKernelShapes}).
     *
     * @param inputChannelsPadded Convs fed by a model input whose input channels were padded to a multiple of 4
     * @param groupedConvsMadeDense grouped Convs with few groups given one group and a block-diagonal weight
     * @param channelShufflesFolded channel shuffles (their Transposes) folded into the Convs that read them
     *     ({@link ChannelShuffles}); null when none was
     * @param channelsWidened channel spaces widened with zero filters to counts ONNX Runtime's fast 8-bit kernels take
     *     (a depthwise Conv's to a multiple of 16, a dense Conv's filters to 16 or more and a multiple of 8; {@link
     *     ChannelWidths}); null when none was
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record ConvShapes(List<String> inputChannelsPadded, List<String> groupedConvsMadeDense,
            List<String> channelShufflesFolded, List<String> channelsWidened) {}

    /** The calibrated range of one activation and the parameters derived from it. */
    @JsonPropertyOrder({"tensor", "min", "max", "scale", "zeroPoint", "sharedWith"})
    public record ActivationRange(String tensor, float min, float max, float scale, int zeroPoint, String sharedWith) {}

    public String toJson() {
        return Json.pretty(this);
    }

    /** Number of nodes with quantized inputs. */
    public int quantizedNodeCount() {
        return quantizedOps.values().stream().mapToInt(Integer::intValue).sum();
    }

    /** A few lines for people: counts by op and the float ops. */
    public String summary() {
        StringBuilder text = new StringBuilder();
        text.append("quantized ").append(quantizedNodeCount()).append(" nodes ").append(quantizedOps)
                .append(" with ").append(activationType).append(" activations, int8 weights ")
                .append(perChannel ? "per channel" : "per tensor")
                .append(", ").append(method).append(" calibration over ").append(calibrationSamples)
                .append(" samples\n");
        if (!floatOps.isEmpty()) {
            text.append("left in float: ").append(floatOps).append('\n');
        }
        return text.toString();
    }
}
