package dev.compress.prepare;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What graph preparation did. Deterministic (no timings).
 *
 * @param model the model prepared
 * @param nodesBefore main-graph nodes before
 * @param nodesAfter main-graph nodes after
 * @param identityRemoved Identity nodes removed, their readers reading the input instead
 * @param dropoutRemoved inference-mode Dropout nodes removed
 * @param padsFolded constant zero Pads removed: those that pad nothing, and those whose spatial padding moved into
 *     the one Conv or AveragePool reading them
 * @param constantsFolded Constant nodes turned into initializers plus nodes of the safe op set computed from
 *     initializers (including those fed by a folded shape)
 * @param shapeSubgraphsFolded Shape nodes (or Gathers of single dimensions from one) replaced by the static shape
 *     recorded for their input; the Gather/Unsqueeze/Concat chain under them is counted in {@code constantsFolded}
 * @param reshapeTargetsFolded Reshape targets computed from a symbolic dimension (the batch) replaced by constants
 *     holding 0 (copy the data's dimension) or -1 (inferred from the size); the Shape chains they read are counted
 *     in {@code deadNodesRemoved}
 * @param batchNormsFolded BatchNormalization nodes folded into the Conv, ConvTranspose or Gemm before them
 * @param channelAffinesFolded Muls by and Adds of a constant varying at most along the channels (layer scales,
 *     learnable affine blocks) folded into the weights and bias of the Conv, ConvTranspose, Gemm (or, Muls only,
 *     MatMul) before them, and Adds of one into the bias of an unpadded Conv after them
 * @param initializersDeduplicated initializers equal to an earlier one (type, dims, data), now read under its name
 * @param deadNodesRemoved nodes whose outputs nobody read
 * @param unusedInitializersRemoved initializers nobody read any more
 * @param left patterns seen but not rewritten, with the reason
 */
public record PreparationReport(String model, int nodesBefore, int nodesAfter, int identityRemoved,
        int dropoutRemoved, int padsFolded, int constantsFolded, int shapeSubgraphsFolded, int reshapeTargetsFolded,
        int batchNormsFolded, int channelAffinesFolded, int initializersDeduplicated, int deadNodesRemoved,
        int unusedInitializersRemoved,
        List<Left> left) {

    public PreparationReport {
        left = List.copyOf(left);
    }

    /** A node left as it was, and why. */
    public record Left(String node, String op, String reason) {}

    /** Whether any rewrite happened. */
    public boolean changed() {
        return !counts().values().stream().allMatch(count -> count == 0);
    }

    /** The rewrite counts by name, in report order (the provenance entries). */
    public Map<String, Integer> counts() {
        Map<String, Integer> counts = new LinkedHashMap<>();
        counts.put("identityRemoved", identityRemoved);
        counts.put("dropoutRemoved", dropoutRemoved);
        counts.put("padsFolded", padsFolded);
        counts.put("constantsFolded", constantsFolded);
        counts.put("shapeSubgraphsFolded", shapeSubgraphsFolded);
        counts.put("reshapeTargetsFolded", reshapeTargetsFolded);
        counts.put("batchNormsFolded", batchNormsFolded);
        counts.put("channelAffinesFolded", channelAffinesFolded);
        counts.put("initializersDeduplicated", initializersDeduplicated);
        counts.put("deadNodesRemoved", deadNodesRemoved);
        counts.put("unusedInitializersRemoved", unusedInitializersRemoved);
        return counts;
    }
}
