package dev.compress.quantize;

import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Stores the float tables that Gather nodes read (token, position and type embeddings) as int8, one scale per row.
 * In a text encoder the word-embedding table is often the largest tensor (half of MiniLM's fp32 bytes), so without
 * this a MatMul-only quantization cannot get far below half the size.
 *
 * <p>The rows are gathered while still int8 and dequantized after the gather, so the run-time cost is proportional
 * to the tokens looked up, not to the table: {@code Gather(table_q) -> Cast -> Mul(Gather(row_scales))}. The row
 * scales are kept as a {@code [rows, 1]} table so the gathered scales broadcast over the row without a reshape.
 * Tables gathered along another axis get one scale per tensor and a DequantizeLinear after the gather.
 */
final class EmbeddingQuantizer {
    /** Smaller tables are not worth the extra nodes. */
    static final long MIN_ELEMENTS = 1024;

    /** Gather nodes rewritten, and those with a float table that stayed float, with the reason. */
    record Result(List<Node> quantized, Map<Node, String> keptFloat) {}

    private EmbeddingQuantizer() {}

    /**
     * @param exclusion why a node stays float as the caller asked (excluded by name, kept float by the latency
     *     fallback), or null
     * @param selected whether Gather is among the op types to quantize (else each table stays float, reported)
     */
    static Result rewrite(Graph graph, Function<Node, String> exclusion, boolean selected) {
        List<Node> quantized = new ArrayList<>();
        Map<Node, String> keptFloat = new LinkedHashMap<>();
        Map<String, String[]> done = new LinkedHashMap<>(); // table -> {int8 table, scales, axis-0 flag}
        List<Node> rewritten = new ArrayList<>();
        for (Node node : graph.nodes()) {
            Tensor table = node.is("Gather") && node.domain().isEmpty()
                    && node.inputs().size() == 2 && node.outputs().size() == 1
                    ? graph.initializer(node.input(0)).orElse(null)
                    : null;
            if (table == null || table.dataType() != DataType.FLOAT
                    && table.dataType() != DataType.FLOAT16) {
                rewritten.add(node);
                continue;
            }
            String problem = exclusion.apply(node) != null ? exclusion.apply(node)
                    : !selected ? "op type not selected"
                    : !table.isFloat() ? "table is " + table.dataType()
                    : table.elementCount() < MIN_ELEMENTS ? "table has fewer than " + MIN_ELEMENTS + " values"
                    : null;
            if (problem != null) {
                keptFloat.put(node, problem);
                rewritten.add(node);
                continue;
            }
            long axis = node.intAttribute("axis", 0);
            boolean perRow = table.rank() == 2 && (axis == 0 || axis == -2);
            String[] q = done.computeIfAbsent(table.name(), name -> quantizeTable(graph, table, perRow));
            String output = node.output(0);
            String gathered = graph.uniqueName(output + "_quantized");
            // the original node stays as it was: the result lists it
            rewritten.add(node.copy().setInput(0, q[0]).setOutput(0, gathered));
            if (perRow) {
                String rowScales = graph.uniqueName(output + "_row_scale");
                String asFloat = graph.uniqueName(output + "_int8_as_float");
                rewritten.add(node.copy().setName(graph.uniqueName(node.name() + "_scales")).setInput(0, q[1])
                        .setOutput(0, rowScales));
                rewritten.add(Node.of("Cast", graph.uniqueName(output + "_Cast"), List.of(gathered),
                        List.of(asFloat)).set(Attribute.of("to", DataType.FLOAT.number())));
                rewritten.add(Node.of("Mul", graph.uniqueName(output + "_dequantize"),
                        List.of(asFloat, rowScales), List.of(output)));
            } else {
                rewritten.add(Node.of("DequantizeLinear", graph.uniqueName(output + "_DequantizeLinear"),
                        List.of(gathered, q[1], q[2]), List.of(output)));
            }
            quantized.add(node);
        }
        graph.nodes().clear();
        graph.nodes().addAll(rewritten);
        graph.removeUnreadInitializers(done.keySet());
        return new Result(quantized, keptFloat);
    }

    /** {int8 table, scale tensor, zero point (per-tensor only)} initializer names. */
    private static String[] quantizeTable(Graph graph, Tensor table, boolean perRow) {
        long[] dims = table.dims();
        float[] values = table.floats();
        int rows = perRow ? (int) dims[0] : 1;
        int width = values.length / rows;
        float[] scales = new float[rows];
        byte[] q = new byte[values.length];
        for (int r = 0; r < rows; r++) {
            double absMax = 0;
            for (int i = r * width; i < (r + 1) * width; i++) {
                absMax = Math.max(absMax, Math.abs(values[i]));
            }
            scales[r] = QuantParams.weightScale(absMax);
            for (int i = r * width; i < (r + 1) * width; i++) {
                q[i] = QuantParams.quantizeWeight(values[i], scales[r]);
            }
        }
        String name = table.name();
        String qName = graph.uniqueName(name + "_quantized");
        String scaleName = graph.uniqueName(name + "_scale");
        graph.putInitializer(Tensor.int8s(qName, dims, q));
        if (perRow) {
            graph.putInitializer(Tensor.floats(scaleName, new long[] {rows, 1}, scales));
            return new String[] {qName, scaleName, null};
        }
        String zeroPoint = graph.uniqueName(name + "_zero_point");
        graph.putInitializer(Tensor.floats(scaleName, new long[0], scales));
        graph.putInitializer(Tensor.int8s(zeroPoint, new long[0], new byte[1]));
        return new String[] {qName, scaleName, zeroPoint};
    }
}
