package dev.compress.export;

import dev.compress.graph.Graph;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The operator list ONNX Runtime's reduced builds take ({@code --include_ops_by_config}): one line
 * {@code domain;opset;Op1,Op2} per operator domain, the opset being the model's import of that domain, the default
 * domain written {@code ai.onnx}; ops of If/Loop/Scan bodies included.
 */
public final class RequiredOperators {
    private RequiredOperators() {}

    /** Domain ({@code ai.onnx} for the default one) to the op types the model's graphs use, both sorted. */
    public static Map<String, SortedSet<String>> of(OnnxModel model) {
        Map<String, SortedSet<String>> ops = new TreeMap<>();
        collect(model.graph(), ops);
        return ops;
    }

    private static void collect(Graph graph, Map<String, SortedSet<String>> ops) {
        for (Node node : graph.nodes()) {
            String domain = node.inDefaultDomain() ? "ai.onnx" : node.domain();
            ops.computeIfAbsent(domain, d -> new TreeSet<>()).add(node.opType());
            node.subgraphs().forEach(body -> collect(body, ops));
        }
    }

    /** The config file's text for {@code model}. */
    public static String config(OnnxModel model) {
        StringBuilder text = new StringBuilder(
                "# operators of model.ort, for a reduced ONNX Runtime build (build.sh --include_ops_by_config FILE)\n");
        of(model).forEach((domain, types) -> text.append(domain).append(';')
                .append(model.opset("ai.onnx".equals(domain) ? OnnxModel.DEFAULT_DOMAIN : domain)).append(';')
                .append(String.join(",", types)).append('\n'));
        return text.toString();
    }
}
