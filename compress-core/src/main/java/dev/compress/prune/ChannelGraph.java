package dev.compress.prune;

import dev.compress.CompressException;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import dev.compress.graph.ValueInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.IntStream;

/**
 * Which output channels of which layers can be removed, and which must go together.
 *
 * <p>Every output channel of a prunable layer is an <em>atom</em>. Walking the graph in order, each tensor that
 * carries such channels gets a layout: the atom of each of its channels. Relu, Clip, pooling and
 * BatchNormalization keep the layout; Flatten (and Reshape to {@code [0, -1]}) turns it into features, channel-major;
 * Concat joins layouts; an elementwise Add (Sub, Mul, Max, ...) of two laid-out tensors ties their channels
 * pairwise, so the tied atoms form one class that is removed jointly or not at all. A laid-out tensor read by
 * anything else (a graph output, an op whose channel mapping is not exact) pins its atoms: they stay.
 */
final class ChannelGraph {
    /** Where a layout's channels are. */
    enum Kind {
        /** axis 1 of a tensor of rank 3 or more (Conv output) */
        CHANNELS,
        /** axis 1 of a 2-D tensor (Gemm output, flattened channels) */
        FEATURES,
        /** the last axis of a tensor of unknown rank (MatMul output) */
        LAST
    }

    /**
     * The atoms of a tensor's channels; feature {@code f} belongs to {@code atoms[f / repeat]}. {@code repeat} is 0
     * after a Flatten of channels until a consumer's weight tells the spatial size.
     */
    record Layout(int[] atoms, Kind kind, long repeat) {}

    private static final Set<String> UNARY = Set.of("Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid",
            "HardSwish", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Identity", "Dropout", "Neg", "Abs", "Erf",
            "Gelu", "Mish", "ThresholdedRelu");
    private static final Set<String> POOLS = Set.of("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
            "LpPool", "GlobalLpPool");
    private static final Set<String> ELEMENTWISE = Set.of("Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean");

    private final OnnxModel model;
    private final Graph graph;
    private final Map<Node, Layer> producers = new IdentityHashMap<>();
    private final Map<Layer, Integer> firstAtom = new IdentityHashMap<>();
    private final List<Layer> atomOwner = new ArrayList<>();
    private final List<Integer> parent = new ArrayList<>();
    private final Set<Integer> pinned = new HashSet<>();
    private final Map<String, Layout> layouts = new LinkedHashMap<>();
    private final Map<Layer, Layout> inputs = new IdentityHashMap<>();
    private final Map<Node, Layout> normalizations = new IdentityHashMap<>();

    private ChannelGraph(OnnxModel model) {
        this.model = model;
        this.graph = model.graph();
    }

    static ChannelGraph analyze(OnnxModel model, List<Layer> layers, Set<Layer> excluded) {
        ChannelGraph g = new ChannelGraph(model);
        for (Layer layer : layers) {
            if (layer.node().opType().equals("Conv") && layer.node().intAttribute("group", 1) != 1) {
                continue; // grouped channels do not map one to one
            }
            if (layer.node().opType().equals("Gemm") && layer.node().intAttribute("transA", 0) != 0) {
                continue;
            }
            g.producers.put(layer.node(), layer);
            g.firstAtom.put(layer, g.parent.size());
            for (long c = 0; c < layer.dims()[layer.outAxis()]; c++) {
                g.atomOwner.add(layer);
                g.parent.add(g.parent.size());
            }
        }
        g.walk();
        for (Layer layer : excluded) {
            if (g.isProducer(layer)) {
                g.pin(g.outputLayout(layer));
            }
        }
        return g;
    }

    boolean isProducer(Layer layer) {
        return firstAtom.containsKey(layer);
    }

    private Layout outputLayout(Layer layer) {
        int first = firstAtom.get(layer);
        int[] atoms = new int[(int) layer.dims()[layer.outAxis()]];
        Arrays.setAll(atoms, i -> first + i);
        Kind kind = switch (layer.node().opType()) {
            case "Conv" -> Kind.CHANNELS;
            case "Gemm" -> Kind.FEATURES;
            default -> Kind.LAST;
        };
        return new Layout(atoms, kind, 1);
    }

    private void walk() {
        for (Node node : graph.nodes()) {
            Layer layer = producers.get(node);
            if (layer != null) {
                consume(layer, node.input(0));
                Layout out = outputLayout(layer);
                if (!biasFits(layer)) {
                    pin(out);
                }
                layouts.put(node.output(0), out);
                continue;
            }
            Layout in = node.inputs().size() > 0 ? layouts.get(node.input(0)) : null;
            String op = node.opType();
            if (UNARY.contains(op) && in != null && extraInputsAreNotLaidOut(node, 1)) {
                propagate(node, in);
            } else if (POOLS.contains(op) && in != null && in.kind() == Kind.CHANNELS) {
                propagate(node, in);
            } else if (op.equals("BatchNormalization") && in != null && in.repeat() == 1
                    && in.kind() != Kind.LAST && normalizationParamsFit(node, in)) {
                normalizations.put(node, in);
                propagate(node, in);
            } else if ((op.equals("Flatten") && node.intAttribute("axis", 1) == 1 || isFlatteningReshape(node))
                    && in != null && in.kind() != Kind.LAST) {
                layouts.put(node.output(0), new Layout(in.atoms(), Kind.FEATURES,
                        in.kind() == Kind.CHANNELS ? 0 : in.repeat()));
                pinOtherOutputs(node, 1);
            } else if (ELEMENTWISE.contains(op)) {
                elementwise(node);
            } else if (op.equals("Concat")) {
                concat(node);
            } else {
                pinInputs(node);
            }
        }
        for (ValueInfo output : graph.outputs()) {
            pin(layouts.get(output.name()));
        }
    }

    /** A producer reading a laid-out tensor: its input channels follow that layout, or the layout is pinned. */
    private void consume(Layer layer, String input) {
        Layout in = layouts.get(input);
        if (in == null) {
            return;
        }
        long features = layer.dims()[layer.inAxis()];
        boolean kindFits = switch (layer.node().opType()) {
            case "Conv" -> in.kind() == Kind.CHANNELS && in.repeat() == 1;
            case "Gemm" -> in.kind() == Kind.FEATURES;
            default -> in.kind() != Kind.CHANNELS;
        };
        long repeat = in.repeat() == 0 && features % in.atoms().length == 0
                ? features / in.atoms().length : in.repeat();
        if (kindFits && repeat > 0 && repeat * in.atoms().length == features) {
            inputs.put(layer, new Layout(in.atoms(), in.kind(), repeat));
        } else {
            pin(in);
        }
    }

    private boolean biasFits(Layer layer) {
        String bias = layer.node().input(2);
        if (bias.isEmpty()) {
            return true;
        }
        Tensor tensor = graph.initializers().get(bias);
        if (tensor == null || !tensor.isFloat()) {
            return false;
        }
        long n = tensor.elementCount();
        long[] dims = tensor.dims();
        boolean lastAxis = dims.length > 0 && dims[dims.length - 1] == n;
        return n == 1 && !layer.node().opType().equals("Conv") || n == layer.dims()[layer.outAxis()] && lastAxis;
    }

    private boolean normalizationParamsFit(Node node, Layout in) {
        if (node.inputs().size() < 5) {
            return false;
        }
        for (int i = 1; i <= 4; i++) {
            Tensor t = graph.initializers().get(node.input(i));
            if (t == null || !t.isFloat() || t.rank() != 1 || t.dim(0) != in.atoms().length) {
                return false;
            }
        }
        return true;
    }

    private boolean isFlatteningReshape(Node node) {
        if (!node.opType().equals("Reshape") || node.inputs().size() < 2) {
            return false;
        }
        Tensor shape = graph.initializers().get(node.input(1));
        if (shape == null || shape.dataType() != DataType.INT64 || shape.elementCount() != 2) {
            return false;
        }
        long[] values = shape.longs();
        return values[0] == 0 && values[1] == -1;
    }

    /** Inputs after {@code from} (Clip bounds, Dropout ratio) must not carry channels themselves. */
    private boolean extraInputsAreNotLaidOut(Node node, int from) {
        for (int i = from; i < node.inputs().size(); i++) {
            if (layouts.containsKey(node.input(i))) {
                return false;
            }
        }
        return true;
    }

    private void propagate(Node node, Layout in) {
        layouts.put(node.output(0), in);
        pinOtherOutputs(node, 1);
    }

    /** Extra outputs (MaxPool indices, Dropout mask) map channels in ways not followed here: pin if used. */
    private void pinOtherOutputs(Node node, int from) {
        for (int i = from; i < node.outputs().size(); i++) {
            if (!node.output(i).isEmpty() && !graph.consumers(node.output(i)).isEmpty()) {
                pin(layouts.get(node.input(0)));
            }
        }
    }

    private void elementwise(Node node) {
        List<Layout> laidOut = new ArrayList<>();
        boolean foreign = false;
        for (String input : node.inputs()) {
            Layout l = layouts.get(input);
            if (l != null) {
                laidOut.add(l);
            } else if (!isScalarConstant(input)) {
                foreign = true;
            }
        }
        if (laidOut.isEmpty()) {
            return;
        }
        Layout first = laidOut.get(0);
        boolean aligned = !foreign && laidOut.stream().allMatch(l -> l.kind() == first.kind()
                && l.repeat() == 1 && first.repeat() == 1 && l.atoms().length == first.atoms().length);
        if (!aligned) {
            laidOut.forEach(this::pin);
            return;
        }
        for (Layout l : laidOut.subList(1, laidOut.size())) {
            for (int c = 0; c < first.atoms().length; c++) {
                union(first.atoms()[c], l.atoms()[c]);
            }
        }
        layouts.put(node.output(0), first);
    }

    private boolean isScalarConstant(String tensor) {
        Tensor init = graph.initializers().get(tensor);
        if (init != null) {
            return init.elementCount() == 1;
        }
        return graph.producer(tensor).map(p -> p.opType().equals("Constant")
                && p.attribute("value").map(a -> a.tensor().elementCount() == 1).orElse(false))
                .orElse(false);
    }

    private void concat(Node node) {
        long axis = node.intAttribute("axis", 1);
        List<Layout> laidOut = new ArrayList<>();
        boolean fits = true;
        for (String input : node.inputs()) {
            Layout l = layouts.get(input);
            if (l == null) {
                fits = false;
            } else {
                laidOut.add(l);
            }
        }
        if (laidOut.isEmpty()) {
            return;
        }
        Kind kind = laidOut.get(0).kind();
        boolean axisFits = switch (kind) {
            case CHANNELS -> axis == 1;
            case FEATURES -> axis == 1 || axis == -1;
            case LAST -> axis == -1;
        };
        fits &= axisFits && laidOut.stream().allMatch(l -> l.kind() == kind && l.repeat() == 1);
        if (!fits) {
            laidOut.forEach(this::pin);
            return;
        }
        int[] joined = laidOut.stream().flatMapToInt(l -> Arrays.stream(l.atoms())).toArray();
        layouts.put(node.output(0), new Layout(joined, kind, 1));
    }

    private void pinInputs(Node node) {
        for (String input : node.inputs()) {
            pin(layouts.get(input));
        }
    }

    private void pin(Layout layout) {
        if (layout != null) {
            for (int atom : layout.atoms()) {
                pinned.add(atom);
            }
        }
    }

    private int find(int atom) {
        int root = atom;
        while (parent.get(root) != root) {
            root = parent.get(root);
        }
        while (parent.get(atom) != root) {
            int next = parent.get(atom);
            parent.set(atom, root);
            atom = next;
        }
        return root;
    }

    private void union(int a, int b) {
        int ra = find(a);
        int rb = find(b);
        if (ra != rb) {
            parent.set(Math.max(ra, rb), Math.min(ra, rb));
        }
    }

    /** Atoms by class root, in atom order; and which roots are pinned. */
    private Map<Integer, List<Integer>> classes() {
        Map<Integer, List<Integer>> classes = new TreeMap<>();
        for (int atom = 0; atom < parent.size(); atom++) {
            classes.computeIfAbsent(find(atom), k -> new ArrayList<>()).add(atom);
        }
        return classes;
    }

    private Set<Integer> pinnedRoots() {
        Set<Integer> roots = new HashSet<>();
        for (int atom : pinned) {
            roots.add(find(atom));
        }
        return roots;
    }

    /**
     * The channels to remove: in each group of tied layers, the requested fraction (the smallest over the group's
     * layers) of its free classes, those with the smallest L1 norm summed over the tied channels. Every layer keeps
     * at least one channel.
     */
    Map<Layer, int[]> choose(Map<Layer, Double> requested) {
        Map<Integer, List<Integer>> classes = classes();
        Set<Integer> pinnedRoots = pinnedRoots();
        Map<Layer, float[]> norms = new IdentityHashMap<>();
        for (Layer layer : firstAtom.keySet()) {
            norms.put(layer, channelNorms(layer));
        }
        // groups: layers connected through shared classes
        Map<Layer, Layer> groupOf = new IdentityHashMap<>();
        for (List<Integer> atoms : classes.values()) {
            Layer head = group(groupOf, atomOwner.get(atoms.get(0)));
            for (int atom : atoms) {
                Layer other = group(groupOf, atomOwner.get(atom));
                if (other != head) {
                    groupOf.put(other, head);
                }
            }
        }
        Map<Layer, List<Integer>> rootsByGroup = new LinkedHashMap<>();
        for (int root : classes.keySet()) {
            rootsByGroup.computeIfAbsent(group(groupOf, atomOwner.get(root)), k -> new ArrayList<>()).add(root);
        }
        Map<Layer, Integer> kept = new IdentityHashMap<>();
        firstAtom.keySet().forEach(l -> kept.put(l, (int) l.dims()[l.outAxis()]));
        Set<Integer> removedAtoms = new HashSet<>();
        for (List<Integer> roots : rootsByGroup.values()) {
            List<Integer> free = roots.stream().filter(r -> !pinnedRoots.contains(r)).toList();
            double sparsity = Double.POSITIVE_INFINITY;
            for (int root : roots) {
                for (int atom : classes.get(root)) {
                    sparsity = Math.min(sparsity, requested.getOrDefault(atomOwner.get(atom), 0.0));
                }
            }
            int goal = (int) Math.floor(sparsity * free.size() + 1e-9);
            Map<Integer, Double> score = new HashMap<>();
            for (int root : free) {
                double sum = 0;
                for (int atom : classes.get(root)) {
                    Layer owner = atomOwner.get(atom);
                    sum += norms.get(owner)[atom - firstAtom.get(owner)];
                }
                score.put(root, sum);
            }
            List<Integer> order = new ArrayList<>(free);
            order.sort(Comparator.<Integer>comparingDouble(score::get).thenComparingInt(r -> r));
            int done = 0;
            for (int root : order) {
                if (done == goal) {
                    break;
                }
                Map<Layer, Integer> loss = new IdentityHashMap<>();
                for (int atom : classes.get(root)) {
                    loss.merge(atomOwner.get(atom), 1, Integer::sum);
                }
                if (loss.entrySet().stream().allMatch(e -> kept.get(e.getKey()) > e.getValue())) {
                    loss.forEach((l, n) -> kept.merge(l, -n, Integer::sum));
                    removedAtoms.addAll(classes.get(root));
                    done++;
                }
            }
        }
        Map<Layer, int[]> removed = new LinkedHashMap<>();
        for (Layer layer : firstAtom.keySet()) {
            int first = firstAtom.get(layer);
            removed.put(layer, IntStream.range(0, (int) layer.dims()[layer.outAxis()])
                    .filter(c -> removedAtoms.contains(first + c)).toArray());
        }
        return removed;
    }

    private static Layer group(Map<Layer, Layer> groupOf, Layer layer) {
        Layer head = layer;
        while (groupOf.containsKey(head)) {
            head = groupOf.get(head);
        }
        return head;
    }

    /** L1 norm of each output channel's weights. */
    private float[] channelNorms(Layer layer) {
        float[] w = graph.initializers().get(layer.weight()).floats();
        long[] dims = layer.dims();
        int d0 = (int) dims[0];
        int d1 = (int) dims[1];
        int inner = (int) (w.length / ((long) d0 * d1));
        float[] norms = new float[(int) dims[layer.outAxis()]];
        for (int i = 0; i < w.length; i++) {
            int row = i / (d1 * inner);
            int col = (i / inner) % d1;
            norms[layer.outAxis() == 0 ? row : col] += Math.abs(w[i]);
        }
        return norms;
    }

    /**
     * Checks re-applied removals: tied channels removed together, pinned ones kept, no layer emptied.
     *
     * @throws CompressException BAD_INPUT naming the mask file otherwise
     */
    void checkConsistent(Map<Layer, int[]> removed, Path source) {
        Set<Integer> gone = new HashSet<>();
        for (Map.Entry<Layer, int[]> entry : removed.entrySet()) {
            Layer layer = entry.getKey();
            if (!isProducer(layer)) {
                if (entry.getValue().length > 0) {
                    throw CompressException.badInput(source, "removes channels of " + layer.name()
                            + ", whose channels cannot be removed in " + model.displayName());
                }
                continue;
            }
            if (entry.getValue().length >= layer.dims()[layer.outAxis()]) {
                throw CompressException.badInput(source, "removes every channel of " + layer.name());
            }
            for (int c : entry.getValue()) {
                gone.add(firstAtom.get(layer) + c);
            }
        }
        Set<Integer> pinnedRoots = pinnedRoots();
        for (Map.Entry<Integer, List<Integer>> cls : classes().entrySet()) {
            long count = cls.getValue().stream().filter(gone::contains).count();
            if (count == 0) {
                continue;
            }
            int atom = cls.getValue().get(0);
            String channel = "channel " + (atom - firstAtom.get(atomOwner.get(atom))) + " of "
                    + atomOwner.get(atom).name();
            if (pinnedRoots.contains(cls.getKey())) {
                throw CompressException.badInput(source, "removes " + channel + ", which must stay in "
                        + model.displayName() + " (it reaches an output or an op whose channels cannot shrink)");
            }
            if (count != cls.getValue().size()) {
                int kept = cls.getValue().stream().filter(a -> !gone.contains(a)).findFirst().orElseThrow();
                throw CompressException.badInput(source, "removes " + channel + " but not channel "
                        + (kept - firstAtom.get(atomOwner.get(kept))) + " of " + atomOwner.get(kept).name()
                        + ", which a residual Add or Concat ties to it");
            }
        }
    }

    boolean[] removedAtoms(Map<Layer, int[]> removed) {
        boolean[] gone = new boolean[parent.size()];
        removed.forEach((layer, channels) -> {
            if (isProducer(layer)) {
                for (int c : channels) {
                    gone[firstAtom.get(layer) + c] = true;
                }
            }
        });
        return gone;
    }

    int[] keptOutputs(Layer layer, boolean[] gone) {
        int first = firstAtom.get(layer);
        return IntStream.range(0, (int) layer.dims()[layer.outAxis()])
                .filter(c -> !gone[first + c]).toArray();
    }

    /** The input features {@code layer} keeps, or null when its input carries no prunable channels. */
    int[] keptInputs(Layer layer, boolean[] gone) {
        Layout in = inputs.get(layer);
        if (in == null) {
            return null;
        }
        return kept(in, gone);
    }

    /** The input tensor of each layer that loses input features. */
    Map<Layer, String> shrunkInputs(boolean[] gone) {
        Map<Layer, String> shrunk = new LinkedHashMap<>();
        inputs.forEach((layer, layout) -> {
            if (kept(layout, gone).length < layout.atoms().length * layout.repeat()) {
                shrunk.put(layer, layer.node().input(0));
            }
        });
        return shrunk;
    }

    /** Kept channels of each BatchNormalization whose input shrinks. */
    Map<Node, int[]> keptNormalized(boolean[] gone) {
        Map<Node, int[]> kept = new LinkedHashMap<>();
        normalizations.forEach((node, layout) -> {
            int[] k = kept(layout, gone);
            if (k.length < layout.atoms().length) {
                kept.put(node, k);
            }
        });
        return kept;
    }

    private static int[] kept(Layout layout, boolean[] gone) {
        int n = (int) (layout.atoms().length * layout.repeat());
        int[] kept = new int[n];
        int count = 0;
        for (int f = 0; f < n; f++) {
            if (!gone[layout.atoms()[(int) (f / layout.repeat())]]) {
                kept[count++] = f;
            }
        }
        return Arrays.copyOf(kept, count);
    }

    /** Tensors whose shape pruning may change. */
    Set<String> tensorsWithLayout() {
        return layouts.keySet();
    }
}
