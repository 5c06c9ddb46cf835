package dev.compress.cli;

import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.ModelPass;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.PassResult;
import dev.compress.pipeline.Provenance;
import java.util.Map;

/**
 * A pass written the way a new step is added: this class and one line in
 * {@code META-INF/services/dev.compress.pipeline.ModelPass}, no other class touched. It removes the nodes' doc
 * strings (exporters put source locations there).
 */
public final class StripDocStrings implements ModelPass<StripDocStrings.Report> {
    /** How many doc strings were removed. */
    public record Report(int stripped) {}

    @Override
    public String id() {
        return "strip-doc-strings";
    }

    @Override
    public PassResult<Report> apply(OnnxModel model, PassContext context) {
        OnnxModel copy = model.copy();
        int[] stripped = {0};
        copy.graph().nodes().forEach(node -> {
            stripped[0] += node.docString().isEmpty() ? 0 : 1;
            node.setDocString("");
        });
        return new PassResult<>(copy, new Report(stripped[0]),
                new Provenance("compress.strip-doc-strings", Map.of("stripped", stripped[0])));
    }
}
