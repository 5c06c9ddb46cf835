package dev.compress.calibrate;

/**
 * The range chosen for one tensor.
 *
 * @param tensor the tensor name
 * @param method the calibrator that chose it
 * @param min lower bound (finite)
 * @param max upper bound (finite, at least {@code min})
 */
public record TensorRange(String tensor, CalibrationMethod method, float min, float max) {}
