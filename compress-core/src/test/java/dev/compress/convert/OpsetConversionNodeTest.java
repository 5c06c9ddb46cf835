package dev.compress.convert;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.OrtException;
import dev.compress.CompressException;
import dev.compress.convert.NodeTests.Case;
import dev.compress.graph.OnnxModel;
import dev.compress.onnx.proto.Onnx.AttributeProto;
import dev.compress.onnx.proto.Onnx.GraphProto;
import dev.compress.onnx.proto.Onnx.ModelProto;
import dev.compress.onnx.proto.Onnx.NodeProto;
import dev.compress.onnx.proto.Onnx.OperatorSetIdProto;
import dev.compress.onnx.proto.Onnx.TensorProto;
import dev.compress.onnx.proto.Onnx.ValueInfoProto;
import dev.compress.pipeline.PassContext;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * ONNX's own backend tests (Debian libonnx-testdata, ONNX 1.12), converted to opset 13 and run in ONNX Runtime
 * against the outputs ONNX expects. Two sets: the tests written at opsets 6-12, as they are (among them 115 models
 * PyTorch exported at opset 6, 36 of which ONNX Runtime cannot run unconverted); and the opset-13 tests of
 * the ops whose attributes became inputs, rewritten to their older form first (Slice at 9, Pad and Clip at 10,
 * Squeeze, Unsqueeze, ReduceSum and Split at 12, Upsample at 8). Softmax, LogSoftmax and Hardmax tests are moved to
 * opset 12 unchanged: there they mean something else, so the reference is ONNX Runtime running the opset-12 model.
 */
class OpsetConversionNodeTest {

    /** Older form of an op: the inputs (by position) that were attributes, and the opset of that form. */
    private record OldForm(long opset, Map<Integer, String> attributes) {}

    private static final Map<String, OldForm> OLD_FORMS = Map.of(
            "Slice", new OldForm(9, Map.of(1, "starts", 2, "ends", 3, "axes", 4, "steps")),
            "Pad", new OldForm(10, Map.of(1, "pads", 2, "value")),
            "Clip", new OldForm(10, Map.of(1, "min", 2, "max")),
            "Squeeze", new OldForm(12, Map.of(1, "axes")),
            "Unsqueeze", new OldForm(12, Map.of(1, "axes")),
            "ReduceSum", new OldForm(12, Map.of(1, "axes")),
            "Split", new OldForm(12, Map.of(1, "split")),
            "Upsample", new OldForm(8, Map.of(1, "scales")));
    private static final Set<String> AXIS_CHANGED_AT_13 = Set.of("Softmax", "LogSoftmax", "Hardmax");

    @Test
    void convertedModelsGiveTheExpectedOutputs() throws IOException {
        assumeTrue(Files.isDirectory(NodeTests.FOLDER), NodeTests.MISSING);
        long start = System.nanoTime();
        List<String> matched = new ArrayList<>();
        Map<String, String> refused = new TreeMap<>();
        Map<String, String> failures = new TreeMap<>();
        List<String> notRunnable = new ArrayList<>();
        List<String> ortDiffers = new ArrayList<>();
        for (Path dir : NodeTests.dirs()) {
            Case test = NodeTests.load(dir);
            if (test == null) {
                continue;
            }
            long opset = test.model().opset("");
            List<Case> cases = new ArrayList<>();
            if (opset >= OpsetConversion.OLDEST_SOURCE && opset < 13) {
                cases.add(test);
            }
            if (opset <= 13 && test.model().graph().nodes().size() == 1) {
                NodeProto node = test.model().toProto().getGraph().getNode(0);
                if (AXIS_CHANGED_AT_13.contains(node.getOpType()) && opset == 13) {
                    OnnxModel old = test.model().copy();
                    old.setOpset("", 12);
                    cases.add(new Case(test.name() + "@12", old, test.inputs(), null));
                } else {
                    Case old = oldForm(test, node);
                    if (old != null) {
                        cases.add(old);
                    }
                }
            }
            for (Case c : cases) {
                String problem = check(c, refused, notRunnable, ortDiffers);
                if (problem == null) {
                    matched.add(c.name());
                } else if (!problem.isEmpty()) {
                    failures.put(c.name(), problem);
                }
            }
        }
        System.out.printf("ONNX node tests converted to opset 13: %d matched (%d in an older form made here), %d"
                + " refused %s, %d not runnable in ONNX Runtime before conversion either %s, %d where ONNX Runtime"
                + " already differed from ONNX before conversion and the conversion changed nothing %s; %.1f s%n",
                matched.size(), matched.stream().filter(n -> n.contains("@")).count(), refused.size(),
                refused.keySet(), notRunnable.size(), notRunnable, ortDiffers.size(), ortDiffers,
                (System.nanoTime() - start) / 1e9);
        assertThat(failures).isEmpty();
        assertThat(matched).hasSizeGreaterThan(380);
        // the refusals are Scan-9 (its inputs changed meaning) and nothing else
        assertThat(refused).allSatisfy((name, message) -> assertThat(message).contains("cannot convert Scan"));
    }

    /** Null when the outputs match, "" when the case says nothing (ONNX Runtime cannot run it), else the problem. */
    private static String check(Case c, Map<String, String> refused, List<String> notRunnable,
            List<String> ortDiffers) {
        OnnxModel converted;
        try {
            converted = OpsetConversion.builder().build().apply(c.model(), PassContext.silent()).model();
        } catch (CompressException e) {
            refused.put(c.name(), e.getMessage());
            return "";
        }
        Map<String, OrtRun.Values> expected = new LinkedHashMap<>();
        try {
            if (c.expected() == null) {
                expected.putAll(OrtRun.run(c.model(), c.inputs()));
            } else {
                c.expected().forEach((name, tensor) -> expected.put(name, OrtRun.values(tensor)));
            }
        } catch (OrtException e) {
            notRunnable.add(c.name());
            return "";
        }
        Map<String, OrtRun.Values> actual;
        try {
            actual = OrtRun.run(converted, c.inputs());
        } catch (OrtException e) {
            try {
                OrtRun.run(c.model(), c.inputs());
            } catch (OrtException original) {
                notRunnable.add(c.name());
                return "";
            }
            return "the converted model fails in ONNX Runtime, the original runs: " + e.getMessage();
        }
        String mismatch = OrtRun.mismatch(expected, actual);
        if (mismatch != null && c.expected() != null) {
            // ONNX Runtime may differ from ONNX's reference on the unconverted model already
            try {
                Map<String, OrtRun.Values> original = OrtRun.run(c.model(), c.inputs());
                if (OrtRun.mismatch(expected, original) != null && OrtRun.mismatch(original, actual) == null) {
                    ortDiffers.add(c.name());
                    return "";
                }
            } catch (OrtException e) {
                return mismatch;
            }
        }
        return mismatch;
    }

    /** The opset-13 test rewritten to its op's older form, or null when that form cannot say the same. */
    private static Case oldForm(Case test, NodeProto node) {
        OldForm form = OLD_FORMS.get(node.getOpType());
        if (form == null || form.opset() >= test.model().opset("")
                || node.getAttributeList().stream().anyMatch(a -> a.getName().equals("noop_with_empty_axes"))) {
            return null; // no older form says "reduce nothing when axes is empty"
        }
        TensorProto data = test.inputs().get(node.getInput(0));
        if (Set.of("Clip", "Pad").contains(node.getOpType())
                && (data == null || data.getDataType() != TensorProto.DataType.FLOAT_VALUE)) {
            return null; // their older forms are float-only
        }
        Map<String, TensorProto> inputs = new LinkedHashMap<>(test.inputs());
        NodeProto.Builder old = node.toBuilder().clearInput().addInput(node.getInput(0));
        for (int i = 1; i < node.getInputCount(); i++) {
            String attribute = form.attributes().get(i);
            TensorProto value = inputs.remove(node.getInput(i));
            if (node.getInput(i).isEmpty()) {
                continue;
            }
            if (attribute == null || value == null) {
                return null;
            }
            OrtRun.Values values = OrtRun.values(value);
            AttributeProto.Builder attr = AttributeProto.newBuilder().setName(attribute);
            if (value.getDataType() == TensorProto.DataType.INT64_VALUE) {
                if (attribute.equals("steps")) {
                    if (Arrays.stream(values.values()).anyMatch(v -> v != 1)) {
                        return null; // Slice before 10 has no steps
                    }
                    continue;
                }
                if (attribute.equals("axes") && node.getOpType().equals("Slice")
                        && Arrays.stream(values.values()).anyMatch(v -> v < 0)) {
                    return null; // Slice counts axes from the back only from 11
                }
                attr.setType(AttributeProto.AttributeType.INTS);
                for (double v : values.values()) {
                    attr.addInts((long) v);
                }
            } else if (value.getDataType() == TensorProto.DataType.FLOAT_VALUE && attribute.equals("scales")) {
                attr.setType(AttributeProto.AttributeType.FLOATS);
                for (double v : values.values()) {
                    attr.addFloats((float) v);
                }
            } else if (value.getDataType() == TensorProto.DataType.FLOAT_VALUE && values.values().length == 1) {
                attr.setType(AttributeProto.AttributeType.FLOAT).setF((float) values.values()[0]);
            } else {
                return null; // e.g. integer Clip bounds: the older form is float-only
            }
            old.addAttribute(attr);
        }
        GraphProto.Builder graph = test.model().toProto().getGraph().toBuilder().clearNode().addNode(old)
                .clearInput();
        for (ValueInfoProto input : test.model().toProto().getGraph().getInputList()) {
            if (inputs.containsKey(input.getName())) {
                graph.addInput(input);
            }
        }
        OnnxModel model = OnnxModel.of(test.model().toProto().toBuilder().setGraph(graph).clearOpsetImport()
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(form.opset())).build());
        return new Case(test.name() + "@" + form.opset(), model, inputs, test.expected());
    }

    /** A test folder's model, inputs and expected outputs; null unless all are tensors this test can feed. */
}
