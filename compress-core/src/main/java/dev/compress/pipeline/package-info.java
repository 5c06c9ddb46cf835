/**
 * The stage contract: every step that rewrites a model is a {@link dev.compress.pipeline.ModelPass}, every step that
 * only measures is a {@link dev.compress.pipeline.ModelCheck}; a {@link dev.compress.pipeline.Pipeline} chains passes
 * and writes their provenance. See docs/design.md.
 */
package dev.compress.pipeline;
