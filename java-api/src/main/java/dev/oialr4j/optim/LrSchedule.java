package dev.oialr4j.optim;

/** Learning rate as a function of the optimizer step (0-based: the rate used for step {@code step + 1}). */
@FunctionalInterface
public interface LrSchedule {

    double lr(long step);

    static LrSchedule constant(double lr) {
        return step -> lr;
    }

    /**
     * Linear warm-up from 0 to {@code peak} over {@code warmup} steps, then a cosine decay to {@code floor}
     * at {@code total} steps (held there afterwards).
     */
    static LrSchedule cosineWithWarmup(double peak, long warmup, long total, double floor) {
        if (warmup < 0 || total < 1 || warmup > total) {
            throw new IllegalArgumentException("cosine schedule needs 0 <= warmup <= total and total >= 1, got warmup="
                    + warmup + ", total=" + total);
        }
        return step -> {
            if (step < warmup) {
                return peak * (step + 1) / warmup;
            }
            if (step >= total) {
                return floor;
            }
            double progress = (double) (step - warmup) / Math.max(1, total - warmup);
            return floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress));
        };
    }
}
