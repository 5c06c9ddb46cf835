package dev.compress.debug;

import dev.compress.BaseBuilder;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.Progress;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.graph.Clamp;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.pipeline.ModelCheck;
import dev.compress.pipeline.PassContext;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.OrtModel.FloatOutput;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Finds where a quantized model loses fidelity: runs the fp32 model and its INT8 (QDQ) rewrite on the same samples,
 * matches their activations by name and ranks layers by the SQNR of the INT8 activation against fp32 — what ONNX
 * Runtime's {@code qdq_loss_debug} and torch's numeric suite do.
 *
 * <p>Matching across the QDQ rewrite: the rewrite keeps node and tensor names; a quantized activation {@code X}
 * gets {@code X -> QuantizeLinear -> DequantizeLinear -> X'} and consumers read {@code X'}. The INT8 side of
 * {@code X} is therefore {@code X'} when that pair exists (the value the next layer really sees), else {@code X}.
 * A clamp (ReLU, ReLU6's Clip, Max or Min of a constant) folded into its producer makes that producer write the
 * clamp's output name, so the fp32 clamp output is compared with what the folded producer writes, and the layer is
 * the producer. Layer names are node names of the fp32 model, which {@code compress quantize --exclude} accepts.
 *
 * <p>Memory: per tensor only two running sums (signal and noise energy) are kept, whatever the sample count.
 *
 * <pre>{@code
 * LayerReport report = LayerDebugger.builder()
 *         .setFloatModel(OnnxModel.load(fp32))
 *         .setQuantizedModel(OnnxModel.load(int8))
 *         .setData(dataset)
 *         .optSensitivity(calibrationData) // optional: what each --exclude gains
 *         .build()
 *         .run();
 * }</pre>
 */
public final class LayerDebugger implements ModelCheck<LayerReport> {
    private static final Set<String> QDQ_OPS = Set.of("QuantizeLinear", "DequantizeLinear");
    /**
     * Activation bytes fetched from both models per run: bounds what is held at once, native and on the heap. On
     * ConvNeXt-Tiny 224 (16 samples) chunks of 64 layers took the ranking to 1.8 GB peak RSS, chunks of 32 MB to 1.3.
     */
    private static final long BYTES_PER_CHUNK = 32L << 20;
    /** At most this many layers a chunk, for tensors whose size the runtime cannot tell before running. */
    private static final int MAX_LAYERS_PER_CHUNK = 64;

    private final OnnxModel fp32;
    private final OnnxModel int8;
    private final Dataset data;
    private final int batchSize;
    private final Progress progress;
    private final Dataset calibration;
    /** Whether the quantizer widened depthwise channel spaces of the INT8 model (its provenance says so). */
    private final boolean widenedChannels;

    private LayerDebugger(Builder b) {
        this.fp32 = b.fp32;
        this.int8 = b.int8;
        this.widenedChannels = widenedChannels(b.int8);
        this.data = b.data;
        this.batchSize = ModelInputs.batchSize(b, b.fp32, b.data);
        this.progress = b.progress();
        this.calibration = b.calibration;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * One fp32 activation and where its INT8 counterpart is read.
     *
     * @param quantizedTensor the INT8 model's value of {@code tensor}: its DequantizeLinear output, else itself
     * @param folded the clamp whose output the INT8 producer writes, before the QDQ pair that now applies it; null
     *     when {@code tensor} is the producer's own
     */
    /** The integer ops of dynamic rewrites (DynamicQuantization). */
    private static final Set<String> INTEGER_OPS = Set.of("MatMulInteger", "ConvInteger");

    private record Match(String tensor, String quantizedTensor, Node layer, boolean excludable, Clamp folded) {
        boolean hasQdq() {
            return !quantizedTensor.equals(tensor);
        }
    }

    /**
     * Runs both models over the data once.
     *
     * @throws CompressException BAD_INPUT if the data is empty, the models do not share inputs and outputs, or no
     *     activation of the fp32 model is found in the INT8 one (not a QDQ rewrite of it)
     */
    public LayerReport run() {
        return run(PassContext.of(progress));
    }

    @Override
    public String id() {
        return "debug-layers";
    }

    /** Runs with the context's progress instead of the builder's. */
    @Override
    public LayerReport run(PassContext context) {
        if (data.size() == 0) {
            throw CompressException.badInput(data.source(), "has no samples");
        }
        checkSameInterface();
        List<Match> matches = match();
        if (matches.isEmpty()) {
            throw CompressException.badInput(int8.source().orElse(null), "shares no activation names with "
                    + fp32.displayName() + "; it must be a QDQ rewrite of it (e.g. from compress quantize)");
        }
        String output = fp32.graph().outputs().get(0).name();
        Map<String, Energy> energies = new LinkedHashMap<>();
        Map<String, Energy> ownEnergies = new LinkedHashMap<>();
        Energy outputEnergy = new Energy();
        // A few layers' tensors a pass, each pass with sessions that output only those: ONNX Runtime keeps every graph
        // output of a run alive until the run ends. One pair of sessions outputting all ~420 activations of PP-OCRv4
        // rec (48x320, 20 lines, batch 5) took 14.0 GB peak RSS, and ConvNeXt-Tiny's ranking (16 samples, batch 1)
        // 2.3 GB; chunks of 32 MB took the latter to 1.3 GB. The data is read once a pass; per tensor only running
        // sums are kept.
        List<List<Match>> chunks = chunks(matches);
        List<Match> kept = new ArrayList<>();
        for (int c = 0; c < chunks.size(); c++) {
            kept.addAll(compare(chunks.get(c), c == 0 ? output : null, energies, ownEnergies, outputEnergy, context,
                    chunks.size() == 1 ? "compare layers" : "compare layers " + (c + 1) + "/" + chunks.size()));
        }
        matches = kept;
        long samples = data.size();
        List<LayerReport.Layer> layers = new ArrayList<>();
        Set<String> nearZero = nearZero(matches, energies);
        // what a layer reads in the INT8 graph (a DequantizeLinear output, or the tensor itself) -> the fp32 tensor
        Map<String, String> readAs = new HashMap<>();
        matches.forEach(m -> readAs.put(m.quantizedTensor(), m.tensor()));
        LayerReport.Layer growth = null;
        for (Match m : matches) {
            Energy e = energies.get(m.tensor());
            Energy own = ownEnergies.get(m.tensor());
            Double input = nearZero.contains(m.tensor()) ? null : inputSqnr(m.layer(), readAs, energies, nearZero);
            LayerReport.Layer layer = new LayerReport.Layer(m.layer().name(), m.layer().opType(), m.tensor(),
                    m.quantizedTensor(), m.excludable(), e.sqnrDb(), input, own == null ? null : own.sqnrDb(),
                    e.maxAbsError());
            layers.add(layer);
            if (input != null && layer.sqnrDb() != null && input - layer.sqnrDb() >= LayerReport.GROWTH_DB
                    && (growth == null || input - layer.sqnrDb() > growth.inputSqnrDb() - growth.sqnrDb())) {
                growth = layer;
            }
        }
        // worst first, tensors of near-zero signal last; equal SQNR keeps graph order, so the ranking is deterministic
        layers.sort(Comparator.<LayerReport.Layer>comparingInt(l -> nearZero.contains(l.tensor()) ? 1 : 0)
                .thenComparingDouble(LayerDebugger::rankKey));
        LayerReport.ErrorGrowth errorGrowth = growth == null ? null
                : new LayerReport.ErrorGrowth(growth.node(), growth.opType(), growth.excludable(),
                        growth.inputSqnrDb(), growth.sqnrDb(), growth.excludable() ? List.of(growth.node())
                                : weightedLayersBefore(growth.node(), matches));
        LayerReport.Sensitivity sensitivity = calibration == null ? null
                : ExclusionSensitivity.rank(fp32, int8, calibration, data, batchSize, context.progress());
        return new LayerReport(fp32.displayName(), int8.displayName(), data.source().toString(), samples,
                new LayerReport.Output(output, outputEnergy.sqnrDb(), outputEnergy.maxAbsError()), errorGrowth,
                layers, sensitivity);
    }

    /**
     * The lowest SQNR among the compared, not near-zero activations {@code layer} reads in the INT8 graph;
     * {@code null} when there is none or all are exact.
     */
    private static Double inputSqnr(Node layer, Map<String, String> readAs, Map<String, Energy> energies,
            Set<String> nearZero) {
        Double lowest = null;
        for (String input : layer.inputs()) {
            String tensor = readAs.getOrDefault(input, input);
            Energy e = energies.get(tensor);
            Double sqnr = e == null || nearZero.contains(tensor) ? null : e.sqnrDb();
            if (sqnr != null && (lowest == null || sqnr < lowest)) {
                lowest = sqnr;
            }
        }
        return lowest;
    }

    /**
     * The weighted INT8 layers nearest before {@code node} in the fp32 graph, through layers without INT8 weights:
     * keeping those float keeps what {@code node} reads float. Graph order.
     */
    private List<String> weightedLayersBefore(String node, List<Match> matches) {
        Set<String> weighted = new HashSet<>();
        matches.stream().filter(Match::excludable).forEach(m -> weighted.add(m.layer().name()));
        Graph graph = fp32.graph();
        Graph.Index index = graph.index();
        Set<String> found = new HashSet<>();
        Set<String> seen = new HashSet<>();
        List<Node> todo = new ArrayList<>();
        graph.nodes().stream().filter(n -> n.name().equals(node)).findFirst().ifPresent(todo::add);
        while (!todo.isEmpty() && seen.size() < MAX_NODES_BACK) {
            Node n = todo.remove(todo.size() - 1);
            for (String input : n.inputs()) {
                Node producer = index.producer(input).orElse(null);
                if (producer == null || !seen.add(input)) { // by tensor: exporters may leave node names empty
                    continue;
                }
                if (weighted.contains(producer.name())) {
                    found.add(producer.name());
                } else {
                    todo.add(producer);
                }
            }
        }
        return graph.nodes().stream().map(Node::name).filter(found::contains).toList();
    }

    /** How far back {@link #weightedLayersBefore} looks: a log-mel front end has 2 float ops between. */
    private static final int MAX_NODES_BACK = 32;

    /**
     * Consecutive runs of matches whose tensors take at most {@link #BYTES_PER_CHUNK} a batch, as the fp32 session
     * reports their shapes (a dynamic dimension other than the batch counts as 1), and at most
     * {@link #MAX_LAYERS_PER_CHUNK} of them.
     */
    private List<List<Match>> chunks(List<Match> matches) {
        Set<String> tensors = new LinkedHashSet<>();
        matches.forEach(m -> tensors.add(m.tensor()));
        Map<String, long[]> shapes;
        try (OrtModel probe = OrtModel.open(fp32.withExtraOutputs(tensors), RuntimeOptions.defaults())) {
            shapes = probe.outputShapes();
        }
        List<List<Match>> chunks = new ArrayList<>();
        List<Match> chunk = new ArrayList<>();
        long bytes = 0;
        for (Match m : matches) {
            long elements = 1;
            for (long dim : shapes.getOrDefault(m.tensor(), new long[0])) {
                elements *= Math.max(1, dim);
            }
            // fp32, INT8, and INT8 before its QDQ pair
            long own = elements * Float.BYTES * (m.hasQdq() ? 3 : 2) * batchSize;
            if (!chunk.isEmpty() && (bytes + own > BYTES_PER_CHUNK || chunk.size() == MAX_LAYERS_PER_CHUNK)) {
                chunks.add(chunk);
                chunk = new ArrayList<>();
                bytes = 0;
            }
            chunk.add(m);
            bytes += own;
        }
        chunks.add(chunk);
        return chunks;
    }

    /**
     * One pass over the data comparing {@code chunk}'s tensors (and the model output when {@code output} is not
     * null) into the running sums; returns the matches compared (integer tensors have no SQNR and are dropped).
     */
    private List<Match> compare(List<Match> chunk, String output, Map<String, Energy> energies,
            Map<String, Energy> ownEnergies, Energy outputEnergy, PassContext context, String label) {
        Set<String> fp32Fetch = new LinkedHashSet<>();
        Set<String> int8Fetch = new LinkedHashSet<>();
        for (Match m : chunk) {
            fp32Fetch.add(m.tensor());
            int8Fetch.add(m.quantizedTensor());
            if (m.hasQdq()) {
                int8Fetch.add(m.tensor()); // before its own QDQ: isolates this tensor's rounding noise
            }
        }
        if (output != null) {
            fp32Fetch.add(output);
            int8Fetch.add(output);
        }
        try (OrtModel a = OrtModel.open(fp32.withExtraOutputs(fp32Fetch), RuntimeOptions.defaults());
                OrtModel b = OrtModel.open(int8.withExtraOutputs(int8Fetch), RuntimeOptions.defaults())) {
            Set<String> skip = a.nonFloatOutputs();
            Set<String> skipInt8 = b.nonFloatOutputs();
            List<Match> kept = new ArrayList<>();
            Set<String> fromFp32 = new LinkedHashSet<>();
            Set<String> fromInt8 = new LinkedHashSet<>();
            for (Match m : chunk) {
                if (!skip.contains(m.tensor()) && !skipInt8.contains(m.quantizedTensor())
                        && !skipInt8.contains(m.tensor())) {
                    kept.add(m);
                    energies.put(m.tensor(), new Energy());
                    fromFp32.add(m.tensor());
                    fromInt8.add(m.quantizedTensor());
                    if (m.hasQdq()) {
                        ownEnergies.put(m.tensor(), new Energy());
                        fromInt8.add(m.tensor());
                    }
                }
            }
            if (output != null) {
                fromFp32.add(output);
                fromInt8.add(output);
            }
            if (fromFp32.isEmpty()) {
                return kept;
            }
            data.forEachBatch(batchSize, context.progress(), label, batch -> {
                Map<String, FloatOutput> reference = a.run(batch, fromFp32);
                Map<String, FloatOutput> quantized = b.run(batch, fromInt8);
                for (Match m : kept) {
                    FloatOutput fp32Value = reference.get(m.tensor());
                    FloatOutput value = leadingChannels(quantized.get(m.quantizedTensor()), fp32Value.shape());
                    energies.get(m.tensor()).add(checkShape(fp32Value, value, m.tensor()), value);
                    if (m.hasQdq()) {
                        FloatOutput before = leadingChannels(quantized.get(m.tensor()), fp32Value.shape());
                        FloatOutput clampedBefore = m.folded() == null ? before : clamped(before, m.folded());
                        ownEnergies.get(m.tensor()).add(clampedBefore, value);
                    }
                }
                if (output != null) {
                    outputEnergy.add(checkShape(reference.get(output), quantized.get(output), output),
                            quantized.get(output));
                }
            });
            return kept;
        }
    }

    private static boolean widenedChannels(OnnxModel int8) {
        String provenance = int8.metadata().get("compress.quantization");
        try {
            return provenance != null && Json.MAPPER.readTree(provenance).has("channelsWidened");
        } catch (IOException e) {
            return false; // unreadable provenance: compared as any other model
        }
    }

    /**
     * The first channels (axis 1) of {@code value} when it has more of them than {@code shape} and is otherwise the
     * same, in a model whose depthwise channel spaces the quantizer widened with zero filters ({@code
     * ChannelWidths}); else {@code value}.
     */
    private FloatOutput leadingChannels(FloatOutput value, long[] shape) {
        long[] wide = value.shape();
        if (!widenedChannels || wide.length != shape.length || wide.length < 2 || wide[1] <= shape[1]) {
            return value;
        }
        for (int d = 0; d < wide.length; d++) {
            if (d != 1 && wide[d] != shape[d]) {
                return value;
            }
        }
        int inner = 1;
        for (int d = 2; d < wide.length; d++) {
            inner *= (int) wide[d];
        }
        int kept = (int) shape[1] * inner;
        int block = (int) wide[1] * inner;
        float[] values = new float[(int) wide[0] * kept];
        for (int n = 0; n < wide[0]; n++) {
            System.arraycopy(value.values(), n * block, values, n * kept, kept);
        }
        return new FloatOutput(shape, values);
    }

    private FloatOutput checkShape(FloatOutput reference, FloatOutput quantized, String tensor) {
        if (!Arrays.equals(reference.shape(), quantized.shape())) {
            throw CompressException.badInput(int8.source().orElse(null), "tensor '" + tensor + "' has shape "
                    + Arrays.toString(quantized.shape()) + " here but " + Arrays.toString(reference.shape()) + " in "
                    + fp32.displayName() + "; it must be a QDQ rewrite of it");
        }
        return reference;
    }

    /**
     * The clamp a folded producer leaves to its QDQ pair, applied to the value before that pair: without it, the
     * values the pair clips count as its rounding noise (hard-swish's {@code x + 3} before Clip(0, 6) measured 6.7 dB
     * in PP-OCRv4 rec).
     */
    private static FloatOutput clamped(FloatOutput value, Clamp clamp) {
        float[] values = value.values().clone();
        for (int i = 0; i < values.length; i++) {
            values[i] = clamp.apply(values[i]);
        }
        return new FloatOutput(value.shape(), values);
    }

    /**
     * A tensor whose fp32 RMS is below this fraction of an activation it is combined with has no meaningful SQNR:
     * ConvNeXt's LayerNorm channel means are about 1e-6 (a normalized tensor's mean), and their rounding error,
     * harmless where {@code x - mean} is taken, put one at -98.6 dB at the head of the ranking. Such tensors go last;
     * the tensors that read them show what their error does.
     */
    static final double NEAR_ZERO = 1e-3;

    /**
     * The compared tensors that a node combines with another compared activation whose RMS is over 1/{@link
     * #NEAR_ZERO} times theirs. Against the other tensor, not against a typical one: a Log's output (RMS about 10)
     * after a power spectrum (1e8) is small in absolute terms, yet its SQNR is what the model's output gets.
     */
    private Set<String> nearZero(List<Match> matches, Map<String, Energy> energies) {
        Graph.Index index = fp32.graph().index();
        Set<String> nearZero = new HashSet<>();
        for (Match m : matches) {
            double rms = energies.get(m.tensor()).rms();
            for (Node consumer : index.consumers(m.tensor())) {
                if (consumer.inputs().stream().filter(other -> !other.equals(m.tensor())).map(energies::get)
                        .anyMatch(other -> other != null && rms < NEAR_ZERO * other.rms())) {
                    nearZero.add(m.tensor());
                    break;
                }
            }
        }
        return nearZero;
    }

    private static double rankKey(LayerReport.Layer layer) {
        return layer.sqnrDb() == null ? Double.POSITIVE_INFINITY : layer.sqnrDb();
    }

    private void checkSameInterface() {
        List<String> fp32Inputs = fp32.graph().inputs().stream().map(ValueInfo::name).toList();
        List<String> int8Inputs = int8.graph().inputs().stream().map(ValueInfo::name).toList();
        if (!fp32Inputs.equals(int8Inputs)) {
            throw CompressException.badInput(int8.source().orElse(null), "takes inputs " + int8Inputs + " but "
                    + fp32.displayName() + " takes " + fp32Inputs + "; it must be a quantized copy of it");
        }
        String fp32Output = fp32.graph().outputs().get(0).name();
        if (int8.graph().outputs().stream().noneMatch(o -> o.name().equals(fp32Output))) {
            throw CompressException.badInput(int8.source().orElse(null), "has no output '" + fp32Output + "' of "
                    + fp32.displayName() + "; it must be a quantized copy of it");
        }
    }

    /** The fp32 activations found in the INT8 graph, in fp32 graph order. */
    private List<Match> match() {
        Graph quantizedGraph = int8.graph();
        Graph.Index index = quantizedGraph.index();
        Set<String> graphOutputs = new HashSet<>();
        fp32.graph().outputs().forEach(o -> graphOutputs.add(o.name()));
        List<Match> matches = new ArrayList<>();
        for (Node node : fp32.graph().nodes()) {
            for (String tensor : node.outputs()) {
                if (tensor.isEmpty() || graphOutputs.contains(tensor)) {
                    continue; // the model output is reported on its own
                }
                Node producer = index.producer(tensor).orElse(null);
                if (producer == null || QDQ_OPS.contains(producer.opType()) || producer.name().isEmpty()) {
                    continue;
                }
                Clamp folded = producer.opType().equals(node.opType()) ? null
                        : Clamp.of(fp32.graph(), node).orElse(null);
                matches.add(new Match(tensor, dequantized(quantizedGraph, index, tensor), producer,
                        readsQuantizedWeight(quantizedGraph, index, producer), folded));
            }
        }
        return matches;
    }

    /**
     * {@code tensor}'s QuantizeLinear -> DequantizeLinear output, or {@code tensor} itself without that pair. Only a
     * DequantizeLinear with the QuantizeLinear's own scale and zero point dequantizes {@code tensor}: one with other
     * parameters stands for a later tensor (a Mul or Div by a constant folded into its scale, such as PP-OCRv4's
     * hard-swish {@code x * Clip(x + 3, 0, 6) / 6 * 0.0235}), and comparing it with {@code tensor} ranked those
     * layers at 0 dB.
     */
    private static String dequantized(Graph graph, Graph.Index index, String tensor) {
        for (Node q : index.consumers(tensor)) {
            if (q.opType().equals("QuantizeLinear") && q.input(0).equals(tensor)) {
                for (Node dq : index.consumers(q.output(0))) {
                    if (dq.opType().equals("DequantizeLinear") && dq.input(0).equals(q.output(0))
                            && sameParameter(graph, q, dq, 1) && sameParameter(graph, q, dq, 2)) {
                        return dq.output(0);
                    }
                }
            }
        }
        return tensor;
    }

    /** Whether input {@code slot} (scale or zero point) of the two nodes holds the same value, or is absent in both. */
    private static boolean sameParameter(Graph graph, Node q, Node dq, int slot) {
        String a = slot < q.inputs().size() ? q.input(slot) : "";
        String b = slot < dq.inputs().size() ? dq.input(slot) : "";
        if (a.equals(b)) {
            return true;
        }
        var x = graph.initializer(a);
        var y = graph.initializer(b);
        return x.isPresent() && y.isPresent() && x.get().unnamed().equals(y.get().unnamed());
    }

    /**
     * Whether the node reads an INT8 weight (a DequantizeLinear of an initializer): only then does excluding it
     * change the model. Elementwise and pooling ops follow the quantization of their neighbours' outputs.
     */
    private static boolean readsQuantizedWeight(Graph graph, Graph.Index index, Node node) {
        for (String input : node.inputs()) {
            Node producer = index.producer(input).orElse(null);
            if (producer != null && producer.opType().equals("DequantizeLinear")
                    && graph.initializer(producer.input(0)).isPresent()) {
                return true;
            }
        }
        return endsDynamicRewrite(graph, index, node);
    }

    /**
     * Whether {@code node} is the last of a dynamic rewrite, which carries the layer's name and output:
     * {@code MatMulInteger or ConvInteger (constant weight) -> Cast -> Mul}, then for a bias an Add of a constant; or
     * a DynamicQuantizeLSTM.
     */
    private static boolean endsDynamicRewrite(Graph graph, Graph.Index index, Node node) {
        if (node.opType().equals("DynamicQuantizeLSTM")) { // one node, named as the LSTM it replaces
            return node.inputs().size() > 1 && graph.initializer(node.input(1)).isPresent();
        }
        if (node.opType().equals("Add") && node.inputs().size() == 2) {
            int constant = graph.initializer(node.input(1)).isPresent() ? 1
                    : graph.initializer(node.input(0)).isPresent() ? 0 : -1;
            Node rescale = constant < 0 ? null : index.producer(node.input(1 - constant)).orElse(null);
            return rescale != null && rescale.opType().equals("Mul") && endsDynamicRewrite(graph, index, rescale);
        }
        if (!node.opType().equals("Mul")) {
            return false;
        }
        for (String input : node.inputs()) {
            Node cast = index.producer(input).filter(p -> p.opType().equals("Cast")).orElse(null);
            Node integer = cast == null ? null : index.producer(cast.input(0))
                    .filter(p -> INTEGER_OPS.contains(p.opType()) && p.inputs().size() > 1).orElse(null);
            if (integer != null && graph.initializer(integer.input(1)).isPresent()) {
                return true;
            }
        }
        return false;
    }

    /** Signal and noise energy of one tensor over all samples. */
    private static final class Energy {
        private double signal;
        private double noise;
        private double maxAbsError;
        private long count;

        void add(FloatOutput reference, FloatOutput quantized) {
            float[] x = reference.values();
            float[] y = quantized.values();
            count += x.length;
            for (int i = 0; i < x.length; i++) {
                double diff = (double) x[i] - y[i];
                signal += (double) x[i] * x[i];
                noise += diff * diff;
                maxAbsError = Math.max(maxAbsError, Math.abs(diff));
            }
        }

        /** 10·log10(signal / noise); {@code null} when the INT8 values are exact (no noise). */
        Double sqnrDb() {
            if (noise == 0) {
                return null;
            }
            return 10 * Math.log10(signal / noise);
        }

        double maxAbsError() {
            return maxAbsError;
        }

        /** Root mean square of the fp32 values. */
        double rms() {
            return count == 0 ? 0 : Math.sqrt(signal / count);
        }
    }

    /** Configures a {@link LayerDebugger}: {@code set*} are required, {@code opt*} optional. */
    public static final class Builder extends BaseBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }

        private OnnxModel fp32;
        private OnnxModel int8;
        private Dataset data;
        private Dataset calibration;

        private Builder() {}

        /** The fp32 model the INT8 one was quantized from. */
        public Builder setFloatModel(OnnxModel fp32) {
            this.fp32 = Objects.requireNonNull(fp32, "fp32");
            return this;
        }

        /** The QDQ model (e.g. written by {@code compress quantize}). */
        public Builder setQuantizedModel(OnnxModel int8) {
            this.int8 = Objects.requireNonNull(int8, "int8");
            return this;
        }

        /** Samples for both models; labels are not needed. */
        public Builder setData(Dataset data) {
            this.data = Objects.requireNonNull(data, "data");
            return this;
        }



        /**
         * Also ranks the weighted layers by what excluding each really gains at the output
         * ({@link LayerReport#sensitivity()}): the fp32 model is re-quantized once per layer with the INT8 model's
         * recorded settings (its {@code compress.quantization} metadata, so it must come from {@code compress
         * quantize}) and ranges from one calibration pass over {@code calibration}, which should be the data the INT8
         * model was calibrated on. Costs one model run per layer and sample.
         */
        public Builder optSensitivity(Dataset calibration) {
            this.calibration = Objects.requireNonNull(calibration, "calibration");
            return this;
        }

        /** @throws IllegalStateException if a model or the data is not set */
        public LayerDebugger build() {
            if (fp32 == null || int8 == null || data == null) {
                throw new IllegalStateException("setFloatModel, setQuantizedModel and setData are required");
            }
            return new LayerDebugger(this);
        }
    }
}
