package dev.compress.debug;

import static dev.compress.quantize.TestGraphs.FLOAT;
import static dev.compress.quantize.TestGraphs.model;
import static dev.compress.quantize.TestGraphs.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.compress.check.FidelityCheck;
import dev.compress.check.FidelityReport;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.Protos;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.quantize.Quantizer;
import dev.compress.quantize.TestGraphs;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A float Log after 8-bit values that span decades (openWakeWord's log-mel front end: power spectrum, mel
 * filterbank, Log): the accumulated ranking names the ops after the Log, which only carry its error; the report
 * must name the Log and the weighted layer whose exclusion keeps its input float.
 */
class ErrorGrowthTest {
    private static final int BINS = 16;
    private static final int MELS = 8;

    private static OnnxModel logMel() {
        float[] spectrum = new float[BINS * BINS];
        for (int i = 0; i < BINS; i++) {
            for (int c = 0; c < BINS; c++) {
                // int16-scaled audio (powers up to about 1e7, the Log's output about 16: small against them, yet
                // the model's output), column c scaled by 10^(-c/3): bin powers span ten decades, as speech and
                // silence do
                spectrum[i * BINS + c] = (float) (3000 * Math.sin(1.7 * i + 0.9 * c + 0.3) * Math.pow(10, -c / 3.0));
            }
        }
        float[] filterbank = new float[BINS * MELS];
        for (int bin = 0; bin < BINS; bin++) {
            filterbank[bin * MELS + bin / 2] = 1; // each mel band sums two neighbouring bins
        }
        GraphProto graph = GraphProto.newBuilder().setName("logmel")
                .addInput(value("x", FLOAT, "n", BINS))
                .addOutput(value("y", FLOAT, "n", MELS, 1))
                .addInitializer(Protos.floats("dft", new long[] {BINS, BINS}, spectrum))
                .addInitializer(Protos.floats("melW", new long[] {BINS, MELS}, filterbank))
                .addInitializer(Protos.floats("two", new long[0], new float[] {2f}))
                .addInitializer(Protos.floats("floor", new long[0], new float[] {1e-10f}))
                .addInitializer(Protos.floats("ten", new long[0], new float[] {10f}))
                .addInitializer(Protos.int64s("last", new long[] {1}, new long[] {2}))
                .addNode(Protos.node("MatMul", "stft", List.of("x", "dft"), List.of("h")))
                .addNode(Protos.node("Pow", "power", List.of("h", "two"), List.of("p")))
                .addNode(Protos.node("MatMul", "mel", List.of("p", "melW"), List.of("m")))
                .addNode(Protos.node("Clip", "clamp", List.of("m", "floor"), List.of("c")))
                .addNode(Protos.node("Log", "log", List.of("c"), List.of("l")))
                .addNode(Protos.node("Mul", "db", List.of("l", "ten"), List.of("d")))
                .addNode(Protos.node("Unsqueeze", "column", List.of("d", "last"), List.of("y")))
                .build();
        return model(graph, 13);
    }

    private static Dataset data() {
        return TestGraphs.floats(Map.of("x", b -> new long[] {16, BINS}), 4);
    }

    @Test
    void theFloatOpThatMagnifiesErrorIsNamedWithTheLayerToKeepFloatBeforeIt() {
        OnnxModel fp32 = logMel();
        Dataset data = data();
        OnnxModel int8 = Quantizer.builder().setModel(fp32).setCalibrationData(data).build().quantize().model();

        LayerReport ranking = LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(int8).setData(data)
                .build().run();
        // the accumulated ranking puts the Log and the Mul that only carries its error side by side
        LayerReport.Layer db = ranking.layers().stream().filter(l -> l.node().equals("db")).findFirst()
                .orElseThrow();
        assertThat(db.inputSqnrDb() - db.sqnrDb()).isLessThan(1);
        LayerReport.ErrorGrowth growth = ranking.errorGrowth();
        assertThat(growth).isNotNull();
        assertThat(growth.node()).isEqualTo("log");
        assertThat(growth.excludable()).isFalse();
        assertThat(growth.inputSqnrDb() - growth.sqnrDb()).isGreaterThanOrEqualTo(LayerReport.GROWTH_DB);
        assertThat(growth.exclude()).containsExactly("mel");
        assertThat(ranking.summary(3)).contains("the error grows most at log (Log, kept float: ");

        // the fidelity check reports the same, and the remedy it names works
        FidelityReport fidelity = FidelityCheck.builder().setFloatModel(fp32).setQuantizedModel(int8).setData(data)
                .optWarnBelow(1.0).build().run();
        assertThat(fidelity.errorGrowth()).isNotNull();
        assertThat(fidelity.errorGrowth().node()).isEqualTo("log");
        assertThat(fidelity.errorGrowth().exclude()).containsExactly("mel");
        OnnxModel remedied = Quantizer.builder().setModel(fp32).setCalibrationData(data)
                .optExclude(growth.exclude()).build().quantize().model();
        LayerReport after = LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(remedied).setData(data)
                .build().run();
        assertThat(after.output().sqnrDb()).isGreaterThan(ranking.output().sqnrDb() + 20);
        assertThat(after.errorGrowth()).isNull();
    }

    /**
     * The same with dynamic quantization: the rewrite's last node carries the MatMul's name, so the ranking names the
     * layer as the fp32 model does and the remedy is an {@code --exclude} that dynamic quantization takes.
     */
    @Test
    void dynamicRewritesAreNamedAndExcludableAsTheirLayers() {
        OnnxModel fp32 = logMel();
        Dataset data = data();
        OnnxModel int8 = Quantizer.builder().setModel(fp32).optDynamic(true).build().quantize().model();

        LayerReport ranking = LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(int8).setData(data)
                .build().run();
        assertThat(ranking.layers()).filteredOn(l -> l.node().equals("mel")).singleElement()
                .satisfies(mel -> assertThat(mel.excludable()).isTrue());
        assertThat(ranking.errorGrowth()).isNotNull();
        assertThat(ranking.errorGrowth().node()).isEqualTo("log");
        assertThat(ranking.errorGrowth().exclude()).containsExactly("mel");
        OnnxModel remedied = Quantizer.builder().setModel(fp32).optDynamic(true)
                .optExclude(ranking.errorGrowth().exclude()).build().quantize().model();
        LayerReport after = LayerDebugger.builder().setFloatModel(fp32).setQuantizedModel(remedied).setData(data)
                .build().run();
        assertThat(after.output().sqnrDb()).isGreaterThan(ranking.output().sqnrDb() + 20);
    }
}
