package dev.compress.recipe;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.Progress;
import dev.compress.Version;
import dev.compress.check.FidelityCheck;
import dev.compress.check.FidelityReport;
import dev.compress.check.LatencyCheck;
import dev.compress.check.LatencyReport;
import dev.compress.data.DataSources;
import dev.compress.data.Dataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.export.Budget;
import dev.compress.export.BudgetCheck;
import dev.compress.export.Bundle;
import dev.compress.export.BundleExporter;
import dev.compress.graph.OnnxModel;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.Pipeline;
import dev.compress.pipeline.PipelineResult;
import dev.compress.prune.PruneResult;
import dev.compress.quantize.QuantizationResult;
import dev.compress.score.ScoreReport;
import dev.compress.score.Scorer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Runs a {@link RecipeFile} into a run folder: one artifact per step, named {@code NN-NAME.*}, and {@code run.json}
 * with the SHA-256 of each. A step whose key (SHA-256 of the tool version, its settings and the hashes of what it
 * reads) matches the previous run's, and whose artifacts are unchanged, is not run again; since every step is
 * deterministic, a re-run of an unchanged recipe gives the same bytes, and a changed step re-runs with what follows
 * it only. {@code run.json} is rewritten after every step, so an interrupted run resumes where it stopped.
 */
public final class RecipeRun {
    /** The file in the run folder that records the run. */
    public static final String RECORD = "run.json";
    /** The end of an eval check's predictions file's name ({@code NN-CHECK.predictions.json}). */
    static final String PREDICTIONS = ".predictions.json";
    /** The end of a debug check's histograms file's name ({@code NN-CHECK.histograms.json}). */
    static final String HISTOGRAMS = ".histograms.json";

    private final RecipeFile file;
    private final Path runDir;
    private final Progress progress;
    private final Consumer<String> log;
    private final Map<String, String> fingerprints = new HashMap<>();

    private RecipeRun(RecipeFile file, Path runDir, Progress progress, Consumer<String> log) {
        this.file = file;
        this.runDir = runDir;
        this.progress = progress;
        this.log = log;
    }

    /** What one step, check or gate did in this run. */
    public record StepOutcome(String name, String kind, boolean cached, double seconds) {}

    /**
     * The verdict of one gate, with its figure and limit.
     *
     * @param against {@code baseline} when measured against the recipe's baseline; {@code null} (left out) when
     *     against the source model
     * @param value the figure; {@code null} for an exact SQNR (no noise at all)
     * @param ci95Low lower end of the figure's 95% interval, where it has one (top-1 drops, agreement)
     * @param ci95High upper end
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "metric", "against", "passed", "value", "ci95Low", "ci95High", "limit", "message"})
    public record GateOutcome(String name, String metric, String against, boolean passed, Double value,
            Double ci95Low, Double ci95High, double limit, String message) {}

    /**
     * The whole run: steps in order, gate verdicts, warnings of the steps that ran, and the HTML report written into
     * the run folder.
     */
    public record Outcome(Path runDir, List<StepOutcome> steps, List<GateOutcome> gates, List<String> warnings,
            Path report) {
        /** Every gate passed (true when there are none). */
        public boolean passed() {
            return gates.stream().allMatch(GateOutcome::passed);
        }
    }

    /**
     * {@code run.json}. Holds no times and no cache flags: an unchanged re-run writes the same bytes.
     *
     * @param steps every step, check and gate in order, with its cache key and artifacts' SHA-256
     * @param gates the verdicts, {@code null} (left out) while the run is under way
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"tool", "recipe", "model", "modelSha256", "steps", "gates", "passed"})
    record Record(String tool, String recipe, String model, String modelSha256, List<Entry> steps,
            List<GateOutcome> gates, Boolean passed) {}

    /** One step of {@code run.json}; artifacts by file name in the run folder. */
    @JsonPropertyOrder({"name", "kind", "key", "artifacts"})
    record Entry(String name, String kind, String key, Map<String, String> artifacts) {}

    /**
     * Runs {@code file} in {@code runDir} (created if missing).
     *
     * @param log receives one line per step as it starts or is found in the cache
     * @throws CompressException BAD_INPUT for unusable data or models, naming the file
     */
    public static Outcome run(RecipeFile file, Path runDir, Progress progress, Consumer<String> log) {
        return new RecipeRun(file, runDir, progress, log).run();
    }

    private Outcome run() {
        boolean created = !Files.exists(runDir);
        try {
            Files.createDirectories(runDir);
        } catch (IOException e) {
            throw CompressException.badInput(runDir, "cannot create the run folder (" + e.getMessage() + ")");
        }
        try {
            return runSteps();
        } catch (RuntimeException e) {
            if (created) {
                deleteIfEmpty(runDir); // a first step that failed leaves no folder; a later one leaves a resumable run
            }
            throw e;
        }
    }

    private static void deleteIfEmpty(Path folder) {
        try {
            Files.delete(folder);
        } catch (IOException ignored) {
            // not empty (finished steps are kept for the next run) or already gone
        }
    }

    private Outcome runSteps() {
        Recipe recipe = file.recipe();
        Map<String, Entry> previous = previous();
        Path source = file.resolve(recipe.model());
        String sourceSha = sha256(source);
        List<Entry> entries = new ArrayList<>();
        List<StepOutcome> outcomes = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        Path current = source;
        String currentSha = sourceSha;
        int index = 0;
        Recipe.Export export = null;
        String exportPrefix = null;
        Map<String, Path> inputs = new LinkedHashMap<>();
        for (Recipe.Step step : recipe.steps()) {
            String prefix = prefix(++index, step.name());
            if (step instanceof Recipe.Export last) {
                // the last step; it runs after the checks, whose figures its manifest carries
                export = last;
                exportPrefix = prefix;
                continue;
            }
            inputs.put(step.name(), current);
            boolean calibrated = readsCalibration(step);
            String key = key("pass", step, currentSha, calibrated ? dataFingerprint(recipe.data().calibration()) : "");
            Path modelOut = runDir.resolve(prefix + ".onnx");
            Path reportOut = runDir.resolve(prefix + ".json");
            Path input = current;
            Entry entry = cachedOrRun(previous.get(step.name()), step.name(), "pass", key, outcomes,
                    () -> warnings.addAll(runStep(step, input, modelOut, reportOut)), modelOut, reportOut);
            entries.add(entry);
            write(entries, sourceSha, null);
            current = modelOut;
            currentSha = entry.artifacts().get(modelOut.getFileName().toString());
        }
        Map<String, Entry> checkEntries = new HashMap<>();
        Map<String, Path> checkReports = new HashMap<>();
        for (Recipe.Check check : recipe.checks()) {
            String prefix = prefix(++index, check.name());
            Path reportOut = runDir.resolve(prefix + ".json");
            checkReports.put(check.name(), reportOut);
            Path candidate = current;
            String candidateSha = currentSha;
            Entry entry;
            if (check instanceof Recipe.Eval) {
                Path predictionsOut = runDir.resolve(prefix + PREDICTIONS);
                String key = key("check", check, candidateSha, sourceSha, dataFingerprint(recipe.data().evaluation()));
                entry = cachedOrRun(previous.get(check.name()), check.name(), "check", key, outcomes,
                        () -> evaluate(candidate, source, reportOut, predictionsOut), reportOut, predictionsOut);
            } else if (check instanceof Recipe.Size) {
                entry = cachedOrRun(previous.get(check.name()), check.name(), "check",
                        key("check", check, candidateSha, sourceSha), outcomes,
                        () -> Json.write(reportOut, size(candidate, source)), reportOut);
            } else if (check instanceof Recipe.Fidelity || check instanceof Recipe.Latency) {
                String data = check instanceof Recipe.Fidelity f ? f.data() : ((Recipe.Latency) check).data();
                String key = key("check", check, candidateSha, sourceSha, dataFingerprint(dataPath(data)),
                        Integer.toString(calibratedSamples(data)));
                entry = cachedOrRun(previous.get(check.name()), check.name(), "check", key, outcomes,
                        () -> Json.write(reportOut, check instanceof Recipe.Fidelity f ? fidelity(f, candidate, source)
                                : latency((Recipe.Latency) check, candidate, source)), reportOut);
            } else if (check instanceof Recipe.Score score) {
                Path student = score.student().equals("source") ? source : candidate;
                Path teacher = recipe.teacher() == null ? source : file.resolve(recipe.teacher());
                String key = key("check", check, student == source ? sourceSha : candidateSha, sha256(teacher),
                        dataFingerprint(dataPath(score.data())));
                entry = cachedOrRun(previous.get(check.name()), check.name(), "check", key, outcomes,
                        () -> score(score, teacher, student, reportOut), reportOut);
            } else if (check instanceof Recipe.Debug debug) {
                Path reference = quantizeInput(inputs);
                Path histogramsOut = runDir.resolve(prefix + HISTOGRAMS);
                String key = key("check", check, candidateSha, sha256(reference),
                        dataFingerprint(dataPath(debug.data())));
                entry = cachedOrRun(previous.get(check.name()), check.name(), "check", key, outcomes,
                        () -> RecipeChecks.debug(this, debug, reference, candidate, reportOut, histogramsOut),
                        reportOut, histogramsOut);
            } else {
                Recipe.PruneScan scan = (Recipe.PruneScan) check;
                Recipe.Prune step = RecipeChecks.pruneStep(recipe, scan);
                Path input = inputs.get(step.name());
                String key = key("check", check, Json.compact(step), sha256(input),
                        dataFingerprint(recipe.data().evaluation()),
                        step.structured() ? dataFingerprint(recipe.data().calibration()) : "");
                entry = cachedOrRun(previous.get(check.name()), check.name(), "check", key, outcomes,
                        () -> Json.write(reportOut, RecipeChecks.scan(this, scan, step, input)), reportOut);
            }
            entries.add(entry);
            write(entries, sourceSha, null);
            checkEntries.put(check.name(), entry);
        }
        RecipeBaseline baseline = recipe.baseline() == null ? null
                : RecipeBaseline.load(file.resolve(recipe.baseline()));
        Map<String, Recipe.Check> checksByName = new HashMap<>();
        recipe.checks().forEach(check -> checksByName.put(check.name(), check));
        List<GateOutcome> gates = new ArrayList<>();
        if (export != null) {
            Recipe.Export step = export;
            Path zip = runDir.resolve(exportPrefix + ".zip");
            Path reportOut = runDir.resolve(exportPrefix + ".json");
            Path report = step.metrics() == null ? null : checkReports.get(step.metrics());
            Path input = current;
            Entry entry = cachedOrRun(previous.get(step.name()), step.name(), "pass",
                    exportKey(step, currentSha, sourceSha, report == null ? ""
                            : checkEntries.get(step.metrics()).artifacts().get(report.getFileName().toString())),
                    outcomes, () -> export(step, input, sourceSha, report, zip, reportOut), zip, reportOut);
            entries.add(entry);
            write(entries, sourceSha, null);
            gates.addAll(read(reportOut, ExportReport.class).gates());
        }
        for (Recipe.Gate gate : recipe.gates()) {
            String prefix = prefix(++index, gate.name());
            Entry checkEntry = checkEntries.get(gate.check());
            String key = key("gate", gate, String.join(",", checkEntry.artifacts().values()),
                    gate.againstBaseline() ? baseline.sha256() : "");
            Path out = runDir.resolve(prefix + ".json");
            Recipe.Check check = checksByName.get(gate.check());
            Entry entry = cachedOrRun(previous.get(gate.name()), gate.name(), "gate", key, outcomes,
                    () -> Json.write(out, RecipeGates.decide(gate, figures(check, checkEntry),
                            gate.againstBaseline() ? baseline.figures(check.name(), kind(check)).orElseThrow()
                                    : null)),
                    out);
            entries.add(entry);
            gates.add(read(out, GateOutcome.class));
        }
        write(entries, sourceSha, gates);
        removeStale(previous, entries);
        Path report = runDir.resolve(HtmlReport.FILE);
        HtmlReport.write(file, runDir, report);
        return new Outcome(runDir, outcomes, gates, warnings, report);
    }

    /** The previous entry when its key matches and its artifacts are intact; else runs {@code work}. */
    private Entry cachedOrRun(Entry before, String name, String kind, String key, List<StepOutcome> outcomes,
            Runnable work, Path... artifacts) {
        if (before != null && before.kind().equals(kind) && before.key().equals(key) && intact(before, artifacts)) {
            log.accept(kind + " " + name + ": cached");
            outcomes.add(new StepOutcome(name, kind, true, 0));
            return before;
        }
        log.accept(kind + " " + name + ": running");
        long start = System.nanoTime();
        work.run();
        outcomes.add(new StepOutcome(name, kind, false, (System.nanoTime() - start) / 1e9));
        Map<String, String> hashes = new LinkedHashMap<>();
        for (Path artifact : artifacts) {
            hashes.put(artifact.getFileName().toString(), sha256(artifact));
        }
        return new Entry(name, kind, key, hashes);
    }

    private boolean intact(Entry entry, Path... artifacts) {
        if (entry.artifacts().size() != artifacts.length) {
            return false;
        }
        for (Path artifact : artifacts) {
            String expected = entry.artifacts().get(artifact.getFileName().toString());
            if (expected == null || !Files.isRegularFile(artifact) || !expected.equals(sha256(artifact))) {
                return false;
            }
        }
        return true;
    }

    /** Runs one pass on the model in {@code input}, writes the model and its report; returns the warnings. */
    private List<String> runStep(Recipe.Step step, Path input, Path modelOut, Path reportOut) {
        OnnxModel model = OnnxModel.load(input);
        Recipe.Data data = file.recipe().data();
        OnnxModel result;
        Object report;
        List<String> warnings;
        if (step instanceof Recipe.Prune prune) {
            Dataset calibration = prune.structured() ? open(data.calibration(), model).dataset() : null;
            PruneResult pruned = RecipeSteps.prune(prune, model, calibration,
                    ModelInputs.defaultBatchSize(model, calibration), progress, RecipeSteps.PruneExtras.none());
            result = pruned.model();
            report = pruned.report();
            warnings = List.of();
        } else if (step instanceof Recipe.QuantizeStatic || step instanceof Recipe.QuantizeDynamic) {
            Dataset calibration = readsCalibration(step) ? open(data.calibration(), model).dataset() : null;
            QuantizationResult quantized = RecipeSteps.quantize(step, model, calibration,
                    ModelInputs.defaultBatchSize(model, calibration), progress, RecipeSteps.QuantizeExtras.none());
            result = quantized.model();
            report = quantized.report();
            warnings = quantized.report().warnings();
        } else {
            PipelineResult run = Pipeline.of(RecipeSteps.pass(step)).run(model, PassContext.of(progress));
            result = run.model();
            report = run.steps().get(0).report();
            warnings = run.warnings();
        }
        result.save(modelOut);
        Json.write(reportOut, report);
        return warnings;
    }

    /**
     * An export step's report: the bundle and, with a budget, every figure and a gate per limit. The measured figures
     * differ from run to run; the cache keeps them, and the zip is the same bytes whenever it is written.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"bundle", "files", "budget", "figures", "gates"})
    record ExportReport(String bundle, Map<String, String> files, String budget, List<String> figures,
            List<GateOutcome> gates) {}

    /**
     * The export step's key: its settings and every step's (the manifest lists them), the model, the source, the
     * eval report it carries, the calibration data it summarizes, and the files it reads.
     */
    private String exportKey(Recipe.Export step, String modelSha, String sourceSha, String reportSha) {
        Recipe.Data data = file.recipe().data();
        List<String> inputs = new ArrayList<>(List.of(modelSha, sourceSha, reportSha,
                data.calibration() == null ? "" : dataFingerprint(data.calibration())));
        for (String path : new String[] {step.labels(), data.labels(), step.labelsZh(), step.budgetProfiles()}) {
            inputs.add(path == null ? "" : sha256(file.resolve(path)));
        }
        return key("export", file.recipe().steps(), inputs.toArray(String[]::new));
    }

    /** Writes the bundle of the model in {@code input} and the step's report; measures the budget if any. */
    private void export(Recipe.Export step, Path input, String sourceSha, Path evalReport, Path zip, Path reportOut) {
        Recipe recipe = file.recipe();
        Recipe.Data data = recipe.data();
        EvalReport evaluation = evalReport == null ? null : EvalReport.readJson(evalReport);
        String labels = step.labels() != null ? step.labels() : data.labels();
        Bundle bundle = BundleExporter.builder()
                .setModel(OnnxModel.load(input))
                .optLabels(labels == null ? null : file.resolve(labels))
                .optLabels(labels != null || evaluation == null ? null : evaluation.classes())
                .optLabelsZh(step.labelsZh() == null ? null : file.resolve(step.labelsZh()))
                .optEvaluation(evaluation)
                .optPreprocessing(overrides(data.preprocessing()))
                .optProvenance(Map.of("recipe", provenance(sourceSha, evaluation)))
                .optSource(step.includeSource() ? file.resolve(recipe.model()) : null)
                .build()
                .export();
        bundle.write(zip);
        Map<String, String> files = new LinkedHashMap<>();
        bundle.files().forEach((name, content) -> files.put(name, sha256(content)));
        if (step.budget() == null) {
            Json.write(reportOut, new ExportReport(zip.getFileName().toString(), files, null, null, List.of()));
            return;
        }
        Budget budget = Budget.parse(step.budget(), step.budgetProfiles() == null ? null
                : file.resolve(step.budgetProfiles()));
        BudgetCheck.Result result = BudgetCheck.check(bundle, budget);
        List<GateOutcome> gates = new ArrayList<>();
        for (BudgetCheck.Figure figure : result.figures()) {
            if (figure.limit() != null) {
                double[] valueAndLimit = switch (figure.name()) {
                    case "size" -> new double[] {bundle.files().get(Bundle.MODEL).length, budget.sizeBytes()};
                    case "memory" -> new double[] {result.peakRssBytes(), budget.memoryBytes()};
                    default -> new double[] {result.medianMillis(), budget.latencyMillis()};
                };
                gates.add(new GateOutcome(step.name() + "." + figure.name(), "budget " + budget.name(), null,
                        figure.passed(), valueAndLimit[0], null, null, valueAndLimit[1],
                        (figure.passed() ? "PASS: " : "FAIL: ") + figure.describe()));
            }
        }
        Json.write(reportOut, new ExportReport(zip.getFileName().toString(), files, budget.name(),
                result.figures().stream().map(BudgetCheck.Figure::describe).toList(), gates));
    }

    /** What the manifest records of the run: the recipe, its source model, the passes and the data. */
    private Map<String, Object> provenance(String sourceSha, EvalReport evaluation) {
        Recipe recipe = file.recipe();
        Map<String, Object> made = new LinkedHashMap<>();
        made.put("file", file.file().getFileName().toString());
        made.put("sourceModel", Map.of("file", file.resolve(recipe.model()).getFileName().toString(),
                "sha256", sourceSha));
        // through the recipe record, whose declared step type writes each step's 'pass'
        List<JsonNode> steps = new ArrayList<>();
        Json.MAPPER.valueToTree(recipe).get("steps").forEach(step -> {
            if (!"export".equals(step.path("pass").asText())) {
                steps.add(step);
            }
        });
        made.put("steps", steps);
        Map<String, Object> data = new LinkedHashMap<>();
        if (recipe.data().calibration() != null) {
            data.put("calibration", Map.of("path", recipe.data().calibration(),
                    "sha256", dataFingerprint(recipe.data().calibration())));
        }
        if (evaluation != null) {
            data.put("evaluation", Map.of("path", recipe.data().evaluation(),
                    "sha256", dataFingerprint(recipe.data().evaluation()), "samples", evaluation.samples()));
        }
        made.put("data", data);
        return made;
    }

    private void evaluate(Path candidate, Path source, Path reportOut, Path predictionsOut) {
        OnnxModel model = OnnxModel.load(candidate);
        Path evaluation = file.resolve(file.recipe().data().evaluation());
        DataSources.Opened opened = open(file.recipe().data().evaluation(), model);
        if (opened.dataset().classNames().isEmpty()) {
            throw CompressException.badInput(evaluation, "has no labels; an eval check needs labeled samples");
        }
        int size = opened.dataset().size();
        int[][] columns = new int[3][size];
        int[] next = {0};
        EvalReport report = Evaluator.builder()
                .setModel(model)
                .setData(opened.dataset())
                .optBaseline(source)
                .optBatchSize(ModelInputs.defaultBatchSize(model, opened.dataset()))
                .optProgress(progress)
                .optPredictionListener((label, predicted, sourcePredicted) -> {
                    if (next[0] < size) {
                        columns[0][next[0]] = label;
                        columns[1][next[0]] = predicted;
                        columns[2][next[0]] = sourcePredicted;
                    }
                    next[0]++;
                })
                .build()
                .evaluate()
                .withPreprocessing(opened.preprocessingMap())
                .withModel(candidate.getFileName().toString());
        if (next[0] != size) {
            throw CompressException.badInput(evaluation, "gave " + next[0] + " samples, not the " + size
                    + " it listed");
        }
        report.writeJson(reportOut);
        Json.write(predictionsOut, new CheckReports.Predictions(samplesFingerprint(file.recipe().data().evaluation()),
                report.classes(), columns[0], columns[1], columns[2]));
    }

    /** A score check: its report names the models and data by file name, so it does not depend on the folder. */
    private void score(Recipe.Score check, Path teacher, Path student, Path reportOut) {
        OnnxModel model = OnnxModel.load(student);
        String data = dataPath(check.data());
        Dataset samples = open(data, model).dataset();
        ScoreReport report = RecipeSteps.score(check, teacher, student, samples,
                ModelInputs.defaultBatchSize(model, samples), progress, Scorer.DEFAULT_PARITY_TOLERANCE);
        report.withNames(teacher.getFileName().toString(), student.getFileName().toString(), data)
                .writeJson(reportOut);
    }

    private CheckReports.Size size(Path candidate, Path source) {
        long bytes = modelBytes(candidate);
        long sourceBytes = modelBytes(source);
        return new CheckReports.Size(candidate.getFileName().toString(), bytes, file.recipe().model(), sourceBytes,
                sourceBytes > 0 ? (double) bytes / sourceBytes : 0);
    }

    /** Bytes of a model file and of its external data file ({@code NAME.data}, as OnnxModel.save writes it). */
    static long modelBytes(Path model) {
        try {
            Path data = model.resolveSibling(model.getFileName() + ".data");
            return Files.size(model) + (Files.isRegularFile(data) ? Files.size(data) : 0);
        } catch (IOException e) {
            throw CompressException.badInput(model, "cannot read (" + e.getMessage() + ")");
        }
    }

    private FidelityReport fidelity(Recipe.Fidelity check, Path candidate, Path source) {
        OnnxModel model = OnnxModel.load(candidate);
        int calibrated = calibratedSamples(check.data());
        Dataset samples = open(dataPath(check.data()), model).dataset();
        FidelityCheck.Builder builder = FidelityCheck.builder()
                .setFloatModel(OnnxModel.load(source))
                .setQuantizedModel(model)
                .setData(samples)
                .optCalibratedSamples(Math.max(calibrated, 0))
                .optMaxSamples(check.samples())
                .optBatchSize(ModelInputs.defaultBatchSize(model, samples))
                .optProgress(progress);
        if (calibrated < 0) {
            builder.optNotCalibratedOn();
        }
        return builder.build().run();
    }

    private LatencyReport latency(Recipe.Latency check, Path candidate, Path source) {
        OnnxModel model = OnnxModel.load(candidate);
        Dataset samples = open(dataPath(check.data()), model).dataset();
        return LatencyCheck.builder()
                .setFloatModel(OnnxModel.load(source))
                .setQuantizedModel(model)
                .setData(samples)
                .optThreads(check.threads())
                .optSeconds(check.seconds())
                .optBatchSize(ModelInputs.defaultBatchSize(model, samples))
                .optProgress(progress)
                .build()
                .run();
    }

    /** {@code calibration} or {@code evaluation}: the recipe's path of that data. */
    String dataPath(String which) {
        return "calibration".equals(which) ? file.recipe().data().calibration() : file.recipe().data().evaluation();
    }

    /**
     * For checks on {@code which} data: how many of its samples the last quantize-static step calibrated on (0 =
     * all), or -1 when no quantize-static step calibrated on it (any sample is held out).
     */
    int calibratedSamples(String which) {
        if (!"calibration".equals(which)) {
            return -1;
        }
        int calibrated = -1;
        for (Recipe.Step step : file.recipe().steps()) {
            if (step instanceof Recipe.QuantizeStatic q) {
                calibrated = q.maxSamples();
            }
        }
        return Math.max(calibrated, -1);
    }

    /**
     * Whether {@code step} reads data.calibration: static quantization, structured pruning, and dynamic quantization
     * whose latency fallback times on it. Its fingerprint is then part of the step's key.
     */
    private static boolean readsCalibration(Recipe.Step step) {
        return step instanceof Recipe.QuantizeStatic
                || step instanceof Recipe.Prune prune && prune.structured()
                || step instanceof Recipe.QuantizeDynamic dynamic && dynamic.latencyFallback() != null
                        && dynamic.latencyFallback() > 0;
    }

    /** The model the last quantize step read: the fp32 reference of a debug check. */
    private Path quantizeInput(Map<String, Path> inputs) {
        Path input = null;
        for (Recipe.Step step : file.recipe().steps()) {
            if (step instanceof Recipe.QuantizeStatic || step instanceof Recipe.QuantizeDynamic) {
                input = inputs.get(step.name());
            }
        }
        return input;
    }

    /** The figures gates read from a check's artifacts in this run folder. */
    private CheckFigures figures(Recipe.Check check, Entry entry) {
        Path report = null;
        Path predictions = null;
        for (String artifact : entry.artifacts().keySet()) {
            if (artifact.endsWith(PREDICTIONS)) {
                predictions = runDir.resolve(artifact);
            } else if (artifact.endsWith("-" + check.name() + ".json")) {
                report = runDir.resolve(artifact);
            }
        }
        try {
            return CheckFigures.of(kind(check), report, Json.readStrict(report),
                    predictions == null ? null : CheckReports.Predictions.read(predictions));
        } catch (IOException e) {
            throw CompressException.badInput(report, "cannot read (" + e.getMessage() + ")");
        }
    }

    /** The {@code check} name of a check's kind, as recipes write it. */
    static String kind(Recipe.Check check) {
        for (JsonSubTypes.Type type : Recipe.Check.class.getAnnotation(JsonSubTypes.class).value()) {
            if (type.value() == check.getClass()) {
                return type.name();
            }
        }
        throw new IllegalStateException("no kind for " + check.getClass());
    }

    RecipeFile file() {
        return file;
    }

    Progress progress() {
        return progress;
    }

    DataSources.Opened open(String data, OnnxModel model) {
        Recipe.Data d = file.recipe().data();
        return DataSources.open(file.resolve(data), model, overrides(d.preprocessing()),
                d.labels() == null ? null : file.resolve(d.labels()));
    }

    private Preprocessing.Overrides overrides(Recipe.Preprocessing p) {
        if (p == null) {
            return Preprocessing.Overrides.NONE;
        }
        return Preprocessing.Overrides.builder()
                .optPreprocessFile(p.file() == null ? null : file.resolve(p.file()))
                .optImageSize(p.imageSize() == null ? null : Preprocessing.parseSize(p.imageSize()))
                .optChannels(p.channels())
                .optMean(floats(p.mean()))
                .optStd(floats(p.std()))
                .optLayout(p.layout() == null ? null : Preprocessing.Layout.parse(p.layout()))
                .build();
    }

    private static float[] floats(List<Float> values) {
        if (values == null) {
            return null;
        }
        float[] array = new float[values.size()];
        for (int i = 0; i < array.length; i++) {
            array[i] = values.get(i);
        }
        return array;
    }

    /** SHA-256 over the data's files' names (relative) and contents, in name order: which samples, not how read. */
    String samplesFingerprint(String data) {
        Path root = file.resolve(data);
        StringBuilder text = new StringBuilder();
        List<Path> files = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(root)) {
            walk.filter(Files::isRegularFile).forEach(files::add);
        } catch (IOException e) {
            throw CompressException.badInput(root, "cannot read (" + e.getMessage() + ")");
        }
        files.stream().sorted().forEach(f -> text.append(root.relativize(f).toString().replace('\\', '/'))
                .append(' ').append(sha256(f)).append('\n'));
        return sha256(text.toString());
    }

    /**
     * SHA-256 over the data's files (relative name and content, in name order), the labels.txt the data loader
     * would find in the parent folder, the labels and preprocessing files, and the preprocessing settings.
     */
    String dataFingerprint(String data) {
        return fingerprints.computeIfAbsent(data, d -> {
            Path root = file.resolve(d);
            // contents, not where the data lies: a recipe moved with its data keeps its cache
            Recipe.Data settings = file.recipe().data();
            StringBuilder text = new StringBuilder(settings.preprocessing() == null ? ""
                    : Json.compact(settings.preprocessing())).append('\n');
            List<Path> files = new ArrayList<>();
            try (Stream<Path> walk = Files.walk(root)) {
                walk.filter(Files::isRegularFile).forEach(files::add);
            } catch (IOException e) {
                throw CompressException.badInput(root, "cannot read (" + e.getMessage() + ")");
            }
            Path parentLabels = root.getParent() == null ? null : root.getParent().resolve("labels.txt");
            if (Files.isDirectory(root) && parentLabels != null && Files.isRegularFile(parentLabels)) {
                files.add(parentLabels);
            }
            if (settings.labels() != null) {
                files.add(file.resolve(settings.labels()));
            }
            if (settings.preprocessing() != null && settings.preprocessing().file() != null) {
                files.add(file.resolve(settings.preprocessing().file()));
            }
            files.stream().sorted().forEach(f -> text.append(root.relativize(f).toString().replace('\\', '/'))
                    .append(' ').append(sha256(f)).append('\n'));
            return sha256(text.toString());
        });
    }

    static String key(String kind, Object settings, String... inputs) {
        return sha256(tool() + "\n" + kind + "\n" + Json.compact(settings) + "\n" + String.join("\n", inputs));
    }

    private static String tool() {
        return "compress " + Version.get();
    }

    private static String prefix(int index, String name) {
        return String.format(Locale.ROOT, "%02d-%s", index, name);
    }

    private Map<String, Entry> previous() {
        Path record = runDir.resolve(RECORD);
        Map<String, Entry> byName = new HashMap<>();
        if (Files.isRegularFile(record)) {
            try {
                Record before = Json.MAPPER.readValue(record.toFile(), Record.class);
                if (tool().equals(before.tool()) && before.steps() != null) {
                    before.steps().forEach(entry -> byName.put(entry.name(), entry));
                }
            } catch (IOException | RuntimeException e) {
                // an unreadable record only costs the cache: every step runs again
                log.accept("note: " + record + " is unreadable; running every step");
            }
        }
        return byName;
    }

    /** Deletes artifacts the previous run listed that this run does not (renamed or removed steps). */
    private void removeStale(Map<String, Entry> previous, List<Entry> entries) {
        Set<String> kept = new HashSet<>();
        entries.forEach(entry -> kept.addAll(entry.artifacts().keySet()));
        for (Entry entry : previous.values()) {
            for (String name : entry.artifacts().keySet()) {
                if (!kept.contains(name)) {
                    try {
                        Files.deleteIfExists(runDir.resolve(name));
                    } catch (IOException e) {
                        log.accept("note: cannot delete stale " + runDir.resolve(name));
                    }
                }
            }
        }
    }

    /** Writes {@code run.json}; {@code gates} null while the run is under way. */
    private void write(List<Entry> entries, String sourceSha, List<GateOutcome> gates) {
        Json.write(runDir.resolve(RECORD), new Record(tool(), file.file().getFileName().toString(),
                file.recipe().model(), sourceSha, entries, gates,
                gates == null ? null : gates.stream().allMatch(GateOutcome::passed)));
    }

    private static <T> T read(Path json, Class<T> type) {
        try {
            return Json.MAPPER.readValue(json.toFile(), type);
        } catch (IOException e) {
            throw CompressException.badInput(json, "cannot read (" + e.getMessage() + ")");
        }
    }

    static String sha256(Path file) {
        MessageDigest digest = digest();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
            in.transferTo(OutputStream.nullOutputStream());
            return HexFormat.of().formatHex(digest.digest());
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot read (" + e.getMessage() + ")");
        }
    }

    static String sha256(String text) {
        return sha256(text.getBytes(StandardCharsets.UTF_8));
    }

    private static String sha256(byte[] content) {
        return HexFormat.of().formatHex(digest().digest(content));
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw CompressException.internal("SHA-256 is not available", e);
        }
    }
}
