package dev.compress.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.OrtException;
import dev.compress.CompressException;
import dev.compress.convert.NodeTests;
import dev.compress.convert.OrtRun;
import dev.compress.inspect.ModelInspector;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A peer's test suite (issue 15): every model of ONNX's backend node tests (Debian's libonnx-testdata) is inspected,
 * loaded and saved through the graph layer ({@link OnnxModel#load}, {@link OnnxModel#save}), and where ONNX Runtime
 * runs the original, the saved model gives the same outputs, bit for bit, on the test's inputs. The counts are
 * printed for docs/reliability.md.
 */
class NodeTestRoundTripTest {
    @TempDir
    Path temp;

    @Test
    void everyNodeTestModelRoundTripsWithItsOutputsUnchanged() throws IOException {
        assumeTrue(Files.isDirectory(NodeTests.FOLDER), NodeTests.MISSING);
        long start = System.nanoTime();
        List<Path> dirs = NodeTests.dirs();
        Map<String, String> refused = new TreeMap<>();
        List<String> notFed = new ArrayList<>();
        List<String> ortCannotRun = new ArrayList<>();
        List<String> nondeterministic = new ArrayList<>();
        List<String> equal = new ArrayList<>();
        Map<String, String> differ = new TreeMap<>();
        int matchOnnx = 0;
        Path saved = temp.resolve("saved.onnx");
        for (Path dir : dirs) {
            String name = dir.getFileName().toString();
            OnnxModel again;
            try {
                OnnxModel loaded = OnnxModel.load(dir.resolve("model.onnx"));
                // what compress inspect prints, as text, JSON and node list
                ModelInspector.inspect(loaded).summary();
                ModelInspector.inspect(loaded).toJson();
                ModelInspector.nodes(loaded);
                loaded.save(saved);
                again = OnnxModel.load(saved);
            } catch (CompressException e) {
                refused.put(name, e.getMessage());
                continue;
            }
            NodeTests.Case test = NodeTests.load(dir);
            if (test == null) {
                notFed.add(name);
                continue;
            }
            Map<String, OrtRun.Values> original;
            try {
                original = OrtRun.run(test.model(), test.inputs());
            } catch (OrtException e) {
                ortCannotRun.add(name);
                continue;
            }
            String problem;
            try {
                problem = difference(original, OrtRun.run(again, test.inputs()));
                if (problem != null && difference(original, OrtRun.run(test.model(), test.inputs())) != null) {
                    nondeterministic.add(name); // random ops: ONNX Runtime differs from itself
                    continue;
                }
            } catch (OrtException e) {
                problem = "ONNX Runtime runs the original but not the saved model: " + e.getMessage();
            }
            if (problem == null) {
                equal.add(name);
                Map<String, OrtRun.Values> expected = new TreeMap<>();
                test.expected().forEach((output, tensor) -> expected.put(output, OrtRun.values(tensor)));
                matchOnnx += OrtRun.mismatch(expected, original) == null ? 1 : 0;
            } else {
                differ.put(name, problem);
            }
        }
        int compared = equal.size() + differ.size();
        System.out.printf("ONNX node tests through OnnxModel load/save: %d models, %d inspected and round-tripped,"
                + " %d refused %s; ONNX Runtime: %d compared, %d equal bit for bit (%d of them also within 1e-5 of"
                + " ONNX's expected outputs), %d differ %s, %d ONNX Runtime cannot run %s, %d random (ORT differs from"
                + " itself) %s, %d with input or output types the harness cannot feed (string, float16, sequences,"
                + " ...); %.1f s%n", dirs.size(), dirs.size() - refused.size(), refused.size(), refused, compared,
                equal.size(), matchOnnx, differ.size(), differ, ortCannotRun.size(), ortCannotRun,
                nondeterministic.size(), nondeterministic, notFed.size(), (System.nanoTime() - start) / 1e9);
        assertThat(refused).as("inspect, load and save handle every model").isEmpty();
        assertThat(compared).isGreaterThan(dirs.size() / 2);
        assertThat(equal.size()).as("differ: " + differ).isGreaterThanOrEqualTo((int) Math.ceil(0.99 * compared));
    }

    /** The first output whose shape or values differ in any bit (NaN equals NaN), or null. */
    private static String difference(Map<String, OrtRun.Values> want, Map<String, OrtRun.Values> got) {
        if (!want.keySet().equals(got.keySet())) {
            return "outputs " + got.keySet() + ", expected " + want.keySet();
        }
        for (Map.Entry<String, OrtRun.Values> output : want.entrySet()) {
            OrtRun.Values other = got.get(output.getKey());
            if (!Arrays.equals(output.getValue().shape(), other.shape())
                    || !Arrays.equals(output.getValue().values(), other.values())) {
                return output.getKey() + " differs";
            }
        }
        return null;
    }
}
