package dev.compress.pipeline;

import dev.compress.CompressException;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;

/**
 * The passes that need no settings, found by id through {@link ServiceLoader}: a jar (or a test) adds one by listing
 * its class in {@code META-INF/services/dev.compress.pipeline.ModelPass}, with no change to any other class.
 */
public final class Passes {
    private Passes() {}

    /** Every registered pass by id, sorted. */
    public static Map<String, ModelPass<?>> available() {
        Map<String, ModelPass<?>> byId = new TreeMap<>();
        for (ModelPass<?> pass : ServiceLoader.load(ModelPass.class)) {
            ModelPass<?> other = byId.putIfAbsent(pass.id(), pass);
            if (other != null) {
                throw CompressException.internal("two passes are registered as '" + pass.id() + "': "
                        + other.getClass().getName() + " and " + pass.getClass().getName(), null);
            }
        }
        return byId;
    }

    /**
     * The registered pass {@code id}.
     *
     * @throws CompressException INVALID_SETTINGS naming the passes there are
     */
    public static ModelPass<?> find(String id) {
        Map<String, ModelPass<?>> available = available();
        ModelPass<?> pass = available.get(id);
        if (pass == null) {
            throw CompressException.invalidSettings("no pass '" + id + "'; available: "
                    + (available.isEmpty() ? "none" : String.join(", ", available.keySet())));
        }
        return pass;
    }
}
