package dev.compress.quantize;

import dev.compress.graph.OnnxModel;
import dev.compress.graph.OpsetUpgrade;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/** Runs {@link OpsetUpgrade} with the tensor ranks it needs, which ONNX Runtime infers for us. */
final class PerChannelUpgrade {
    private PerChannelUpgrade() {}

    /** Upgrades {@code model} in place; returns null when done, else why not. */
    static String apply(OnnxModel model) {
        Set<String> needed = OpsetUpgrade.tensorsNeedingRank(model.graph());
        Map<String, Integer> ranks = new LinkedHashMap<>();
        if (!needed.isEmpty()) {
            try (OrtModel probe = OrtModel.open(model.withExtraOutputs(needed), RuntimeOptions.defaults())) {
                probe.outputShapes().forEach((name, shape) -> ranks.put(name, shape.length));
            }
        }
        return OpsetUpgrade.to13(model, ranks).orElse(null);
    }
}
