package dev.compress.recipe;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.exc.InvalidTypeIdException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.compress.CompressException;
import dev.compress.calibrate.CalibrationMethod;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.convert.OpsetConversion;
import dev.compress.data.Preprocessing;
import dev.compress.export.Budget;
import dev.compress.quantize.ActivationType;
import dev.compress.quantize.DynamicFormat;
import dev.compress.quantize.Quantizer;
import dev.compress.torch.TorchScriptModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A recipe read from a YAML or JSON file and checked before anything runs: every problem is one line naming the file
 * and the line ({@code recipe.yaml:12: ...}); settings problems are INVALID_SETTINGS (exit 2), missing files
 * BAD_INPUT (exit 3).
 *
 * @param file the recipe file
 * @param recipe the recipe with every default filled in
 */
public record RecipeFile(Path file, Recipe recipe) {
    // YAML is a superset of JSON, so one parser reads both
    private static final YAMLMapper READER = YAMLMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .build();
    private static final YAMLMapper WRITER = YAMLMapper.builder()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .disable(YAMLGenerator.Feature.USE_NATIVE_TYPE_ID)
            .build();

    /** The step kinds, as recipes name them in {@code pass}. */
    private static final String PASSES = kinds(Recipe.Step.class);
    /** The check kinds, as recipes name them in {@code check}. */
    private static final String CHECKS = kinds(Recipe.Check.class);

    private static String kinds(Class<?> type) {
        return Arrays.stream(type.getAnnotation(JsonSubTypes.class).value()).map(JsonSubTypes.Type::name)
                .collect(Collectors.joining(", "));
    }

    /**
     * Reads and checks {@code file}.
     *
     * @throws CompressException INVALID_SETTINGS or BAD_INPUT, message {@code FILE:LINE: problem}
     */
    public static RecipeFile load(Path file) {
        return load(file, null);
    }

    /**
     * Reads and checks {@code file}, with {@code baseline} (e.g. {@code compress run --baseline}, relative to the
     * working folder) in place of the recipe's own; {@code null} keeps the recipe's.
     *
     * @throws CompressException INVALID_SETTINGS or BAD_INPUT, message {@code FILE:LINE: problem}; BAD_INPUT naming
     *     {@code baseline} when it is missing or not a baseline
     */
    public static RecipeFile load(Path file, Path baseline) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw CompressException.badInput(file, Files.exists(file) ? "cannot read (" + e.getMessage() + ")"
                    : "recipe file not found");
        }
        Lines lines = Lines.of(file, text);
        Recipe read;
        try {
            read = READER.readValue(text, Recipe.class);
        } catch (UnrecognizedPropertyException e) {
            // the parser's location is past the object when a kind key ('pass', 'check') made it buffer the object
            throw lines.invalid(pointer(e.getPath()), describe(e));
        } catch (JsonProcessingException e) {
            throw lines.invalid(e.getLocation(), describe(e));
        }
        if (read == null) {
            throw lines.invalid("", "empty recipe");
        }
        if (baseline != null) {
            RecipeBaseline.load(baseline); // its own errors name the file given
            read = new Recipe(read.model(), read.teacher(), baseline.toAbsolutePath().normalize().toString(), read.data(),
                    read.steps(), read.checks(), read.gates(), read.report());
        }
        new Checker(file, lines).check(read);
        return new RecipeFile(file, read.withDefaults());
    }

    /** The recipe with its defaults, as YAML, for {@code --explain}. */
    public String explain() {
        return yaml(recipe);
    }

    /** {@code recipe} as YAML, in the form {@link #load} reads (e.g. a single command's one-step recipe). */
    public static String yaml(Recipe recipe) {
        try {
            return WRITER.writeValueAsString(recipe);
        } catch (JsonProcessingException e) {
            throw CompressException.internal("cannot write the recipe", e);
        }
    }

    /** A path of the recipe, relative to the recipe's folder. */
    public Path resolve(String path) {
        return resolve(file, path);
    }

    private static Path resolve(Path file, String path) {
        return file.toAbsolutePath().getParent().resolve(path).normalize();
    }

    private static String describe(JsonProcessingException e) {
        String where = e instanceof JsonMappingException m ? path(m.getPath()) : "";
        String prefix = where.isEmpty() ? "" : where + ": ";
        if (e instanceof UnrecognizedPropertyException u) {
            return "unknown key '" + u.getPropertyName() + "'" + (where.contains(".") ? " in "
                    + where.substring(0, where.lastIndexOf('.')) : "") + " (known: " + u.getKnownPropertyIds()
                    .stream().map(String::valueOf).sorted().collect(Collectors.joining(", ")) + ")";
        }
        if (e instanceof InvalidTypeIdException t) {
            boolean check = where.startsWith("checks");
            String property = check ? "check" : "pass";
            String kinds = check ? CHECKS : PASSES;
            return t.getTypeId() == null ? prefix + "missing '" + property + "' (one of " + kinds + ")"
                    : prefix + "unknown " + property + " '" + t.getTypeId() + "' (one of " + kinds + ")";
        }
        if (e instanceof MismatchedInputException m && m.getTargetType() != null) {
            Matcher found = FOUND.matcher(e.getOriginalMessage());
            return prefix + "expected " + kind(m.getTargetType()) + (found.find()
                    ? ", got " + (found.group(1) != null ? "'" + found.group(1) + "'" : found.group(2).toLowerCase(
                            Locale.ROOT)) : "");
        }
        // YAML syntax: the parser's own first line says what is wrong
        String message = e.getOriginalMessage().lines().findFirst().orElse("malformed");
        int cut = message.indexOf(" at [Source");
        return prefix + (cut > 0 ? message.substring(0, cut) : message);
    }

    // what Jackson says it found: a string's text, or the kind of token
    private static final Pattern FOUND = Pattern.compile("String value \\(\"([^\"]*)\"\\)|from (\\w+) value");

    private static String kind(Class<?> type) {
        if (Number.class.isAssignableFrom(type)) {
            return "a number";
        }
        if (type == Boolean.class) {
            return "true or false";
        }
        if (type == String.class) {
            return "text";
        }
        return List.class.isAssignableFrom(type) ? "a list" : "a mapping (key: value lines)";
    }

    /** The JSON pointer of a mapping exception's path, e.g. {@code /checks/0/temperature}. */
    private static String pointer(List<JsonMappingException.Reference> references) {
        StringBuilder pointer = new StringBuilder();
        for (JsonMappingException.Reference reference : references) {
            pointer.append('/').append(reference.getFieldName() != null
                    ? reference.getFieldName().replace("~", "~0").replace("/", "~1") : reference.getIndex());
        }
        return pointer.toString();
    }

    private static String path(List<JsonMappingException.Reference> references) {
        StringBuilder path = new StringBuilder();
        for (JsonMappingException.Reference reference : references) {
            if (reference.getFieldName() != null) {
                path.append(path.length() == 0 ? "" : ".").append(reference.getFieldName());
            } else if (reference.getIndex() >= 0) {
                path.append('[').append(reference.getIndex()).append(']');
            }
        }
        return path.toString();
    }


    /** Line of every key and value of the file, by JSON pointer, so checks after parsing can name a line. */
    private record Lines(Path file, Map<String, Integer> byPointer) {
        static Lines of(Path file, String text) {
            Map<String, Integer> lines = new HashMap<>();
            try (JsonParser parser = new YAMLFactory().createParser(text)) {
                for (JsonToken token = parser.nextToken(); token != null; token = parser.nextToken()) {
                    // at a key (or an array element's start) the context's pointer is that key's (element's) path
                    String pointer = token == JsonToken.START_OBJECT || token == JsonToken.START_ARRAY
                            ? parser.getParsingContext().getParent().pathAsPointer().toString()
                            : parser.getParsingContext().pathAsPointer().toString();
                    lines.putIfAbsent(pointer, parser.currentTokenLocation().getLineNr());
                }
            } catch (IOException e) {
                // malformed YAML: the full parse reports it with its location
            }
            return new Lines(file, lines);
        }

        int line(String pointer) {
            for (String p = pointer; ; p = p.substring(0, p.lastIndexOf('/'))) {
                Integer line = byPointer.get(p);
                if (line != null) {
                    return line;
                }
                if (p.isEmpty()) {
                    return 1;
                }
            }
        }

        CompressException invalid(String pointer, String problem) {
            return CompressException.invalidSettings(file + ":" + line(pointer) + ": " + problem);
        }

        CompressException invalid(JsonLocation location, String problem) {
            int line = location == null || location.getLineNr() < 1 ? 1 : location.getLineNr();
            return CompressException.invalidSettings(file + ":" + line + ": " + problem);
        }

        CompressException notFound(String pointer, String problem) {
            return CompressException.badInput(file + ":" + line(pointer) + ": " + problem);
        }
    }

    /** Checks that need the whole recipe: required fields, names, values, files, gates against checks. */
    private record Checker(Path file, Lines lines) {
        void check(Recipe recipe) {
            if (recipe.model() == null) {
                throw lines.invalid("", "missing 'model' (the source .onnx model)");
            }
            existing("/model", recipe.model(), "model");
            if (TorchScriptModel.isTorchScriptName(Path.of(recipe.model()))) {
                throw lines.invalid("/model", "model " + recipe.model() + " is a TorchScript checkpoint; steps rewrite"
                        + " ONNX: give its ONNX export (torch.onnx.export) as 'model' and the checkpoint as 'teacher',"
                        + " which score checks run (docs/recipes.md)");
            }
            if (recipe.teacher() != null) {
                existing("/teacher", recipe.teacher(), "teacher");
            }
            Recipe.Data data = recipe.data();
            if (data != null) {
                if (data.calibration() != null) {
                    existing("/data/calibration", data.calibration(), "calibration data");
                }
                if (data.evaluation() != null) {
                    existing("/data/evaluation", data.evaluation(), "evaluation data");
                }
                if (data.labels() != null) {
                    existing("/data/labels", data.labels(), "labels file");
                }
                if (data.preprocessing() != null) {
                    preprocessing(data.preprocessing());
                }
            }
            if (recipe.steps() == null || recipe.steps().isEmpty()) {
                throw lines.invalid("/steps", "no 'steps': a recipe rewrites the model at least once");
            }
            Set<String> names = new HashSet<>();
            for (int i = 0; i < recipe.steps().size(); i++) {
                Recipe.Step step = recipe.steps().get(i);
                name("/steps/" + i, step.name(), names);
                step("/steps/" + i, step, data);
                if (step instanceof Recipe.Export export) {
                    export("/steps/" + i, export, i == recipe.steps().size() - 1);
                }
            }
            Map<String, Recipe.Check> checks = new HashMap<>();
            List<Recipe.Check> checkList = recipe.checks() == null ? List.of() : recipe.checks();
            for (int i = 0; i < checkList.size(); i++) {
                Recipe.Check check = checkList.get(i);
                String at = "/checks/" + i;
                name(at, check.name(), names);
                check(at, check, recipe);
                checks.put(check.name(), check);
            }
            RecipeBaseline baseline = null;
            if (recipe.baseline() != null) {
                existing("/baseline", recipe.baseline(), "baseline");
                try {
                    baseline = RecipeBaseline.load(resolve(file, recipe.baseline()));
                } catch (CompressException e) {
                    throw lines.notFound("/baseline", "baseline " + e.getMessage());
                }
            }
            for (int i = 0; i < recipe.steps().size(); i++) {
                if (recipe.steps().get(i) instanceof Recipe.Export export && export.metrics() != null
                        && !(checks.get(export.metrics()) instanceof Recipe.Eval)) {
                    List<String> evals = checkList.stream().filter(c -> c instanceof Recipe.Eval)
                            .map(Recipe.Check::name).toList();
                    throw lines.invalid("/steps/" + i + "/metrics", "no eval check named '" + export.metrics()
                            + "' (eval checks: " + (evals.isEmpty() ? "none" : String.join(", ", evals)) + ")");
                }
            }
            List<Recipe.Gate> gates = recipe.gates() == null ? List.of() : recipe.gates();
            for (int i = 0; i < gates.size(); i++) {
                gate("/gates/" + i, gates.get(i), checks, names, baseline);
            }
            if (recipe.report() != null && recipe.report().classNames() != null) {
                existing("/report/classNames", recipe.report().classNames(), "class names file");
            }
        }

        private void check(String at, Recipe.Check check, Recipe recipe) {
            Recipe.Data data = recipe.data();
            boolean evaluation = data != null && data.evaluation() != null;
            String kind = RecipeRun.kind(check);
            if (check instanceof Recipe.Eval || check instanceof Recipe.PruneScan) {
                if (!evaluation) {
                    throw lines.invalid(at, kind + " check '" + check.name()
                            + "' needs data.evaluation (labeled samples)");
                }
            }
            String which = check instanceof Recipe.Fidelity f ? f.data() : check instanceof Recipe.Latency l
                    ? l.data() : check instanceof Recipe.Debug d ? d.data() : check instanceof Recipe.Score c
                    ? c.data() : null;
            if (which != null && !which.equals("calibration") && !which.equals("evaluation")) {
                throw lines.invalid(at + "/data", "data must be calibration or evaluation, got '" + which + "'");
            }
            if (check instanceof Recipe.Fidelity || check instanceof Recipe.Latency || check instanceof Recipe.Debug
                    || check instanceof Recipe.Score) {
                boolean has = which == null ? data != null && (data.calibration() != null || evaluation)
                        : data != null
                                && ("calibration".equals(which) ? data.calibration() : data.evaluation()) != null;
                if (!has) {
                    throw lines.invalid(at, kind + " check '" + check.name() + "' needs data."
                            + (which == null ? "calibration or data.evaluation" : which));
                }
            }
            if (check instanceof Recipe.Fidelity f && f.samples() != null && f.samples() < 1) {
                throw lines.invalid(at + "/samples", "samples must be at least 1, got " + f.samples());
            }
            if (check instanceof Recipe.Latency l) {
                if (l.seconds() != null && !(l.seconds() > 0 && l.seconds() < 3600)) {
                    throw lines.invalid(at + "/seconds", "seconds must be in (0, 3600), got " + l.seconds());
                }
                if (l.threads() != null && (l.threads() < 1 || l.threads() > 256)) {
                    throw lines.invalid(at + "/threads", "threads must be in [1, 256], got " + l.threads());
                }
            }
            if (check instanceof Recipe.Debug d) {
                if (recipe.steps().stream().noneMatch(s -> s instanceof Recipe.QuantizeStatic
                        || s instanceof Recipe.QuantizeDynamic)) {
                    throw lines.invalid(at, "debug check '" + d.name() + "' compares INT8 with fp32 layers; the"
                            + " recipe has no quantize step");
                }
                if (d.samples() != null && d.samples() < 1) {
                    throw lines.invalid(at + "/samples", "samples must be at least 1, got " + d.samples());
                }
                if (d.histograms() != null && (d.histograms() < 0 || d.histograms() > 32)) {
                    throw lines.invalid(at + "/histograms", "histograms must be in [0, 32], got " + d.histograms());
                }
            }
            if (check instanceof Recipe.Score score) {
                if (score.student() != null && !List.of("last", "source").contains(score.student())) {
                    throw lines.invalid(at + "/student", "student must be last or source, got '" + score.student()
                            + "'");
                }
                if ("source".equals(score.student()) && recipe.teacher() == null) {
                    throw lines.invalid(at + "/student", "score check '" + score.name() + "' would compare the"
                            + " source model with itself: give the recipe a 'teacher'");
                }
                if (score.outputs() != null && !List.of("logits", "embedding").contains(score.outputs())) {
                    throw lines.invalid(at + "/outputs", "outputs must be logits or embedding, got '"
                            + score.outputs() + "'");
                }
                if (score.temperatures() != null && (score.temperatures().isEmpty() || score.temperatures().stream()
                        .anyMatch(t -> t == null || !(t > 0) || Double.isInfinite(t)))) {
                    throw lines.invalid(at + "/temperatures", "temperatures must be numbers > 0, at least one");
                }
            }
            if (check instanceof Recipe.PruneScan scan) {
                boolean found = recipe.steps().stream().anyMatch(s -> s instanceof Recipe.Prune
                        && (scan.step() == null || s.name().equals(scan.step())));
                if (!found) {
                    throw lines.invalid(at + (scan.step() == null ? "" : "/step"), scan.step() == null
                            ? "prune-scan check '" + scan.name() + "' needs a prune step"
                            : "no prune step named '" + scan.step() + "'");
                }
                if (scan.sparsities() != null && scan.sparsities().stream()
                        .anyMatch(v -> v == null || !(v >= 0 && v < 1))) {
                    throw lines.invalid(at + "/sparsities", "sparsities must be in [0, 1)");
                }
            }
        }

        private void name(String at, String name, Set<String> names) {
            if (name == null || name.isBlank()) {
                throw lines.invalid(at, "missing 'name'");
            }
            if (!name.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
                throw lines.invalid(at + "/name", "name '" + name
                        + "' must be letters, digits, '.', '_' or '-' (it names files in the run folder)");
            }
            if (!names.add(name)) {
                throw lines.invalid(at + "/name", "duplicate name '" + name + "'");
            }
        }

        private void step(String at, Recipe.Step step, Recipe.Data data) {
            if (step instanceof Recipe.Prune prune) {
                if (prune.sparsity() == null) {
                    throw lines.invalid(at, "prune step '" + prune.name() + "' needs 'sparsity' (0 to 1)");
                }
                if (!(prune.sparsity() >= 0 && prune.sparsity() < 1)) {
                    throw lines.invalid(at + "/sparsity", "sparsity must be in [0, 1), got " + prune.sparsity());
                }
                if (prune.scope() != null && !List.of("per-layer", "global").contains(prune.scope())) {
                    throw lines.invalid(at + "/scope", "unknown scope '" + prune.scope() + "' (per-layer or global)");
                }
                if (Boolean.TRUE.equals(prune.structured()) && (data == null || data.calibration() == null)) {
                    throw lines.invalid(at, "structured pruning needs data.calibration");
                }
            } else if (step instanceof Recipe.QuantizeStatic quantize) {
                if (data == null || data.calibration() == null) {
                    throw lines.invalid(at, "quantize-static step '" + quantize.name() + "' needs data.calibration");
                }
                parse(at + "/method", () -> CalibrationMethod.parse(quantize.method()), quantize.method());
                parse(at + "/activations", () -> ActivationType.parse(quantize.activations()),
                        quantize.activations());
                Recipe.QuantizeStatic full = (Recipe.QuantizeStatic) quantize.withDefaults();
                parse(at, () -> new CalibrationSettings(CalibrationMethod.parse(full.method()), full.percentile(),
                        full.bins(), 0, Map.of()), "");
                if (full.maxSamples() < 0 || full.histogramSamples() < 0) {
                    throw lines.invalid(at, "maxSamples and histogramSamples must be >= 0");
                }
                parse(at + "/latencyFallback", () -> Quantizer.builder().optLatencyFallback(full.latencyFallback()),
                        String.valueOf(full.latencyFallback()));
            } else if (step instanceof Recipe.QuantizeDynamic quantize) {
                parse(at + "/format", () -> DynamicFormat.parse(quantize.format()), quantize.format());
                Recipe.QuantizeDynamic full = (Recipe.QuantizeDynamic) quantize.withDefaults();
                parse(at + "/latencyFallback", () -> Quantizer.builder().optLatencyFallback(full.latencyFallback()),
                        String.valueOf(full.latencyFallback()));
                if (full.latencyFallback() > 0 && (data == null || data.calibration() == null)) {
                    throw lines.invalid(at + "/latencyFallback", "the latency fallback of quantize-dynamic step '"
                            + quantize.name() + "' times its variants on data.calibration, which the recipe lacks");
                }
            } else if (step instanceof Recipe.ConvertOpset convert && convert.opset() != null) {
                parse(at + "/opset", () -> OpsetConversion.builder().optTargetOpset(convert.opset()), "");
            }
        }

        private void export(String at, Recipe.Export export, boolean last) {
            if (!last) {
                throw lines.invalid(at, "export step '" + export.name() + "' must be the last step (it bundles the"
                        + " final model)");
            }
            if (export.labels() != null) {
                existing(at + "/labels", export.labels(), "labels file");
            }
            if (export.labelsZh() != null) {
                existing(at + "/labelsZh", export.labelsZh(), "labels file");
            }
            if (export.budgetProfiles() != null) {
                if (export.budget() == null) {
                    throw lines.invalid(at + "/budgetProfiles", "budgetProfiles needs a budget");
                }
                existing(at + "/budgetProfiles", export.budgetProfiles(), "budget profiles file");
            }
            parse(at + "/budget", () -> Budget.parse(export.budget(), export.budgetProfiles() == null ? null
                    : resolve(file, export.budgetProfiles())), export.budget());
        }

        /** Runs a core parser of a setting; its complaint becomes one line at {@code at}. Null values are defaults. */
        private void parse(String at, Supplier<?> parser, String value) {
            if (value == null) {
                return;
            }
            try {
                parser.get();
            } catch (IllegalArgumentException | CompressException e) {
                throw lines.invalid(at, e.getMessage());
            }
        }

        private void preprocessing(Recipe.Preprocessing p) {
            String at = "/data/preprocessing";
            if (p.file() != null) {
                existing(at + "/file", p.file(), "preprocessing file");
            }
            parse(at + "/imageSize", () -> Preprocessing.parseSize(p.imageSize()), p.imageSize());
            parse(at + "/layout", () -> Preprocessing.Layout.parse(p.layout()), p.layout());
            if (p.channels() != null && p.channels() != 1 && p.channels() != 3) {
                throw lines.invalid(at + "/channels", "channels must be 1 or 3, got " + p.channels());
            }
            if (p.std() != null && p.std().stream().anyMatch(v -> v == null || !(v > 0))) {
                throw lines.invalid(at + "/std", "std values must be positive (they divide)");
            }
        }

        private void gate(String at, Recipe.Gate gate, Map<String, Recipe.Check> checks, Set<String> names,
                RecipeBaseline baseline) {
            name(at, gate.name(), names);
            if (gate.metric() == null) {
                throw lines.invalid(at, "gate '" + gate.name() + "' needs 'metric' (CHECK.METRIC, e.g."
                        + " eval.top1-drop)");
            }
            int dot = gate.metric().lastIndexOf('.');
            Recipe.Check check = checks.get(dot < 0 ? "" : gate.metric().substring(0, dot));
            String metric = gate.metric().substring(dot + 1);
            if (check == null || !check.metrics().contains(metric)) {
                List<String> produced = checks.values().stream()
                        .flatMap(c -> c.metrics().stream().map(m -> c.name() + "." + m)).sorted().toList();
                throw lines.invalid(at + "/metric", "no check produces metric '" + gate.metric() + "' (produced: "
                        + (produced.isEmpty() ? checks.isEmpty() ? "none, the recipe has no checks"
                                : "none, its checks have no metrics" : String.join(", ", produced)) + ")");
            }
            if (gate.against() != null && !gate.against().equals("source") && !gate.against().equals("baseline")) {
                throw lines.invalid(at + "/against", "against must be source or baseline, got '" + gate.against()
                        + "'");
            }
            boolean againstBaseline = "baseline".equals(gate.against());
            String limits = switch (metric) {
                case "top1-drop" -> "max";
                case "top1-relative-drop" -> "max";
                case "agreement" -> "min";
                case "mcnemar" -> "alpha";
                case "cosine", "sqnr", "score" -> "min";
                default -> "max";
            };
            boolean ok = switch (limits) {
                case "max" -> gate.max() != null && gate.min() == null && gate.alpha() == null
                        && Double.isFinite(gate.max()) && (againstBaseline || gate.max() >= 0);
                case "min" -> gate.min() != null && gate.max() == null && gate.alpha() == null
                        && Double.isFinite(gate.min())
                        && (!metric.equals("agreement") || gate.min() >= 0 && gate.min() <= 1);
                default -> gate.max() == null && gate.min() == null
                        && (gate.alpha() == null || gate.alpha() > 0 && gate.alpha() < 1);
            };
            if (!ok) {
                throw lines.invalid(at, "gate '" + gate.name() + "': " + metric + " takes " + switch (metric) {
                    case "top1-drop" -> "'max' (points" + (againstBaseline ? ")" : ", >= 0)") + " only";
                    case "top1-relative-drop" -> "'max' (percent of the reference's top-1"
                            + (againstBaseline ? ")" : ", >= 0)") + " only";
                    case "agreement" -> "'min' (a fraction in [0, 1]) only";
                    case "mcnemar" -> "'alpha' (in (0, 1), default 0.05) only";
                    case "cosine", "score" -> "'min' only";
                    case "sqnr" -> "'min' (dB) only";
                    case "bytes" -> "'max' (bytes) only";
                    default -> "'max' only";
                });
            }
            if (againstBaseline) {
                if (baseline == null) {
                    throw lines.invalid(at + "/against", "gate '" + gate.name() + "' is against the baseline, but"
                            + " the recipe names no 'baseline' (compress run --baseline FILE gives one)");
                }
                String kind = RecipeRun.kind(check);
                CheckFigures figures = baseline.figures(check.name(), kind).orElseThrow(() -> lines.invalid(
                        at + "/metric", "the baseline " + baseline.file().getFileName() + " (" + baseline.form()
                                + ") has no " + kind + " figures for metric '" + gate.metric() + "'"));
                if (check instanceof Recipe.Eval && (metric.equals("agreement") || metric.equals("mcnemar"))
                        && figures.predictions() == null) {
                    throw lines.invalid(at + "/metric", "metric '" + gate.metric() + "' against the baseline needs"
                            + " its per-sample predictions, which only a run's run.json has (the baseline is "
                            + (baseline.form().equals("run") ? "a run without them"
                                    : (baseline.form().startsWith("e") ? "an " : "a ") + baseline.form()) + ")");
                }
            }
        }

        private void existing(String at, String path, String what) {
            Path resolved = resolve(file, path);
            if (!Files.exists(resolved)) {
                throw lines.notFound(at, what + " " + path + " does not exist (" + resolved + ")");
            }
        }
    }
}
