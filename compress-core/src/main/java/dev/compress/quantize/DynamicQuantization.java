package dev.compress.quantize;

import dev.compress.CompressException;
import dev.compress.graph.Attribute;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Provenance;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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

    /** The graph rewritten: the main graph, or an If/Loop/Scan body. */
    private final Graph graph;
    /** The main graph, which hands out new names unique in every graph of the model. */
    private final Graph names;
    /** The rewrite of the enclosing graph, whose initializers a body may read; null for the main graph. */
    private final DynamicQuantization parent;
    private final DynamicFormat format;
    private final boolean perChannel;
    private final List<Node> rewritten = new ArrayList<>();
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

    /** Static quantization refuses fp16 weights too. */
    private static final String FP16 = "weight is FLOAT16 (fp16 models are not quantized: convert to fp32 first)";

    private DynamicQuantization(Graph graph, DynamicFormat format, boolean perChannel, Set<String> only,
            int weightMax) {
        this(graph, null, format, perChannel, only, weightMax);
    }

    private DynamicQuantization(Graph graph, DynamicQuantization parent, DynamicFormat format, boolean perChannel,
            Set<String> only, int weightMax) {
        this.graph = graph;
        this.parent = parent;
        this.names = parent == null ? graph : parent.names;
        this.format = format;
        this.perChannel = perChannel;
        this.only = only;
        this.weightMax = weightMax;
    }

    /**
     * Quantizes the named MatMul/Gemm nodes of a statically quantized graph in {@code format}: layers too sensitive
     * for a calibrated activation range get int8 weights with float activations ({@link DynamicFormat#WEIGHT_ONLY})
     * or with activations quantized per call ({@link DynamicFormat#MATMUL_INTEGER}).
     *
     * @param floatNodes receives each named node that could not be rewritten, with the reason
     * @return the nodes rewritten
     */
    static List<Node> rewriteNodes(Graph graph, Set<String> names, DynamicFormat format, boolean perChannel,
            Map<Node, String> floatNodes) {
        DynamicQuantization rewrite = new DynamicQuantization(graph, format, perChannel, names,
                QuantParams.INT8_MAX);
        List<Node> done = rewrite.run(Set.of(), floatNodes);
        graph.removeUnreadInitializers(rewrite.replaced);
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
            String notDone = OpsetUpgrade.apply(model);
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
        Map<Node, String> floatNodes = new LinkedHashMap<>();
        List<Node> done = rewrite.run(excluded, floatNodes);
        EmbeddingQuantizer.Result embeddings = EmbeddingQuantizer.rewrite(graph, excluded);
        done.addAll(embeddings.quantized());
        floatNodes.putAll(embeddings.keptFloat());
        if (done.isEmpty()) {
            throw CompressException.badInput(model.source().orElse(null), "nothing to quantize: no MatMul, Gemm or"
                    + " Gather with a float weight" + (floatNodes.isEmpty() ? " was found"
                    : " that can be quantized (" + Quantizer.describeReasons(floatNodes) + ")"));
        }
        graph.removeUnreadInitializers(rewrite.replaced);
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

    private List<Node> run(Set<String> excluded, Map<Node, String> floatNodes) {
        List<Node> done = new ArrayList<>();
        for (Node node : graph.nodes()) {
            String op = node.opType();
            boolean candidate = node.domain().isEmpty() && (op.equals("MatMul") || op.equals("Gemm"));
            if (only != null) {
                if (!only.contains(node.name())) {
                    rewritten.add(node);
                    continue;
                }
                if (!candidate) {
                    floatNodes.put(node, format.cliName() + " applies to MatMul and Gemm");
                }
            } else if (CONTROL_FLOW.contains(op) && node.domain().isEmpty()) {
                int before = done.size();
                for (Graph body : node.subgraphs()) {
                    // weights of a body are quantized as in the main graph (ONNX Runtime's tool does too)
                    DynamicQuantization inner = new DynamicQuantization(body, this, format, perChannel, null,
                            weightMax);
                    done.addAll(inner.run(excluded, floatNodes));
                    body.removeUnreadInitializers(inner.replaced);
                }
                if (done.size() == before) {
                    floatNodes.put(node, "its subgraphs hold no MatMul or Gemm with a constant weight");
                }
            } else if (node.domain().isEmpty() && (op.startsWith("Conv") || op.equals("Attention"))) {
                // static quantization refuses fp16 weights too: pointing there would send the user in a circle
                boolean fp16 = node.inputs().size() > 1 && find(node.input(1))
                        .filter(found -> found.tensor().dataType() == DataType.FLOAT16).isPresent();
                floatNodes.put(node, fp16 ? FP16 : "dynamic mode quantizes only MatMul, Gemm and Gather (use"
                        + " static quantization)");
            }
            if (!candidate) {
                rewritten.add(node);
                continue;
            }
            String problem = excluded.contains(node.name()) ? "excluded" : problem(node);
            if (problem != null) {
                floatNodes.put(node, problem);
                rewritten.add(node);
                continue;
            }
            if (op.equals("MatMul")) {
                rewriteMatMul(node, node.output(0));
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
    private String problem(Node node) {
        if (node.inputs().size() < 2 || node.outputs().size() < 1) {
            return "malformed: " + node.inputs().size() + " inputs";
        }
        Tensor weight = find(node.input(1)).map(Found::tensor).orElse(null);
        if (find(node.input(0)).isPresent()) {
            return "first input is a constant";
        }
        if (weight == null) {
            return "no constant weight (activation x activation)";
        }
        if (!weight.isFloat()) {
            return weight.dataType() == DataType.FLOAT16 ? FP16 : "weight is " + weight.dataType();
        }
        if (weight.rank() != 2) {
            return "weight has rank " + weight.rank();
        }
        if (node.opType().equals("Gemm")) {
            if (node.intAttribute("transA", 0) != 0) {
                return "Gemm with transA";
            }
            if (floatAttribute(node, "alpha") != 1f || floatAttribute(node, "beta") != 1f) {
                return "Gemm with alpha or beta other than 1";
            }
        }
        return null;
    }

    private static float floatAttribute(Node node, String name) {
        return node.attribute(name).map(Attribute::f).orElse(1f);
    }

    /** Gemm(A, B, C) = MatMul(A, B or B^T) + C, with the weight transposed once at quantization time. */
    private void rewriteGemm(Node gemm) {
        String bias = gemm.input(2);
        String product = bias.isEmpty() ? gemm.output(0) : names.uniqueName(gemm.output(0) + "_product");
        rewriteProduct(gemm, product, gemm.intAttribute("transB", 0) == 1);
        if (!bias.isEmpty()) {
            rewritten.add(Node.of("Add", names.uniqueName(gemm.name() + "_bias"),
                    List.of(product, bias), List.of(gemm.output(0))));
        }
    }

    private void rewriteMatMul(Node matMul, String output) {
        rewriteProduct(matMul, output, false);
    }

    /** Writes {@code output = input0 x weight} in the chosen format. */
    private void rewriteProduct(Node node, String output, boolean transposed) {
        String input = node.input(0);
        String[] weight = quantizeWeight(node.input(1), transposed);
        String base = node.name().isEmpty() ? output : node.name();
        switch (format) {
            case MATMUL_INTEGER -> {
                String[] activation = dynamicQuantize(input);
                String integer = names.uniqueName(output + "_int32");
                rewritten.add(Node.of("MatMulInteger", names.uniqueName(base + "_MatMulInteger"),
                        List.of(activation[0], weight[0], activation[2], weight[2]), List.of(integer)));
                String asFloat = names.uniqueName(output + "_float");
                rewritten.add(Node.of("Cast", names.uniqueName(base + "_Cast"), List.of(integer),
                        List.of(asFloat)).set(Attribute.of("to", DataType.FLOAT.number())));
                String scale = names.uniqueName(output + "_scale");
                rewritten.add(Node.of("Mul", names.uniqueName(base + "_scale"),
                        List.of(activation[1], weight[1]), List.of(scale)));
                rewritten.add(Node.of("Mul", names.uniqueName(base + "_rescale"),
                        List.of(asFloat, scale), List.of(output)));
            }
            case QDQ -> rewritten.add(Node.of("MatMul", base, List.of(dequantizedActivation(input),
                    dequantizeWeight(weight)), List.of(output)));
            case WEIGHT_ONLY -> rewritten.add(Node.of("MatMul", base,
                    List.of(input, dequantizeWeight(weight)), List.of(output)));
        }
    }

    /** One DynamicQuantizeLinear per activation, shared by every MatMul that reads it (Q, K, V projections). */
    private String[] dynamicQuantize(String tensor) {
        return quantizedActivations.computeIfAbsent(tensor, t -> {
            String[] quantized = {names.uniqueName(t + "_quantized"), names.uniqueName(t + "_scale"),
                    names.uniqueName(t + "_zero_point")};
            rewritten.add(Node.of("DynamicQuantizeLinear", names.uniqueName(t + "_DynamicQuantizeLinear"),
                    List.of(t), List.of(quantized)));
            return quantized;
        });
    }

    private String dequantizedActivation(String tensor) {
        return dequantizedActivations.computeIfAbsent(tensor, t -> {
            String[] q = dynamicQuantize(t);
            String output = names.uniqueName(t + "_dequantized");
            rewritten.add(Node.of("DequantizeLinear", names.uniqueName(t + "_DequantizeLinear"),
                    List.of(q), List.of(output)));
            return output;
        });
    }

    private String dequantizeWeight(String[] weight) {
        String output = names.uniqueName(weight[0] + "_dequantized");
        Node dq = Node.of("DequantizeLinear", names.uniqueName(weight[0] + "_DequantizeLinear"),
                List.of(weight), List.of(output));
        if (perChannel) {
            dq.set(Attribute.of("axis", 1));
        }
        rewritten.add(dq);
        return output;
    }

    /**
     * Quantizes a [K, N] weight (or [N, K] read transposed) once, however many nodes share it: int8 symmetric, one
     * scale per output column N, zero points 0.
     *
     * @return {int8 [K, N] weight, scale, zero point} initializer names
     */
    private String[] quantizeWeight(String name, boolean transposed) {
        Found found = find(name).orElseThrow();
        if (found.owner() != this) {
            return found.owner().quantizeWeight(name, transposed); // once for the main graph and all its bodies
        }
        return quantizedWeights.computeIfAbsent(name + (transposed ? "^T" : ""), key -> {
            Tensor weight = found.tensor();
            float[] values = weight.floats();
            int rows = (int) weight.dim(transposed ? 1 : 0); // K
            int cols = (int) weight.dim(transposed ? 0 : 1); // N
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
            String[] quantized = {names.uniqueName(name + "_quantized"), names.uniqueName(name + "_scale"),
                    names.uniqueName(name + "_zero_point")};
            // beside the float weight, so every body that can read one can read the other
            graph.putInitializer(Tensor.int8s(quantized[0], new long[] {rows, cols}, q));
            graph.putInitializer(Tensor.floats(quantized[1], paramDims, scales));
            graph.putInitializer(Tensor.int8s(quantized[2], paramDims, new byte[channels]));
            replaced.add(name);
            return quantized;
        });
    }

    /** An initializer and the rewrite of the graph that holds it. */
    private record Found(DynamicQuantization owner, Tensor tensor) {}

    /**
     * The initializer {@code name} as this graph sees it: its own, or, in a body that does not define the name
     * itself, one of an enclosing graph.
     */
    private Optional<Found> find(String name) {
        Optional<Tensor> own = graph.initializer(name);
        if (own.isPresent()) {
            return Optional.of(new Found(this, own.get()));
        }
        return parent == null || graph.defines(name) ? Optional.empty() : parent.find(name);
    }
}
