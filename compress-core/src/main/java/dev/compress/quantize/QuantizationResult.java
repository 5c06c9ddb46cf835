package dev.compress.quantize;

import dev.compress.graph.OnnxModel;

/** The quantized model (not yet saved) and what was done to it. */
public record QuantizationResult(OnnxModel model, QuantizationReport report) {}
