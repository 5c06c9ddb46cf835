package dev.compress.recipe;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.eval.EvalReport;
import java.nio.file.Path;

/**
 * The figures of one check that gates read, from its report in a run folder, or from the matching part of a report
 * of a single command ({@code compress eval --report}, {@code compress quantize --report}).
 *
 * @param kind {@code eval}, {@code fidelity}, {@code latency}, {@code size} or {@code score}
 * @param file the file the figures come from, for messages
 * @param node the report (for a quantize report's size: its {@code size} object)
 * @param eval the eval report, for kind {@code eval}
 * @param predictions every sample's predictions, for an eval check of a run; else {@code null}
 */
record CheckFigures(String kind, Path file, JsonNode node, EvalReport eval, CheckReports.Predictions predictions) {

    /** The kind of check a run folder's report came from, by its fields; {@code null} for others. */
    static String kindOf(JsonNode report) {
        if (report.has("perClass") && report.has("top1")) {
            return "eval";
        }
        if (report.has("outputs") && report.has("heldOut")) {
            return "fidelity";
        }
        if (report.has("int8OverFp32")) {
            return "latency";
        }
        if (report.has("bytes") && report.has("sourceBytes")) {
            return "size";
        }
        if (report.has("teacher") && report.has("parity")) {
            return "score";
        }
        return null;
    }

    /** The figures of a check report of kind {@code kind} (see {@link #kindOf}). */
    static CheckFigures of(String kind, Path file, JsonNode report, CheckReports.Predictions predictions) {
        return new CheckFigures(kind, file, report, "eval".equals(kind) ? EvalReport.fromJson(file, report) : null,
                predictions);
    }

    /**
     * The lowest mean output cosine of a fidelity report; BAD_INPUT if it compared no float output.
     */
    double cosine() {
        double lowest = Double.POSITIVE_INFINITY;
        for (JsonNode output : outputs()) {
            lowest = Math.min(lowest, number(output, "meanCosine"));
        }
        return lowest;
    }

    /** The lowest output SQNR in dB of a fidelity report; {@code null} when every output was exact. */
    Double sqnr() {
        Double lowest = null;
        for (JsonNode output : outputs()) {
            if (output.hasNonNull("sqnrDb")) {
                double value = number(output, "sqnrDb");
                lowest = lowest == null ? value : Math.min(lowest, value);
            }
        }
        return lowest;
    }

    private JsonNode outputs() {
        JsonNode outputs = node.path("outputs");
        if (!outputs.isArray() || outputs.isEmpty()) {
            throw CompressException.badInput(file, "compared no float output; cosine and SQNR need one");
        }
        return outputs;
    }

    /** A fidelity report's score: top-1 agreement for class scores, mean cosine otherwise, the lowest over outputs. */
    double score() {
        return number(node, "fidelity");
    }

    /** INT8 / fp32 time of a latency report. */
    double latencyRatio() {
        return number(node, "int8OverFp32");
    }

    /** Model bytes of a size report (a quantize report's {@code size}: its INT8 bytes). */
    long bytes() {
        return (long) number(node, node.has("bytes") ? "bytes" : "int8Bytes");
    }

    /** Model bytes over source bytes. */
    double sizeRatio() {
        double source = number(node, node.has("sourceBytes") ? "sourceBytes" : "fp32Bytes");
        return source > 0 ? bytes() / source : 0;
    }

    /**
     * A score report's figure: {@code agreement} (top-1, a fraction), {@code kl} (at the first temperature),
     * {@code cosine} (mean) or {@code relative-max-diff}; BAD_INPUT when the report has none (embeddings: no
     * agreement or KL).
     */
    double teacherFigure(String metric) {
        return switch (metric) {
            case "agreement" -> number(node.path("agreement"), "fraction");
            case "kl" -> number(node.path("kl").path(0).path("kl"), "mean");
            case "cosine" -> number(node.path("cosine"), "mean");
            default -> number(node.path("parity"), "relativeMaxDiff");
        };
    }

    double number(JsonNode from, String field) {
        JsonNode value = from.get(field);
        if (value == null || !value.isNumber()) {
            throw CompressException.badInput(file, "has no number '" + field + "'");
        }
        return value.doubleValue();
    }
}
