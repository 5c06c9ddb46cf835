package dev.compress.quantize;

import dev.compress.calibrate.CalibrationTable;
import dev.compress.graph.OnnxModel;
import dev.compress.prepare.PreparationReport;

/**
 * The quantized model (not yet saved), what was done to it, the calibration table its ranges came from (null for
 * dynamic quantization, which calibrates nothing), and what graph preparation did first (null when it did not run).
 */
public record QuantizationResult(OnnxModel model, QuantizationReport report, CalibrationTable table,
        PreparationReport preparation) {
    QuantizationResult(OnnxModel model, QuantizationReport report, CalibrationTable table) {
        this(model, report, table, null);
    }

    QuantizationResult withPreparation(PreparationReport preparation) {
        return new QuantizationResult(model, report, table, preparation);
    }
}
