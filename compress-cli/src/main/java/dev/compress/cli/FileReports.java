package dev.compress.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.compress.check.FidelityReport;
import dev.compress.check.LatencyReport;
import dev.compress.eval.EvalReport;
import dev.compress.eval.GateResult;
import dev.compress.prepare.PreparationReport;
import dev.compress.prune.PruneReport;
import dev.compress.quantize.LatencyFallbackReport;
import dev.compress.quantize.QuantizationReport;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** The JSON reports of the commands that write a model: what came in, what went out, and what the core reported. */
final class FileReports {
    private FileReports() {}

    /**
     * Bytes of an input and an output model (with their external data files), plain and as a zip archive would hold
     * them: zeros left by unstructured pruning shrink only the compressed size.
     */
    record Sizes(long inputBytes, long outputBytes, Long inputZippedBytes, Long outputZippedBytes) {
        static Sizes of(Path input, Path output) {
            return of(input, output, true);
        }

        /** With {@code zipped} false the zipped sizes are null: compressing a large float model takes minutes. */
        static Sizes of(Path input, Path output, boolean zipped) {
            return new Sizes(Outputs.modelBytes(input), Outputs.modelBytes(output),
                    zipped ? Outputs.zippedBytes(input) : null, zipped ? Outputs.zippedBytes(output) : null);
        }

        /** input / output, to 3 decimals. */
        double ratio() {
            return outputBytes > 0 ? Math.round(1000.0 * inputBytes / outputBytes) / 1000.0 : 0;
        }
    }

    /** {@code compress quantize}. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"model", "output", "size", "preprocessing", "preparation", "quantization",
            "latencyFallback", "fidelity", "latency", "evaluation", "gate"})
    record Quantize(String model, String output, QuantizeSize size, Map<String, Object> preprocessing,
            PreparationReport preparation, QuantizationReport quantization, LatencyFallbackReport latencyFallback,
            FidelityReport fidelity, LatencyReport latency, EvalReport evaluation, GateResult gate) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"fp32Bytes", "int8Bytes", "ratio", "fp32ZippedBytes", "int8ZippedBytes"})
    record QuantizeSize(long fp32Bytes, long int8Bytes, double ratio, Long fp32ZippedBytes, Long int8ZippedBytes) {
        QuantizeSize(Sizes sizes) {
            this(sizes.inputBytes(), sizes.outputBytes(), sizes.ratio(), sizes.inputZippedBytes(),
                    sizes.outputZippedBytes());
        }
    }

    /** {@code compress prune}. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"model", "output", "masks", "size", "pruning", "evaluation", "gate"})
    record Prune(String model, String output, String masks, Sizes size, PruneReport pruning, EvalReport evaluation,
            GateResult gate) {}

    /** {@code compress prune --apply-masks} onto a TorchScript checkpoint. */
    @JsonPropertyOrder({"model", "output", "masks", "appliedTo", "size"})
    record TorchScriptMasks(String model, String output, String masks, Map<String, String> appliedTo, Sizes size) {}

    /** {@code compress run}: the passes in order, each with its report. */
    @JsonPropertyOrder({"model", "output", "steps", "warnings"})
    record Run(String model, String output, List<Step> steps, List<String> warnings) {
        record Step(String pass, Object report) {}
    }
}
