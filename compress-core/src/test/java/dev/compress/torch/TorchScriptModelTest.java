package dev.compress.torch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.data.Dataset;
import dev.compress.data.ImageDataset;
import dev.compress.data.ModelInputs;
import dev.compress.data.Preprocessing;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.OrtModel.FloatOutput;
import dev.compress.runtime.RuntimeOptions;
import dev.compress.testing.TestData;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Runs the shipped TorchScript fixtures through DJL's PyTorch engine and compares them with their ONNX exports. */
class TorchScriptModelTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"cnn", "resnet"})
    void matchesItsOnnxExportOnHeldOutImages(String name) {
        OnnxModel onnx = OnnxModel.load(TestData.model(name + "-fp32.onnx"));
        Dataset data = ImageDataset.builder()
                .setRoot(TestData.fashionMnist().resolve("heldout"))
                .setInputName(ModelInputs.imageInput(onnx).name())
                .setPreprocessing(ModelInputs.imagePreprocessing(onnx, Preprocessing.Overrides.NONE))
                .build();
        double maxDiff = 0;
        long compared = 0;
        try (TorchScriptModel torch = TorchScriptModel.load(TestData.model(name + "-fp32.pt"));
                OrtModel ort = OrtModel.open(onnx, RuntimeOptions.defaults())) {
            Iterator<Batch> batches = data.batches(200);
            for (int i = 0; i < 2; i++) {
                Batch batch = batches.next();
                List<FloatOutput> fromTorch = torch.run(batch);
                FloatOutput fromOrt = ort.run(batch).values().iterator().next();
                assertThat(fromTorch).hasSize(1);
                assertThat(fromTorch.get(0).shape()).containsExactly(fromOrt.shape());
                for (int k = 0; k < fromOrt.values().length; k++) {
                    maxDiff = Math.max(maxDiff, Math.abs(fromTorch.get(0).values()[k] - fromOrt.values()[k]));
                    compared++;
                }
            }
        }
        assertThat(compared).isEqualTo(400 * 10);
        assertThat(maxDiff).isLessThanOrEqualTo(1e-4);
    }

    @Test
    void listsNamedParametersWithShapesAndValues() {
        try (TorchScriptModel torch = TorchScriptModel.load(TestData.model("cnn-fp32.pt"))) {
            Map<String, TorchScriptModel.NamedParameter> parameters = torch.parameters();
            assertThat(parameters).isNotEmpty();
            assertThat(parameters.keySet()).allMatch(n -> n.endsWith(".weight") || n.endsWith(".bias"));
            for (TorchScriptModel.NamedParameter p : parameters.values()) {
                long count = Arrays.stream(p.shape()).reduce(1, (a, b) -> a * b);
                assertThat(p.values()).hasSize((int) count);
            }
            // the first parameter is the first convolution's weight: out x in x kh x kw, one input channel
            TorchScriptModel.NamedParameter first = parameters.values().iterator().next();
            assertThat(first.shape()).hasSize(4);
            assertThat(first.shape()[1]).isEqualTo(1);
            // trained weights, not zeros
            double norm = 0;
            for (float v : first.values()) {
                norm += v * v;
            }
            assertThat(norm).isGreaterThan(0.1);
        }
    }

    @Test
    void missingFileIsBadInput() {
        Path missing = dir.resolve("nope.pt");
        assertThatThrownBy(() -> TorchScriptModel.load(missing))
                .isInstanceOfSatisfying(CompressException.class,
                        e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT))
                .hasMessage(missing + ": no such file");
    }

    @Test
    void onnxFileAndTextFileAreNotTorchScript() throws IOException {
        Path onnxRenamed = Files.copy(TestData.model("cnn-fp32.onnx"), dir.resolve("cnn.pt"));
        Path text = Files.writeString(dir.resolve("notes.pt"), "not a checkpoint\n");
        for (Path file : List.of(onnxRenamed, text)) {
            assertThatThrownBy(() -> TorchScriptModel.load(file))
                    .isInstanceOfSatisfying(CompressException.class,
                            e -> assertThat(e.kind()).isEqualTo(CompressException.Kind.BAD_INPUT))
                    .hasMessageStartingWith(file + ": not a TorchScript checkpoint (")
                    .hasMessageNotContaining("\n");
        }
    }

    /**
     * The must-show: a fresh JVM with an empty DJL cache folder and every Java network connection routed to a closed
     * port loads the ResNet checkpoint (DJL unpacks libtorch from the Maven artifact into that folder; nothing is
     * downloaded) and matches its ONNX export within 1e-4 on all 2000 held-out images.
     */
    @Test
    void startsOfflineWithAFreshEmptyCacheAndMatchesTheOnnxExport() throws Exception {
        Path cache = Files.createDirectories(dir.resolve("djl-cache"));
        Probe probe = probe(classPath(), cache, "resnet");
        assertThat(probe.exitCode()).as(probe.output()).isZero();
        String[] fields = probe.output().split(" ");
        assertThat(fields[0]).as(probe.output()).isEqualTo("ok");
        assertThat(Long.parseLong(fields[1])).isEqualTo(2000);
        assertThat(Double.parseDouble(fields[2])).isLessThanOrEqualTo(1e-4);
        assertThat(Integer.parseInt(fields[3])).isPositive();
        try (Stream<Path> files = Files.walk(cache)) {
            assertThat(files.map(p -> p.getFileName().toString())).contains("libtorch_cpu.so")
                    .anyMatch(n -> n.endsWith("libdjl_torch.so"));
        }
    }

    /** The artifacts error messages name are the ones the build puts on the class path (pom and constants agree). */
    @Test
    void namedArtifactsAreOnTheClassPath() {
        for (String coordinates : List.of(TorchScriptModel.NATIVE_ARTIFACT, TorchScriptModel.JNI_ARTIFACT)) {
            String[] parts = coordinates.split(":"); // group:artifact:version[:classifier]
            String jar = parts[1] + "-" + parts[2] + (parts.length > 3 ? "-" + parts[3] : "") + ".jar";
            assertThat(classPath()).anyMatch(entry -> entry.endsWith(File.separator + jar));
        }
    }

    @Test
    void missingNativeLibraryNamesTheArtifact() throws Exception {
        List<String> withoutNative = classPath().stream().filter(e -> !e.contains("pytorch-native-cpu")).toList();
        Path cache = Files.createDirectories(dir.resolve("empty-cache"));
        Probe probe = probe(withoutNative, cache, "cnn");
        assertThat(probe.exitCode()).isEqualTo(1);
        assertThat(probe.output()).startsWith("error cannot start DJL's PyTorch engine offline")
                .contains("add the Maven artifact " + TorchScriptModel.NATIVE_ARTIFACT);
    }

    @Test
    void missingJniLibraryNamesTheArtifact() throws Exception {
        List<String> withoutJni = classPath().stream().filter(e -> !e.contains("pytorch-jni")).toList();
        Path cache = Files.createDirectories(dir.resolve("empty-cache"));
        Probe probe = probe(withoutJni, cache, "cnn");
        assertThat(probe.exitCode()).isEqualTo(1);
        assertThat(probe.output()).contains("add the Maven artifact " + TorchScriptModel.JNI_ARTIFACT);
    }

    private static List<String> classPath() {
        return Arrays.asList(System.getProperty("java.class.path").split(File.pathSeparator));
    }

    private record Probe(int exitCode, String output) {}

    /** Runs {@link TorchScriptProbe} on {@code <model>-fp32.pt} and its ONNX export over the held-out images. */
    private Probe probe(List<String> classPath, Path cache, String model) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        // -Xss4m: libtorch runs on the probe's main thread, whose default 1 MB stack it overflows (SIGSEGV, exit 139,
        // no hs_err) with some class paths, e.g. after jackson-dataformat-yaml or commons-compress jars are added
        List<String> command = new ArrayList<>(List.of(java.toString(), "-Xmx512m", "-Xss4m",
                "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
                "-Dai.djl.offline=true",
                // any Java-side download attempt fails at once instead of reaching the network
                "-DsocksProxyHost=127.0.0.1", "-DsocksProxyPort=9",
                "-Dhttp.proxyHost=127.0.0.1", "-Dhttp.proxyPort=9",
                "-Dhttps.proxyHost=127.0.0.1", "-Dhttps.proxyPort=9",
                "-cp", String.join(File.pathSeparator, classPath),
                TorchScriptProbe.class.getName(), TestData.model(model + "-fp32.pt").toString(),
                TestData.model(model + "-fp32.onnx").toString(),
                TestData.fashionMnist().resolve("heldout").toString()));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(false);
        builder.environment().put("DJL_CACHE_DIR", cache.toString());
        builder.environment().put("ENGINE_CACHE_DIR", cache.toString());
        builder.environment().put("DJL_OFFLINE", "true");
        builder.environment().put("OPT_OUT_TRACKING", "true");
        builder.redirectError(dir.resolve("probe-stderr.txt").toFile());
        Process process = builder.start();
        String output;
        try (var in = process.getInputStream()) {
            output = new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        }
        assertThat(process.waitFor(300, TimeUnit.SECONDS)).isTrue();
        return new Probe(process.exitValue(), output.lines().collect(Collectors.joining(" | ")));
    }
}
