package dev.compress.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.compress.CompressException;
import dev.compress.Json;
import dev.compress.eval.EvalReport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Evaluation reports from the JSON files the CLI writes. */
final class Reports {
    private Reports() {}

    /**
     * Reads an evaluation report: a file written by {@code compress eval --report}, or a {@code compress quantize}
     * report holding one under {@code "evaluation"}.
     *
     * @throws CompressException BAD_INPUT naming the file
     */
    static EvalReport read(Path file) {
        JsonNode root = null;
        if (Files.isRegularFile(file)) {
            try {
                root = Json.MAPPER.readTree(file.toFile());
            } catch (IOException e) {
                root = null; // EvalReport.readJson below gives the precise error
            }
        }
        if (root != null && root.isObject() && root.has("quantization")) {
            JsonNode evaluation = root.get("evaluation");
            if (evaluation == null || !evaluation.isObject()) {
                throw CompressException.badInput(file,
                        "quantization report without an evaluation; run quantize with --eval DIR to get one");
            }
            try {
                return Json.MAPPER.treeToValue(evaluation, EvalReport.class);
            } catch (JsonProcessingException e) {
                throw CompressException.badInput(file, "has a damaged \"evaluation\" ("
                        + Errors.oneLine(rootMessage(e)) + ")", e);
            }
        }
        return EvalReport.readJson(file);
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root instanceof JsonProcessingException j ? j.getOriginalMessage() : root.getMessage();
    }
}
