package dev.compress.recipe;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.eval.EvalReport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** The reports of the recipe checks that have no report type of their own elsewhere in the project. */
public final class CheckReports {
    private CheckReports() {}

    /**
     * A {@code size} check.
     *
     * @param model the last step's model file
     * @param bytes its bytes, with its external data file if it has one
     * @param source the source model
     * @param sourceBytes its bytes
     * @param ratio {@code bytes / sourceBytes}, to 4 decimals
     */
    @JsonPropertyOrder({"model", "bytes", "source", "sourceBytes", "ratio"})
    public record Size(String model, long bytes, String source, long sourceBytes, double ratio) {
        public Size {
            ratio = Math.round(ratio * 10000) / 10000.0;
        }
    }

    /**
     * Every evaluated sample's label and top-1 predictions, in data order, of an {@code eval} check: what a later run
     * needs to compare with this one sample by sample (agreement, McNemar's test), and the confusion tables of the
     * HTML report.
     *
     * @param samplesSha256 SHA-256 over the evaluation files' names and contents: two runs' predictions pair up only
     *     when it is the same
     * @param classes class names in label order
     * @param labels true class per sample
     * @param model the evaluated model's top-1 class per sample
     * @param source the source model's top-1 class per sample
     */
    @JsonPropertyOrder({"samplesSha256", "classes", "labels", "model", "source"})
    public record Predictions(String samplesSha256, List<String> classes, int[] labels, int[] model, int[] source) {
        public Predictions {
            classes = List.copyOf(classes);
            if (labels.length != model.length || labels.length != source.length) {
                throw new IllegalArgumentException("labels, model and source predictions differ in length");
            }
        }

        /** Samples counted. */
        public int size() {
            return labels.length;
        }

        /** Reads a file written with {@link Json#write}; BAD_INPUT naming it if it is not one. */
        static Predictions read(Path file) {
            try {
                Predictions predictions = Json.STRICT.readValue(Json.readStrict(file), Predictions.class);
                int classes = predictions.classes().size();
                for (int[] column : new int[][] {predictions.labels(), predictions.model(), predictions.source()}) {
                    for (int value : column) {
                        if (value < 0 || value >= classes) {
                            throw CompressException.badInput(file, "has a class " + value + " outside the "
                                    + classes + " classes");
                        }
                    }
                }
                return predictions;
            } catch (IOException | IllegalArgumentException e) {
                throw CompressException.badInput(file, "is not a predictions file (" + e.getMessage() + ")");
            }
        }

        /** Top-1 count of {@code predicted}. */
        long correct(int[] predicted) {
            long correct = 0;
            for (int i = 0; i < labels.length; i++) {
                if (predicted[i] == labels[i]) {
                    correct++;
                }
            }
            return correct;
        }
    }

    /**
     * A {@code prune-scan} check: top-1 on the evaluation data of the model a prune step read, pruned as that step
     * does at each sparsity.
     *
     * @param model the model pruned
     * @param data the evaluation data
     * @param samples samples per evaluation
     * @param step the prune step whose settings (scope, exclusions, structure) were used
     * @param chosen that step's sparsity
     * @param points sparsity 0 (the unpruned model) first, then every sparsity scanned, ascending
     */
    @JsonPropertyOrder({"model", "data", "samples", "step", "chosen", "points"})
    public record Scan(String model, String data, long samples, String step, double chosen, List<Point> points) {
        /** Top-1 at one sparsity, with its interval. */
        @JsonPropertyOrder({"sparsity", "top1"})
        public record Point(double sparsity, EvalReport.Proportion top1) {}
    }

    /**
     * A {@code debug} check's activation histograms: the fp32 values of the worst layers' activations (worst first)
     * with the range their INT8 quantization can represent.
     */
    @JsonPropertyOrder({"samples", "layers"})
    public record Histograms(long samples, List<Layer> layers) {
        /**
         * One activation.
         *
         * @param node the layer
         * @param tensor its fp32 activation
         * @param sqnrDb its SQNR in the debug ranking
         * @param clipLow lowest value the INT8 tensor represents ({@code (qmin - zero point) * scale})
         * @param clipHigh highest ({@code (qmax - zero point) * scale})
         * @param min lowest fp32 value seen
         * @param max highest fp32 value seen
         * @param low left edge of the first bin
         * @param high right edge of the last bin
         * @param counts values per bin, equal widths from {@code low} to {@code high}
         * @param clipped values outside the clipping range
         */
        @JsonInclude(JsonInclude.Include.NON_NULL)
        @JsonPropertyOrder({"node", "tensor", "sqnrDb", "clipLow", "clipHigh", "min", "max", "low", "high", "counts",
            "clipped"})
        public record Layer(String node, String tensor, Double sqnrDb, double clipLow, double clipHigh, double min,
                double max, double low, double high, long[] counts, long clipped) {}
    }
}
