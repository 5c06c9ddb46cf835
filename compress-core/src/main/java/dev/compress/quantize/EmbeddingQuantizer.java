package dev.compress.quantize;

import dev.compress.graph.Graph;
import dev.compress.graph.Nodes;
import dev.compress.graph.Tensors;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
    record Result(List<NodeProto> quantized, Map<NodeProto, String> keptFloat) {}

    private EmbeddingQuantizer() {}

    static Result rewrite(Graph graph, Set<String> excluded) {
        List<NodeProto> quantized = new ArrayList<>();
        Map<NodeProto, String> keptFloat = new LinkedHashMap<>();
        Map<String, String[]> done = new LinkedHashMap<>(); // table -> {int8 table, scales, axis-0 flag}
        List<NodeProto> rewritten = new ArrayList<>();
        for (NodeProto node : graph.nodes()) {
            TensorProto table = node.getOpType().equals("Gather") && node.getDomain().isEmpty()
                    && node.getInputCount() == 2 && node.getOutputCount() == 1
                    ? graph.initializer(node.getInput(0)).orElse(null)
                    : null;
            if (table == null || table.getDataType() != TensorProto.DataType.FLOAT_VALUE
                    && table.getDataType() != TensorProto.DataType.FLOAT16_VALUE) {
                rewritten.add(node);
                continue;
            }
            String problem = excluded.contains(node.getName()) ? "excluded"
                    : !Tensors.isFloat(table) ? "table is " + Tensors.typeName(table.getDataType())
                    : Tensors.elementCount(table) < MIN_ELEMENTS ? "table has fewer than " + MIN_ELEMENTS + " values"
                    : null;
            if (problem != null) {
                keptFloat.put(node, problem);
                rewritten.add(node);
                continue;
            }
            long axis = Nodes.intAttribute(node, "axis", 0);
            boolean perRow = table.getDimsCount() == 2 && (axis == 0 || axis == -2);
            String[] q = done.computeIfAbsent(table.getName(), name -> quantizeTable(graph, table, perRow));
            String output = node.getOutput(0);
            String gathered = graph.uniqueName(output + "_quantized");
            rewritten.add(node.toBuilder().setInput(0, q[0]).setOutput(0, gathered).build());
            if (perRow) {
                String rowScales = graph.uniqueName(output + "_row_scale");
                String asFloat = graph.uniqueName(output + "_int8_as_float");
                rewritten.add(node.toBuilder().clearOutput().setName(graph.uniqueName(node.getName() + "_scales"))
                        .setInput(0, q[1]).addOutput(rowScales).build());
                rewritten.add(Nodes.node("Cast", graph.uniqueName(output + "_Cast"), List.of(gathered),
                        List.of(asFloat)).addAttribute(AttributeProto.newBuilder().setName("to")
                        .setType(AttributeProto.AttributeType.INT).setI(TensorProto.DataType.FLOAT_VALUE)).build());
                rewritten.add(Nodes.node("Mul", graph.uniqueName(output + "_dequantize"),
                        List.of(asFloat, rowScales), List.of(output)).build());
            } else {
                rewritten.add(Nodes.node("DequantizeLinear", graph.uniqueName(output + "_DequantizeLinear"),
                        List.of(gathered, q[1], q[2]), List.of(output)).build());
            }
            quantized.add(node);
        }
        graph.nodes().clear();
        graph.nodes().addAll(rewritten);
        for (String table : done.keySet()) {
            if (graph.consumers(table).isEmpty() && graph.outputs().stream().noneMatch(o -> o.getName().equals(table))) {
                graph.initializers().remove(table);
                graph.declaredInputs().removeIf(input -> input.getName().equals(table));
            }
        }
        return new Result(quantized, keptFloat);
    }

    /** {int8 table, scale tensor, zero point (per-tensor only)} initializer names. */
    private static String[] quantizeTable(Graph graph, TensorProto table, boolean perRow) {
        long[] dims = Tensors.dims(table);
        float[] values = Tensors.toFloats(table);
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
        String name = table.getName();
        String qName = graph.uniqueName(name + "_quantized");
        String scaleName = graph.uniqueName(name + "_scale");
        graph.putInitializer(Tensors.int8s(qName, dims, q));
        if (perRow) {
            graph.putInitializer(Tensors.floats(scaleName, new long[] {rows, 1}, scales));
            return new String[] {qName, scaleName, null};
        }
        String zeroPoint = graph.uniqueName(name + "_zero_point");
        graph.putInitializer(Tensors.floats(scaleName, new long[0], scales));
        graph.putInitializer(Tensors.int8s(zeroPoint, new long[0], new byte[1]));
        return new String[] {qName, scaleName, zeroPoint};
    }
}
