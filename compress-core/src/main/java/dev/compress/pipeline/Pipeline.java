package dev.compress.pipeline;

import dev.compress.Json;
import dev.compress.Version;
import dev.compress.graph.OnnxModel;
import java.util.ArrayList;
import java.util.List;

/**
 * Passes run in order, each on the previous one's model; the one place where provenance is written into a model
 * ({@code compress.*} metadata and the producer fields).
 *
 * <pre>{@code
 * PipelineResult result = Pipeline.builder()
 *         .add(new StripDocStrings())
 *         .add(quantizer)
 *         .build()
 *         .run(OnnxModel.load(fp32), PassContext.of(progress));
 * result.model().save(int8);
 * }</pre>
 */
public final class Pipeline {
    private final List<ModelPass<?>> passes;

    private Pipeline(List<ModelPass<?>> passes) {
        this.passes = List.copyOf(passes);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A pipeline of one pass. */
    public static Pipeline of(ModelPass<?> pass) {
        return builder().add(pass).build();
    }

    public List<ModelPass<?>> passes() {
        return passes;
    }

    /** Runs every pass; {@code model} itself is not changed. */
    public PipelineResult run(OnnxModel model, PassContext context) {
        OnnxModel current = model;
        List<PassResult<?>> results = new ArrayList<>();
        for (ModelPass<?> pass : passes) {
            PassResult<?> result = pass.apply(current, context);
            record(result);
            results.add(result);
            current = result.model();
        }
        return new PipelineResult(current, results, context.warnings());
    }

    private static void record(PassResult<?> result) {
        Provenance provenance = result.provenance();
        if (provenance == null) {
            return;
        }
        // the exported model says how it was made, for whoever deploys it
        result.model().setProducer("compress", Version.get());
        result.model().metadata().put(provenance.key(), Json.compact(provenance.entries()));
    }

    /** Adds passes in the order they run. */
    public static final class Builder {
        private final List<ModelPass<?>> passes = new ArrayList<>();

        private Builder() {}

        public Builder add(ModelPass<?> pass) {
            passes.add(pass);
            return this;
        }

        public Pipeline build() {
            if (passes.isEmpty()) {
                throw new IllegalStateException("a pipeline needs at least one pass");
            }
            return new Pipeline(passes);
        }
    }
}
