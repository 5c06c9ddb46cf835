package dev.compress.prepare;

import dev.compress.graph.Attribute;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Removes Pad nodes of the main graph that pad nothing, and moves constant zero padding of the spatial axes into the
 * Conv or AveragePool that alone reads it, as ONNX Runtime's PadFusion does for fp32 graphs (torch 1.13 exports an
 * AvgPool2d as an all-zero Pad and an AveragePool; tf2onnx writes explicit padding as a Pad before a Conv). Left in
 * a quantized graph, such a Pad runs in float between a DequantizeLinear and a QuantizeLinear, and ONNX Runtime's
 * fusion no longer sees it.
 */
final class PadFolding {
    private PadFolding() {}

    /** Rewrites {@code graph}; returns the number of Pads removed. */
    static int apply(Graph graph, List<PreparationReport.Left> left) {
        Set<String> graphOutputs = graph.outputs().stream().map(ValueInfo::name).collect(Collectors.toSet());
        int folded = 0;
        for (Node pad : List.copyOf(graph.nodes())) {
            if (!pad.is("Pad")) {
                continue;
            }
            long[] pads = zeroPads(graph, pad);
            if (pads == null) {
                continue;
            }
            if (Arrays.stream(pads).allMatch(p -> p == 0)) {
                if (PassThroughRemoval.bypass(graph, pad, graphOutputs, left)) {
                    folded++;
                }
                continue;
            }
            String reason = foldInto(graph, pad, pads, graphOutputs);
            if (reason == null) {
                folded++;
            } else {
                left.add(GraphPreparation.left(pad, reason));
            }
        }
        return folded;
    }

    /**
     * The pads [x1_begin, x2_begin, ..., x1_end, ...] of a constant-mode Pad of all axes with the value 0, whichever
     * opset's form it has; null for any other Pad.
     */
    private static long[] zeroPads(Graph graph, Node pad) {
        if (!pad.attribute("mode").map(Attribute::s).orElse("constant").equals("constant")) {
            return null;
        }
        if (pad.inputs().size() < 2 || pad.input(1).isEmpty()) { // opset 1-10: attributes
            if (pad.floatAttribute("value", 0f) != 0f) {
                return null;
            }
            return pad.attribute("pads").or(() -> pad.attribute("paddings")).map(Attribute::ints).orElse(null);
        }
        boolean valueZero = pad.inputs().size() < 3 || pad.input(2).isEmpty()
                || constant(graph, pad.input(2)).map(v -> v.elementCount() == 1 && v.value(0) == 0).orElse(false);
        boolean allAxes = pad.inputs().size() < 4 || pad.input(3).isEmpty(); // opset 18's axes
        return valueZero && allAxes ? constant(graph, pad.input(1)).map(Tensor::longs).orElse(null) : null;
    }

    private static Optional<Tensor> constant(Graph graph, String name) {
        return GraphPreparation.isGraphInput(graph, name) ? Optional.empty() : graph.initializer(name);
    }

    /** Moves the padding into the one Conv or AveragePool reading it; null when done, else why not. */
    private static String foldInto(Graph graph, Node pad, long[] pads, Set<String> graphOutputs) {
        int rank = pads.length / 2;
        if (rank < 3) {
            return "pads a tensor without spatial axes";
        }
        if (pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0) {
            return "pads the batch or channel axis";
        }
        if (Arrays.stream(pads).anyMatch(p -> p < 0)) {
            return "crops (negative pads)";
        }
        String out = pad.output(0);
        List<Node> readers = graph.consumers(out);
        if (graphOutputs.contains(out) || readers.size() != 1) {
            return "its output is a graph output or read by more than one node";
        }
        Node reader = readers.get(0);
        boolean conv = reader.is("Conv");
        boolean averagePool = reader.is("AveragePool");
        if (!conv && !averagePool || !reader.input(0).equals(out) || reader.inputs().lastIndexOf(out) != 0) {
            return "not read as the data of a Conv or AveragePool";
        }
        if (!reader.attribute("auto_pad").map(Attribute::s).orElse("NOTSET").equals("NOTSET")) {
            return "the " + reader.opType() + " pads automatically (auto_pad)";
        }
        long[] own = reader.attribute("pads").map(Attribute::ints).orElse(new long[2 * (rank - 2)]);
        if (own.length != 2 * (rank - 2)) {
            return "the " + reader.opType() + "'s pads do not match the Pad's rank";
        }
        if (averagePool) {
            // padded zeros count in the mean; the pool's own padding must count too, and ceil_mode's extra windows
            // would count a different border
            boolean ownPadded = Arrays.stream(own).anyMatch(p -> p != 0);
            if (reader.intAttribute("ceil_mode", 0) != 0
                    || ownPadded && reader.intAttribute("count_include_pad", 0) == 0) {
                return "the AveragePool uses ceil_mode or leaves its own padding out of the mean";
            }
            reader.set(Attribute.of("count_include_pad", 1));
        }
        long[] merged = own.clone();
        int spatial = rank - 2;
        for (int axis = 0; axis < spatial; axis++) {
            merged[axis] += pads[2 + axis];
            merged[spatial + axis] += pads[rank + 2 + axis];
        }
        reader.set(Attribute.of("pads", merged));
        reader.setInput(0, pad.input(0));
        graph.nodes().remove(pad);
        return null;
    }
}
