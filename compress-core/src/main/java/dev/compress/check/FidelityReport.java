package dev.compress.check;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.compress.debug.LayerReport;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.List;
import java.util.Locale;

/**
 * How close a quantized model's outputs stay to its fp32 source's on samples (see {@link FidelityCheck}).
 *
 * @param data where the samples come from
 * @param samples samples compared
 * @param heldOut whether calibration never saw them (false: calibration used every sample, so a fixed subset of
 *     them was compared)
 * @param fidelity the lowest score over the outputs: top-1 agreement for a classifier output, mean cosine otherwise;
 *     {@code null} when no output is a float tensor
 * @param warnBelow a fidelity below this is warned about
 * @param minFidelity a fidelity below this fails the check; {@code null} when no minimum was asked for
 * @param belowThreshold fidelity is below {@code warnBelow} or {@code minFidelity}
 * @param passed whether fidelity reaches {@code minFidelity}; {@code null} without one
 * @param outputs one entry per float output, in model order
 * @param errorGrowth when below a threshold: the layer where the SQNR falls most from its inputs to its output,
 *     if it falls by {@link LayerReport#GROWTH_DB} or more, and what to exclude to keep its input float
 * @param worstLayers when below a threshold: the layers with the lowest SQNR against fp32 (the debug ranking),
 *     worst first
 * @param layerRanking why {@code worstLayers} is missing although below a threshold; else {@code null}
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"data", "samples", "heldOut", "fidelity", "warnBelow", "minFidelity", "belowThreshold", "passed",
    "outputs", "errorGrowth", "worstLayers", "layerRanking"})
public record FidelityReport(String data, long samples, boolean heldOut, Double fidelity, double warnBelow,
        Double minFidelity, boolean belowThreshold, Boolean passed, List<Output> outputs,
        LayerReport.ErrorGrowth errorGrowth, List<Layer> worstLayers, String layerRanking) {
    public FidelityReport {
        fidelity = round(fidelity);
        outputs = List.copyOf(outputs);
        worstLayers = worstLayers == null ? null : List.copyOf(worstLayers);
    }

    /**
     * One output of both models.
     *
     * @param name the output
     * @param classifier whether it looks like class scores ({@code [N, C]}, C > 1): its score is top-1 agreement
     * @param top1Agreement share of samples whose arg-max class is the same; {@code null} unless a classifier
     * @param meanCosine mean over samples of the cosine between the two outputs, each flattened; for an output of
     *     one value per sample, whose own cosine says only whether the signs agree, the cosine between the samples'
     *     values taken as one vector
     * @param sqnrDb 10·log10(Σ x² / Σ (x − x̂)²) over all elements; {@code null} when identical
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"name", "classifier", "top1Agreement", "meanCosine", "sqnrDb"})
    public record Output(String name, boolean classifier, Double top1Agreement, double meanCosine, Double sqnrDb) {
        public Output {
            top1Agreement = round(top1Agreement);
            meanCosine = round(meanCosine);
            sqnrDb = round(sqnrDb);
        }

        /** What the threshold is compared with. */
        double score() {
            return classifier ? top1Agreement : meanCosine;
        }
    }

    /**
     * A layer of the debug ranking ({@link dev.compress.debug.LayerReport.Layer}).
     *
     * @param node the node name, which the quantizer's exclusions take
     * @param opType its operator
     * @param sqnrDb its activation's SQNR against fp32, accumulated up to it
     * @param excludable whether it has INT8 weights, so that excluding it changes the model
     */
    @JsonPropertyOrder({"node", "opType", "sqnrDb", "excludable"})
    public record Layer(String node, String opType, Double sqnrDb, boolean excludable) {}

    /** The one line a front end prints: the samples, then per output its agreement, cosine and SQNR. */
    public String summary() {
        StringBuilder text = new StringBuilder("fidelity on ").append(samples)
                .append(heldOut ? " held-out samples of " : " samples of ").append(data)
                .append(heldOut ? " (not calibrated on):" : " (calibration used them all):");
        if (outputs.isEmpty()) {
            return text.append(" no float output to compare").toString();
        }
        for (Output output : outputs) {
            text.append(' ').append(output.name());
            if (output.classifier()) {
                text.append(String.format(Locale.ROOT, " top-1 agreement %.3f,", output.top1Agreement()));
            }
            text.append(String.format(Locale.ROOT, " cosine %.4f, SQNR %s;", output.meanCosine(),
                    output.sqnrDb() == null ? "exact" : String.format(Locale.ROOT, "%.1f dB", output.sqnrDb())));
        }
        text.setLength(text.length() - 1);
        return text.toString();
    }

    static Double round(Double value) {
        return value == null ? null : new BigDecimal(value).round(new MathContext(6)).doubleValue();
    }
}
