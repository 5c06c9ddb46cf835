package dev.compress.benchmarks;

import dev.compress.data.Batch;
import dev.compress.graph.OnnxModel;
import dev.compress.quantize.Quantizer;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * ONNX Runtime latency of the shipped fp32 models against their INT8 versions made by {@code compress quantize}.
 * Sample mode gives the latency distribution, so docs/benchmarks.md reports the median (p50) of many calls.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Dai.djl.offline=true"})
public class LatencyBenchmark {
    @Param({"resnet", "cnn"})
    public String model;

    @Param({"fp32", "int8"})
    public String precision;

    @Param({"1", "32"})
    public int batch;

    /** Same thread count as the torch.ao peer figures (torch.set_num_threads(2)). */
    @Param({"2"})
    public int threads;

    private OrtModel session;
    private Batch input;
    private Path workDir;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        OnnxModel fp32 = OnnxModel.load(Fixtures.model(model));
        workDir = Files.createTempDirectory("latency");
        Path file = Fixtures.model(model);
        if (precision.equals("int8")) {
            file = workDir.resolve(model + "-int8.onnx");
            Quantizer.builder().setModel(fp32).setCalibrationData(Fixtures.images(fp32, "calib")).build()
                    .quantize().model().save(file);
        }
        session = OrtModel.open(file, RuntimeOptions.defaults().withIntraOpThreads(threads));
        input = Fixtures.images(fp32, "heldout").batches(batch).next();
    }

    @Benchmark
    public Map<String, OrtModel.FloatOutput> infer() {
        return session.run(input);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        session.close();
        try (var files = Files.list(workDir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(workDir);
    }
}
