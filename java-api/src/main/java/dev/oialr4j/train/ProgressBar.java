package dev.oialr4j.train;

import java.io.PrintStream;
import java.time.Duration;

/**
 * A one-line progress display: epoch, steps done, steps/s, running loss and ETA, redrawn with a carriage
 * return at most five times a second. Disabled output costs nothing.
 */
public final class ProgressBar {

    private static final long REDRAW_NANOS = 200_000_000L;
    private static final int WIDTH = 24;

    private final PrintStream out;
    private final boolean enabled;
    private long start;
    private long lastDraw;
    private int total;
    private String label = "";

    public ProgressBar(PrintStream out, boolean enabled) {
        this.out = out;
        this.enabled = enabled;
    }

    /** Enabled only when the JVM is attached to a terminal. */
    public static ProgressBar forTerminal(PrintStream out) {
        return new ProgressBar(out, System.console() != null);
    }

    public void start(String label, int totalSteps) {
        this.label = label;
        this.total = totalSteps;
        this.start = System.nanoTime();
        this.lastDraw = 0;
    }

    public void update(int done, double loss) {
        if (!enabled) {
            return;
        }
        long now = System.nanoTime();
        if (done < total && now - lastDraw < REDRAW_NANOS) {
            return;
        }
        lastDraw = now;
        double secs = (now - start) / 1e9;
        double rate = secs > 0 ? done / secs : 0;
        long eta = rate > 0 ? (long) ((total - done) / rate) : 0;
        int filled = total > 0 ? (int) ((long) WIDTH * done / total) : 0;
        out.printf("\r%s [%s%s] %d/%d  %.1f steps/s  loss %.4f  ETA %s   ", label, "#".repeat(filled),
                ".".repeat(WIDTH - filled), done, total, rate, loss, format(Duration.ofSeconds(eta)));
        out.flush();
    }

    /** Clears the line so the next printed line starts clean. */
    public void finish() {
        if (enabled) {
            out.print("\r" + " ".repeat(100) + "\r");
            out.flush();
        }
    }

    private static String format(Duration d) {
        long s = d.getSeconds();
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format("%d:%02d", s / 60, s % 60);
    }
}
