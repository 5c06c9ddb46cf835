package dev.compress.quantize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.eval.EvalReport;
import dev.compress.eval.Evaluator;
import dev.compress.graph.Node;
import dev.compress.graph.OnnxModel;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The latency fallback's mechanics on the MobileNetV3-style fixture (Add, Mul, GlobalAveragePool and 8-bit Convs):
 * which regions it times, that what it keeps float is float in the model and named in both reports, and that the
 * result still computes what fp32 does. What it chooses depends on timings, so no test asserts a choice.
 */
class LatencyFallbackTest {
    @TempDir
    Path dir;

    @Test
    void timesEveryOpTypeAndFourSegmentsAndReportsWhatItKeptFloat() {
        OnnxModel fp32 = QuantizerTest.fp32("families/mbv3");
        QuantizationResult plain = Quantizer.builder().setModel(fp32)
                .setCalibrationData(QuantizerTest.images(fp32, "calib")).optMaxSamples(16).build().quantize();
        QuantizationResult result = Quantizer.builder().setModel(fp32)
                .setCalibrationData(QuantizerTest.images(fp32, "calib")).optMaxSamples(16)
                .optLatencyFallback(0.05).build().quantize();
        assertThat(plain.fallback()).isNull();

        LatencyFallbackReport fallback = result.fallback();
        Map<String, Integer> integerOps = plain.report().quantizedOps();
        List<String> opRegions = integerOps.keySet().stream()
                .filter(op -> !QuantizationPlan.WEIGHTED_OPS.contains(op)).toList();
        assertThat(opRegions).isNotEmpty();
        assertThat(fallback.trials()).hasSize(opRegions.size() + LatencyFallback.SEGMENTS);
        for (String op : opRegions) {
            assertThat(fallback.trials()).anyMatch(t -> t.region().equals(
                    "all " + integerOps.get(op) + " quantized " + op) && t.nodes() == integerOps.get(op));
        }
        // the segments cover every quantized node once
        assertThat(fallback.trials().stream().filter(t -> t.region().startsWith("segment"))
                .mapToInt(LatencyFallbackReport.Trial::nodes).sum()).isEqualTo(plain.report().quantizedNodeCount());
        assertThat(fallback.trials()).allMatch(t -> t.ratio() > 0);
        boolean chose = fallback.trials().stream().anyMatch(LatencyFallbackReport.Trial::chosen);
        assertThat(fallback.keptFloat().isEmpty()).isEqualTo(!chose);
        assertThat(fallback.trials().stream().filter(LatencyFallbackReport.Trial::chosen))
                .allMatch(t -> t.ratio() <= 1 - LatencyFallback.MARGIN);

        // what it kept float is float in the model, with the reason; it only takes nodes out of integer arithmetic
        // (an Add or Mul next to them may follow, as it is quantized only beside a quantized input)
        List<String> keptByReason = result.report().floatNodes().entrySet().stream()
                .filter(e -> e.getValue().equals(LatencyFallback.REASON)).map(Map.Entry::getKey).sorted().toList();
        assertThat(keptByReason).isEqualTo(fallback.keptFloat().stream().sorted().toList());
        result.report().quantizedOps().forEach((op, count) ->
                assertThat(count).as(op).isLessThanOrEqualTo(integerOps.getOrDefault(op, 0)));
        assertThat(result.report().quantizedNodeCount())
                .isLessThanOrEqualTo(plain.report().quantizedNodeCount() - keptByReason.size());

        Path int8 = dir.resolve("mbv3-fallback.onnx");
        result.model().save(int8);
        EvalReport report = Evaluator.builder().setModel(int8).optBaseline(fp32.source().orElseThrow())
                .setData(QuantizerTest.images(fp32, "heldout")).build().evaluate();
        assertThat(report.baseline().agreement().fraction()).isGreaterThanOrEqualTo(0.97);
    }

    /** Every region the search can choose, requantized from the same table, gives a model that still agrees. */
    @Test
    void regionsCutTheGraphIntoOpTypesAndSegmentsOfEqualWeight() {
        OnnxModel fp32 = QuantizerTest.fp32("families/mbv2");
        Quantizer quantizer = Quantizer.builder().setModel(fp32)
                .setCalibrationData(QuantizerTest.images(fp32, "calib")).optMaxSamples(8).build();
        QuantizationResult result = quantizer.quantize();
        List<Node> nodes = result.model().graph().nodes();
        // the rewritten graph's integer ops: Q/DQ aside, every Conv reads a DequantizeLinear
        List<Node> convs = nodes.stream().filter(n -> n.opType().equals("Conv")).toList();
        List<LatencyFallback.Region> regions = LatencyFallback.regions(convs, n -> n.output(0),
                QuantizationPlan.WEIGHTED_OPS);
        assertThat(regions).hasSize(LatencyFallback.SEGMENTS);
        Map<Integer, Long> sizes = regions.stream().collect(Collectors.groupingBy(r -> r.outputs().size(),
                Collectors.counting()));
        // equal shares of the weighted nodes, up to one
        assertThat(sizes.keySet().stream().mapToInt(Integer::intValue).max().orElseThrow()
                - sizes.keySet().stream().mapToInt(Integer::intValue).min().orElseThrow()).isLessThanOrEqualTo(1);
        assertThat(regions.stream().mapToInt(r -> r.outputs().size()).sum()).isEqualTo(convs.size());
    }

    /** The report names nodes of the HardSigmoid rewrite (e.g. its scale Mul); --exclude must accept those names. */
    @Test
    void excludeTakesTheNamesOfTheHardSigmoidRewrite() {
        OnnxModel fp32 = QuantizerTest.fp32("families/mbv3");
        String hardSigmoid = fp32.graph().nodes().stream().filter(n -> n.opType().equals("HardSigmoid"))
                .findFirst().orElseThrow().name();
        QuantizationResult result = Quantizer.builder().setModel(fp32)
                .setCalibrationData(QuantizerTest.images(fp32, "calib")).optMaxSamples(8)
                .optExclude(List.of(hardSigmoid + "_scale")).build().quantize();
        assertThat(result.report().floatNodes()).containsEntry(hardSigmoid + "_scale", "excluded");
    }

    /**
     * Dynamic quantization: each op type it quantized is one region (ConvInteger can be slower than float Convs where
     * MatMulInteger is faster), the variants are dynamic too, and what is kept float is named as in static.
     */
    @Test
    void dynamicQuantizationTimesEachOpTypeOnTheTimingData() {
        OnnxModel fp32 = QuantizerTest.fp32("families/mbv2");
        QuantizationResult plain = Quantizer.builder().setModel(fp32).optDynamic(true).build().quantize();
        QuantizationResult result = Quantizer.builder().setModel(fp32).optDynamic(true)
                .optTimingData(QuantizerTest.images(fp32, "calib")).optLatencyFallback(0.05).build().quantize();

        Map<String, Integer> integerOps = plain.report().quantizedOps();
        assertThat(integerOps.keySet()).containsExactlyInAnyOrder("Conv", "Gemm");
        LatencyFallbackReport fallback = result.fallback();
        assertThat(fallback.trials()).extracting(LatencyFallbackReport.Trial::region).containsExactly(
                "all " + integerOps.get("Conv") + " quantized Conv", "all 1 quantized Gemm");
        List<String> keptByReason = result.report().floatNodes().entrySet().stream()
                .filter(e -> e.getValue().equals(LatencyFallback.REASON)).map(Map.Entry::getKey).sorted().toList();
        assertThat(keptByReason).isEqualTo(fallback.keptFloat().stream().sorted().toList());
        assertThat(result.report().method()).isEqualTo("dynamic");
        assertThat(result.report().quantizedNodeCount())
                .isEqualTo(plain.report().quantizedNodeCount() - keptByReason.size());
    }

    @Test
    void needsDataToTimeOn() {
        OnnxModel fp32 = QuantizerTest.fp32("families/mbv2");
        assertThatThrownBy(() -> Quantizer.builder().setModel(fp32).optDynamic(true).optLatencyFallback(1).build())
                .isInstanceOf(CompressException.class).hasMessageContaining("optTimingData");
        assertThatThrownBy(() -> Quantizer.builder().setModel(fp32).setCalibrationData(QuantizerTest.images(fp32,
                "calib")).optTimingData(QuantizerTest.images(fp32, "calib")).build())
                .isInstanceOf(CompressException.class).hasMessageContaining("dynamic quantization only");
        assertThatThrownBy(() -> Quantizer.builder().optLatencyFallback(-1))
                .isInstanceOf(CompressException.class).hasMessageContaining("0 (off) or a positive number");
    }
}
