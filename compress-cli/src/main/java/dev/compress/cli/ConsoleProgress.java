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

    /** A me.tongfei progress bar on System.err. */
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
     * One line per completed loop, {@code "calibrating: 500 samples in 1.2 s"}; nothing while it runs and nothing
     * for a loop cut short by an error, so a CI log holds the outcome and the error, not a stream of updates.
     */
    private static final class Plain implements Progress {
        private final PrintWriter err;
        private String task;
        private long total;
        private long done;
        private long startNanos;

        Plain(PrintWriter err) {
            this.err = err;
        }

        @Override
        public void start(String task, long total) {
            this.task = task;
            this.total = total;
            this.done = 0;
            this.startNanos = System.nanoTime();
        }

        @Override
        public void advance(long done) {
            this.done += done;
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
