package dev.compress.quantize;

import dev.compress.CompressException;

import dev.compress.graph.Graph;
import dev.compress.graph.Nodes;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensors;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Provenance;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Dynamic (weight-only calibrated) quantization: MatMul and Gemm weights become int8 per output channel, Gather
 * tables int8 per row, and ONNX Runtime quantizes activations to uint8 on each call from their actual range. No
 * calibration data is needed. Selected with {@link Quantizer.Builder#optDynamic}.
 */
final class DynamicQuantization {
    /** DynamicQuantizeLinear exists from opset 11. */
    static final long MIN_OPSET = 11;
    /** Weight range with reduce-range, as ONNX Runtime's quantize_dynamic uses it. */
    static final int REDUCED_MAX = 64;
    private static final Set<String> CONTROL_FLOW = Set.of("If", "Loop", "Scan");

    private final Graph graph;
    private final DynamicFormat format;
    private final boolean perChannel;
    private final List<NodeProto> rewritten = new ArrayList<>();
    /** Activation -> {quantized, scale, zero point} from one shared DynamicQuantizeLinear. */
    private final Map<String, String[]> quantizedActivations = new HashMap<>();
    /** Dequantized activation (QDQ form), shared by the nodes reading the same tensor. */
    private final Map<String, String> dequantizedActivations = new HashMap<>();
    /** Weight key (name, transposed) -> {int8 weight, scale, zero point}. */
    private final Map<String, String[]> quantizedWeights = new HashMap<>();
    private final Set<String> replaced = new HashSet<>();
    /** Names of the nodes to rewrite, or null for every MatMul and Gemm. */
    private final Set<String> only;
    /** Largest weight magnitude: 127, or 64 for 7-bit weights. */
    private final int weightMax;

    private DynamicQuantization(Graph graph, DynamicFormat format, boolean perChannel, Set<String> only,
            int weightMax) {
        this.graph = graph;
        this.format = format;
        this.perChannel = perChannel;
        this.only = only;
        this.weightMax = weightMax;
    }

    /**
     * Gives the named MatMul/Gemm nodes int8 weights with float activations ({@link DynamicFormat#WEIGHT_ONLY}),
     * for layers too sensitive for static activation quantization.
     *
     * @param floatNodes receives each named node that could not be rewritten, with the reason
     * @return the nodes rewritten
     */
    static List<NodeProto> weightOnly(Graph graph, Set<String> names, boolean perChannel,
            Map<NodeProto, String> floatNodes) {
        DynamicQuantization rewrite = new DynamicQuantization(graph, DynamicFormat.WEIGHT_ONLY, perChannel, names,
                QuantParams.INT8_MAX);
        List<NodeProto> done = rewrite.run(Set.of(), floatNodes);
        rewrite.removeReplacedWeights();
        return done;
    }

    /**
     * @param reduceRange 7-bit weights in [-64, 64]: on CPUs without VNNI, ONNX Runtime's uint8 x int8 kernels add
     *     pairs of products in 16 bits, which full-range weights can saturate
     */
    static PassResult<QuantizationResult> quantize(OnnxModel model, Set<String> excluded, DynamicFormat format,
            boolean reduceRange) {
        long opset = model.opset(OnnxModel.DEFAULT_DOMAIN);
        List<String> warnings = new ArrayList<>();
        boolean upgrade = opset < (format == DynamicFormat.WEIGHT_ONLY ? Quantizer.MIN_OPSET : MIN_OPSET);
        if (upgrade) { // the operators it needs do not exist yet: converting is the only way, as for static
            model = model.copy();
            String notDone = PerChannelUpgrade.apply(model);
            if (notDone != null) {
                throw CompressException.badInput(model.source().orElse(null), "opset " + opset + " is too old for"
                        + " dynamic quantization (DynamicQuantizeLinear needs opset " + MIN_OPSET + ") and could not"
                        + " be converted: " + notDone);
            }
            warnings.add("converted from opset " + opset + " to " + Quantizer.PER_CHANNEL_OPSET + " first: "
                    + (format == DynamicFormat.WEIGHT_ONLY ? "DequantizeLinear needs opset " + Quantizer.MIN_OPSET
                    : "DynamicQuantizeLinear needs opset " + MIN_OPSET) + " (docs/opset.md); the output needs an"
                    + " opset-13 runtime");
            opset = model.opset(OnnxModel.DEFAULT_DOMAIN);
        }
        OnnxModel quantized = model.copy();
        Graph graph = quantized.graph();
        List<String> promoted = graph.promoteConstants();
        // MatMulInteger scales are applied by a separate Mul, so per-channel works at any opset; the QDQ forms
        // need DequantizeLinear's axis attribute (opset 13)
        boolean perChannel = format == DynamicFormat.MATMUL_INTEGER || opset >= Quantizer.PER_CHANNEL_OPSET;
        int weightMax = reduceRange ? REDUCED_MAX : QuantParams.INT8_MAX;
        DynamicQuantization rewrite = new DynamicQuantization(graph, format, perChannel, null, weightMax);
        Map<NodeProto, String> floatNodes = new LinkedHashMap<>();
        List<NodeProto> done = rewrite.run(excluded, floatNodes);
        EmbeddingQuantizer.Result embeddings = EmbeddingQuantizer.rewrite(graph, excluded);
        done.addAll(embeddings.quantized());
        floatNodes.putAll(embeddings.keptFloat());
        if (done.isEmpty()) {
            throw CompressException.badInput(model.source().orElse(null), "nothing to quantize: no MatMul, Gemm or"
                    + " Gather with a float weight" + (floatNodes.isEmpty() ? " was found"
                    : " that can be quantized (" + Quantizer.describeReasons(floatNodes) + ")"));
        }
        rewrite.removeReplacedWeights();
        QuantizationReport report = new QuantizationReport(
                model.displayName(),
                "dynamic",
                "uint8 dynamic (" + format.cliName() + ")",
                reduceRange ? "int8 symmetric, 7-bit range [-64, 64]" : "int8 symmetric",
                perChannel,
                0,
                Quantizer.countByOp(done),
                Quantizer.countByOp(floatNodes.keySet()),
                Quantizer.describe(floatNodes),
                List.of(),
                List.of(),
                warnings);
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("method", "dynamic");
        provenance.put("format", format.cliName());
        provenance.put("activations", "uint8, quantized at run time");
        provenance.put("weights", "int8 symmetric " + (perChannel ? "per-channel" : "per-tensor")
                + (reduceRange ? ", 7-bit range" : "")
                + "; Gather tables int8 per row");
        provenance.put("constantsPromoted", promoted.size());
        provenance.put("excludedNodes", excluded.stream().sorted().toList());
        if (upgrade) {
            provenance.put("opsetUpgrade", "to " + opset);
        }
        return new PassResult<>(quantized, new QuantizationResult(quantized, report, null),
                new Provenance(Quantizer.PROVENANCE, provenance));
    }

    private List<NodeProto> run(Set<String> excluded, Map<NodeProto, String> floatNodes) {
        List<NodeProto> done = new ArrayList<>();
        for (NodeProto node : graph.nodes()) {
            String op = node.getOpType();
            boolean candidate = node.getDomain().isEmpty() && (op.equals("MatMul") || op.equals("Gemm"));
            if (only != null) {
                if (!only.contains(node.getName())) {
                    rewritten.add(node);
                    continue;
                }
                if (!candidate) {
                    floatNodes.put(node, "weight-only applies to MatMul and Gemm");
                }
            } else if (CONTROL_FLOW.contains(op) && node.getDomain().isEmpty()) {
                floatNodes.put(node, "subgraph left in float (dynamic quantization rewrites the main graph only)");
            } else if (node.getDomain().isEmpty() && (op.startsWith("Conv") || op.equals("Attention"))) {
                floatNodes.put(node, "dynamic mode quantizes MatMul, Gemm and Gather; use static quantization");
            }
            if (!candidate) {
                rewritten.add(node);
                continue;
            }
            String problem = excluded.contains(node.getName()) ? "excluded" : problem(node);
            if (problem != null) {
                floatNodes.put(node, problem);
                rewritten.add(node);
                continue;
            }
            if (op.equals("MatMul")) {
                rewriteMatMul(node, node.getOutput(0));
            } else {
                rewriteGemm(node);
            }
            done.add(node);
        }
        graph.nodes().clear();
        graph.nodes().addAll(rewritten);
        return done;
    }

    /** Why {@code node} cannot be quantized dynamically, or null. */
    private String problem(NodeProto node) {
        if (node.getInputCount() < 2 || node.getOutputCount() < 1) {
            return "malformed: " + node.getInputCount() + " inputs";
        }
        TensorProto weight = graph.initializer(node.getInput(1)).orElse(null);
        if (graph.initializer(node.getInput(0)).isPresent()) {
            return "first input is a constant";
        }
        if (weight == null) {
            return "no constant weight (activation x activation)";
        }
        if (!Tensors.isFloat(weight)) {
            return "weight is " + Tensors.typeName(weight.getDataType())
                    + (weight.getDataType() == TensorProto.DataType.FLOAT16_VALUE
                    ? " (fp16 models are not quantized: convert to fp32 first)" : "");
        }
        if (weight.getDimsCount() != 2) {
            return "weight has rank " + weight.getDimsCount();
        }
        if (node.getOpType().equals("Gemm")) {
            if (Nodes.intAttribute(node, "transA", 0) != 0) {
                return "Gemm with transA";
            }
            if (floatAttribute(node, "alpha") != 1f || floatAttribute(node, "beta") != 1f) {
                return "Gemm with alpha or beta other than 1";
            }
        }
        return null;
    }

    private static float floatAttribute(NodeProto node, String name) {
        return Nodes.attribute(node, name).map(AttributeProto::getF).orElse(1f);
    }

    /** Gemm(A, B, C) = MatMul(A, B or B^T) + C, with the weight transposed once at quantization time. */
    private void rewriteGemm(NodeProto gemm) {
        String bias = Nodes.input(gemm, 2);
        String product = bias.isEmpty() ? gemm.getOutput(0) : graph.uniqueName(gemm.getOutput(0) + "_product");
        rewriteProduct(gemm, product, Nodes.intAttribute(gemm, "transB", 0) == 1);
        if (!bias.isEmpty()) {
            rewritten.add(Nodes.node("Add", graph.uniqueName(gemm.getName() + "_bias"),
                    List.of(product, bias), List.of(gemm.getOutput(0))).build());
        }
    }

    private void rewriteMatMul(NodeProto matMul, String output) {
        rewriteProduct(matMul, output, false);
    }

    /** Writes {@code output = input0 x weight} in the chosen format. */
    private void rewriteProduct(NodeProto node, String output, boolean transposed) {
        String input = node.getInput(0);
        String[] weight = quantizeWeight(node.getInput(1), transposed);
        String base = node.getName().isEmpty() ? output : node.getName();
        switch (format) {
            case MATMUL_INTEGER -> {
                String[] activation = dynamicQuantize(input);
                String integer = graph.uniqueName(output + "_int32");
                rewritten.add(Nodes.node("MatMulInteger", graph.uniqueName(base + "_MatMulInteger"),
                        List.of(activation[0], weight[0], activation[2], weight[2]), List.of(integer)).build());
                String asFloat = graph.uniqueName(output + "_float");
                rewritten.add(Nodes.node("Cast", graph.uniqueName(base + "_Cast"), List.of(integer),
                        List.of(asFloat)).addAttribute(AttributeProto.newBuilder().setName("to")
                        .setType(AttributeProto.AttributeType.INT).setI(TensorProto.DataType.FLOAT_VALUE)).build());
                String scale = graph.uniqueName(output + "_scale");
                rewritten.add(Nodes.node("Mul", graph.uniqueName(base + "_scale"),
                        List.of(activation[1], weight[1]), List.of(scale)).build());
                rewritten.add(Nodes.node("Mul", graph.uniqueName(base + "_rescale"),
                        List.of(asFloat, scale), List.of(output)).build());
            }
            case QDQ -> rewritten.add(Nodes.node("MatMul", base, List.of(dequantizedActivation(input),
                    dequantizeWeight(weight)), List.of(output)).build());
            case WEIGHT_ONLY -> rewritten.add(Nodes.node("MatMul", base,
                    List.of(input, dequantizeWeight(weight)), List.of(output)).build());
        }
    }

    /** One DynamicQuantizeLinear per activation, shared by every MatMul that reads it (Q, K, V projections). */
    private String[] dynamicQuantize(String tensor) {
        return quantizedActivations.computeIfAbsent(tensor, t -> {
            String[] names = {graph.uniqueName(t + "_quantized"), graph.uniqueName(t + "_scale"),
                    graph.uniqueName(t + "_zero_point")};
            rewritten.add(Nodes.node("DynamicQuantizeLinear", graph.uniqueName(t + "_DynamicQuantizeLinear"),
                    List.of(t), List.of(names)).build());
            return names;
        });
    }

    private String dequantizedActivation(String tensor) {
        return dequantizedActivations.computeIfAbsent(tensor, t -> {
            String[] q = dynamicQuantize(t);
            String output = graph.uniqueName(t + "_dequantized");
            rewritten.add(Nodes.node("DequantizeLinear", graph.uniqueName(t + "_DequantizeLinear"),
                    List.of(q), List.of(output)).build());
            return output;
        });
    }

    private String dequantizeWeight(String[] weight) {
        String output = graph.uniqueName(weight[0] + "_dequantized");
        NodeProto.Builder dq = Nodes.node("DequantizeLinear", graph.uniqueName(weight[0] + "_DequantizeLinear"),
                List.of(weight), List.of(output));
        if (perChannel) {
            dq.addAttribute(Nodes.intAttribute("axis", 1));
        }
        rewritten.add(dq.build());
        return output;
    }

    /**
     * Quantizes a [K, N] weight (or [N, K] read transposed) once, however many nodes share it: int8 symmetric, one
     * scale per output column N, zero points 0.
     *
     * @return {int8 [K, N] weight, scale, zero point} initializer names
     */
    private String[] quantizeWeight(String name, boolean transposed) {
        return quantizedWeights.computeIfAbsent(name + (transposed ? "^T" : ""), key -> {
            TensorProto weight = graph.initializer(name).orElseThrow();
            float[] values = Tensors.toFloats(weight);
            int rows = (int) weight.getDims(transposed ? 1 : 0); // K
            int cols = (int) weight.getDims(transposed ? 0 : 1); // N
            int channels = perChannel ? cols : 1;
            double[] absMax = new double[channels];
            for (int k = 0; k < rows; k++) {
                for (int n = 0; n < cols; n++) {
                    float v = values[transposed ? n * rows + k : k * cols + n];
                    int c = perChannel ? n : 0;
                    absMax[c] = Math.max(absMax[c], Math.abs(v));
                }
            }
            float[] scales = new float[channels];
            for (int c = 0; c < channels; c++) {
                scales[c] = QuantParams.weightScale(absMax[c], weightMax);
            }
            byte[] q = new byte[values.length];
            for (int k = 0; k < rows; k++) {
                for (int n = 0; n < cols; n++) {
                    float v = values[transposed ? n * rows + k : k * cols + n];
                    q[k * cols + n] = QuantParams.quantizeWeight(v, scales[perChannel ? n : 0], weightMax);
                }
            }
            long[] paramDims = perChannel ? new long[] {channels} : new long[0];
            String[] names = {graph.uniqueName(name + "_quantized"), graph.uniqueName(name + "_scale"),
                    graph.uniqueName(name + "_zero_point")};
            graph.putInitializer(Tensors.int8s(names[0], new long[] {rows, cols}, q));
            graph.putInitializer(Tensors.floats(names[1], paramDims, scales));
            graph.putInitializer(Tensors.int8s(names[2], paramDims, new byte[channels]));
            replaced.add(name);
            return names;
        });
    }

    /** Drops float weights no node (nor subgraph, nor graph output) reads any more. */
    private void removeReplacedWeights() {
        Graph.Index index = graph.index();
        Set<String> outputs = new HashSet<>();
        graph.outputs().forEach(o -> outputs.add(o.getName()));
        for (String name : replaced) {
            if (index.consumers(name).isEmpty() && !outputs.contains(name)) {
                graph.initializers().remove(name);
                graph.declaredInputs().removeIf(input -> input.getName().equals(name));
            }
        }
    }
}
