package dev.compress.prune;

import dev.compress.CompressException;
import dev.compress.torch.TorchScriptModel;
import dev.compress.torch.TorchScriptModel.NamedParameter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Re-applies unstructured masks (computed on an ONNX model) to the named parameters of a TorchScript checkpoint of
 * the same architecture, read and written through DJL's PyTorch engine.
 *
 * <p>An entry goes to the parameter of the same name if the checkpoint has one (exports that keep module names);
 * otherwise to the checkpoint's {@code layer}-th weight of rank 2 or more in module order, which must have the same
 * shape (torch's ONNX export renames weights it folds BatchNorm into, e.g. {@code stem.0.weight} becomes
 * {@code onnx::Conv_89}). The masks keep their positions: the same elements are zeroed, whatever their values in
 * this checkpoint.
 */
public final class TorchScriptMasks {
    private TorchScriptMasks() {}

    /**
     * Zeroes the masked elements of the checkpoint's parameters in place; {@link TorchScriptModel#save} writes them.
     *
     * @return mask weight name to the checkpoint parameter it was applied to, in mask order
     * @throws CompressException BAD_INPUT naming the mask file for structured masks or masks that do not fit
     */
    public static Map<String, String> apply(TorchScriptModel checkpoint, PruneMasks masks, Path source) {
        if (PruneMasks.STRUCTURED.equals(masks.kind())) {
            throw CompressException.badInput(source, "holds structured masks, which shrink an ONNX graph; a "
                    + "TorchScript checkpoint can take unstructured masks only");
        }
        Map<String, NamedParameter> parameters = checkpoint.parameters();
        List<NamedParameter> weights = new ArrayList<>();
        for (NamedParameter p : parameters.values()) {
            if (p.shape().length >= 2) {
                weights.add(p);
            }
        }
        Map<String, String> applied = new LinkedHashMap<>();
        for (PruneMasks.Entry entry : masks.tensors()) {
            NamedParameter target = parameters.get(entry.weight());
            if (target == null) {
                if (entry.layer() == null || entry.layer() < 0 || entry.layer() >= weights.size()) {
                    throw CompressException.badInput(source, "was made for another model: " + checkpoint.file()
                            + " has no parameter '" + entry.weight() + "' and no weight at layer position "
                            + entry.layer() + " (it has " + weights.size() + " weights of rank 2 or more)");
                }
                target = weights.get(entry.layer());
            }
            List<Long> shape = Arrays.stream(target.shape()).boxed().toList();
            if (!shape.equals(entry.shape())) {
                throw CompressException.badInput(source, "was made for another model: '" + entry.weight()
                        + "' has shape " + entry.shape() + " in the mask file; the checkpoint's parameter '"
                        + target.name() + "' at that place has shape " + shape);
            }
            boolean[] mask;
            try {
                mask = entry.prunedElements();
            } catch (IllegalArgumentException e) {
                throw CompressException.badInput(source, "not a valid mask file (" + e.getMessage() + ")", e);
            }
            float[] values = target.values().clone();
            for (int i = 0; i < values.length; i++) {
                if (mask[i]) {
                    values[i] = 0f;
                }
            }
            checkpoint.setParameter(target.name(), values);
            applied.put(entry.weight(), target.name());
        }
        return applied;
    }
}
