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
 * integer arithmetic, per-channel weights (opset 13), and for the MatMuls that read a GELU output int8 weights with
 * activations quantized per call. Measured on all-MiniLM-L6-v2 and bge-small-zh-v1.5 (docs/transformers.md), each
 * cause named:
 * quantized residual Adds and LayerNorm pieces cost 0.06–0.14 of mean embedding cosine, per-tensor weights 0.03–0.04,
 * and the GELU outputs' few large values, which one uint8 range per tensor cannot hold beside the many small ones,
 * the rest. The whole-graph defaults give 0.77 and 0.89; these give 0.989 and 0.985.
 *
 * <p>A model fed float inputs that has attention (a Softmax over the product of two activations: a vision
 * transformer) gets the same rule with its patch-embedding Conv and Gemm heads added, unless it has more Convs than
 * MatMuls and Gemms (a CNN with attention blocks, see {@link #mostlyConvolutions}): on torchvision's ViT layout
 * (4 layers, 50 calibration images) the whole-graph default agreed with fp32 on 62% of held-out images at 11.6 dB
 * SQNR, weighted ops alone on 96% at 30.7 dB; quantized LayerNorm pieces and residual Adds are the damage, as above.
 *
 * <p>Applied only when the caller chose none of op types, weight-only nodes or opset upgrade themselves.
 *
 * @param opTypes the op types quantized
 * @param dynamic the MatMuls whose activation input is a GELU output: its few large outliers need a range per call
 *     (int8 weights, activations quantized per call, as {@code --dynamic} does). Weight-only, as before stop 15,
 *     kept the accuracy but ONNX Runtime runs such a MatMul as {@code MatMulNBits} at 1.6x the float MatMul's time
 *     in a ViT, against 0.4-0.46x for the dynamic kernel (docs/benchmarks.md)
 * @param kind what the model was recognised as, for the report
 */
record EncoderDefaults(Set<String> opTypes, Set<String> dynamic, String kind) {
    /** How far back from a MatMul's input the GELU's Erf/Tanh may lie: x·0.5·(1 + erf(x/√2)) is 4 ops deep. */
    private static final int GELU_DEPTH = 4;
    /** The elementwise ops a decomposed GELU is made of, walked through on the way back. */
    private static final Set<String> ELEMENTWISE = Set.of("Mul", "Add", "Div", "Sub");
    private static final Set<String> GELU = Set.of("Gelu", "FastGelu", "BiasGelu", "Erf", "Tanh");
    private static final Set<DataType> TOKEN_TYPES = Set.of(DataType.INT32, DataType.INT64);
    /** How far back from a Softmax the scores' MatMul may lie: scaled, masked, biased. */
    private static final int ATTENTION_DEPTH = 3;

    /**
     * The defaults for the model of {@code graph}: a token-id model with a MatMul (an encoder), or a model with
     * attention (a vision transformer); else null.
     */
    static EncoderDefaults of(Graph graph) {
        if (graph.inputs().isEmpty()) {
            return null;
        }
        if (graph.inputs().stream().allMatch(input -> TOKEN_TYPES.contains(input.elementType()))) {
            return of(graph, Set.of("MatMul"), "token-id model (transformer encoder)");
        }
        return hasAttention(graph) && !mostlyConvolutions(graph)
                ? of(graph, new LinkedHashSet<>(List.of("Conv", "MatMul", "Gemm")), "attention model (transformer)")
                : null;
    }

    private static EncoderDefaults of(Graph graph, Set<String> opTypes, String kind) {
        Set<String> dynamic = new LinkedHashSet<>();
        boolean matMul = false;
        for (Node node : graph.nodes()) {
            if (node.is("MatMul")) {
                matMul = true;
                if (readsGelu(graph, node.input(0), GELU_DEPTH)) {
                    dynamic.add(node.name());
                }
            }
        }
        // insertion order kept (Set.copyOf's is not stable across runs): outputs must not depend on the run
        return matMul ? new EncoderDefaults(Collections.unmodifiableSet(opTypes),
                Collections.unmodifiableSet(dynamic), kind) : null;
    }

    /**
     * A CNN with a few attention blocks, not a transformer: more Convs than MatMuls and Gemms. Its convolutions and
     * their activations are what takes the time; the transformer defaults left PP-OCRv4 rec's hard-swish backbone
     * (38 Convs against 13 MatMuls) in float and took its INT8 model from 0.49 to 0.85 of fp32 time, at equal
     * fidelity. A ViT has one Conv, the patch embedding.
     */
    private static boolean mostlyConvolutions(Graph graph) {
        long convs = graph.nodes().stream().filter(node -> node.is("Conv")).count();
        long products = graph.nodes().stream().filter(node -> node.is("MatMul") || node.is("Gemm")).count();
        return convs > products;
    }

    /**
     * Whether some Softmax reads, through at most {@value #ATTENTION_DEPTH} elementwise ops (scaling, mask), a MatMul
     * of two activations: attention scores.
     */
    private static boolean hasAttention(Graph graph) {
        return graph.nodes().stream().filter(node -> node.is("Softmax"))
                .anyMatch(softmax -> readsScores(graph, softmax.input(0), ATTENTION_DEPTH));
    }

    private static boolean readsScores(Graph graph, String tensor, int depth) {
        Optional<Node> producer = graph.producer(tensor);
        if (producer.isEmpty()) {
            return false;
        }
        Node node = producer.get();
        if (node.is("MatMul")) {
            return node.inputs().stream().noneMatch(input -> graph.initializer(input).isPresent()
                    || graph.producer(input).map(p -> p.is("Constant") || p.is("Identity")).orElse(false));
        }
        return depth > 0 && (ELEMENTWISE.contains(node.opType()) || node.is("Where"))
                && node.inputs().stream().anyMatch(input -> readsScores(graph, input, depth - 1));
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
        return kind + ": static defaults for transformers applied: op types "
                + String.join(",", List.copyOf(opTypes)) + ", opset 13 for per-channel weights, " + dynamic.size()
                + " MatMul(s) reading a GELU output with activations quantized per call (docs/transformers.md); any"
                + " of op types, weight-only nodes or opset upgrade given explicitly replaces these defaults";
    }
}
