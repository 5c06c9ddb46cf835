package dev.compress.quantize;

import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What static quantization does by default with a transformer encoder, a model fed token ids only: MatMul alone in
 * integer arithmetic, per-channel weights (opset 13), and int8 weights with float activations for the MatMuls that
 * read a GELU output. Measured on all-MiniLM-L6-v2 and bge-small-zh-v1.5 (docs/transformers.md), each cause named:
 * quantized residual Adds and LayerNorm pieces cost 0.06–0.14 of mean embedding cosine, per-tensor weights 0.03–0.04,
 * and the GELU outputs' few large values, which one uint8 range per tensor cannot hold beside the many small ones,
 * the rest. The whole-graph defaults give 0.77 and 0.89; these give 0.99 and 0.986.
 *
 * <p>Applied only when the caller chose none of op types, weight-only nodes or opset upgrade themselves.
 *
 * @param weightOnly the MatMuls whose activation input is a GELU output
 */
record EncoderDefaults(Set<String> opTypes, Set<String> weightOnly) {
    /** How far back from a MatMul's input the GELU's Erf/Tanh may lie: x·0.5·(1 + erf(x/√2)) is 4 ops deep. */
    private static final int GELU_DEPTH = 4;
    /** The elementwise ops a decomposed GELU is made of, walked through on the way back. */
    private static final Set<String> ELEMENTWISE = Set.of("Mul", "Add", "Div", "Sub");
    private static final Set<String> GELU = Set.of("Gelu", "FastGelu", "BiasGelu", "Erf", "Tanh");
    private static final Set<DataType> TOKEN_TYPES = Set.of(DataType.INT32, DataType.INT64);

    /** The defaults for the model of {@code graph}, or null when some input is not token ids or it has no MatMul. */
    static EncoderDefaults of(Graph graph) {
        if (graph.inputs().isEmpty() || !graph.inputs().stream()
                .allMatch(input -> TOKEN_TYPES.contains(input.elementType()))) {
            return null;
        }
        Set<String> weightOnly = new LinkedHashSet<>();
        boolean matMul = false;
        for (Node node : graph.nodes()) {
            if (node.is("MatMul")) {
                matMul = true;
                if (readsGelu(graph, node.input(0), GELU_DEPTH)) {
                    weightOnly.add(node.name());
                }
            }
        }
        // insertion order kept (Set.copyOf's is not stable across runs): outputs must not depend on the run
        return matMul ? new EncoderDefaults(Set.of("MatMul"), Collections.unmodifiableSet(weightOnly)) : null;
    }

    private static boolean readsGelu(Graph graph, String tensor, int depth) {
        Optional<Node> producer = graph.producer(tensor);
        if (producer.isEmpty() || depth == 0) {
            return false;
        }
        String op = producer.get().opType();
        if (GELU.contains(op)) {
            return true;
        }
        return ELEMENTWISE.contains(op)
                && producer.get().inputs().stream().anyMatch(input -> readsGelu(graph, input, depth - 1));
    }

    /** For the report: what was chosen and how to choose otherwise. */
    String describe() {
        return "token-id model (transformer encoder): static defaults for encoders applied: op types "
                + String.join(",", List.copyOf(opTypes)) + ", opset 13 for per-channel weights, " + weightOnly.size()
                + " MatMul(s) reading a GELU output weight-only (docs/transformers.md); any of op types, weight-only"
                + " nodes or opset upgrade given explicitly replaces these defaults";
    }
}
