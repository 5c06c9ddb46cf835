package dev.compress.prune;

import dev.compress.graph.OnnxModel;

/** The pruned model (not yet saved), the masks to re-apply the same pruning elsewhere, and the report. */
public record PruneResult(OnnxModel model, PruneMasks masks, PruneReport report) {}
