package dev.compress.prune;

import java.util.Arrays;
import java.util.List;

/** L1 (magnitude) selection: which elements have the smallest absolute values. */
final class Magnitude {
    private Magnitude() {}

    /** How many of {@code n} elements a sparsity prunes: rounded half to even, as torch.nn.utils.prune does. */
    static long count(double sparsity, long n) {
        return (long) Math.rint(sparsity * n);
    }

    /**
     * For each tensor, the elements to prune: the {@code k} of smallest absolute value over all of them together.
     * Ties at the threshold go to the earlier tensor, then the lower index, so the choice is deterministic.
     */
    static boolean[][] smallest(List<float[]> tensors, long k) {
        long total = tensors.stream().mapToLong(t -> t.length).sum();
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("global pruning over " + total + " weights is more than one array "
                    + "can sort; prune per layer instead");
        }
        boolean[][] pruned = new boolean[tensors.size()][];
        for (int t = 0; t < tensors.size(); t++) {
            pruned[t] = new boolean[tensors.get(t).length];
        }
        if (k <= 0) {
            return pruned;
        }
        // |x| as int bits orders like |x| for all non-NaN floats, and sorts NaN last (never pruned before numbers)
        int[] keys = new int[(int) total];
        int at = 0;
        for (float[] tensor : tensors) {
            for (float v : tensor) {
                keys[at++] = abs(v);
            }
        }
        Arrays.sort(keys);
        int threshold = keys[(int) Math.min(k, total) - 1];
        long atThreshold = k;
        for (int key : keys) {
            if (key >= threshold) {
                break;
            }
            atThreshold--;
        }
        for (int t = 0; t < tensors.size(); t++) {
            float[] tensor = tensors.get(t);
            for (int i = 0; i < tensor.length; i++) {
                int key = abs(tensor[i]);
                if (key < threshold) {
                    pruned[t][i] = true;
                } else if (key == threshold && atThreshold > 0) {
                    pruned[t][i] = true;
                    atThreshold--;
                }
            }
        }
        return pruned;
    }

    private static int abs(float v) {
        return Float.floatToRawIntBits(v) & 0x7fffffff;
    }
}
