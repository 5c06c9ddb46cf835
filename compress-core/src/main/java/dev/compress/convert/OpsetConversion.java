package dev.compress.convert;

import dev.compress.CompressException;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.RankPropagation;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import dev.compress.pipeline.ModelPass;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Provenance;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Moves a model's default-domain opset up, from 6 or later to 13 by default (or to a later one): each node either
 * keeps its form, because its operator did not change in between or changed only in ways that keep its meaning
 * ({@link OperatorVersions}), or is rewritten by an adapter ({@link Adapters}): attributes that became inputs,
 * Upsample to Resize, the Softmax axis change at 13, opset 7's implicit broadcasting. Subgraph bodies are converted
 * too; other domains are left alone.
 *
 * <pre>{@code
 * OnnxModel at13 = Pipeline.of(OpsetConversion.builder().build()).run(model, context).model();
 * }</pre>
 */
public final class OpsetConversion implements ModelPass<OpsetConversionReport> {
    public static final long DEFAULT_TARGET = 13;
    /**
     * Opset 6 removed the {@code consumed_inputs} attributes of opsets 1-5; from 6 on each change has an adapter
     * (opset 7's implicit broadcasting among them).
     */
    public static final long OLDEST_SOURCE = 6;
    static final String PROVENANCE = "compress.opsetConversion";

    private final long target;

    private OpsetConversion(Builder builder) {
        this.target = builder.target;
    }

    /** To opset {@value #DEFAULT_TARGET}; for {@code compress run --pass convert-opset}. */
    public OpsetConversion() {
        this(builder());
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public String id() {
        return "convert-opset";
    }

    public long targetOpset() {
        return target;
    }

    @Override
    public PassResult<OpsetConversionReport> apply(OnnxModel model, PassContext context) {
        OnnxModel converted = model.copy();
        OpsetConversionReport report = convertInPlace(converted);
        if (report.fromOpset() == report.toOpset()) {
            return new PassResult<>(converted, report, null);
        }
        Map<String, Object> rewritten = new LinkedHashMap<>();
        report.rewritten().forEach(r -> rewritten.put(r.op() + ": " + r.adapter(), r.nodes()));
        Map<String, Object> entries = new LinkedHashMap<>();
        entries.put("from", report.fromOpset());
        entries.put("to", report.toOpset());
        entries.put("rewritten", rewritten);
        return new PassResult<>(converted, report, new Provenance(PROVENANCE, entries));
    }

    /**
     * Converts {@code model} itself, for callers that already work on their own copy; {@link #apply} is this on a
     * copy. A model already at the target opset is left as it is.
     *
     * @throws CompressException BAD_INPUT naming the first node that cannot be converted (the model is then
     *     unchanged); INVALID_SETTINGS if the model's opset is above the target
     */
    public OpsetConversionReport convertInPlace(OnnxModel model) {
        long from = model.opset(OnnxModel.DEFAULT_DOMAIN);
        Graph graph = model.graph();
        if (from > target) {
            throw CompressException.invalidSettings(model.displayName() + " is at opset " + from
                    + ", above the target opset " + target + " (only upgrades are done)");
        }
        if (from < OLDEST_SOURCE) {
            throw CompressException.badInput(model.source().orElse(null), "cannot convert opset " + from
                    + " to opset " + target + ": models before opset " + OLDEST_SOURCE + " are not supported");
        }
        Conversion conversion = new Conversion(graph, from, target,
                from < 7 || from < 13 && target >= 13 ? ranks(model) : Map.of());
        List<Node> nodes;
        try {
            nodes = conversion.nodes(graph.nodes());
        } catch (Conversion.Unconvertible e) {
            throw CompressException.badInput(model.source().orElse(null), e.getMessage());
        }
        graph.nodes().clear();
        graph.nodes().addAll(nodes);
        conversion.initializers().values().forEach(graph::putInitializer);
        if (from != target) {
            model.setOpset(OnnxModel.DEFAULT_DOMAIN, target);
            model.raiseIrVersion(irVersion(target));
        }
        return conversion.report(model.displayName());
    }

    /**
     * Ranks of the inputs whose adapters need them: Softmax, LogSoftmax and Hardmax (a missing rank only costs the
     * adapter's longer form), and before opset 7 the binary ops broadcasting along an axis and PRelu. From the
     * shapes the model records, else (before opset 7) carried forward through the graph, else from ONNX Runtime's
     * inference on the unconverted model.
     */
    private Map<String, Integer> ranks(OnnxModel model) {
        Graph graph = model.graph();
        long from = model.opset(OnnxModel.DEFAULT_DOMAIN);
        Set<String> needed = new LinkedHashSet<>();
        for (Node node : graph.nodes()) {
            if (!node.inDefaultDomain()) {
                continue;
            }
            if (Set.of("Softmax", "LogSoftmax", "Hardmax").contains(node.opType())) {
                needed.add(node.input(0));
            } else if (from < 7 && node.inputs().size() == 2
                    && (node.is("PRelu") || node.attribute("axis").isPresent()
                            && node.intAttribute("broadcast", 0) != 0)) {
                needed.addAll(node.inputs());
            }
        }
        Map<String, Integer> ranks = new HashMap<>();
        for (String tensor : needed) {
            Tensor initializer = graph.initializers().get(tensor);
            if (initializer != null) {
                ranks.put(tensor, initializer.rank());
            }
            graph.valueInfo(tensor).filter(ValueInfo::isTensor).flatMap(ValueInfo::shape)
                    .ifPresent(shape -> ranks.put(tensor, shape.size()));
        }
        needed.removeAll(ranks.keySet());
        if (from < 7 && !needed.isEmpty()) {
            Map<String, Integer> carried = RankPropagation.ranks(graph);
            needed.stream().filter(carried::containsKey).forEach(t -> ranks.put(t, carried.get(t)));
            needed.removeAll(ranks.keySet());
        }
        if (!needed.isEmpty()) {
            try (OrtModel probe = OrtModel.open(model.withExtraOutputs(needed), RuntimeOptions.defaults())) {
                probe.outputShapes().forEach((name, shape) -> {
                    if (needed.contains(name) && shape.length > 0) { // rank 0: ONNX Runtime did not infer it
                        ranks.put(name, shape.length);
                    }
                });
            } catch (CompressException e) {
                // ONNX Runtime cannot load the model as it is: the adapter then takes the form that needs no rank
            }
        }
        return ranks;
    }

    /** The IR version each opset needs at least (onnx.helper.VERSION_TABLE). */
    static long irVersion(long opset) {
        long[][] table = {{25, 13}, {24, 12}, {23, 11}, {21, 10}, {19, 9}, {15, 8}, {12, 7}, {11, 6}, {10, 5},
            {9, 4}, {7, 3}};
        for (long[] row : table) {
            if (opset >= row[0]) {
                return row[1];
            }
        }
        return 3;
    }

    public static final class Builder {
        private long target = DEFAULT_TARGET;

        private Builder() {}

        /**
         * The opset to reach, {@value #DEFAULT_TARGET} by default (where DequantizeLinear gains per-channel scales).
         */
        public Builder optTargetOpset(long target) {
            if (target <= OLDEST_SOURCE || target > OperatorVersions.MAX_OPSET) {
                throw CompressException.invalidSettings("target opset " + target + " is not between "
                        + (OLDEST_SOURCE + 1) + " and " + OperatorVersions.MAX_OPSET);
            }
            this.target = target;
            return this;
        }

        public OpsetConversion build() {
            return new OpsetConversion(this);
        }
    }
}
