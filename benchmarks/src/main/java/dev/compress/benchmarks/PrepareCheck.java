package dev.compress.benchmarks;

import dev.compress.CompressException;
import dev.compress.data.Batch;
import dev.compress.data.HostTensor;
import dev.compress.graph.DataType;
import dev.compress.graph.OnnxModel;
import dev.compress.graph.ValueInfo;
import dev.compress.pipeline.PassContext;
import dev.compress.pipeline.PassResult;
import dev.compress.prepare.GraphPreparation;
import dev.compress.prepare.PreparationReport;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Graph preparation on models nobody here made: prepares each model given and runs the source and the prepared
 * model in ONNX Runtime (no optimizations of its own, so the graphs are compared as written) on the same seeded
 * inputs at two batch sizes, printing nodes before and after, what was folded, and the largest output difference
 * relative to the largest source output, next to the difference ONNX Runtime's own rewrites (level ALL) make: the
 * scale of float rounding in that model. The unit tests check each rewrite on small graphs; this checks them on
 * exports (torchvision's shufflenet and ViT, PaddleOCR, BERT encoders) whose symbolic dimensions they were written for.
 *
 * <p>{@code PrepareCheck [--dim NAME=SIZE]... [--out DIR] MODEL...} ({@code --out} saves the prepared models there,
 * for timing them; exit 1 when a model cannot be read or run, 2 on a usage error): a symbolic first dimension is the
 * batch (1 and 3); other symbolic dimensions are 64 unless named. Float inputs are N(0, 1); integer inputs are token ids in [1, 100), or 1
 * for a name with "mask", or 0 for a name with "type".
 */
public final class PrepareCheck {
    private PrepareCheck() {}

    public static void main(String[] args) {
        Map<String, Long> named = new HashMap<>();
        Path out = null;
        int first = 0;
        while (args.length > first + 1 && args[first].startsWith("--")) {
            String value = args[first + 1];
            if (args[first].equals("--out")) {
                out = Path.of(value);
            } else if (args[first].equals("--dim") && value.matches("[^=]+=[0-9]{1,9}")) {
                named.put(value.substring(0, value.lastIndexOf('=')),
                        Long.parseLong(value.substring(value.lastIndexOf('=') + 1)));
            } else {
                usage("not an option: " + args[first] + " " + value);
            }
            first += 2;
        }
        if (args.length <= first || args[first].startsWith("--")) {
            usage("no model given");
        }
        RuntimeOptions options = RuntimeOptions.defaults().withIntraOpThreads(2)
                .withOptimization(RuntimeOptions.Optimization.NONE);
        boolean failed = false;
        for (int m = first; m < args.length; m++) {
            try {
                OnnxModel source = OnnxModel.load(Path.of(args[m]));
                long start = System.nanoTime();
                PassResult<PreparationReport> result = new GraphPreparation().apply(source, PassContext.silent());
                double seconds = (System.nanoTime() - start) / 1e9;
                PreparationReport report = result.report();
                System.out.printf(Locale.ROOT, "%s: %d -> %d nodes in %.1f s; %s; left %d%n", args[m],
                        report.nodesBefore(), report.nodesAfter(), seconds, report.counts(), report.left().size());
                if (out != null) {
                    result.model().save(out.resolve(Path.of(args[m]).getFileName()));
                }
                report.left().stream().limit(5).forEach(left -> System.out.printf(Locale.ROOT, "  left %s: %s%n",
                        left.node(), left.reason()));
                try (OrtModel a = OrtModel.open(source, options); OrtModel b = OrtModel.open(result.model(), options);
                        OrtModel c = OrtModel.open(source, RuntimeOptions.defaults().withIntraOpThreads(2))) {
                    for (int batch : new int[] {1, 3}) {
                        Batch inputs = inputs(source, batch, named);
                        Map<String, OrtModel.FloatOutput> expected = a.run(inputs);
                        System.out.printf(Locale.ROOT, "  batch %d: max |prepared - source| / max |source| = %.2e "
                                + "(ONNX Runtime's own rewrites of the source: %.2e)%n", batch,
                                difference(expected, b.run(inputs)), difference(expected, c.run(inputs)));
                    }
                }
            } catch (CompressException e) {
                // one line naming the model and the problem, then the next model; the exit code says it
                System.err.println("error: " + e.getMessage());
                failed = true;
            }
        }
        System.exit(failed ? 1 : 0);
    }

    private static double difference(Map<String, OrtModel.FloatOutput> expected,
            Map<String, OrtModel.FloatOutput> actual) {
        double error = 0;
        double scale = 0;
        for (String output : expected.keySet()) {
            float[] e = expected.get(output).values();
            float[] q = actual.get(output).values();
            if (!java.util.Arrays.equals(expected.get(output).shape(), actual.get(output).shape())) {
                throw new IllegalStateException(output + " changed shape");
            }
            for (int i = 0; i < e.length; i++) {
                error = Math.max(error, Math.abs(e[i] - q[i]));
                scale = Math.max(scale, Math.abs(e[i]));
            }
        }
        return error / scale;
    }

    private static void usage(String problem) {
        System.err.println("error: " + problem + "; usage: PrepareCheck [--dim NAME=SIZE]... [--out DIR] MODEL...");
        System.exit(2);
    }

    private static Batch inputs(OnnxModel model, int batch, Map<String, Long> named) {
        Random random = new Random(7);
        Map<String, HostTensor> inputs = new LinkedHashMap<>();
        for (ValueInfo input : model.graph().inputs()) {
            List<ValueInfo.Dim> dims = input.shape().orElseThrow();
            long[] shape = new long[dims.size()];
            for (int i = 0; i < shape.length; i++) {
                ValueInfo.Dim dim = dims.get(i);
                shape[i] = dim.isKnown() ? dim.value() : i == 0 ? batch : named.getOrDefault(dim.param(), 64L);
            }
            int count = (int) HostTensor.elementCount(shape);
            String name = input.name().toLowerCase(Locale.ROOT);
            if (input.elementType() == DataType.FLOAT) {
                float[] values = new float[count];
                for (int i = 0; i < count; i++) {
                    values[i] = (float) random.nextGaussian();
                }
                inputs.put(input.name(), HostTensor.ofFloats(shape, values));
            } else {
                long[] values = new long[count];
                for (int i = 0; i < count; i++) {
                    values[i] = name.contains("mask") ? 1 : name.contains("type") ? 0 : 1 + random.nextInt(99);
                }
                inputs.put(input.name(), HostTensor.ofLongs(shape, values));
            }
        }
        return new Batch(inputs, new int[batch], Collections.nCopies(batch, Path.of("random")));
    }
}
