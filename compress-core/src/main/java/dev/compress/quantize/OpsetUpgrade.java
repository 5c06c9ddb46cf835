package dev.compress.quantize;

import dev.compress.CompressException;
import dev.compress.convert.OpsetConversion;
import dev.compress.graph.OnnxModel;

/**
 * The quantizer's opset conversions ({@link dev.compress.convert.OpsetConversion}): to opset 13, where
 * DequantizeLinear takes per-channel scales ({@link Quantizer.Builder#optUpgradeOpset}), and to opset 20, where a GELU
 * is one op ({@link GeluFusion}). A model that cannot be converted keeps its opset (per-tensor weights at 10 to 12;
 * GELUs left as they are); one older than 10 has no QuantizeLinear at all, so its conversion error is the quantizer's.
 */
final class OpsetUpgrade {
    private OpsetUpgrade() {}

    /** Converts {@code model} in place to opset 13; returns null when done, else why not (the model is unchanged). */
    static String apply(OnnxModel model) {
        return apply(model, Quantizer.PER_CHANNEL_OPSET);
    }

    /** Converts {@code model} in place to {@code opset}; returns null when done, else why not (model unchanged). */
    static String apply(OnnxModel model, long opset) {
        try {
            OpsetConversion.builder().optTargetOpset(opset).build().convertInPlace(model);
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
