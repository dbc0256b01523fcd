package dev.oialr4j.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A finished run: per-epoch results, total seconds, and per-step timings (forward to optimizer update,
 * and callbacks separately, in nanoseconds) with the step losses.
 */
public record TrainResult(List<EpochResult> epochs, double seconds, List<Long> stepNanos,
        List<Long> callbackNanos, List<Double> stepLosses) {

    public EpochResult last() {
        return epochs.get(epochs.size() - 1);
    }

    public double bestAccuracy() {
        return epochs.stream().mapToDouble(EpochResult::testAccuracy).max().orElse(Double.NaN);
    }

    /** Median of {@code stepNanos[from, to)} in milliseconds (NaN when empty). */
    public double medianStepMillis(int from, int to) {
        if (to <= from) {
            return Double.NaN;
        }
        List<Long> part = new ArrayList<>(stepNanos.subList(from, to));
        Collections.sort(part);
        int n = part.size();
        double mid = n % 2 == 1 ? part.get(n / 2) : (part.get(n / 2 - 1) + part.get(n / 2)) / 2.0;
        return mid / 1e6;
    }
}
