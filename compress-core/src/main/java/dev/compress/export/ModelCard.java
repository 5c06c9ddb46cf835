package dev.compress.export;

import dev.compress.data.Preprocessing;
import dev.compress.eval.EvalReport;
import dev.compress.graph.OnnxModel;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code MODEL_CARD.md}: Hugging Face model-card front matter (YAML) and a table of what was measured, from the
 * evaluation given to the export; nothing measured is invented when none was given.
 */
final class ModelCard {
    private ModelCard() {}

    static String text(OnnxModel model, Path file, Preprocessing preprocessing, List<String> labels,
            EvalReport evaluation, long onnxBytes, long ortBytes) {
        String name = file == null ? model.graph().name() : file.getFileName().toString();
        StringBuilder card = new StringBuilder();
        card.append("---\n");
        card.append("library_name: onnxruntime\n");
        card.append("pipeline_tag: image-classification\n");
        card.append("tags:\n- onnx\n- compress\n");
        if (model.metadata().containsKey("compress.quantization")) {
            card.append("- int8\nbase_model_relation: quantized\n");
        }
        card.append("---\n\n");
        card.append("# ").append(name).append("\n\n");
        card.append("Bundle written by compress ").append(dev.compress.Version.get())
                .append(". `manifest.json` holds the SHA-256 of every file; `compress verify` checks them.\n\n");
        card.append("| file | bytes |\n|---|---:|\n");
        card.append("| ").append(Bundle.MODEL).append(" | ").append(onnxBytes).append(" |\n");
        card.append("| ").append(Bundle.ORT_MODEL).append(" (ORT format, basic optimizations) | ").append(ortBytes)
                .append(" |\n\n");
        card.append("Input: ").append(preprocessing.outputSize()).append(" pixels, ")
                .append(preprocessing.channels() == 1 ? "gray" : "RGB").append(", ").append(preprocessing.layout())
                .append("; preprocessing `").append(preprocessing.toJson()).append("`.");
        if (labels != null) {
            card.append(" Classes (").append(labels.size()).append("): ").append(String.join(", ", labels))
                    .append('.');
        }
        card.append("\n\n## Measured\n\n");
        if (evaluation == null) {
            card.append("No evaluation was given to the export (`--eval-report`).\n");
            return card.toString();
        }
        card.append("On `").append(evaluation.data()).append("`, ").append(evaluation.samples())
                .append(" samples (95% Wilson intervals):\n\n");
        card.append("| model | top-1 | top-5 |\n|---|---|---|\n");
        card.append("| ").append(evaluation.model()).append(" | ").append(evaluation.top1().describe()).append(" | ")
                .append(evaluation.top5().describe()).append(" |\n");
        EvalReport.Baseline baseline = evaluation.baseline();
        if (baseline != null) {
            card.append("| ").append(baseline.model()).append(" (baseline) | ").append(baseline.top1().describe())
                    .append(" | ").append(baseline.top5().describe()).append(" |\n\n");
            card.append(String.format(Locale.ROOT, "Top-1 drop %.2f points; top-1 agreement with the baseline %s.\n",
                    baseline.dropPoints(), baseline.agreement().describe()));
        }
        return card.toString();
    }
}
