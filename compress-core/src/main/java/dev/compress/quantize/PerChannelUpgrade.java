package dev.compress.quantize;

import dev.compress.CompressException;
import dev.compress.convert.OpsetConversion;
import dev.compress.graph.OnnxModel;

/**
 * {@link Quantizer.Builder#optUpgradeOpset}: converts the model to opset 13, where DequantizeLinear takes per-channel
 * scales. A model of opset 10 to 12 that cannot be converted is quantized per tensor at its own opset instead; one
 * older than 10 has no QuantizeLinear at all, so its conversion error is the quantizer's.
 */
final class PerChannelUpgrade {
    private PerChannelUpgrade() {}

    /** Converts {@code model} in place; returns null when done, else why not (the model is then unchanged). */
    static String apply(OnnxModel model) {
        try {
            OpsetConversion.builder().optTargetOpset(Quantizer.PER_CHANNEL_OPSET).build().convertInPlace(model);
            return null;
        } catch (CompressException e) {
            if (e.kind() != CompressException.Kind.BAD_INPUT
                    || model.opset(OnnxModel.DEFAULT_DOMAIN) < Quantizer.MIN_OPSET) {
                throw e;
            }
            return e.problem();
        }
    }
}
