package dev.compress.debug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.Progress;
import dev.compress.calibrate.CalibrationBuilder;
import dev.compress.calibrate.CalibrationMethod;
import dev.compress.calibrate.CalibrationSettings;
import dev.compress.calibrate.CalibrationTable;
import dev.compress.data.Dataset;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.ActivationType;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.OrtModel.FloatOutput;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What excluding each weighted layer really gains: the fp32 model is re-quantized with that one layer (also) excluded,
 * with the settings the INT8 model records in its {@code compress.quantization} metadata and ranges from one
 * calibration pass, and every variant's output is compared with fp32 on the data in a single pass. The cumulative
 * SQNR ranking says where precision is lost; this one says which {@code --exclude} pays (docs/scoring.md).
 */
public final class ExclusionSensitivity {
    private static final Set<String> WEIGHTED_OPS = Set.of("Conv", "ConvTranspose", "Gemm", "MatMul");

    private ExclusionSensitivity() {}

    /**
     * Output SQNR and top-1 agreement of one model against a reference.
     *
     * @param sqnrDb SQNR of the first output in dB, {@code null} when identical
     * @param top1Agreement samples whose argmax over the last output axis matches the reference's
     * @param samples samples compared
     */
    public record OutputComparison(Double sqnrDb, long top1Agreement, long samples) {}

    /**
     * Compares the first output of each of {@code candidates} with {@code reference}'s, all run on the same batches in
     * one pass over {@code data} (memory does not grow with the sample count).
     */
    public static List<OutputComparison> compare(OnnxModel reference, List<OnnxModel> candidates, Dataset data,
            RuntimeOptions options, int batchSize, Progress progress) {
        List<OrtModel> sessions = new ArrayList<>();
        try (OrtModel fp32 = OrtModel.open(reference, RuntimeOptions.defaults())) {
            for (OnnxModel candidate : candidates) {
                sessions.add(OrtModel.open(candidate, options));
            }
            String output = reference.graph().outputs().get(0).name();
            double[] signal = new double[1]; // summed in the batch loop below
            double[] noise = new double[candidates.size()];
            long[] agree = new long[candidates.size()];
            data.forEachBatch(batchSize, progress, "compare outputs", batch -> {
                FloatOutput x = fp32.run(batch, Set.of(output)).get(output);
                float[] xs = x.values();
                for (float v : xs) {
                    signal[0] += (double) v * v;
                }
                int width = (int) (xs.length / batch.size());
                for (int c = 0; c < sessions.size(); c++) {
                    FloatOutput y = sessions.get(c).run(batch, Set.of(output)).get(output);
                    if (!Arrays.equals(x.shape(), y.shape())) {
                        throw CompressException.badInput(candidates.get(c).source().orElse(null),
                                "output '" + output + "' has shape " + Arrays.toString(y.shape()) + " but "
                                        + Arrays.toString(x.shape()) + " in " + reference.displayName());
                    }
                    float[] ys = y.values();
                    for (int i = 0; i < xs.length; i++) {
                        double d = (double) xs[i] - ys[i];
                        noise[c] += d * d;
                    }
                    for (int r = 0; r < batch.size(); r++) {
                        if (argmax(xs, r * width, width) == argmax(ys, r * width, width)) {
                            agree[c]++;
                        }
                    }
                }
            });
            List<OutputComparison> result = new ArrayList<>();
            for (int c = 0; c < sessions.size(); c++) {
                result.add(new OutputComparison(noise[c] == 0 ? null : 10 * Math.log10(signal[0] / noise[c]),
                        agree[c], data.size()));
            }
            return result;
        } finally {
            sessions.forEach(OrtModel::close);
        }
    }

    /**
     * Ranks the INT8 model's weighted layers by the output SQNR gained when each is excluded, largest gain first
     * (ties keep graph order).
     *
     * @throws CompressException BAD_INPUT if the INT8 model has no static-quantization metadata of compress quantize
     */
    static LayerReport.Sensitivity rank(OnnxModel fp32, OnnxModel int8, Dataset calibration, Dataset data,
            int batchSize, Progress progress) {
        Quantizer.Builder settings = settingsOf(fp32, int8);
        Set<String> excluded = excludedOf(int8);
        CalibrationTable table = settings.setCalibrationData(calibration).optReusableTable(true).optProgress(progress)
                .optBatchSize(batchSize).build().calibrate();
        List<Node> layers = fp32.graph().nodes().stream()
                .filter(n -> WEIGHTED_OPS.contains(n.opType()) && !n.name().isEmpty()
                        && !excluded.contains(n.name()) && quantizedInInt8(int8, n.name()))
                .toList();
        List<OnnxModel> variants = new ArrayList<>();
        variants.add(requantize(fp32, int8, table, excluded, calibration, batchSize));
        for (Node layer : layers) {
            Set<String> more = new LinkedHashSet<>(excluded);
            more.add(layer.name());
            variants.add(requantize(fp32, int8, table, more, calibration, batchSize));
        }
        List<OutputComparison> scores = compare(fp32, variants, data, RuntimeOptions.defaults(), batchSize, progress);
        Double baseline = scores.get(0).sqnrDb();
        List<LayerReport.Gain> gains = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            Double sqnr = scores.get(i + 1).sqnrDb();
            Double gain = sqnr == null || baseline == null ? null : sqnr - baseline;
            gains.add(new LayerReport.Gain(layers.get(i).name(), layers.get(i).opType(), sqnr, gain,
                    scores.get(i + 1).top1Agreement()));
        }
        // largest gain first; an exact output (null) ranks first, equal gains keep graph order
        gains.sort(Comparator.comparingDouble(g -> g.gainDb() == null ? Double.NEGATIVE_INFINITY : -g.gainDb()));
        return new LayerReport.Sensitivity(calibration.source().toString(), baseline, scores.get(0).top1Agreement(),
                gains);
    }

    /** The INT8 model made again from the table with {@code excluded} float; biases corrected on the data if it was. */
    private static OnnxModel requantize(OnnxModel fp32, OnnxModel int8, CalibrationTable table, Set<String> excluded,
            Dataset calibration, int batchSize) {
        Quantizer.Builder builder = settingsOf(fp32, int8).optTable(table).optExclude(excluded);
        if (provenance(int8).has("biasCorrectedLayers")) {
            builder.setCalibrationData(calibration).optBatchSize(batchSize);
        }
        return builder.build().quantize().model();
    }

    /** Whether the INT8 model gives this node int8 weights (weight-only and excluded nodes stay as they are). */
    private static boolean quantizedInInt8(OnnxModel int8, String node) {
        var index = int8.graph().index();
        return int8.graph().nodes().stream().filter(n -> n.name().equals(node)).findFirst()
                .map(n -> n.inputs().stream().anyMatch(in -> index.producer(in)
                        .filter(p -> p.opType().equals("DequantizeLinear")
                                && int8.graph().initializer(p.input(0)).isPresent())
                        .isPresent()))
                .orElse(false);
    }

    private static JsonNode provenance(OnnxModel int8) {
        String text = int8.metadata().get("compress.quantization");
        if (text == null) {
            throw CompressException.badInput(int8.source().orElse(null), "has no compress.quantization metadata;"
                    + " the sensitivity ranking re-quantizes the fp32 model the same way, so it needs a model"
                    + " written by compress quantize");
        }
        try {
            JsonNode node = Json.MAPPER.readTree(text);
            if (node.path("method").asText().equals("dynamic")) {
                throw CompressException.badInput(int8.source().orElse(null), "is dynamically quantized; the"
                        + " sensitivity ranking is for static (QDQ) models");
            }
            return node;
        } catch (IOException e) {
            throw CompressException.badInput(int8.source().orElse(null),
                    "has unreadable compress.quantization metadata: " + e.getMessage());
        }
    }

    private static Set<String> excludedOf(OnnxModel int8) {
        Set<String> excluded = new LinkedHashSet<>();
        provenance(int8).path("excludedNodes").forEach(n -> excluded.add(n.asText()));
        return excluded;
    }

    /**
     * A quantizer builder with the INT8 model's recorded settings: activation type (and symmetric uint8), method and
     * per-tensor methods, percentile, bins, histogram samples and moving average (defaults where a model made before
     * they were recorded lacks them), opset upgrade and weight-only nodes, or the encoder defaults; cross-layer
     * equalization and bias correction.
     */
    private static Quantizer.Builder settingsOf(OnnxModel fp32, OnnxModel int8) {
        JsonNode p = provenance(int8);
        try {
            String activations = p.path("activations").asText("uint8");
            CalibrationSettings settings = CalibrationSettings.of(CalibrationMethod.parse(p.path("method")
                    .asText("minmax")));
            Map<String, CalibrationMethod> perTensor = new TreeMap<>();
            p.path("methodPerTensor").fields()
                    .forEachRemaining(e -> perTensor.put(e.getKey(), CalibrationMethod.parse(e.getValue().asText())));
            if (!perTensor.isEmpty()) {
                settings = settings.withPerTensor(perTensor);
            }
            settings = settings.withPercentile(p.path("percentile").asDouble(CalibrationSettings.DEFAULT_PERCENTILE))
                    .withBins(p.path("bins").asInt(CalibrationSettings.DEFAULT_BINS))
                    .withMovingAverage(p.path("movingAverage").asDouble(0));
            List<String> weightOnly = new ArrayList<>();
            p.path("weightOnlyNodes").forEach(n -> weightOnly.add(n.asText()));
            boolean encoderDefaults = p.path("encoderDefaults").asBoolean(false);
            return Quantizer.builder().setModel(fp32)
                    .optHistogramSamples(p.path("histogramSamples").asInt(CalibrationBuilder.DEFAULT_HISTOGRAM_SAMPLES))
                    .optActivationType(ActivationType.parse(activations.split(" ")[0]))
                    .optSymmetricActivations(activations.endsWith(" symmetric"))
                    .optCalibration(settings)
                    // a model made by the encoder defaults is re-made by them: its recorded weight-only nodes and
                    // upgrade given explicitly would switch them off and plan every op
                    .optUpgradeOpset(!encoderDefaults && p.has("opsetUpgrade"))
                    .optWeightOnly(encoderDefaults ? List.of() : weightOnly)
                    .optEqualize(p.has("equalizedPairs"))
                    .optBiasCorrection(p.has("biasCorrectedLayers"));
        } catch (IllegalArgumentException e) {
            throw CompressException.badInput(int8.source().orElse(null),
                    "has compress.quantization metadata this version cannot read: " + e.getMessage());
        }
    }

    private static int argmax(float[] values, int offset, int length) {
        int best = 0;
        for (int i = 1; i < length; i++) {
            if (values[offset + i] > values[offset + best]) {
                best = i;
            }
        }
        return best;
    }
}
