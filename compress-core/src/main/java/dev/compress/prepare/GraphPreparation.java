package dev.compress.prepare;

import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.pipeline.ModelPass;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Provenance;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Makes an exported graph quantizable, as ONNX Runtime's {@code quant_pre_process} does: removes Identity and
 * inference Dropout, folds constants and static shapes, removes zero Pads or moves them into the Conv or AveragePool
 * after them, folds BatchNormalization and per-channel scales and shifts into the layer before them, deduplicates
 * equal initializers and removes what nobody reads. The outputs stay the same within float rounding; graph input and
 * output names never change. See docs/prepare.md.
 */
public final class GraphPreparation implements ModelPass<PreparationReport> {
    public static final String ID = "prepare";
    static final String PROVENANCE = "compress.preparation";

    public GraphPreparation() {}

    @Override
    public String id() {
        return ID;
    }

    @Override
    public PassResult<PreparationReport> apply(OnnxModel model, PassContext context) {
        OnnxModel prepared = model.copy();
        Graph graph = prepared.graph();
        int nodesBefore = graph.nodes().size();
        Set<String> initializersBefore = new HashSet<>(graph.initializers().keySet());
        List<PreparationReport.Left> left = new ArrayList<>();

        int[] passThrough = PassThroughRemoval.apply(graph, left);
        int[] folded = ConstantFolding.apply(prepared, left);
        int pads = PadFolding.apply(graph, left); // after folding: the pads are initializers then
        List<PreparationReport.Left> unfolded = new ArrayList<>();
        int batchNorms = AffineFolding.batchNorms(graph, unfolded);
        int affines = AffineFolding.channelAffines(graph);
        // a bias Add between a layer and its BatchNormalization (PP-OCR det's ConvTranspose, Add, BatchNormalization)
        // went into the bias: the BatchNormalization follows the layer now, and a scale after it may fold in turn
        for (int more = affines; more > 0; ) {
            unfolded.clear();
            int norms = AffineFolding.batchNorms(graph, unfolded);
            batchNorms += norms;
            more = norms == 0 ? 0 : AffineFolding.channelAffines(graph);
            affines += more;
        }
        left.addAll(unfolded);
        int deadNodes = folded[3] + removeDeadNodes(graph);
        int unusedInitializers = removeUnusedInitializers(graph, initializersBefore);
        // hoisted first, so that a copy equal to one of the main graph's initializers merges with it next
        int duplicates = hoistSharedInitializers(graph);
        duplicates += deduplicateInitializers(graph);

        PreparationReport report = new PreparationReport(model.displayName(), nodesBefore, graph.nodes().size(),
                passThrough[0], passThrough[1], pads, folded[0], folded[1], folded[2], batchNorms, affines, duplicates,
                deadNodes,
                unusedInitializers, left);
        if (!report.changed()) {
            // nothing rewritten: the input itself, not a re-serialization of intermediate edits
            return new PassResult<>(model.copy(), report, null);
        }
        removeStaleValueInfos(graph);
        return new PassResult<>(prepared, report, new Provenance(PROVENANCE, new LinkedHashMap<>(report.counts())));
    }

    static PreparationReport.Left left(Node node, String reason) {
        return new PreparationReport.Left(node.describe(), node.opType(), reason);
    }

    /** Whether {@code tensor} is a declared graph input (an initializer listed there can be overridden). */
    static boolean isGraphInput(Graph graph, String tensor) {
        return graph.declaredInputs().stream().anyMatch(input -> input.name().equals(tensor));
    }

    static boolean isGraphOutput(Graph graph, String tensor) {
        return graph.outputs().stream().anyMatch(output -> output.name().equals(tensor));
    }

    /** Initializers equal in type, dims and data to an earlier one are read under the earlier one's name. */
    private static int deduplicateInitializers(Graph graph) {
        Map<Tensor, String> first = new HashMap<>();
        Map<String, String> renames = new HashMap<>();
        for (Tensor tensor : graph.initializers().values()) {
            String name = tensor.name();
            if (isGraphInput(graph, name) || isGraphOutput(graph, name)) {
                continue;
            }
            String kept = first.putIfAbsent(tensor.unnamed(), name);
            if (kept != null) {
                renames.put(name, kept);
            }
        }
        graph.initializers().keySet().removeAll(renames.keySet());
        graph.replaceUses(renames);
        return renames.size();
    }

    /** Initializers smaller than this stay in their bodies: exporters repeat small constants (axes) in every one. */
    static final long MIN_HOISTED_ELEMENTS = 1024;

    /**
     * Initializers equal in type, dims and data in two or more bodies of one graph's nodes move to that graph once,
     * read by the bodies under a fresh name: silero VAD v5 folds the same LSTM weights into both branches of an If.
     * Innermost first, so a value shared at several depths rises to where every reader sees it.
     *
     * @return the copies removed
     */
    static int hoistSharedInitializers(Graph graph) {
        int hoisted = 0;
        Map<Tensor, List<Map.Entry<Graph, String>>> copies = new LinkedHashMap<>();
        for (Node node : graph.nodes()) {
            for (Graph body : node.subgraphs()) {
                hoisted += hoistSharedInitializers(body);
                for (Tensor tensor : body.initializers().values()) {
                    if (tensor.elementCount() >= MIN_HOISTED_ELEMENTS && !isGraphInput(body, tensor.name())
                            && !isGraphOutput(body, tensor.name())) {
                        copies.computeIfAbsent(tensor.unnamed(), t -> new ArrayList<>())
                                .add(Map.entry(body, tensor.name()));
                    }
                }
            }
        }
        for (Map.Entry<Tensor, List<Map.Entry<Graph, String>>> group : copies.entrySet()) {
            List<Map.Entry<Graph, String>> readers = group.getValue();
            if (readers.size() < 2) {
                continue;
            }
            String name = graph.uniqueName(readers.get(0).getValue());
            graph.putInitializer(group.getKey().withName(name));
            for (Map.Entry<Graph, String> copy : readers) {
                copy.getKey().initializers().remove(copy.getValue());
                copy.getKey().replaceUses(copy.getValue(), name);
            }
            hoisted += readers.size() - 1;
        }
        return hoisted;
    }

    /** Removes nodes none of whose outputs is a graph output or read by a remaining node. */
    static int removeDeadNodes(Graph graph) {
        Set<String> graphOutputs = new HashSet<>();
        graph.outputs().forEach(output -> graphOutputs.add(output.name()));
        Graph.Index index = graph.index();
        Set<Node> dead = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Node> nodes = graph.nodes();
        // readers come after their producers, so walking backwards sees every reader's fate first
        for (int i = nodes.size() - 1; i >= 0; i--) {
            Node node = nodes.get(i);
            boolean read = node.outputs().size() == 0 || node.outputs().stream().anyMatch(output ->
                    graphOutputs.contains(output)
                            || index.consumers(output).stream().anyMatch(reader -> !dead.contains(reader)));
            if (!read) {
                dead.add(node);
            }
        }
        nodes.removeIf(dead::contains);
        return dead.size();
    }

    /**
     * Removes initializers no node reads (declared inputs stay: they are part of the interface); counts those the
     * input model had, not intermediate values folding produced.
     */
    private static int removeUnusedInitializers(Graph graph, Set<String> before) {
        Graph.Index index = graph.index();
        int removed = 0;
        for (Iterator<String> names = graph.initializers().keySet().iterator(); names.hasNext(); ) {
            String name = names.next();
            if (index.consumers(name).isEmpty() && !isGraphOutput(graph, name) && !isGraphInput(graph, name)) {
                names.remove();
                removed += before.contains(name) ? 1 : 0;
            }
        }
        return removed;
    }

    /** Drops the recorded shapes of tensors that no longer exist. */
    private static void removeStaleValueInfos(Graph graph) {
        Set<String> present = new HashSet<>(graph.initializers().keySet());
        graph.nodes().forEach(node -> present.addAll(node.outputs()));
        graph.valueInfos().removeIf(info -> !present.contains(info.name()));
    }
}
