package dev.compress.recipe;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.Version;
import dev.compress.debug.LayerReport;
import dev.compress.eval.EvalReport;
import java.awt.Font;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The run as one self-contained HTML page for people: the recipe, size, latency and accuracy against the source and
 * the baseline, per-class accuracy with the class names, which classes and confusions changed, the layers' SQNR,
 * activation histograms with their INT8 ranges, accuracy against sparsity, and the gate verdicts. One file, nothing
 * fetched: charts (XChart) are PNGs inlined as {@code data:} URIs, the style sheet is inline, there is no script.
 * Built from the run folder's files only, with no times and no cache state, so the same run gives the same bytes.
 */
public final class HtmlReport {
    /** The report's file name in the run folder. */
    public static final String FILE = "report.html";
    /** Layers in the SQNR chart. */
    static final int CHART_LAYERS = 30;
    /** Classes above which the confusion matrix is left out (it would not fit a page). */
    static final int MATRIX_CLASSES = 30;

    private final RecipeFile file;
    private final Path runDir;
    private final RecipeRun.Record record;
    private final RecipeBaseline baseline;
    private final StringBuilder html = new StringBuilder();

    private HtmlReport(RecipeFile file, Path runDir, RecipeRun.Record record, RecipeBaseline baseline) {
        this.file = file;
        this.runDir = runDir;
        this.record = record;
        this.baseline = baseline;
    }

    /**
     * The report of the finished run of {@code file} in {@code runDir}.
     *
     * @throws CompressException BAD_INPUT if the run folder's files cannot be read
     */
    public static String render(RecipeFile file, Path runDir) {
        System.setProperty("java.awt.headless", "true"); // fonts and charts need no display (or a connection to one)
        RecipeRun.Record record;
        try {
            record = Json.MAPPER.readValue(runDir.resolve(RecipeRun.RECORD).toFile(), RecipeRun.Record.class);
        } catch (IOException e) {
            throw CompressException.badInput(runDir.resolve(RecipeRun.RECORD), "cannot read (" + e.getMessage() + ")");
        }
        Recipe recipe = file.recipe();
        RecipeBaseline baseline = recipe.baseline() == null ? null
                : RecipeBaseline.load(file.resolve(recipe.baseline()));
        return new HtmlReport(file, runDir, record, baseline).build();
    }

    /** Writes {@link #render} to {@code out} atomically. */
    public static void write(RecipeFile file, Path runDir, Path out) {
        dev.compress.StagedFile.writeString(out, render(file, runDir));
    }

    private String build() {
        Recipe recipe = file.recipe();
        String title = recipe.report() != null && recipe.report().title() != null ? recipe.report().title()
                : "compress run " + file.file().getFileName();
        html.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
                .append("<meta name=\"generator\" content=\"compress ").append(esc(Version.get())).append("\">\n")
                .append("<title>").append(esc(title)).append("</title>\n<style>\n").append(STYLE)
                .append("</style>\n</head>\n<body>\n<h1>").append(esc(title)).append("</h1>\n");
        header();
        gates();
        summary();
        Optional<Recipe.Check> eval = first(Recipe.Eval.class);
        if (eval.isPresent()) {
            perClass(eval.get());
        }
        Optional<Recipe.Check> fidelity = first(Recipe.Fidelity.class);
        if (fidelity.isPresent()) {
            fidelity(fidelity.get());
        }
        Optional<Recipe.Check> debug = first(Recipe.Debug.class);
        if (debug.isPresent()) {
            layers(debug.get());
        }
        Optional<Recipe.Check> scan = first(Recipe.PruneScan.class);
        if (scan.isPresent()) {
            scan(scan.get());
        }
        steps();
        recipeText();
        html.append("</body>\n</html>\n");
        return html.toString();
    }

    // ---- sections

    private void header() {
        List<RecipeRun.GateOutcome> gates = record.gates() == null ? List.of() : record.gates();
        long failed = gates.stream().filter(g -> !g.passed()).count();
        html.append("<p class=\"verdict ").append(failed == 0 ? "pass" : "fail").append("\">")
                .append(gates.isEmpty() ? "No gates" : failed == 0 ? "All " + gates.size() + " gates passed"
                        : failed + " of " + gates.size() + " gates failed")
                .append("</p>\n<table class=\"facts\">\n");
        fact("Source model", esc(record.model()) + " <span class=\"hash\">sha256 " + record.modelSha256()
                .substring(0, 12) + "…</span>");
        fact("Recipe", esc(record.recipe()));
        if (baseline != null) {
            fact("Baseline", esc(file.recipe().baseline()) + " (" + esc(baseline.form()) + ", sha256 "
                    + baseline.sha256().substring(0, 12) + "…)");
        }
        fact("Tool", esc(record.tool()));
        html.append("</table>\n");
    }

    private void fact(String name, String valueHtml) {
        html.append("<tr><th>").append(name).append("</th><td>").append(valueHtml).append("</td></tr>\n");
    }

    private void gates() {
        if (record.gates() == null || record.gates().isEmpty()) {
            return;
        }
        html.append("<h2>Gates</h2>\n<table>\n<tr><th>gate</th><th>metric</th><th>value (95% CI)</th>"
                + "<th>limit</th><th>result</th><th>figures</th></tr>\n");
        for (RecipeRun.GateOutcome gate : record.gates()) {
            html.append("<tr><td>").append(esc(gate.name())).append("</td><td>").append(esc(CiReports.metric(gate)))
                    .append("</td><td class=\"num\">").append(esc(value(gate))).append("</td><td class=\"num\">")
                    .append(esc(CiReports.plain(gate.limit()))).append("</td><td class=\"")
                    .append(gate.passed() ? "pass\">pass" : "fail\">FAIL").append("</td><td class=\"msg\">")
                    .append(esc(gate.message())).append("</td></tr>\n");
        }
        html.append("</table>\n");
    }

    /** Size, latency and accuracy of the source model, this run's model and the baseline's. */
    private void summary() {
        List<String[]> rows = new ArrayList<>();
        Path model = lastModel();
        long sourceBytes = RecipeRun.modelBytes(file.resolve(file.recipe().model()));
        long bytes = model == null ? -1 : RecipeRun.modelBytes(model);
        Optional<CheckFigures> baselineSize = baselineFigures(Recipe.Size.class, "size");
        Optional<Long> baselineBytes = baselineSize.map(CheckFigures::bytes)
                .or(() -> baseline == null ? Optional.empty() : baseline.modelBytes());
        rows.add(new String[] {"model file", bytes(sourceBytes), bytes < 0 ? "—" : bytes(bytes),
            baselineBytes.map(HtmlReport::bytes).orElse(null)});
        rows.add(new String[] {"size against the source", "1", bytes < 0 ? "—"
                : String.format(Locale.ROOT, "%.3f×", (double) bytes / sourceBytes),
            baselineSize.map(f -> String.format(Locale.ROOT, "%.3f×", f.sizeRatio()))
                    .or(() -> baselineBytes.map(b -> String.format(Locale.ROOT, "%.3f×", (double) b / sourceBytes)))
                    .orElse(null)});
        Optional<Recipe.Check> eval = first(Recipe.Eval.class);
        if (eval.isPresent()) {
            EvalReport report = EvalReport.readJson(artifact(eval.get(), ".json"));
            Optional<CheckFigures> then = baselineFigures(Recipe.Eval.class, "eval");
            rows.add(new String[] {"top-1 (95% CI)", report.baseline().top1().describe(), report.top1().describe(),
                then.map(f -> f.eval().top1().describe()).orElse(null)});
            rows.add(new String[] {"top-1 drop against the source", "—", CiReports.plain(report.baseline()
                    .dropPoints()) + " points", null});
            rows.add(new String[] {"top-1 agreement with the source", "—", report.baseline().agreement().describe(),
                null});
            if (then.isPresent()) {
                CheckFigures now = CheckFigures.of("eval", artifact(eval.get(), ".json"),
                        json(artifact(eval.get(), ".json")), CheckReports.Predictions.read(artifact(eval.get(),
                                RecipeRun.PREDICTIONS)));
                RecipeGates.Comparison compared = RecipeGates.compare(now, then.get());
                rows.add(new String[] {"top-1 drop against the baseline (95% CI)", "—", String.format(Locale.ROOT,
                        "%s points (%.2f to %.2f)", CiReports.plain(RecipeGates.round(compared.dropPoints())),
                        100 * compared.difference().low(), 100 * compared.difference().high()), null});
                if (compared.agreement() != null) {
                    rows.add(new String[] {"top-1 agreement with the baseline", "—",
                        compared.agreement().describe(), null});
                    rows.add(new String[] {"McNemar against the baseline", "—", String.format(Locale.ROOT,
                            "b=%d c=%d, p = %.4f", compared.mcnemar().b(), compared.mcnemar().c(),
                            compared.mcnemar().pValue()), null});
                }
            }
        }
        Optional<Recipe.Check> latency = first(Recipe.Latency.class);
        if (latency.isPresent()) {
            JsonNode report = json(artifact(latency.get(), ".json"));
            Optional<CheckFigures> then = baselineFigures(Recipe.Latency.class, "latency");
            rows.add(new String[] {"time per call (batch " + report.path("batchSize").asInt() + ", "
                    + report.path("threads").asInt() + " threads)", ms(report.path("fp32Ms").asDouble()),
                ms(report.path("int8Ms").asDouble()), then.map(f -> ms(f.node().path("int8Ms").asDouble()))
                        .orElse(null)});
            rows.add(new String[] {"time against the source", "1", String.format(Locale.ROOT, "%.3f×",
                    report.path("int8OverFp32").asDouble()), then.map(f -> String.format(Locale.ROOT, "%.3f×",
                            f.latencyRatio())).orElse(null)});
        }
        Optional<Recipe.Check> fidelity = first(Recipe.Fidelity.class);
        if (fidelity.isPresent()) {
            CheckFigures now = CheckFigures.of("fidelity", artifact(fidelity.get(), ".json"),
                    json(artifact(fidelity.get(), ".json")), null);
            Optional<CheckFigures> then = baselineFigures(Recipe.Fidelity.class, "fidelity");
            rows.add(new String[] {"lowest output cosine to the source", "1", String.format(Locale.ROOT, "%.4f",
                    now.cosine()), then.map(f -> String.format(Locale.ROOT, "%.4f", f.cosine())).orElse(null)});
            rows.add(new String[] {"lowest output SQNR against the source", "exact", db(now.sqnr()),
                then.map(f -> db(f.sqnr())).orElse(null)});
        }
        html.append("<h2>Size, latency and accuracy</h2>\n<table>\n<tr><th></th><th>source model</th>"
                + "<th>this run</th>").append(baseline == null ? "" : "<th>baseline</th>").append("</tr>\n");
        for (String[] row : rows) {
            html.append("<tr><th>").append(esc(row[0])).append("</th><td class=\"num\">").append(esc(row[1]))
                    .append("</td><td class=\"num\">").append(esc(row[2])).append("</td>");
            if (baseline != null) {
                html.append("<td class=\"num\">").append(row[3] == null ? "—" : esc(row[3])).append("</td>");
            }
            html.append("</tr>\n");
        }
        html.append("</table>\n");
    }

    private void steps() {
        html.append("<h2>Steps</h2>\n<table>\n<tr><th>step</th><th>kind</th><th>settings</th><th>output</th></tr>\n");
        for (Recipe.Step step : file.recipe().steps()) {
            RecipeRun.Entry entry = entry(step.name());
            String model = entry.artifacts().keySet().stream().filter(n -> n.endsWith(".onnx")).findFirst()
                    .orElse("");
            html.append("<tr><td>").append(esc(step.name())).append("</td><td>pass</td><td class=\"code\">")
                    .append(esc(settings(step, "pass"))).append("</td><td>").append(esc(model)).append(" (")
                    .append(esc(bytes(RecipeRun.modelBytes(runDir.resolve(model))))).append(")</td></tr>\n");
        }
        for (Recipe.Check check : file.recipe().checks()) {
            html.append("<tr><td>").append(esc(check.name())).append("</td><td>check</td><td class=\"code\">")
                    .append(esc(settings(check, "check"))).append("</td><td>")
                    .append(esc(String.join(", ", entry(check.name()).artifacts().keySet()))).append("</td></tr>\n");
        }
        html.append("</table>\n");
    }

    /** Per-class accuracy (chart and table), the classes that lost most, the confusions that grew, the matrix. */
    private void perClass(Recipe.Check eval) {
        EvalReport report = EvalReport.readJson(artifact(eval, ".json"));
        CheckReports.Predictions predictions = CheckReports.Predictions.read(artifact(eval, RecipeRun.PREDICTIONS));
        List<String> classes = predictions.classes();
        int k = classes.size();
        List<String> display = displayNames(k);
        long[][] sourceMatrix = new long[k][k];
        long[][] modelMatrix = new long[k][k];
        long[] samples = new long[k];
        for (int i = 0; i < predictions.size(); i++) {
            int label = predictions.labels()[i];
            samples[label]++;
            sourceMatrix[label][predictions.source()[i]]++;
            modelMatrix[label][predictions.model()[i]]++;
        }
        List<Double> baselineAccuracy = null;
        Optional<CheckFigures> then = baselineFigures(Recipe.Eval.class, "eval");
        if (then.isPresent() && then.get().eval().classes().equals(classes)) {
            baselineAccuracy = then.get().eval().perClass().stream()
                    .map(c -> c.accuracy() == null ? 0.0 : 100 * c.accuracy()).toList();
        }
        List<Double> source = new ArrayList<>();
        List<Double> model = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            source.add(samples[c] == 0 ? 0 : 100.0 * sourceMatrix[c][c] / samples[c]);
            model.add(samples[c] == 0 ? 0 : 100.0 * modelMatrix[c][c] / samples[c]);
        }
        html.append("<h2>Accuracy per class</h2>\n<p>").append(esc(String.format(Locale.ROOT,
                "%d samples of %s; the source model and this run's model on the same samples.", report.samples(),
                file.recipe().data().evaluation()))).append("</p>\n");
        html.append(img(ReportCharts.perClass(chartLabels(classes), source, model, baselineAccuracy),
                "top-1 accuracy per class"));
        html.append("<table>\n<tr><th>#</th><th>class</th>").append(display == null ? "" : "<th>name</th>")
                .append("<th>samples</th><th>source</th><th>this run</th><th>change</th>")
                .append(baselineAccuracy == null ? "" : "<th>baseline</th><th>change against the baseline</th>")
                .append("</tr>\n");
        for (int c = 0; c < k; c++) {
            html.append("<tr><td class=\"num\">").append(c).append("</td><td>").append(esc(classes.get(c)))
                    .append("</td>");
            if (display != null) {
                html.append("<td>").append(name(display.get(c))).append("</td>");
            }
            html.append("<td class=\"num\">").append(samples[c]).append("</td><td class=\"num\">")
                    .append(percent(source.get(c))).append("</td><td class=\"num\">").append(percent(model.get(c)))
                    .append("</td>").append(change(model.get(c) - source.get(c)));
            if (baselineAccuracy != null) {
                html.append("<td class=\"num\">").append(percent(baselineAccuracy.get(c))).append("</td>")
                        .append(change(model.get(c) - baselineAccuracy.get(c)));
            }
            html.append("</tr>\n");
        }
        html.append("</table>\n");
        confusions(classes, display, samples, sourceMatrix, modelMatrix);
    }

    private void confusions(List<String> classes, List<String> display, long[] samples, long[][] source,
            long[][] model) {
        int k = classes.size();
        html.append("<h2>Confusion changes</h2>\n");
        // classes by how many of their samples this run gets wrong that the source got right, net
        List<Integer> order = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            order.add(c);
        }
        order.sort(Comparator.comparingLong((Integer c) -> model[c][c] - source[c][c]).thenComparing(c -> c));
        html.append("<h3>Classes that lost most</h3>\n<table>\n<tr><th>class</th><th>right (source → this run)"
                + "</th><th>change</th><th>now taken most often for</th></tr>\n");
        int shown = 0;
        for (int c : order) {
            long lost = source[c][c] - model[c][c];
            if (lost <= 0 || shown == 5) {
                break;
            }
            shown++;
            int to = -1;
            long grew = 0;
            for (int p = 0; p < k; p++) {
                if (p != c && model[c][p] - source[c][p] > grew) {
                    grew = model[c][p] - source[c][p];
                    to = p;
                }
            }
            html.append("<tr><td>").append(label(c, classes, display)).append("</td><td class=\"num\">")
                    .append(source[c][c]).append(" → ").append(model[c][c]).append(" of ").append(samples[c])
                    .append("</td><td class=\"num neg\">−").append(lost).append("</td><td>")
                    .append(to < 0 ? "—" : label(to, classes, display) + " (+" + grew + ")").append("</td></tr>\n");
        }
        if (shown == 0) {
            html.append("<tr><td colspan=\"4\">No class lost samples against the source model.</td></tr>\n");
        }
        html.append("</table>\n");
        List<long[]> grown = new ArrayList<>();
        for (int t = 0; t < k; t++) {
            for (int p = 0; p < k; p++) {
                if (t != p && model[t][p] != source[t][p]) {
                    grown.add(new long[] {t, p, source[t][p], model[t][p]});
                }
            }
        }
        grown.sort(Comparator.comparingLong((long[] g) -> -(g[3] - g[2])).thenComparingLong(g -> g[0])
                .thenComparingLong(g -> g[1]));
        html.append("<h3>Confusions that grew</h3>\n<table>\n<tr><th>true class</th><th>taken for</th>"
                + "<th>source</th><th>this run</th><th>change</th></tr>\n");
        int rows = 0;
        for (long[] g : grown) {
            if (g[3] <= g[2] || rows == 10) {
                break;
            }
            rows++;
            html.append("<tr><td>").append(label((int) g[0], classes, display)).append("</td><td>")
                    .append(label((int) g[1], classes, display)).append("</td><td class=\"num\">").append(g[2])
                    .append("</td><td class=\"num\">").append(g[3]).append("</td><td class=\"num neg\">+")
                    .append(g[3] - g[2]).append("</td></tr>\n");
        }
        if (rows == 0) {
            html.append("<tr><td colspan=\"5\">No confusion grew.</td></tr>\n");
        }
        html.append("</table>\n");
        if (k > MATRIX_CLASSES) {
            return;
        }
        html.append("<h3>Confusion matrix of this run</h3>\n<p>Rows: true class; columns: predicted class."
                + " Shading: share of the row; a change against the source model in brackets.</p>\n"
                + "<table class=\"matrix\">\n<tr><th></th>");
        for (int p = 0; p < k; p++) {
            html.append("<th class=\"num\">").append(p).append("</th>");
        }
        html.append("</tr>\n");
        for (int t = 0; t < k; t++) {
            html.append("<tr><th>").append(t).append(' ').append(esc(classes.get(t))).append("</th>");
            for (int p = 0; p < k; p++) {
                double share = samples[t] == 0 ? 0 : (double) model[t][p] / samples[t];
                long delta = model[t][p] - source[t][p];
                int alpha = (int) Math.round(share * 100);
                html.append("<td class=\"num\" style=\"background:rgba(59,110,165,")
                        .append(String.format(Locale.ROOT, "%.2f", share)).append(");")
                        .append(alpha > 55 ? "color:#fff" : "").append("\">").append(model[t][p]);
                if (delta != 0) {
                    html.append(" <span class=\"").append(t == p == delta < 0 ? "neg" : "posd").append("\">(")
                            .append(delta > 0 ? "+" : "−").append(Math.abs(delta)).append(")</span>");
                }
                html.append("</td>");
            }
            html.append("</tr>\n");
        }
        html.append("</table>\n");
    }

    private void fidelity(Recipe.Check check) {
        JsonNode report = json(artifact(check, ".json"));
        html.append("<h2>Outputs against the source model</h2>\n<p>").append(esc(report.path("samples").asLong()
                + (report.path("heldOut").asBoolean() ? " samples calibration did not use, of " : " samples of ")
                + report.path("data").asText())).append(".</p>\n<table>\n<tr><th>output</th>"
                + "<th>top-1 agreement</th><th>mean cosine</th><th>SQNR</th></tr>\n");
        for (JsonNode output : report.path("outputs")) {
            html.append("<tr><td>").append(esc(output.path("name").asText())).append("</td><td class=\"num\">")
                    .append(output.has("top1Agreement") ? String.format(Locale.ROOT, "%.2f%%",
                            100 * output.path("top1Agreement").asDouble()) : "—")
                    .append("</td><td class=\"num\">").append(String.format(Locale.ROOT, "%.4f",
                            output.path("meanCosine").asDouble())).append("</td><td class=\"num\">")
                    .append(db(output.hasNonNull("sqnrDb") ? output.path("sqnrDb").asDouble() : null))
                    .append("</td></tr>\n");
        }
        html.append("</table>\n");
    }

    private void layers(Recipe.Check check) {
        LayerReport report;
        try {
            report = Json.MAPPER.readValue(artifact(check, ".json").toFile(), LayerReport.class);
        } catch (IOException e) {
            throw CompressException.badInput(artifact(check, ".json"), "cannot read (" + e.getMessage() + ")");
        }
        html.append("<h2>Layers: INT8 against fp32</h2>\n<p>").append(esc(String.format(Locale.ROOT,
                "SQNR of each layer's INT8 activation against the fp32 model's on %d samples, worst first; errors"
                        + " accumulate along the network (docs/scoring.md). Output %s: %s.", report.samples(),
                report.output().tensor(), db(report.output().sqnrDb())))).append("</p>\n");
        List<String> names = new ArrayList<>();
        List<Double> accumulated = new ArrayList<>();
        List<Double> own = new ArrayList<>();
        for (LayerReport.Layer layer : report.layers()) {
            if (names.size() == CHART_LAYERS) {
                break;
            }
            if (layer.sqnrDb() != null) {
                names.add(ReportCharts.shorten(layer.node(), 40) + (layer.excludable() ? "" : " *"));
                accumulated.add(layer.sqnrDb());
                own.add(layer.ownSqnrDb());
            }
        }
        if (!names.isEmpty()) {
            html.append(img(ReportCharts.sqnr(names, accumulated, own, db(report.output().sqnrDb())),
                    "SQNR per layer"));
        }
        html.append("<table>\n<tr><th>layer</th><th>op</th><th>SQNR (dB)</th><th>own step (dB)</th>"
                + "<th>largest error</th></tr>\n");
        report.layers().stream().limit(10).forEach(layer -> html.append("<tr><td class=\"code\">")
                .append(esc(layer.node())).append("</td><td>").append(esc(layer.opType()))
                .append("</td><td class=\"num\">")
                .append(db(layer.sqnrDb())).append("</td><td class=\"num\">")
                .append(layer.ownSqnrDb() == null ? "—" : db(layer.ownSqnrDb())).append("</td><td class=\"num\">")
                .append(String.format(Locale.ROOT, "%.4g", layer.maxAbsError())).append("</td></tr>\n"));
        html.append("</table>\n");
        CheckReports.Histograms histograms;
        try {
            histograms = Json.MAPPER.readValue(artifact(check, RecipeRun.HISTOGRAMS).toFile(),
                    CheckReports.Histograms.class);
        } catch (IOException e) {
            throw CompressException.badInput(artifact(check, RecipeRun.HISTOGRAMS), "cannot read ("
                    + e.getMessage() + ")");
        }
        if (histograms.layers().isEmpty()) {
            return;
        }
        html.append("<h2>Activation histograms of the worst layers</h2>\n<p>").append(esc(String.format(Locale.ROOT,
                "fp32 values of each activation on %d samples; the red lines are the range its INT8 quantization"
                        + " holds (values outside are clipped).", histograms.samples()))).append("</p>\n")
                .append("<div class=\"grid\">\n");
        for (CheckReports.Histograms.Layer layer : histograms.layers()) {
            long total = 0;
            for (long count : layer.counts()) {
                total += count;
            }
            html.append("<figure>").append(img(ReportCharts.histogram(layer), "histogram of " + layer.tensor()))
                    .append("<figcaption>").append(esc(String.format(Locale.ROOT,
                            "%s: INT8 range [%.4g, %.4g], values [%.4g, %.4g]; %d of %d clipped (%.3f%%)",
                            layer.tensor(), layer.clipLow(), layer.clipHigh(), layer.min(), layer.max(),
                            layer.clipped(), total, total == 0 ? 0 : 100.0 * layer.clipped() / total)))
                    .append("</figcaption></figure>\n");
        }
        html.append("</div>\n");
    }

    private void scan(Recipe.Check check) {
        CheckReports.Scan scan;
        try {
            scan = Json.MAPPER.readValue(artifact(check, ".json").toFile(), CheckReports.Scan.class);
        } catch (IOException e) {
            throw CompressException.badInput(artifact(check, ".json"), "cannot read (" + e.getMessage() + ")");
        }
        List<Double> sparsity = new ArrayList<>();
        List<Double> top1 = new ArrayList<>();
        List<Double> half = new ArrayList<>();
        double chosenTop1 = 0;
        for (CheckReports.Scan.Point point : scan.points()) {
            sparsity.add(100 * point.sparsity());
            top1.add(100 * point.top1().fraction());
            half.add(50 * (point.top1().ci95High() - point.top1().ci95Low()));
            if (point.sparsity() == scan.chosen()) {
                chosenTop1 = 100 * point.top1().fraction();
            }
        }
        html.append("<h2>Accuracy against sparsity</h2>\n<p>").append(esc(String.format(Locale.ROOT,
                "The model step '%s' read, pruned as that step does to each sparsity, on %d samples (fp32, before"
                        + " the steps after it).", scan.step(), scan.samples()))).append("</p>\n");
        html.append(img(ReportCharts.sparsity(sparsity, top1, half, 100 * scan.chosen(), chosenTop1, scan.step()),
                "top-1 against sparsity"));
        html.append("<table>\n<tr><th>sparsity</th><th>top-1 (95% CI)</th></tr>\n");
        for (CheckReports.Scan.Point point : scan.points()) {
            html.append("<tr><td class=\"num\">").append(String.format(Locale.ROOT, "%.0f%%", 100 * point.sparsity()))
                    .append(point.sparsity() == scan.chosen() ? " (the recipe's)" : "")
                    .append("</td><td class=\"num\">")
                    .append(esc(point.top1().describe())).append("</td></tr>\n");
        }
        html.append("</table>\n");
    }

    private void recipeText() {
        String text;
        try {
            text = Files.readString(file.file(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw CompressException.badInput(file.file(), "cannot read (" + e.getMessage() + ")");
        }
        html.append("<h2>Recipe</h2>\n<p>").append(esc(file.file().getFileName().toString()))
                .append(", as written:</p>\n<pre>").append(esc(text)).append("</pre>\n")
                .append("<details><summary>With every default filled in</summary>\n<pre>")
                .append(esc(file.explain())).append("</pre></details>\n");
    }

    // ---- the run folder

    private RecipeRun.Entry entry(String name) {
        return record.steps().stream().filter(e -> e.name().equals(name)).findFirst()
                .orElseThrow(() -> CompressException.badInput(runDir.resolve(RecipeRun.RECORD), "has no step '"
                        + name + "'; run the recipe first"));
    }

    /** The check's artifact whose name ends with {@code -NAME<suffix>}. */
    private Path artifact(Recipe.Check check, String suffix) {
        return entry(check.name()).artifacts().keySet().stream()
                .filter(n -> n.endsWith("-" + check.name() + suffix)).findFirst().map(runDir::resolve)
                .orElseThrow(() -> CompressException.badInput(runDir.resolve(RecipeRun.RECORD), "lists no "
                        + suffix + " file of check '" + check.name() + "'"));
    }

    private Path lastModel() {
        List<Recipe.Step> steps = file.recipe().steps();
        return entry(steps.get(steps.size() - 1).name()).artifacts().keySet().stream()
                .filter(n -> n.endsWith(".onnx")).findFirst().map(runDir::resolve).orElse(null);
    }

    private Optional<Recipe.Check> first(Class<? extends Recipe.Check> type) {
        return file.recipe().checks().stream().filter(type::isInstance).findFirst();
    }

    /** The baseline's figures of the first check of {@code type} (by its name, else by kind). */
    private Optional<CheckFigures> baselineFigures(Class<? extends Recipe.Check> type, String kind) {
        if (baseline == null) {
            return Optional.empty();
        }
        String name = first(type).map(Recipe.Check::name).orElse("");
        return baseline.figures(name, kind);
    }

    private static JsonNode json(Path file) {
        try {
            return Json.readStrict(file);
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot read (" + e.getMessage() + ")");
        }
    }

    /** The report's display names of the classes, or null; BAD_INPUT if the file does not fit the classes. */
    private List<String> displayNames(int classes) {
        Recipe.Report report = file.recipe().report();
        if (report == null || report.classNames() == null) {
            return null;
        }
        Path names = file.resolve(report.classNames());
        try {
            List<String> lines = Files.readAllLines(names, StandardCharsets.UTF_8).stream().map(String::strip)
                    .filter(s -> !s.isEmpty()).toList();
            if (lines.size() != classes) {
                throw CompressException.badInput(names, "has " + lines.size() + " names for " + classes + " classes");
            }
            return lines;
        } catch (IOException e) {
            throw CompressException.badInput(names, "cannot read (" + e.getMessage() + ")");
        }
    }

    /** Class names for chart axes: as they are when the chart font draws them and they are few, else numbers. */
    private static List<String> chartLabels(List<String> classes) {
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
        boolean names = classes.size() <= 12 && classes.stream().allMatch(c -> c.length() <= 14
                && c.chars().allMatch(ch -> ch < 0x250) && font.canDisplayUpTo(c) < 0);
        List<String> labels = new ArrayList<>();
        for (int c = 0; c < classes.size(); c++) {
            labels.add(names ? classes.get(c) : Integer.toString(c));
        }
        return labels;
    }

    // ---- formatting

    /** A step's or check's kind and settings, {@code key: value}, without its name. */
    private static String settings(Object step, String kind) {
        JsonNode node = Json.MAPPER.valueToTree(step);
        StringBuilder text = new StringBuilder(node.path(kind).asText());
        node.fields().forEachRemaining(field -> {
            if (!field.getKey().equals("name") && !field.getKey().equals(kind)) {
                text.append(", ").append(field.getKey()).append(": ").append(field.getValue().isTextual()
                        ? field.getValue().asText() : field.getValue().toString());
            }
        });
        return text.toString();
    }

    /** A gate's figure to 4 significant digits, its interval to 2 decimals. */
    private static String value(RecipeRun.GateOutcome gate) {
        if (gate.value() == null) {
            return "exact";
        }
        String value = new BigDecimal(gate.value()).round(new MathContext(4))
                .stripTrailingZeros().toPlainString();
        return gate.ci95Low() == null ? value : String.format(Locale.ROOT, "%s (%.2f to %.2f)", value,
                gate.ci95Low(), gate.ci95High());
    }

    private static String label(int c, List<String> classes, List<String> display) {
        return c + " " + esc(classes.get(c)) + (display == null ? "" : " " + name(display.get(c)));
    }

    /** A display name: marked as Chinese where it has CJK characters, so the CJK font is chosen. */
    private static String name(String text) {
        boolean cjk = text.codePoints().anyMatch(cp -> Character.UnicodeScript.of(cp) == Character.UnicodeScript.HAN);
        return cjk ? "<span class=\"zh\" lang=\"zh\">" + esc(text) + "</span>" : esc(text);
    }

    private static String img(String dataUri, String alt) {
        return "<img src=\"" + dataUri + "\" alt=\"" + esc(alt) + "\">\n";
    }

    private static String percent(double value) {
        return String.format(Locale.ROOT, "%.1f%%", value);
    }

    private static String change(double points) {
        String text = String.format(Locale.ROOT, "%+.1f", points);
        if (text.equals("-0.0") || text.equals("+0.0")) {
            return "<td class=\"num\">0.0</td>";
        }
        return "<td class=\"num " + (points < 0 ? "neg" : "posd") + "\">" + text.replace("-", "−") + "</td>";
    }

    private static String bytes(long bytes) {
        return String.format(Locale.ROOT, "%,d bytes", bytes);
    }

    private static String ms(double ms) {
        return String.format(Locale.ROOT, "%.3g ms", ms);
    }

    private static String db(Double value) {
        return value == null ? "exact" : String.format(Locale.ROOT, "%.1f dB", value);
    }

    static String esc(String text) {
        if (text == null) {
            return "";
        }
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }

    private static final String STYLE = String.join("\n",
            "body { font-family: \"Noto Sans\", \"DejaVu Sans\", \"Helvetica Neue\", Arial, sans-serif;"
                    + " margin: 24px auto; max-width: 1000px; padding: 0 16px; color: #222; font-size: 14px; }",
            "h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px;"
                    + " border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 15px; }",
            "table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 8px; text-align: left;"
                    + " border-bottom: 1px solid #eee; vertical-align: top; }",
            "table.facts th { color: #555; font-weight: normal; } td.num { text-align: right;"
                    + " font-variant-numeric: tabular-nums; white-space: nowrap; }",
            "td.msg { font-size: 12px; color: #444; } td.code { overflow-wrap: anywhere; }",
            ".code, pre { font-family: \"DejaVu Sans Mono\", monospace; font-size: 12px; }",
            "pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }",
            ".verdict { font-size: 16px; font-weight: bold; padding: 6px 10px; display: inline-block; }",
            ".verdict.pass, td.pass { color: #1e7b34; } .verdict.pass { background: #e6f4ea; }",
            ".verdict.fail, td.fail { color: #b3261e; font-weight: bold; } .verdict.fail { background: #fdecea; }",
            ".neg { color: #b3261e; } .posd { color: #1e7b34; } .hash { color: #888; font-size: 12px; }",
            ".zh, :lang(zh) { font-family: \"Noto Sans CJK SC\", \"Noto Sans SC\", \"Source Han Sans SC\","
                    + " \"WenQuanYi Micro Hei\", sans-serif; }",
            "img { max-width: 100%; height: auto; display: block; margin: 8px 0; }",
            ".grid { display: flex; flex-wrap: wrap; gap: 8px; } figure { margin: 0; width: 470px; }"
                    + " figcaption { font-size: 12px; color: #444; }",
            "table.matrix td, table.matrix th { padding: 2px 5px; font-size: 12px; }",
            "");
}
