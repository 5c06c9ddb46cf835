package dev.compress.cli;

import dev.compress.Progress;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Shows core progress on stderr: a progress bar when attached to an interactive terminal, otherwise one plain line per
 * completed loop so CI logs stay readable; nothing with {@code --quiet}.
 */
final class ConsoleProgress {
    private ConsoleProgress() {}

    static Progress create(GlobalOptions global) {
        if (global.quiet()) {
            return Progress.NONE;
        }
        return interactive() ? new Bar() : new Plain(global.err());
    }

    /**
     * Whether to draw a bar: a console is attached (System.console() is null when stdin or stdout is redirected), the
     * terminal is not dumb and this is not a CI job.
     */
    static boolean interactive() {
        String term = System.getenv("TERM");
        return System.console() != null
                && !"dumb".equals(term)
                && System.getenv("CI") == null;
    }

    /** {@code "calibrating: 4000/10000 samples, 850/s, about 7 s left"}. */
    static String status(String task, long done, long total, double seconds) {
        double rate = seconds > 0 ? done / seconds : 0;
        String text = String.format(Locale.ROOT, "%s: %d%s samples, %.0f/s", task, done,
                total >= 0 ? "/" + total : "", rate);
        if (total >= 0 && rate > 0) {
            text += String.format(Locale.ROOT, ", about %.0f s left", (total - done) / rate);
        }
        return text;
    }

    /** A me.tongfei progress bar on System.err, with rate and ETA. */
    private static final class Bar implements Progress {
        private ProgressBar bar;

        @Override
        public void start(String task, long total) {
            finish();
            bar = new ProgressBarBuilder()
                    .setTaskName(task)
                    .setInitialMax(total)
                    .setStyle(ProgressBarStyle.ASCII)
                    .setUpdateIntervalMillis(200)
                    .setConsumer(new ConsoleProgressBarConsumer(System.err))
                    .showSpeed()
                    .build();
        }

        @Override
        public void advance(long done) {
            if (bar != null) {
                bar.stepBy(done);
            }
        }

        @Override
        public void finish() {
            if (bar != null) {
                bar.close();
                bar = null;
            }
        }
    }

    /**
     * One line per completed loop, {@code "calibrating: 500 samples in 1.2 s"}; for long loops also a line every
     * {@link #INTERVAL_NANOS} with the rate and the time left; nothing for a loop cut short by an error, so a CI log
     * holds the outcome and the error, not a stream of updates.
     */
    private static final class Plain implements Progress {
        static final long INTERVAL_NANOS = 10_000_000_000L;
        private final PrintWriter err;
        private String task;
        private long total;
        private long done;
        private long startNanos;
        private long lastLineNanos;

        Plain(PrintWriter err) {
            this.err = err;
        }

        @Override
        public void start(String task, long total) {
            this.task = task;
            this.total = total;
            this.done = 0;
            this.startNanos = System.nanoTime();
            this.lastLineNanos = startNanos;
        }

        @Override
        public void advance(long done) {
            this.done += done;
            long now = System.nanoTime();
            if (task != null && now - lastLineNanos >= INTERVAL_NANOS) {
                lastLineNanos = now;
                err.println(status(task, this.done, total, (now - startNanos) / 1e9));
                err.flush();
            }
        }

        @Override
        public void finish() {
            if (task != null && (total < 0 || done >= total)) {
                double seconds = Duration.ofNanos(System.nanoTime() - startNanos).toMillis() / 1000.0;
                err.println(String.format(Locale.ROOT, "%s: %d samples in %.1f s", task, done, seconds));
                err.flush();
            }
            task = null;
        }
    }
}
