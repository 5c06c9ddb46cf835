package dev.compress.quantize;

import dev.compress.calibrate.CalibrationTable;
import dev.compress.graph.OnnxModel;
import dev.compress.prepare.PreparationReport;

/**
 * The quantized model (not yet saved), what was done to it, the calibration table its ranges came from (null for
 * dynamic quantization, which calibrates nothing), what graph preparation did first (null when it did not run) and
 * what the latency fallback measured and kept float (null when it did not run).
 */
public record QuantizationResult(OnnxModel model, QuantizationReport report, CalibrationTable table,
        PreparationReport preparation, LatencyFallbackReport fallback) {
    QuantizationResult(OnnxModel model, QuantizationReport report, CalibrationTable table) {
        this(model, report, table, null, null);
    }

    QuantizationResult withPreparation(PreparationReport preparation) {
        return new QuantizationResult(model, report, table, preparation, fallback);
    }

    QuantizationResult withFallback(LatencyFallbackReport fallback) {
        return new QuantizationResult(model, report, table, preparation, fallback);
    }
}
