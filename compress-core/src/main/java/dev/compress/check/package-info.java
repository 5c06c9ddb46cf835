/**
 * Checks run on every quantization result: {@link dev.compress.check.FidelityCheck} (does the INT8 model still
 * compute what the fp32 model does?) and {@link dev.compress.check.LatencyCheck} (is it faster?).
 */
package dev.compress.check;
