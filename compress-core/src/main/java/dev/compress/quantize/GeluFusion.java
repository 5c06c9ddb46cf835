package dev.compress.quantize;

import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Rewrites the exact GELU that exporters write before opset 20, {@code x · 0.5 · (1 + erf(x / √2))} as Div (or Mul by
 * 1/√2), Erf, Add and two Muls, into one {@code Gelu} (opset 20, {@code approximate="none"}: the same function).
 *
 * <p>Why: where the GELU's input is 8-bit (written by a quantized Conv, Gemm or MatMul), the decomposed form costs a
 * DequantizeLinear, a float Erf, a float Add, a QuantizeLinear and a QLinearMul over the whole map, and ONNX Runtime
 * cannot fuse it back: its {@code EnsureUniqueDQForNodeUnit} gives the Div and the Mul each their own
 * DequantizeLinear, so its GELU fusion no longer matches. One Gelu between a DequantizeLinear and a QuantizeLinear is
 * three passes, and ONNX Runtime's layout pass keeps it in NHWC between QLinearConvs (its contrib {@code Gelu} gets
 * wrapped in Transposes instead). The ConvNeXt-style fixture at batch 32 went from 1.12 to 1.00 of fp32 time
 * (docs/benchmarks.md). The quantizer converts a model to opset 20 for this only where such a GELU exists
 * ({@link #readsQuantizableOutput}); {@code --keep-opset} keeps the model's opset and the decomposed GELUs.
 */
final class GeluFusion {
    /** Gelu entered the default domain at opset 20. */
    static final long MIN_OPSET = 20;

    private static final double SQRT2 = Math.sqrt(2);

    private GeluFusion() {}

    /**
     * One decomposed GELU: {@code input} is x, {@code output} the GELU's result, {@code nodes} the five nodes that
     * compute it, in graph order.
     */
    record Match(String input, String output, List<Node> nodes) {}

    /** The decomposed GELUs of {@code graph} that no node of {@code excluded} takes part in. */
    static List<Match> find(Graph graph, Set<String> excluded) {
        Graph.Index index = graph.index();
        List<Match> matches = new ArrayList<>();
        for (Node erf : graph.nodes()) {
            if (erf.is("Erf") && erf.inDefaultDomain() && erf.inputs().size() == 1 && erf.outputs().size() == 1) {
                match(graph, index, erf).filter(m -> m.nodes().stream().noneMatch(n -> excluded.contains(n.name())))
                        .ifPresent(matches::add);
            }
        }
        return matches;
    }

    /**
     * Whether some GELU of {@code matches} reads the output of a Conv, ConvTranspose, Gemm or MatMul: one the
     * quantizer writes in 8 bits, so the GELU sits between a DequantizeLinear and a QuantizeLinear. (A GELU after a
     * bias Add reads float, and ONNX Runtime fuses it by itself.)
     */
    static boolean readsQuantizableOutput(Graph graph, List<Match> matches) {
        Graph.Index index = graph.index();
        return matches.stream().anyMatch(m -> index.producer(m.input())
                .filter(p -> p.inDefaultDomain() && QuantizationPlan.WEIGHTED_OPS.contains(p.opType()))
                .isPresent());
    }

    /**
     * Replaces each of {@code matches} by a Gelu named after its Erf, where its last node stood; removes the
     * constants only they read. The graph must be at opset 20 or later.
     */
    static void rewrite(Graph graph, List<Match> matches) {
        Set<Node> removed = new HashSet<>();
        Map<Node, Node> replacing = new HashMap<>();
        Set<String> constants = new LinkedHashSet<>();
        for (Match m : matches) {
            removed.addAll(m.nodes());
            Node erf = m.nodes().stream().filter(n -> n.is("Erf")).findFirst().orElseThrow();
            replacing.put(m.nodes().get(m.nodes().size() - 1),
                    Node.of("Gelu", erf.name(), List.of(m.input()), List.of(m.output())));
            m.nodes().forEach(n -> constants.addAll(n.inputs()));
        }
        List<Node> rewritten = new ArrayList<>();
        for (Node node : graph.nodes()) {
            if (replacing.containsKey(node)) {
                rewritten.add(replacing.get(node));
            } else if (!removed.contains(node)) {
                rewritten.add(node);
            }
        }
        graph.nodes().clear();
        graph.nodes().addAll(rewritten);
        // the √2, 1 and 0.5 of each GELU, as initializers or Constant nodes, when nothing else reads them
        Graph.Index index = graph.index();
        Set<String> unread = constants.stream().filter(c -> !index.value(c).isRead()).collect(Collectors.toSet());
        graph.nodes().removeIf(n -> n.is("Constant") && n.outputs().size() == 1 && unread.contains(n.output(0)));
        graph.removeUnreadInitializers(unread);
    }

    private static Optional<Match> match(Graph graph, Graph.Index index, Node erf) {
        // the Erf's input: x / √2 or x · (1/√2), read by the Erf alone
        Node scaling = index.producer(erf.input(0)).orElse(null);
        if (only(index, erf.input(0)).orElse(null) != erf || scaling == null || !scaling.inDefaultDomain()
                || scaling.inputs().size() != 2) {
            return Optional.empty();
        }
        String x;
        if (scaling.is("Div") && isScalar(graph, index, scaling.input(1), SQRT2)) {
            x = scaling.input(0);
        } else if (scaling.is("Mul")) {
            x = other(graph, index, scaling, 1 / SQRT2);
        } else {
            return Optional.empty();
        }
        Node add = only(index, erf.output(0)).filter(n -> n.is("Add") && n.inDefaultDomain()).orElse(null);
        if (x == null || add == null || add.inputs().size() != 2
                || !erf.output(0).equals(other(graph, index, add, 1))) {
            return Optional.empty();
        }
        Node first = only(index, add.output(0)).filter(n -> n.is("Mul") && n.inDefaultDomain()).orElse(null);
        if (first == null || first.inputs().size() != 2) {
            return Optional.empty();
        }
        String partner = first.input(0).equals(add.output(0)) ? first.input(1) : first.input(0);
        List<Node> nodes;
        String output;
        if (partner.equals(x)) { // (x · (1 + erf)) · 0.5
            Node half = only(index, first.output(0)).filter(n -> n.is("Mul") && n.inDefaultDomain()).orElse(null);
            if (half == null || !first.output(0).equals(other(graph, index, half, 0.5))) {
                return Optional.empty();
            }
            nodes = List.of(scaling, erf, add, first, half);
            output = half.output(0);
        } else if (isScalar(graph, index, partner, 0.5)) { // (1 + erf) · 0.5, then · x
            Node times = only(index, first.output(0)).filter(n -> n.is("Mul") && n.inDefaultDomain()).orElse(null);
            if (times == null || times.inputs().size() != 2 || !times.inputs().contains(x)) {
                return Optional.empty();
            }
            nodes = List.of(scaling, erf, add, first, times);
            output = times.output(0);
        } else { // (x · 0.5) · (1 + erf)
            Node half = index.producer(partner).filter(n -> n.is("Mul") && n.inDefaultDomain()).orElse(null);
            if (half == null || !x.equals(other(graph, index, half, 0.5))
                    || only(index, partner).orElse(null) != first) {
                return Optional.empty();
            }
            nodes = List.of(scaling, erf, add, half, first);
            output = first.output(0);
        }
        // the intermediate values must be the GELU's alone
        for (Node node : nodes.subList(0, nodes.size() - 1)) {
            if (node.outputs().size() != 1 || index.value(node.output(0)).isGraphOutput()) {
                return Optional.empty();
            }
        }
        List<Node> ordered = new ArrayList<>(nodes);
        List<Node> all = graph.nodes();
        ordered.sort(Comparator.comparingInt(all::indexOf));
        return Optional.of(new Match(x, output, ordered));
    }

    /** The one node reading {@code value}, if exactly one does and the value is no graph output. */
    private static Optional<Node> only(Graph.Index index, String value) {
        Graph.Value v = index.value(value);
        return v.consumers().size() == 1 && !v.isGraphOutput() ? Optional.of(v.consumers().get(0)) : Optional.empty();
    }

    /** The input of the two-input {@code node} that is not a scalar equal to {@code value}, if the other is. */
    private static String other(Graph graph, Graph.Index index, Node node, double value) {
        if (node.inputs().size() != 2) {
            return null;
        }
        if (isScalar(graph, index, node.input(1), value)) {
            return node.input(0);
        }
        return isScalar(graph, index, node.input(0), value) ? node.input(1) : null;
    }

    /**
     * Whether {@code name} is a one-element float constant (initializer that is not a graph input, or Constant node)
     * within float rounding of {@code value}: exporters write √2 and 1/√2 as the nearest float.
     */
    private static boolean isScalar(Graph graph, Graph.Index index, String name, double value) {
        if (graph.declaredInputs().stream().anyMatch(input -> input.name().equals(name))) {
            return false; // an initializer a caller can override at run time
        }
        Optional<Tensor> tensor = graph.initializer(name);
        if (tensor.isEmpty()) {
            tensor = index.producer(name).filter(n -> n.is("Constant")).flatMap(Graph::constantValue);
        }
        return tensor.filter(t -> t.isFloat() && t.elementCount() == 1)
                .map(t -> Math.abs(t.floats()[0] - value) <= 1e-6 * value).orElse(false);
    }
}
