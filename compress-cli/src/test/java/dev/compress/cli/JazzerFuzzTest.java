package dev.compress.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.compress.CompressException;
import dev.compress.graph.OnnxModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Coverage-guided fuzzing (Jazzer) of the loader, the validator and {@code quantize --dynamic}, beside
 * {@link FuzzTest}'s seeded mutants: the fuzzer picks a fixture model, a {@link ModelMutator} seed and up to eight
 * byte overwrites, and steers them by the branches they reach in {@code dev.compress}. A run must end in a documented
 * exit code other than 1, without a stack trace; a model written from a mutant that loads must load.
 *
 * <p>In {@code mvn verify} compress-cli's tests run with {@code JAZZER_FUZZ=1}: this fuzzes for {@code maxDuration}
 * (the corpus grows in {@code compress-cli/.cifuzz-corpus/}, findings land in {@code src/test/resources}); without it
 * (an IDE, {@code -Dtest=JazzerFuzzTest} from another module) it runs the findings kept there as regression cases.
 */
class JazzerFuzzTest {
    private static final byte[][] SEEDS = {read(Fixtures.cnn()), read(Fixtures.resnet())};
    private static final Path WORK;

    static {
        try {
            WORK = Files.createTempDirectory("jazzer");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] read(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = "10s")
    void loadValidateAndQuantizeDynamic(FuzzedDataProvider data) throws IOException {
        byte[] model = SEEDS[data.consumeInt(0, 1)];
        byte[] mutant = data.consumeBoolean() ? ModelMutator.mutate(model, data.consumeLong()) : model.clone();
        for (int edits = data.consumeInt(0, 8); edits > 0 && mutant.length > 0; edits--) {
            mutant[data.consumeInt(0, mutant.length - 1)] = data.consumeByte();
        }
        Path file = Files.write(WORK.resolve("mutant.onnx"), mutant);
        Path out = WORK.resolve("dynamic.onnx");
        Files.deleteIfExists(out);
        boolean loads = loads(file);
        for (String[] args : new String[][] {{"inspect", file.toString()},
            {"quantize", "--dynamic", "--model", file.toString(), "--out", out.toString()}}) {
            Cli.Result result = Cli.run(args);
            assertThat(result.exitCode()).as(args[0] + ": " + result).isNotEqualTo(ExitCode.INTERNAL);
            assertThat(result.err()).as(args[0] + ": " + result).doesNotContain("\tat ");
        }
        if (loads && Files.exists(out)) {
            assertThat(loads(out)).as("a model written from a mutant that loads must load").isTrue();
        }
    }

    private static boolean loads(Path model) {
        try {
            OnnxModel.load(model);
            return true;
        } catch (CompressException e) {
            return false;
        }
    }
}
