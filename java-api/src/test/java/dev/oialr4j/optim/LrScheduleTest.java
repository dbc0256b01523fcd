package dev.oialr4j.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Learning-rate schedules against their analytic values (tolerance 1e-12 relative to the peak). */
class LrScheduleTest {

    private static final double TOL = 1e-12;

    @Test
    void cosineWithWarmupAnalyticPoints() {
        double peak = 0.1;
        double floor = 0.001;
        long warmup = 10;
        long total = 110;
        LrSchedule s = LrSchedule.cosineWithWarmup(peak, warmup, total, floor);
        // step is 0-based: lr(step) is the rate of update step + 1
        assertEquals(peak / warmup, s.lr(0), TOL, "warm-up start");
        assertEquals(peak * 5 / warmup, s.lr(4), TOL, "linear warm-up");
        assertEquals(peak, s.lr(warmup - 1), TOL, "warm-up end reaches the peak");
        assertEquals(peak, s.lr(warmup), TOL, "cosine starts at the peak");
        assertEquals(floor + 0.5 * (peak - floor), s.lr(warmup + (total - warmup) / 2), TOL, "midpoint");
        assertEquals(floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * 0.25)), s.lr(warmup + 25), TOL,
                "quarter");
        assertEquals(floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * 99 / 100)), s.lr(total - 1), TOL);
        assertEquals(floor, s.lr(total), TOL, "end");
        assertEquals(floor, s.lr(total + 1000), TOL, "held after the end");
        for (long k = 0; k + 1 < warmup; k++) {
            assertTrue(s.lr(k + 1) > s.lr(k), "warm-up increases");
        }
        for (long k = warmup; k < total; k++) {
            assertTrue(s.lr(k + 1) < s.lr(k), "cosine decreases at " + k);
        }
    }

    @Test
    void noWarmupAndDegenerateCases() {
        LrSchedule s = LrSchedule.cosineWithWarmup(1.0, 0, 4, 0.0);
        assertEquals(1.0, s.lr(0), TOL);
        assertEquals(0.5, s.lr(2), TOL);
        assertEquals(0.0, s.lr(4), TOL);
        LrSchedule allWarmup = LrSchedule.cosineWithWarmup(2.0, 4, 4, 0.5);
        assertEquals(0.5, allWarmup.lr(0), TOL);
        assertEquals(2.0, allWarmup.lr(3), TOL);
        assertEquals(0.5, allWarmup.lr(4), TOL);
        assertEquals(0.3, LrSchedule.constant(0.3).lr(12345), 0);
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.cosineWithWarmup(1, -1, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.cosineWithWarmup(1, 11, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.cosineWithWarmup(1, 0, 0, 0));
    }
}
