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
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Dynamic (weight-only calibrated) quantization: MatMul, Gemm and Conv weights become 8-bit per output channel, LSTM
 * weights per gate row, Gather tables int8 per row, and ONNX Runtime quantizes activations to uint8 on each call from
 * their actual range. No calibration data is needed. Selected with {@link Quantizer.Builder#optDynamic}.
 */
final class DynamicQuantization {
    /** DynamicQuantizeLinear exists from opset 11. */
    static final long MIN_OPSET = 11;
    /** Weight range with reduce-range, as ONNX Runtime's quantize_dynamic uses it. */
    static final int REDUCED_MAX = 64;
    private static final Set<String> CONTROL_FLOW = Set.of("If", "Loop", "Scan");
    private static final Set<String> RECURRENT = Set.of("LSTM", "GRU", "RNN");
    /** What dynamic quantization rewrites, in the order help texts name them. */
    static final List<String> OP_TYPES = List.of("MatMul", "Gemm", "Conv", "LSTM", "GRU", "RNN", "Gather");
    /** The domain of DynamicQuantizeLSTM, ONNX Runtime's contrib operators (version 1). */
    static final String MICROSOFT = "com.microsoft";

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
    /** Weight key (name, layout) -> {8-bit weight, scale, zero point}. */
    private final Map<String, String[]> quantizedWeights = new HashMap<>();
    private final Set<String> replaced = new HashSet<>();
    /** Names of the nodes to rewrite, or null for every MatMul, Gemm and Conv. */
    private final Set<String> only;
    /** Op types selected (--ops); empty for all. */
    private final Set<String> opTypes;
    /** Largest weight magnitude: 127, or 64 for 7-bit weights. */
    private final int weightMax;

    static final String DEPTHWISE = "depthwise Conv: ONNX Runtime's ConvInteger runs it as one small GEMM per"
            + " channel, far slower than float, and its filter is too small for 8 bits to save space";

    /** Static quantization refuses fp16 weights too. */
    private static final String FP16 = "weight is FLOAT16 (fp16 models are not quantized: convert to fp32 first)";

    private DynamicQuantization(Graph graph, DynamicQuantization parent, DynamicFormat format, boolean perChannel,
            Set<String> only, Set<String> opTypes, int weightMax) {
        this.graph = graph;
        this.parent = parent;
        this.names = parent == null ? graph : parent.names;
        this.format = format;
        this.perChannel = perChannel;
        this.only = only;
        this.opTypes = opTypes;
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
        DynamicQuantization rewrite = new DynamicQuantization(graph, null, format, perChannel, names, Set.of(),
                QuantParams.INT8_MAX);
        List<Node> done = rewrite.run(node -> null, floatNodes);
        graph.removeUnreadInitializers(rewrite.replaced);
        return done;
    }

    /** A dynamic quantization's result and the nodes it quantized (of the source's copy, graph order). */
    record Result(PassResult<QuantizationResult> result, List<Node> quantizedNodes) {}

    /**
     * @param excluded names of nodes to keep float
     * @param keptFloat first outputs of nodes to keep float besides (the latency fallback's choice)
     * @param opTypes the op types to quantize (of {@link #OP_TYPES}); empty for all
     * @param reduceRange 7-bit weights in [-64, 64]: on CPUs without VNNI, ONNX Runtime's uint8 x int8 kernels add
     *     pairs of products in 16 bits, which full-range weights can saturate
     */
    static Result quantize(OnnxModel model, Set<String> excluded, Set<String> keptFloat, Set<String> opTypes,
            DynamicFormat format, boolean reduceRange) {
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
        DynamicQuantization rewrite = new DynamicQuantization(graph, null, format, perChannel, null, opTypes,
                weightMax);
        Map<Node, String> floatNodes = new LinkedHashMap<>();
        Function<Node, String> exclusion = node -> excluded.contains(node.name()) ? "excluded"
                : keptFloat.contains(node.output(0)) ? LatencyFallback.REASON : null;
        List<Node> done = rewrite.run(exclusion, floatNodes);
        EmbeddingQuantizer.Result embeddings = EmbeddingQuantizer.rewrite(graph, exclusion,
                opTypes.isEmpty() || opTypes.contains("Gather"));
        done.addAll(embeddings.quantized());
        floatNodes.putAll(embeddings.keptFloat());
        if (done.isEmpty()) {
            throw CompressException.badInput(model.source().orElse(null), "nothing to quantize: no "
                    + (opTypes.isEmpty() ? "MatMul, Gemm, Conv, LSTM, GRU, RNN or Gather"
                    : String.join(" or ", opTypes))
                    + " with a float weight" + (floatNodes.isEmpty() ? " was found"
                    : " that can be quantized (" + Quantizer.describeReasons(floatNodes) + ")"));
        }
        graph.removeUnreadInitializers(rewrite.replaced);
        boolean lstm = format == DynamicFormat.MATMUL_INTEGER
                && done.stream().anyMatch(node -> node.opType().equals("LSTM"));
        if (lstm) {
            quantized.setOpset(MICROSOFT, 1);
        }
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
        boolean convInteger = format == DynamicFormat.MATMUL_INTEGER
                && done.stream().anyMatch(node -> node.opType().equals("Conv"));
        provenance.put("weights", "int8 symmetric " + (perChannel ? "per-channel" : "per-tensor")
                + (reduceRange ? ", 7-bit range" : "")
                + (convInteger ? "; Conv filters stored as uint8 with zero point 128 (ConvInteger's only type)" : "")
                + (lstm ? "; LSTM weights per direction and gate row, transposed for DynamicQuantizeLSTM" : "")
                + "; Gather tables int8 per row");
        provenance.put("constantsPromoted", promoted.size());
        provenance.put("excludedNodes", excluded.stream().sorted().toList());
        if (!keptFloat.isEmpty()) {
            provenance.put("latencyFallbackFloatNodes", floatNodes.entrySet().stream()
                    .filter(e -> e.getValue().equals(LatencyFallback.REASON)).map(e -> e.getKey().describe())
                    .sorted().toList());
        }
        if (upgrade) {
            provenance.put("opsetUpgrade", "to " + opset);
        }
        return new Result(new PassResult<>(quantized, new QuantizationResult(quantized, report, null),
                new Provenance(Quantizer.PROVENANCE, provenance)), done);
    }

    /** @param exclusion why the caller keeps a node float, or null */
    private List<Node> run(Function<Node, String> exclusion, Map<Node, String> floatNodes) {
        List<Node> done = new ArrayList<>();
        for (Node node : graph.nodes()) {
            String op = node.opType();
            boolean candidate = node.domain().isEmpty()
                    && (op.equals("MatMul") || op.equals("Gemm") || op.equals("Conv") || RECURRENT.contains(op));
            if (only != null) {
                if (!only.contains(node.name())) {
                    rewritten.add(node);
                    continue;
                }
                if (!candidate) {
                    floatNodes.put(node, format.cliName() + " applies to MatMul, Gemm, Conv and recurrent layers");
                }
            } else if (CONTROL_FLOW.contains(op) && node.domain().isEmpty()) {
                int before = done.size();
                for (Graph body : node.subgraphs()) {
                    // weights of a body are quantized as in the main graph (ONNX Runtime's tool does too), and
                    // exporters put them in Constant nodes there as well (silero VAD's Convs)
                    body.promoteConstants();
                    DynamicQuantization inner = new DynamicQuantization(body, this, format, perChannel, null,
                            opTypes, weightMax);
                    done.addAll(inner.run(exclusion, floatNodes));
                    body.removeUnreadInitializers(inner.replaced);
                }
                if (done.size() == before) {
                    floatNodes.put(node, "its subgraphs hold no MatMul, Gemm, Conv or LSTM with a constant weight");
                }
            } else if (node.domain().isEmpty() && (op.equals("ConvTranspose") || op.equals("Attention"))) {
                // static quantization refuses fp16 weights too: pointing there would send the user in a circle
                boolean fp16 = node.inputs().size() > 1 && find(node.input(1))
                        .filter(found -> found.tensor().dataType() == DataType.FLOAT16).isPresent();
                floatNodes.put(node, fp16 ? FP16 : "dynamic mode quantizes only MatMul, Gemm, Conv, LSTM and Gather"
                        + " (ONNX has no integer " + op + "; use static quantization)");
            }
            if (!candidate) {
                rewritten.add(node);
                continue;
            }
            String problem = exclusion.apply(node) != null ? exclusion.apply(node)
                    : !opTypes.isEmpty() && !opTypes.contains(op) ? "op type not selected" : problem(node);
            if (problem != null) {
                floatNodes.put(node, problem);
                rewritten.add(node);
                continue;
            }
            switch (op) {
                case "MatMul" -> rewriteMatMul(node, node.output(0));
                case "Gemm" -> rewriteGemm(node);
                case "Conv" -> rewriteConv(node);
                default -> rewriteRecurrent(node);
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
        if (RECURRENT.contains(node.opType())) {
            return recurrentProblem(node);
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
        if (node.opType().equals("Conv")) {
            if (weight.rank() < 3 || weight.dim(0) < 1) {
                return "filter has shape " + Arrays.toString(weight.dims());
            }
            if (weight.dim(1) == 1 && node.intAttribute("group", 1) > 1) {
                // measured (docs/cli.md): mobilenet_v3_large 3.3x fp32 time with them, 1.75x without, same size
                return DEPTHWISE;
            }
            boolean constantBias = node.inputs().size() < 3 || node.input(2).isEmpty()
                    || find(node.input(2)).filter(b -> b.tensor().dataType() == DataType.FLOAT).isPresent();
            // ConvInteger has no bias input: it is added after the rescale, reshaped to [M, 1, ...] once here
            return format == DynamicFormat.MATMUL_INTEGER && !constantBias ? "bias is not a float constant" : null;
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

    /** Why the LSTM, GRU or RNN {@code node} cannot be quantized dynamically, or null. */
    private String recurrentProblem(Node node) {
        if (format == DynamicFormat.MATMUL_INTEGER && !node.opType().equals("LSTM")) {
            return "ONNX Runtime has an integer kernel for LSTM only (DynamicQuantizeLSTM), none for "
                    + node.opType() + "; --dynamic-format weight-only stores its weights in 8 bits";
        }
        if (format == DynamicFormat.MATMUL_INTEGER && node.intAttribute("layout", 0) != 0) {
            return "layout 1 (batch first): DynamicQuantizeLSTM takes sequence-first inputs only";
        }
        for (int slot = 1; slot <= 2; slot++) {
            String role = slot == 1 ? "input weight W" : "recurrent weight R";
            Tensor weight = node.inputs().size() > slot ? find(node.input(slot)).map(Found::tensor).orElse(null)
                    : null;
            if (weight == null) {
                return role + " is not a constant";
            }
            if (!weight.isFloat()) {
                return weight.dataType() == DataType.FLOAT16 ? FP16 : role + " is " + weight.dataType();
            }
            if (weight.rank() != 3) {
                return role + " has shape " + Arrays.toString(weight.dims());
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
        String base = baseName(gemm);
        if (bias.isEmpty()) {
            rewriteProduct(gemm, gemm.output(0), gemm.intAttribute("transB", 0) == 1, base);
            return;
        }
        String product = names.uniqueName(gemm.output(0) + "_product");
        rewriteProduct(gemm, product, gemm.intAttribute("transB", 0) == 1, names.uniqueName(base + "_product"));
        rewritten.add(Node.of("Add", base, List.of(product, bias), List.of(gemm.output(0))));
    }

    private void rewriteMatMul(Node matMul, String output) {
        rewriteProduct(matMul, output, false, baseName(matMul));
    }

    /**
     * The name the rewrite gives the node that writes the original node's output: the original's own, so that
     * {@code compress debug}, the fidelity warning and {@code --exclude} name the layer as the fp32 model does.
     */
    private static String baseName(Node node) {
        return node.name().isEmpty() ? node.output(0) : node.name();
    }

    /** Writes {@code output = input0 x weight} in the chosen format, by a last node named {@code name}. */
    private void rewriteProduct(Node node, String output, boolean transposed, String name) {
        String input = node.input(0);
        String[] weight = quantizeWeight(node.input(1), transposed);
        String base = baseName(node);
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
                rewritten.add(Node.of("Mul", name, List.of(asFloat, scale), List.of(output)));
            }
            case QDQ -> rewritten.add(Node.of("MatMul", name, List.of(dequantizedActivation(input),
                    dequantizeWeight(weight, 1)), List.of(output)));
            case WEIGHT_ONLY -> rewritten.add(Node.of("MatMul", name,
                    List.of(input, dequantizeWeight(weight, 1)), List.of(output)));
        }
    }

    /**
     * Conv in the chosen format. The integer form is {@code ConvInteger -> Cast -> Mul(x scale * filter scales) ->
     * Add(bias)}, as ONNX Runtime's quantize_dynamic writes it, but per output channel: ONNX Runtime's ConvInteger
     * takes only uint8 filters with one zero point, so the filters are symmetric int8 shifted by 128 and the
     * per-channel scales are applied by the Mul.
     */
    private void rewriteConv(Node conv) {
        String input = conv.input(0);
        String bias = conv.inputs().size() > 2 ? conv.input(2) : "";
        String output = conv.output(0);
        String base = baseName(conv);
        if (format != DynamicFormat.MATMUL_INTEGER) {
            String activation = format == DynamicFormat.QDQ ? dequantizedActivation(input) : input;
            String dq = dequantizeWeight(quantizeFilter(conv.input(1), false), 0);
            List<String> inputs = new ArrayList<>(List.of(activation, dq));
            if (!bias.isEmpty()) {
                inputs.add(bias);
            }
            Node floatConv = Node.of("Conv", base, inputs, List.of(output));
            conv.attributes().forEach(floatConv::set);
            rewritten.add(floatConv);
            return;
        }
        String[] activation = dynamicQuantize(input);
        String[] filter = quantizeFilter(conv.input(1), true);
        String integer = names.uniqueName(output + "_int32");
        Node convInteger = Node.of("ConvInteger", names.uniqueName(base + "_ConvInteger"),
                List.of(activation[0], filter[0], activation[2], filter[2]), List.of(integer));
        conv.attributes().forEach(convInteger::set);
        rewritten.add(convInteger);
        String asFloat = names.uniqueName(output + "_float");
        rewritten.add(Node.of("Cast", names.uniqueName(base + "_Cast"), List.of(integer), List.of(asFloat))
                .set(Attribute.of("to", DataType.FLOAT.number())));
        String scale = names.uniqueName(output + "_scale");
        rewritten.add(Node.of("Mul", names.uniqueName(base + "_scale"), List.of(activation[1], filter[1]),
                List.of(scale)));
        if (bias.isEmpty()) {
            rewritten.add(Node.of("Mul", base, List.of(asFloat, scale), List.of(output)));
            return;
        }
        String product = names.uniqueName(output + "_product");
        rewritten.add(Node.of("Mul", names.uniqueName(base + "_rescale"), List.of(asFloat, scale),
                List.of(product)));
        rewritten.add(Node.of("Add", base, List.of(product, channelBias(bias, conv)), List.of(output)));
    }

    /**
     * LSTM, GRU or RNN with 8-bit weights W [directions, gates x hidden, input] and R [directions, gates x hidden,
     * hidden], one scale per direction and gate row. The integer form is ONNX Runtime's {@code com.microsoft}
     * DynamicQuantizeLSTM, as its quantize_dynamic writes it: int8 weights transposed to [directions, input or hidden,
     * 4 x hidden], activations quantized inside the kernel. The other formats keep the op and read its weights
     * dequantized as [directions x rows, columns] (DequantizeLinear takes one axis) and reshaped back.
     */
    private void rewriteRecurrent(Node node) {
        Node rewrite;
        if (format == DynamicFormat.MATMUL_INTEGER) {
            String[] w = quantizeRecurrent(node.input(1), true);
            String[] r = quantizeRecurrent(node.input(2), true); // {weight, scale, zero point, null}
            List<String> inputs = new ArrayList<>(List.of(node.input(0), w[0], r[0]));
            for (int slot = 3; slot < 8; slot++) { // B, sequence_lens, initial_h, initial_c, P
                inputs.add(slot < node.inputs().size() ? node.input(slot) : "");
            }
            inputs.addAll(List.of(w[1], w[2], r[1], r[2]));
            Node lstm = Node.of("DynamicQuantizeLSTM", baseName(node), inputs, node.outputs()).setDomain(MICROSOFT);
            // its schema has no layout (0, checked above)
            node.attributes().stream().filter(a -> !a.name().equals("layout")).forEach(lstm::set);
            rewrite = lstm;
        } else {
            rewrite = node.copy();
            for (int slot = 1; slot <= 2; slot++) {
                String[] weight = quantizeRecurrent(node.input(slot), false);
                String output = names.uniqueName(weight[0] + "_reshaped");
                String dequantized = dequantizeWeight(Arrays.copyOf(weight, 3), 0);
                rewritten.add(Node.of("Reshape", names.uniqueName(weight[0] + "_Reshape"),
                        List.of(dequantized, weight[3]), List.of(output)));
                rewrite.setInput(slot, output);
            }
        }
        rewritten.add(rewrite);
    }

    /**
     * Quantizes a recurrent weight [directions, rows, columns] once, symmetric int8 with one scale per direction and
     * row. For DynamicQuantizeLSTM ({@code integer}) transposed to [directions, columns, rows] with scales and zero
     * points [directions, rows]; otherwise as [directions x rows, columns] for a DequantizeLinear along axis 0 (per
     * tensor where the opset has no per-channel DequantizeLinear), with the original shape to reshape it back.
     *
     * @return {weight, scale, zero point} initializer names, and the original shape unless {@code integer}
     */
    private String[] quantizeRecurrent(String name, boolean integer) {
        return once(name, integer ? "^lstm" : "^rows", (graph, weight) -> {
            int directions = (int) weight.dim(0);
            int rows = (int) weight.dim(1);
            int columns = (int) weight.dim(2);
            long[] flat = {(long) directions * rows, columns};
            boolean byRow = integer || perChannel;
            QdqRewriter.QuantizedWeight q = QdqRewriter.QuantizedWeight.of(Tensor.floats(name, flat,
                    weight.floats()), byRow ? 0 : -1, weightMax);
            String[] quantized = {names.uniqueName(name + "_quantized"), names.uniqueName(name + "_scale"),
                    names.uniqueName(name + "_zero_point"), integer ? null : names.uniqueName(name + "_shape")};
            if (integer) {
                byte[] transposed = new byte[q.codes().length];
                for (int d = 0; d < directions; d++) {
                    int base = d * rows * columns;
                    for (int row = 0; row < rows; row++) {
                        for (int col = 0; col < columns; col++) {
                            transposed[base + col * rows + row] = q.codes()[base + row * columns + col];
                        }
                    }
                }
                long[] paramDims = {directions, rows};
                graph.putInitializer(Tensor.int8s(quantized[0], new long[] {directions, columns, rows}, transposed));
                graph.putInitializer(Tensor.floats(quantized[1], paramDims, q.scales()));
                graph.putInitializer(Tensor.int8s(quantized[2], paramDims, new byte[directions * rows]));
            } else {
                long[] paramDims = byRow ? new long[] {flat[0]} : new long[0];
                graph.putInitializer(Tensor.int8s(quantized[0], flat, q.codes()));
                graph.putInitializer(Tensor.floats(quantized[1], paramDims, q.scales()));
                graph.putInitializer(Tensor.int8s(quantized[2], paramDims, new byte[q.scales().length]));
                graph.putInitializer(Tensor.int64s(quantized[3], new long[] {3}, weight.dims()));
            }
            return quantized;
        });
    }

    /** The bias of a Conv as [M, 1, ...], to broadcast over the ConvInteger's [N, M, ...] output like its scales. */
    private String channelBias(String name, Node conv) {
        // the filter may belong to another graph than the bias: its rank is read where the Conv reads it
        int rank = find(conv.input(1)).orElseThrow().tensor().rank();
        return once(name, "^channels", (graph, bias) -> {
            long[] dims = new long[rank - 1];
            Arrays.fill(dims, 1);
            dims[0] = bias.elementCount();
            String reshaped = names.uniqueName(name + "_channels");
            graph.putInitializer(Tensor.floats(reshaped, dims, bias.floats()));
            return new String[] {reshaped};
        })[0];
    }

    /**
     * Quantizes a Conv filter [M, C/group, k...] once: symmetric, one scale per output channel M (per tensor where
     * the opset has no per-channel DequantizeLinear). For ConvInteger ({@code shifted}) the int8 values are stored
     * as uint8 + 128 with one zero point 128, and the scales have shape [M, 1, ...] to broadcast over the output;
     * otherwise they are int8 with zero points 0 for a DequantizeLinear along axis 0.
     *
     * @return {filter, scale, zero point} initializer names
     */
    private String[] quantizeFilter(String name, boolean shifted) {
        return once(name, shifted ? "^uint8" : "^int8", (graph, filter) -> {
            boolean byChannel = shifted || perChannel;
            int outputs = (int) filter.dim(0);
            QdqRewriter.QuantizedWeight weight = QdqRewriter.QuantizedWeight.of(filter, byChannel ? 0 : -1,
                    weightMax);
            float[] scales = weight.scales();
            int channels = scales.length;
            byte[] q = weight.codes();
            if (shifted) { // the codes are this call's own
                for (int i = 0; i < q.length; i++) {
                    q[i] = (byte) (q[i] + 128);
                }
            }
            String[] quantized = {names.uniqueName(name + "_quantized"), names.uniqueName(name + "_scale"),
                    names.uniqueName(name + "_zero_point")};
            if (shifted) {
                long[] scaleDims = new long[filter.rank() - 1];
                Arrays.fill(scaleDims, 1);
                scaleDims[0] = outputs;
                graph.putInitializer(Tensor.uint8s(quantized[0], filter.dims(), q));
                graph.putInitializer(Tensor.floats(quantized[1], scaleDims, scales));
                graph.putInitializer(Tensor.uint8s(quantized[2], new long[0], new byte[] {(byte) 128}));
            } else {
                long[] paramDims = byChannel ? new long[] {channels} : new long[0];
                graph.putInitializer(Tensor.int8s(quantized[0], filter.dims(), q));
                graph.putInitializer(Tensor.floats(quantized[1], paramDims, scales));
                graph.putInitializer(Tensor.int8s(quantized[2], paramDims, new byte[channels]));
            }
            return quantized;
        });
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

    /** @param axis the output-channel axis of the weight: 1 for a MatMul's [K, N], 0 for a Conv's [M, C, k...] */
    private String dequantizeWeight(String[] weight, int axis) {
        String output = names.uniqueName(weight[0] + "_dequantized");
        Node dq = Node.of("DequantizeLinear", names.uniqueName(weight[0] + "_DequantizeLinear"),
                List.of(weight), List.of(output));
        if (perChannel) {
            dq.set(Attribute.of("axis", axis));
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
        return once(name, transposed ? "^T" : "", (graph, weight) -> {
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
            graph.putInitializer(Tensor.int8s(quantized[0], new long[] {rows, cols}, q));
            graph.putInitializer(Tensor.floats(quantized[1], paramDims, scales));
            graph.putInitializer(Tensor.int8s(quantized[2], paramDims, new byte[channels]));
            return quantized;
        });
    }

    /** An initializer and the rewrite of the graph that holds it. */
    private record Found(DynamicQuantization owner, Tensor tensor) {}

    /**
     * The quantized form ({@code kind}) of initializer {@code name}, made once by {@code quantize} from its value,
     * beside it in the graph that holds it (so every body that can read one can read the other), however many nodes
     * of the model read it.
     */
    private String[] once(String name, String kind, BiFunction<Graph, Tensor, String[]> quantize) {
        Found found = find(name).orElseThrow();
        DynamicQuantization owner = found.owner();
        return owner.quantizedWeights.computeIfAbsent(name + kind, key -> {
            owner.replaced.add(name);
            return quantize.apply(owner.graph, found.tensor());
        });
    }

    /**
     * The initializer {@code name} as this graph sees it: its own, or, in a body that does not define the name
     * itself, one of an enclosing graph.
     */
    private Optional<Found> find(String name) {
        Optional<Tensor> own = graph.initializer(name);
        if (own.isPresent()) {
            return Optional.of(new Found(this, own.get()));
        }
        // the enclosing graphs first: a hash lookup each, where defines() reads every node of this body
        return parent == null ? Optional.empty() : parent.find(name).filter(outer -> !graph.defines(name));
    }
}
