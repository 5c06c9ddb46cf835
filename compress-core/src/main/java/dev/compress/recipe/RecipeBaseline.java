package dev.compress.recipe;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A recipe's {@code baseline}: the figures of an earlier run that gates with {@code against: baseline} compare with,
 * e.g. the main branch's run in CI, so that a change is gated against what was accepted before and not only against
 * the fp32 model. Three forms:
 *
 * <ul>
 *   <li>a run folder's {@code run.json}: every check's report by name, and the eval checks' per-sample predictions,
 *       so accuracy is compared sample by sample (paired);
 *   <li>an eval report ({@code compress eval --report}, or a run's {@code NN-eval.json}): top-1 counts only;
 *   <li>a quantize report ({@code compress quantize --report}): its evaluation, fidelity, latency and size.
 * </ul>
 */
final class RecipeBaseline {
    private final Path file;
    private final String form;
    private final String sha256;
    private final Map<String, CheckFigures> byName;
    private final List<CheckFigures> all;
    private final Long modelBytes;

    private RecipeBaseline(Path file, String form, String sha256, Map<String, CheckFigures> byName,
            List<CheckFigures> all, Long modelBytes) {
        this.file = file;
        this.form = form;
        this.sha256 = sha256;
        this.byName = byName;
        this.all = all;
        this.modelBytes = modelBytes;
    }

    /**
     * Reads {@code file}.
     *
     * @throws CompressException BAD_INPUT naming the file if it is none of the three forms, or a run's artifact is
     *     missing or changed since that run
     */
    static RecipeBaseline load(Path file) {
        JsonNode root;
        try {
            root = Json.readStrict(file);
        } catch (IOException e) {
            throw CompressException.badInput(file, Files.exists(file) ? "is not JSON (" + firstLine(e) + ")"
                    : "does not exist");
        }
        String sha = RecipeRun.sha256(file);
        Map<String, CheckFigures> byName = new LinkedHashMap<>();
        List<CheckFigures> all = new ArrayList<>();
        if (root.has("tool") && root.path("steps").isArray()) {
            Path folder = file.toAbsolutePath().getParent();
            Long lastModel = null;
            for (JsonNode entry : root.get("steps")) {
                if ("pass".equals(entry.path("kind").asText())) {
                    // the last step's model, while the run folder still holds it unchanged
                    lastModel = null;
                    for (Iterator<Map.Entry<String, JsonNode>> it = entry.path("artifacts").fields(); it.hasNext(); ) {
                        Map.Entry<String, JsonNode> artifact = it.next();
                        Path model = folder.resolve(artifact.getKey());
                        if (artifact.getKey().endsWith(".onnx") && Files.isRegularFile(model)
                                && RecipeRun.sha256(model).equals(artifact.getValue().asText())) {
                            lastModel = RecipeRun.modelBytes(model);
                        }
                    }
                }
                if (!"check".equals(entry.path("kind").asText())) {
                    continue;
                }
                String name = entry.path("name").asText();
                Path report = null;
                Path predictions = null;
                for (Iterator<Map.Entry<String, JsonNode>> it = entry.path("artifacts").fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> artifact = it.next();
                    Path path = folder.resolve(artifact.getKey());
                    if (artifact.getKey().endsWith(RecipeRun.PREDICTIONS)) {
                        predictions = intact(path, artifact.getValue().asText());
                    } else if (artifact.getKey().endsWith("-" + name + ".json")) {
                        report = path;
                    }
                }
                if (report == null) {
                    continue;
                }
                String expected = entry.path("artifacts").path(report.getFileName().toString()).asText();
                JsonNode node = read(intact(report, expected));
                String kind = CheckFigures.kindOf(node);
                if (kind != null) {
                    CheckFigures figures = CheckFigures.of(kind, report, node,
                            predictions == null ? null : CheckReports.Predictions.read(predictions));
                    byName.put(name, figures);
                    all.add(figures);
                }
            }
            return new RecipeBaseline(file, "run", sha, byName, all, lastModel);
        }
        if (root.has("quantization")) {
            for (String[] part : new String[][] {{"evaluation", "eval"}, {"fidelity", "fidelity"},
                {"latency", "latency"}, {"size", "size"}}) {
                if (root.hasNonNull(part[0])) {
                    all.add(CheckFigures.of(part[1], file, root.get(part[0]), null));
                }
            }
            return new RecipeBaseline(file, "quantize report", sha, byName, all, null);
        }
        if ("eval".equals(CheckFigures.kindOf(root))) {
            all.add(CheckFigures.of("eval", file, root, null));
            return new RecipeBaseline(file, "eval report", sha, byName, all, null);
        }
        throw CompressException.badInput(file, "is neither a run's run.json, an eval report nor a quantize report");
    }

    private static Path intact(Path artifact, String expected) {
        if (!Files.isRegularFile(artifact)) {
            throw CompressException.badInput(artifact, "is missing; the baseline run.json lists it");
        }
        if (!RecipeRun.sha256(artifact).equals(expected)) {
            throw CompressException.badInput(artifact, "changed since the baseline run (its SHA-256 is not the one"
                    + " run.json records)");
        }
        return artifact;
    }

    private static JsonNode read(Path file) {
        try {
            return Json.readStrict(file);
        } catch (IOException e) {
            throw CompressException.badInput(file, "is not JSON (" + firstLine(e) + ")");
        }
    }

    private static String firstLine(Exception e) {
        String message = String.valueOf(e.getMessage());
        return message.lines().findFirst().orElse(message);
    }

    Path file() {
        return file;
    }

    /** {@code run}, {@code eval report} or {@code quantize report}. */
    String form() {
        return form;
    }

    /** The baseline file's SHA-256; for a run it covers every artifact, which are checked against it. */
    String sha256() {
        return sha256;
    }

    /** Bytes of a baseline run's last model, while its run folder holds it unchanged. */
    Optional<Long> modelBytes() {
        return Optional.ofNullable(modelBytes);
    }

    /**
     * The figures of check {@code name} of kind {@code kind}: for a run, its check of that name, else its only check
     * of that kind; for a single command's report, its part of that kind.
     */
    Optional<CheckFigures> figures(String name, String kind) {
        CheckFigures named = byName.get(name);
        if (named != null && named.kind().equals(kind)) {
            return Optional.of(named);
        }
        List<CheckFigures> ofKind = all.stream().filter(f -> f.kind().equals(kind)).toList();
        return ofKind.size() == 1 ? Optional.of(ofKind.get(0)) : Optional.empty();
    }
}
