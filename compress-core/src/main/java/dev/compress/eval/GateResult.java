package dev.compress.eval;

/**
 * The decision of a {@link Gate}.
 *
 * @param passed whether the top-1 drop is within the limit
 * @param dropPoints baseline top-1 minus candidate top-1, in percentage points (negative: the candidate is better)
 * @param maxDropPoints the limit it was checked against
 * @param message one line for people: PASS/FAIL, the figures, and McNemar's p-value when the samples were paired
 */
public record GateResult(boolean passed, double dropPoints, double maxDropPoints, String message) {}
