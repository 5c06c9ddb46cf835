package dev.compress.cli;

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
     * report holding one under {@code "evaluation"}. Either is checked complete and consistent (see
     * {@link EvalReport#fromJson}).
     *
     * @throws CompressException BAD_INPUT naming the file
     */
    static EvalReport read(Path file) {
        JsonNode root;
        try {
            root = Files.isRegularFile(file) ? Json.readStrict(file) : null;
        } catch (IOException e) {
            root = null; // EvalReport.readJson below gives the precise error
        }
        if (root == null) {
            return EvalReport.readJson(file);
        }
        if (root.isObject() && root.has("quantization")) {
            JsonNode evaluation = root.get("evaluation");
            if (evaluation == null || !evaluation.isObject()) {
                throw CompressException.badInput(file,
                        "quantization report without an evaluation; run quantize with --eval DIR to get one");
            }
            return EvalReport.fromJson(file, evaluation);
        }
        return EvalReport.fromJson(file, root);
    }
}
