package dev.compress.prune;

import dev.compress.CompressException;
import dev.compress.Progress;
import dev.compress.data.Dataset;
import dev.compress.graph.OnnxModel;
import dev.compress.runtime.OrtModel;
import dev.compress.runtime.RuntimeOptions;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Mean of each channel (axis 1, over the batch and all other axes) of intermediate tensors of the dense model on
 * calibration data. Only running sums are kept, so memory does not grow with the number of samples.
 */
final class ChannelMeans {
    private ChannelMeans() {}

    static Map<String, double[]> of(OnnxModel model, Set<String> tensors, Dataset data, int batchSize,
            Progress progress) {
        Map<String, double[]> sums = new LinkedHashMap<>();
        Map<String, Long> counts = new LinkedHashMap<>();
        if (tensors.isEmpty()) {
            return sums;
        }
        try (OrtModel probe = OrtModel.open(model.withExtraOutputs(tensors), RuntimeOptions.defaults())) {
            data.forEachBatch(batchSize, progress, "channel means", batch -> {
                for (Map.Entry<String, OrtModel.FloatOutput> out : probe.run(batch, tensors).entrySet()) {
                    long[] shape = out.getValue().shape();
                    float[] values = out.getValue().values();
                    int channels = (int) shape[1];
                    int inner = 1;
                    for (int i = 2; i < shape.length; i++) {
                        inner *= (int) shape[i];
                    }
                    double[] sum = sums.computeIfAbsent(out.getKey(), k -> new double[channels]);
                    for (int i = 0; i < values.length; i++) {
                        sum[(i / inner) % channels] += values[i];
                    }
                    counts.merge(out.getKey(), shape[0] * inner, Long::sum);
                }
            });
        }
        if (counts.isEmpty()) {
            throw CompressException.badInput(data.source(), "no calibration samples");
        }
        sums.forEach((name, sum) -> {
            for (int c = 0; c < sum.length; c++) {
                sum[c] /= counts.get(name);
            }
        });
        return sums;
    }
}
