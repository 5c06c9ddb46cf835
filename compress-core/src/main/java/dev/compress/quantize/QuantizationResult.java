package dev.compress.quantize;

import dev.compress.calibrate.CalibrationTable;
import dev.compress.graph.OnnxModel;

/**
 * The quantized model (not yet saved), what was done to it, and the calibration table its ranges came from (null for
 * dynamic quantization, which calibrates nothing).
 */
public record QuantizationResult(OnnxModel model, QuantizationReport report, CalibrationTable table) {}
