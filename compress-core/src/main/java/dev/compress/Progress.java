package dev.compress;

/**
 * Receives progress of long loops (calibration, evaluation). The library never prints; front ends show a bar.
 */
public interface Progress {
    /** Ignores all progress. */
    Progress NONE = new Progress() {
        @Override
        public void start(String task, long total) {}

        @Override
        public void advance(long done) {}

        @Override
        public void finish() {}
    };

    /** A loop named {@code task} of {@code total} steps (samples) begins; {@code total < 0} if unknown. */
    void start(String task, long total);

    /** {@code done} more steps are complete. */
    void advance(long done);

    /** The current loop ended. */
    void finish();
}
