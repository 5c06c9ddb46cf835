package dev.compress.check;

import dev.compress.CompressException;
import dev.compress.graph.DataType;
import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What ONNX Runtime made of a quantized model: the graph it runs after its optimizations, which is what decides the
 * speed, and what says why an INT8 model is slow.
 *
 * <p>QLinearConv runs fastest in the NHWC layout ({@code com.microsoft} domain); ONNX Runtime converts to it (level
 * ALL) only where it can move the Transposes that layout needs through the neighbouring ops, and a Reshape on the
 * channel axis (a channel shuffle) stops them: ShuffleNetV2 keeps 47 of its 56 QLinearConvs in the slower NCHW
 * kernel, with 20 Transposes. Float data starts at float graph inputs and DequantizeLinear outputs and flows through
 * every op except QuantizeLinear and the integer kernels (QLinear*, *Integer); an op reading it runs in float.
 *
 * @param transposes Transpose nodes
 * @param qlinearConvs QLinearConv nodes of either layout
 * @param nchwQlinearConvs of those, the ones in the ONNX (NCHW) domain
 * @param floatOps ops that read float data, by type
 * @param dequantizers DequantizeLinear nodes of activations (not of constants ONNX Runtime folded)
 * @param requantizers of those, the ones feeding nothing but QuantizeLinear (a float round trip to requantize)
 */
public record RuntimeGraph(int transposes, int qlinearConvs, int nchwQlinearConvs, Map<String, Integer> floatOps,
        int dequantizers, int requantizers) {
    /** Ops whose output is never a float tensor, whatever their input. */
    private static final Set<String> NON_FLOAT_OUTPUT = Set.of("Shape", "Size", "ArgMax", "ArgMin", "NonZero");

    /**
     * Opens {@code model} in ONNX Runtime with {@code options}, has it save the graph it optimized, and reads it.
     *
     * @throws CompressException INTERNAL if the optimized graph cannot be written or read back
     */
    public static RuntimeGraph of(OnnxModel model, RuntimeOptions options) {
        Path file = null;
        try {
            file = Files.createTempFile("compress-optimized", ".onnx");
            try (OrtModel session = OrtModel.open(model, options.withOptimizedModelFile(file))) {
                session.inputShapes(); // the graph is optimized, and written, when the session opens
            }
            return of(OnnxModel.load(file).graph());
        } catch (IOException e) {
            throw CompressException.internal("cannot write ONNX Runtime's optimized graph: " + e.getMessage(), e);
        } finally {
            if (file != null) {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException ignored) {
                    // a temporary file left behind is not worth failing the run for
                }
            }
        }
    }

    /** Reads an optimized graph as ONNX Runtime saved it (nodes in topological order). */
    static RuntimeGraph of(Graph graph) {
        Set<String> floats = new HashSet<>();
        for (ValueInfo input : graph.inputs()) {
            if (input.elementType() == DataType.FLOAT) {
                floats.add(input.name());
            }
        }
        Map<String, Integer> floatOps = new TreeMap<>();
        int transposes = 0;
        int qlinearConvs = 0;
        int nchw = 0;
        int dequantizers = 0;
        int requantizers = 0;
        Graph.Index index = graph.index();
        for (Node node : graph.nodes()) {
            String op = node.opType();
            transposes += op.equals("Transpose") ? 1 : 0;
            if (op.equals("QLinearConv")) {
                qlinearConvs++;
                nchw += node.inDefaultDomain() ? 1 : 0;
            }
            if (op.equals("DequantizeLinear")) {
                List<Node> readers = index.consumers(node.output(0));
                dequantizers++;
                requantizers += !readers.isEmpty() && readers.stream().allMatch(r -> r.is("QuantizeLinear")) ? 1 : 0;
                floats.addAll(node.outputs());
                continue;
            }
            boolean integerKernel = op.equals("QuantizeLinear") || op.startsWith("QLinear") || op.endsWith("Integer")
                    || op.equals("DynamicQuantizeLinear");
            if (integerKernel) {
                continue;
            }
            boolean castToFloat = op.equals("Cast") && node.intAttribute("to", -1) == DataType.FLOAT.number();
            if (node.inputs().stream().anyMatch(floats::contains)) {
                floatOps.merge(op, 1, Integer::sum);
                if (!NON_FLOAT_OUTPUT.contains(op) && (!op.equals("Cast") || castToFloat)) {
                    floats.addAll(node.outputs());
                }
            } else if (castToFloat) {
                floats.addAll(node.outputs());
            }
        }
        return new RuntimeGraph(transposes, qlinearConvs, nchw, floatOps, dequantizers, requantizers);
    }

    /** Why this graph may be slow, in a few words, or "" when nothing stands out. */
    public String reasons() {
        List<String> parts = new ArrayList<>();
        if (nchwQlinearConvs > 0) {
            parts.add(nchwQlinearConvs + " of " + qlinearConvs + " QLinearConvs run in ONNX Runtime's slower NCHW"
                    + " kernel, with " + transposes + " Transposes between layouts (a Reshape on the channel axis,"
                    + " e.g. a channel shuffle, stops the NHWC conversion)");
        }
        if (!floatOps.isEmpty()) {
            parts.add("ONNX Runtime runs " + floatOps + " in float, between dequantize and quantize");
        }
        return String.join("; ", parts);
    }
}
