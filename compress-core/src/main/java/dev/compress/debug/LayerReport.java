package dev.compress.debug;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.compress.Json;
import dev.compress.StagedFile;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The layers of a quantized model ranked by how far their INT8 activations are from fp32, worst first.
 *
 * <p>SQNR = 10·log10(Σ x² / Σ (x − x̂)²) over all elements and samples, x the fp32 activation and x̂ the INT8
 * model's (dequantized) value. Higher is better; every 6 dB is about one bit. Errors accumulate along the network,
 * so a layer's SQNR includes what earlier layers lost (as in ONNX Runtime's qdq_loss_debug and torch's numeric
 * suite); see docs/scoring.md for how to read the ranking.
 *
 * @param fp32 the fp32 model
 * @param int8 the quantized model
 * @param data the samples
 * @param samples number of samples run
 * @param output the model output's SQNR: the end-to-end effect
 * @param layers one entry per matched activation, lowest SQNR first
 * @param errorGrowth the layer whose output loses the most SQNR against what it reads, when that is at least
 *     {@link #GROWTH_DB}; else {@code null}
 * @param sensitivity what excluding each weighted layer gains at the output; {@code null} unless asked for
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"fp32", "int8", "data", "samples", "output", "errorGrowth", "layers", "sensitivity"})
public record LayerReport(String fp32, String int8, String data, long samples, Output output,
        ErrorGrowth errorGrowth, List<Layer> layers, Sensitivity sensitivity) {
    /**
     * SQNR a layer must lose against its inputs to be named where the error grows: a quantized layer's own 8-bit
     * rounding costs a few dB; a float Log after an 8-bit tensor of values spanning decades (openWakeWord's log-mel
     * front end) cost 30.
     */
    public static final double GROWTH_DB = 10;

    /**
     * Where the error grows most: the accumulated SQNR falls from what a layer reads to what it writes. Accumulated
     * SQNR alone names the layers after such a point, which only carry its error (the Mul, Div and Sub after
     * openWakeWord's Log, all at -6.8 dB).
     *
     * @param node the layer
     * @param opType its operator
     * @param excludable whether it has INT8 weights
     * @param inputSqnrDb the lowest SQNR among the activations it reads
     * @param sqnrDb its own activation's SQNR
     * @param exclude the layers whose {@code --exclude} keeps its input float: itself when excludable, else the
     *     nearest weighted INT8 layers before it; empty when none (it reads the model input)
     */
    @JsonPropertyOrder({"node", "opType", "excludable", "inputSqnrDb", "sqnrDb", "exclude"})
    public record ErrorGrowth(String node, String opType, boolean excludable, double inputSqnrDb, double sqnrDb,
            List<String> exclude) {
        public ErrorGrowth {
            inputSqnrDb = round(inputSqnrDb);
            sqnrDb = round(sqnrDb);
            exclude = List.copyOf(exclude);
        }

        /** {@code Log_17 (Log, kept float: 24.1 dB in, -6.8 dB out)}. */
        public String describe() {
            return String.format(Locale.ROOT, "%s (%s%s: %s dB in, %s dB out)", node, opType,
                    excludable ? "" : ", kept float", tenth(inputSqnrDb), tenth(sqnrDb));
        }
    }

    public LayerReport {
        layers = List.copyOf(layers);
    }

    /**
     * The output SQNR of the fp32 model re-quantized with each weighted layer excluded in turn (same settings and
     * calibration ranges as the INT8 model), on the report's data.
     *
     * @param calibration the calibration samples the ranges came from
     * @param baselineSqnrDb output SQNR of the re-quantized model with no extra exclusion
     * @param baselineTop1Agreement its samples whose top-1 matches fp32
     * @param layers largest gain first
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"calibration", "baselineSqnrDb", "baselineTop1Agreement", "layers"})
    public record Sensitivity(String calibration, Double baselineSqnrDb, long baselineTop1Agreement,
            List<Gain> layers) {
        public Sensitivity {
            baselineSqnrDb = round(baselineSqnrDb);
            layers = List.copyOf(layers);
        }
    }

    /**
     * One weighted layer's exclusion.
     *
     * @param node the node name {@code compress quantize --exclude} takes
     * @param opType its operator
     * @param outputSqnrDb output SQNR with it excluded, {@code null} when exact
     * @param gainDb that minus the baseline: positive when excluding it helps
     * @param top1Agreement samples whose top-1 matches fp32 with it excluded
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"node", "opType", "outputSqnrDb", "gainDb", "top1Agreement"})
    public record Gain(String node, String opType, Double outputSqnrDb, Double gainDb, long top1Agreement) {
        public Gain {
            outputSqnrDb = round(outputSqnrDb);
            gainDb = round(gainDb);
        }
    }

    /**
     * The layer whose exclusion raises the output SQNR most, if the sensitivity ranking was run and any exclusion
     * raises it at all.
     */
    @JsonIgnore
    public java.util.Optional<Gain> bestExclusion() {
        if (sensitivity == null) {
            return java.util.Optional.empty();
        }
        return sensitivity.layers().stream().filter(g -> g.gainDb() == null || g.gainDb() > 0).findFirst();
    }

    static Double round(Double value) {
        return value == null ? null : new BigDecimal(value).round(new MathContext(7)).doubleValue();
    }

    /**
     * The model output compared end to end.
     *
     * @param tensor the output name
     * @param sqnrDb its SQNR, {@code null} when identical
     * @param maxAbsError the largest |fp32 − INT8| over all elements
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"tensor", "sqnrDb", "maxAbsError"})
    public record Output(String tensor, Double sqnrDb, double maxAbsError) {
        public Output {
            sqnrDb = round(sqnrDb);
            maxAbsError = round(maxAbsError);
        }
    }

    /**
     * One layer.
     *
     * @param node the node name (in both models; what {@code compress quantize --exclude} takes)
     * @param opType its operator
     * @param tensor the fp32 activation compared
     * @param int8Tensor the INT8 model's tensor it is compared with (the dequantized copy when there is one)
     * @param excludable whether the node has INT8 weights, so that {@code --exclude} of it changes the model
     * @param sqnrDb SQNR in dB, {@code null} when the values are identical: the accumulated loss up to here
     * @param inputSqnrDb the lowest SQNR among the compared activations it reads; {@code null} when they are exact,
     *     not compared (the model input, weights) or near zero
     * @param ownSqnrDb SQNR of this tensor's own quantize-dequantize step inside the INT8 model (its value before
     *     the QDQ pair against after it): the rounding noise this tensor adds, whatever came before; absent when the
     *     tensor has no QDQ pair
     * @param maxAbsError the largest |fp32 − INT8| over all elements
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"node", "opType", "tensor", "int8Tensor", "excludable", "sqnrDb", "inputSqnrDb",
        "ownSqnrDb", "maxAbsError"})
    public record Layer(String node, String opType, String tensor, String int8Tensor, boolean excludable,
            Double sqnrDb, Double inputSqnrDb, Double ownSqnrDb, double maxAbsError) {
        public Layer {
            sqnrDb = round(sqnrDb);
            inputSqnrDb = round(inputSqnrDb);
            ownSqnrDb = round(ownSqnrDb);
            maxAbsError = round(maxAbsError);
        }
    }

    /** The layers to try keeping in float ({@code --exclude}), worst first: at most {@code n} node names. */
    @JsonIgnore
    public List<String> suggestions(int n) {
        return layers.stream().filter(Layer::excludable).filter(l -> l.sqnrDb() != null).limit(n)
                .map(Layer::node).distinct().toList();
    }

    /** Pretty-printed JSON ending with a newline. */
    public String toJson() {
        return Json.pretty(this);
    }

    /** Writes {@link #toJson()} atomically. */
    public void writeJson(Path file) {
        StagedFile.writeString(file, toJson());
    }

    /**
     * Writes a PNG bar chart of the {@code maxLayers} worst layers' SQNR, atomically; the same report gives the same
     * bytes on the same machine (fonts come from the system).
     */
    public void writeChart(Path file, int maxLayers) {
        SqnrChart.write(this, file, maxLayers);
    }

    /** A table of the {@code maxLayers} worst layers for the terminal. */
    public String summary(int maxLayers) {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%s vs %s on %s (%d samples)\n", int8, fp32, data, samples));
        out.append(String.format(Locale.ROOT, "output %s: SQNR %s\n", output.tensor(), db(output.sqnrDb())));
        if (errorGrowth != null) {
            out.append("the error grows most at ").append(errorGrowth.describe()).append('\n');
        }
        out.append(String.format(Locale.ROOT, "%-8s  %-8s  %-18s  %s\n", "SQNR dB", "own dB", "op", "node"));
        layers.stream().limit(maxLayers).forEach(l -> out.append(String.format(Locale.ROOT,
                "%-8s  %-8s  %-18s  %s%s\n", db(l.sqnrDb()), l.ownSqnrDb() == null ? "-" : db(l.ownSqnrDb()),
                l.opType(), l.node(), l.excludable() ? "" : " (follows its inputs)")));
        if (sensitivity != null) {
            out.append(String.format(Locale.ROOT, "exclusion sensitivity (re-quantized, ranges from %s): output SQNR"
                    + " %s with no extra exclusion\n", sensitivity.calibration(), db(sensitivity.baselineSqnrDb())));
            out.append(String.format(Locale.ROOT, "%-8s  %-8s  %-18s  %s\n", "gain dB", "output", "op",
                    "excluded node"));
            sensitivity.layers().stream().limit(maxLayers).forEach(g -> out.append(String.format(Locale.ROOT,
                    "%-8s  %-8s  %-18s  %s\n", g.gainDb() == null ? "-" : String.format(Locale.ROOT, "%+.2f",
                            Math.round(g.gainDb() * 100) / 100.0), db(g.outputSqnrDb()), g.opType(), g.node())));
        }
        return out.toString();
    }

    /** One decimal, without the {@code -0.0} that {@code %.1f} writes. */
    static String tenth(double value) {
        return String.valueOf(Math.round(value * 10) / 10.0);
    }

    private static String db(Double value) {
        return value == null ? "exact" : String.format(Locale.ROOT, "%.2f", value);
    }
}
