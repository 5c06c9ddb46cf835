package dev.compress.calibrate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.StagedFile;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What calibration observed, per tensor: exact finite extremes, counts of values and of NaN/Inf, and (unless only
 * MinMax was asked for) a {@link Histogram}. Ranges for any method are derived from it without running the model
 * again, so one table serves many quantization settings. Saved as JSON with the SHA-256 of the model it belongs to.
 */
public final class CalibrationTable {
    static final String FORMAT = "compress-calibration-table";
    static final int VERSION = 1;
    private static final double[] SUMMARY_PERCENTILES = {99.0, 99.9, 99.99};

    private final String modelName;
    private final String modelSha256;
    private final long samples;
    private final long histogramSamples;
    private final int bins;
    private final double movingAverage;
    private final Map<String, TensorStatistics> tensors;
    private final Path source;

    CalibrationTable(String modelName, String modelSha256, long samples, long histogramSamples, int bins,
            double movingAverage, Map<String, TensorStatistics> tensors, Path source) {
        this.modelName = modelName;
        this.modelSha256 = modelSha256;
        this.samples = samples;
        this.histogramSamples = histogramSamples;
        this.bins = bins;
        this.movingAverage = movingAverage;
        this.tensors = tensors;
        this.source = source;
    }

    /** SHA-256 (hex) of the model's serialized protobuf, external data inlined: what a table is tied to. */
    public static String modelHash(OnnxModel model) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(model.toBytes()));
        } catch (NoSuchAlgorithmException e) {
            throw CompressException.internal("SHA-256 is not available", e);
        }
    }

    public long samples() {
        return samples;
    }

    /** How many of the samples the histograms were built from (0 without histograms); extremes use all. */
    public long histogramSamples() {
        return histogramSamples;
    }

    /** Histogram bins per side, or 0 if the table holds extremes only. */
    public int bins() {
        return bins;
    }

    /** The moving-average constant the table was collected with, 0 if none. */
    public double movingAverage() {
        return movingAverage;
    }

    public String modelSha256() {
        return modelSha256;
    }

    /** Tensor names, in the order they were calibrated. */
    public Set<String> tensors() {
        return tensors.keySet();
    }

    /**
     * The exact finite extremes observed for each of {@code names}, whatever method the ranges use: what a tensor
     * really reached, e.g. to keep an attention mask in float even when a clipping method would cut it off.
     *
     * @throws CompressException BAD_INPUT as {@link #ranges}
     */
    public Map<String, TensorRange> observed(Collection<String> names) {
        return ranges(CalibrationSettings.defaults(), names, false);
    }

    /** NaN and infinite values calibration saw in a tensor (left out of its range); 0 for an unknown tensor. */
    public long nonFinite(String tensor) {
        TensorStatistics stats = tensors.get(tensor);
        return stats == null ? 0 : stats.nonFinite;
    }

    /** The statistics of one tensor, or null. */
    TensorStatistics statistics(String tensor) {
        return tensors.get(tensor);
    }

    /**
     * Refuses a table made for another model.
     *
     * @throws CompressException BAD_INPUT naming the table file when the model hashes differ
     */
    public void checkModel(OnnxModel model) {
        String hash = modelHash(model);
        if (!hash.equals(modelSha256)) {
            throw CompressException.badInput(source, "calibration table of model " + modelName + " (sha256 "
                    + abbreviate(modelSha256) + "), not of " + model.displayName() + " (sha256 " + abbreviate(hash)
                    + "); calibrate this model or pass its own table");
        }
    }

    private static String abbreviate(String hash) {
        return hash.length() > 12 ? hash.substring(0, 12) + "…" : hash;
    }

    /**
     * Ranges of {@code names} under {@code settings}.
     *
     * @param symmetric ranges of the form [-t, t] (int8 activations, or symmetric uint8)
     * @throws CompressException BAD_INPUT when the table lacks a tensor, lacks histograms the method needs, was collected
     *     with other bins or moving average, or a tensor had no finite value
     */
    public Map<String, TensorRange> ranges(CalibrationSettings settings, Collection<String> names, boolean symmetric) {
        if (settings.needsHistograms() && bins != 0 && settings.bins() != bins) {
            throw CompressException.badInput(source, "holds histograms of " + bins + " bins, not the "
                    + settings.bins() + " asked for; bins are fixed when calibrating");
        }
        Map<String, TensorRange> ranges = new LinkedHashMap<>();
        for (String name : names) {
            ranges.put(name, range(name, settings, symmetric));
        }
        return ranges;
    }

    private TensorRange range(String name, CalibrationSettings settings, boolean symmetric) {
        TensorStatistics stats = tensors.get(name);
        CalibrationMethod method = settings.methodFor(name);
        if (stats == null) {
            throw CompressException.badInput(source, "has no statistics for tensor '" + name + "' (made for another"
                    + " graph or other settings); calibrate again");
        }
        if (!stats.seen()) {
            throw CompressException.badInput(source, "tensor '" + name + "' had no finite value during calibration ("
                    + stats.nonFinite + " NaN or infinite values): the model overflows on these samples");
        }
        if (stats.min == stats.max) {
            // a constant: exactly representable once the range is widened to include zero
            return finish(name, method, stats.min, stats.max, symmetric);
        }
        if (method.needsHistogram() && stats.histogram == null) {
            throw CompressException.badInput(source, "holds extremes only (collected for minmax), but tensor '" + name
                    + "' asks for " + method.id() + "; calibrate with a histogram method to reuse the table");
        }
        if (method == CalibrationMethod.MINMAX) {
            if (settings.movingAverage() > 0) {
                if (settings.movingAverage() != movingAverage) {
                    throw CompressException.badInput(source, "was collected with moving average " + movingAverage
                            + ", not " + settings.movingAverage() + "; calibrate again");
                }
                return finish(name, method, stats.averageMin, stats.averageMax, symmetric);
            }
            return finish(name, method, stats.min, stats.max, symmetric);
        }
        RangeSearch search = new RangeSearch(stats, symmetric ? 255 : 256, symmetric);
        float[] range = switch (method) {
            case PERCENTILE -> search.percentile(settings.percentile());
            case ENTROPY -> search.entropy();
            case MSE -> search.mse();
            case MINMAX -> search.minMax();
        };
        return new TensorRange(name, method, range[0], range[1]);
    }

    private static TensorRange finish(String name, CalibrationMethod method, float min, float max, boolean symmetric) {
        if (symmetric) {
            float t = Math.max(Math.abs(min), Math.abs(max));
            return new TensorRange(name, method, -t, t);
        }
        return new TensorRange(name, method, min, max);
    }

    /** One line per tensor that had NaN or infinite values, which calibration left out. */
    public List<String> warnings() {
        List<String> warnings = new ArrayList<>();
        tensors.forEach((name, stats) -> {
            if (stats.nonFinite > 0) {
                warnings.add(String.format(Locale.ROOT, "tensor '%s': %d of %d values were NaN or infinite and were"
                        + " left out of its range", name, stats.nonFinite, stats.nonFinite + stats.count));
            }
        });
        return warnings;
    }

    /** Writes the table as JSON (atomically), with the ranges {@code settings} give for a report. */
    public void save(Path file, CalibrationSettings settings, boolean symmetric) {
        StagedFile.writeString(file, toJson(settings, symmetric));
    }

    /** The JSON text: same statistics and settings give the same bytes. */
    public String toJson(CalibrationSettings settings, boolean symmetric) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("format", FORMAT);
        root.put("version", VERSION);
        ObjectNode model = root.putObject("model");
        model.put("name", modelName);
        model.put("sha256", modelSha256);
        root.put("samples", samples);
        root.put("histogramSamples", histogramSamples);
        root.put("bins", bins);
        root.put("movingAverage", movingAverage);
        ObjectNode ranges = root.putObject("ranges");
        ranges.put("method", settings.method().id());
        ranges.put("percentile", settings.percentile());
        ranges.put("symmetric", symmetric);
        ranges.set("perTensor", Json.MAPPER.valueToTree(settings.perTensorIds()));
        ObjectNode out = root.putObject("tensors");
        tensors.forEach((name, stats) -> {
            ObjectNode t = out.putObject(name);
            t.put("count", stats.count);
            t.put("nonFinite", stats.nonFinite);
            if (stats.seen()) {
                t.put("min", stats.min);
                t.put("max", stats.max);
                if (movingAverage > 0 && !Float.isNaN(stats.averageMin)) {
                    t.put("averageMin", stats.averageMin);
                    t.put("averageMax", stats.averageMax);
                }
                TensorRange range = range(name, settings.needsHistograms() && stats.histogram == null
                        ? CalibrationSettings.of(CalibrationMethod.MINMAX) : settings, symmetric);
                ObjectNode r = t.putObject("range");
                r.put("method", range.method().id());
                r.put("min", range.min());
                r.put("max", range.max());
            }
            if (stats.histogram != null) {
                t.set("histogram", histogramJson(stats));
            }
        });
        return Json.pretty(root);
    }

    private static ObjectNode histogramJson(TensorStatistics stats) {
        Histogram h = stats.histogram;
        ObjectNode node = Json.MAPPER.createObjectNode();
        node.put("exponent", h.exponent == Histogram.EMPTY ? null : h.exponent);
        node.put("binWidth", h.binWidth());
        node.put("zeros", h.zeros);
        if (stats.seen() && stats.min < stats.max) {
            ObjectNode percentiles = node.putObject("absPercentiles");
            RangeSearch search = new RangeSearch(stats, 255, true);
            for (double p : SUMMARY_PERCENTILES) {
                percentiles.put(Double.toString(p), search.percentile(p)[1]);
            }
        }
        // non-empty bins as a flat list: i, count, i, count, ... where bin i holds [i w, (i + 1) w)
        ArrayNode counts = node.putArray("counts");
        for (int k = 0; k < h.counts.length; k++) {
            if (h.counts[k] != 0) {
                counts.add(k - h.bins);
                counts.add(h.counts[k]);
            }
        }
        return node;
    }

    /**
     * Reads a table written by {@link #save}.
     *
     * @throws CompressException BAD_INPUT naming the file when it is missing, not JSON or not a calibration table
     */
    public static CalibrationTable load(Path file) {
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw CompressException.badInput(file, "no such file");
        } catch (IOException e) {
            throw CompressException.badInput(file, "not a calibration table (not valid JSON: "
                    + firstLine(e.getMessage()) + ")", e);
        }
        if (root == null || !FORMAT.equals(root.path("format").asText())) {
            throw CompressException.badInput(file, "not a calibration table (no \"format\": \"" + FORMAT + "\")");
        }
        if (root.path("version").asInt() != VERSION) {
            throw CompressException.badInput(file, "calibration table version " + root.path("version").asText()
                    + " is not supported (this build reads version " + VERSION + ")");
        }
        try {
            int bins = required(root, "bins").asInt();
            double movingAverage = root.path("movingAverage").asDouble(0);
            Map<String, TensorStatistics> tensors = new LinkedHashMap<>();
            Iterator<Map.Entry<String, JsonNode>> fields = required(root, "tensors").fields();
            while (fields.hasNext()) {
                Map.Entry<String, JsonNode> entry = fields.next();
                tensors.put(entry.getKey(), readTensor(entry.getValue(), bins, movingAverage));
            }
            JsonNode model = required(root, "model");
            long samples = required(root, "samples").asLong();
            // tables written before histograms could use a subset built them from every sample
            long histogramSamples = root.path("histogramSamples").asLong(bins == 0 ? 0 : samples);
            return new CalibrationTable(required(model, "name").asText(), required(model, "sha256").asText(),
                    samples, histogramSamples, bins, movingAverage, tensors, file);
        } catch (IllegalArgumentException | ArrayIndexOutOfBoundsException e) {
            throw CompressException.badInput(file, "damaged calibration table (" + e.getMessage() + ")", e);
        }
    }

    private static TensorStatistics readTensor(JsonNode node, int bins, double movingAverage) {
        JsonNode histogram = node.get("histogram");
        if (histogram != null && bins < CalibrationSettings.MIN_BINS) {
            throw new IllegalArgumentException("histogram with " + bins + " bins");
        }
        TensorStatistics stats = new TensorStatistics(histogram == null ? 0 : bins, movingAverage);
        stats.count = required(node, "count").asLong();
        stats.nonFinite = required(node, "nonFinite").asLong();
        if (node.has("min")) {
            stats.min = (float) required(node, "min").asDouble();
            stats.max = (float) required(node, "max").asDouble();
        }
        if (node.has("averageMin")) {
            stats.averageMin = (float) node.get("averageMin").asDouble();
            stats.averageMax = (float) node.get("averageMax").asDouble();
        }
        if (histogram != null) {
            Histogram h = stats.histogram;
            JsonNode exponent = histogram.get("exponent");
            h.exponent = exponent == null || exponent.isNull() ? Histogram.EMPTY : exponent.asInt();
            h.zeros = required(histogram, "zeros").asLong();
            JsonNode counts = required(histogram, "counts");
            for (int i = 0; i + 1 < counts.size(); i += 2) {
                h.counts[bins + counts.get(i).asInt()] = counts.get(i + 1).asLong();
            }
        }
        return stats;
    }

    private static JsonNode required(JsonNode node, String field) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            throw new IllegalArgumentException("missing \"" + field + "\"");
        }
        return value;
    }

    private static String firstLine(String message) {
        String text = String.valueOf(message).strip();
        int newline = text.indexOf('\n');
        return newline < 0 ? text : text.substring(0, newline);
    }
}
