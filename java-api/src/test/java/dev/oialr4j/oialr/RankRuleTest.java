package dev.oialr4j.oialr;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The rank cut of OIALR.md §3c: i₀ = first index with σᵢ < β·σ₁; none → keep r; else cut to i₀ but never
 * below r·(1 − maxCut) in one round, never below the floor max(1, ⌈minRankFraction·min(m,n)⌉), and never
 * above r. Bounds in the randomised check are computed in exact decimal arithmetic, so a floating-point
 * ceil of 3.0000000000000004 cannot hide in the reference.
 */
class RankRuleTest {

    private static double[] desc(double... s) {
        return s;
    }

    @Test
    void noSingularValueBelowTheCutoffKeepsTheRank() {
        RankRule rule = new RankRule(0.1, 0.5, 0.01);
        assertEquals(5, rule.newRank(desc(10, 8, 5, 2, 1), 100), "σ₅ = 1 = β·σ₁ exactly survives (σᵢ ≥ β·σ₁)");
        assertEquals(5, rule.newRank(desc(10, 8, 5, 2, 1.5), 100));
        assertEquals(1, rule.newRank(desc(3), 100));
        assertEquals(4, rule.newRank(desc(0, 0, 0, 0), 100), "all zero: nothing is below 0·β");
        assertEquals(4, new RankRule(0, 1, 0).newRank(desc(5, 1e-300, 0, 0), 4), "β = 0 never cuts");
    }

    @Test
    void cutsToTheFirstIndexBelowTheCutoff() {
        RankRule rule = new RankRule(0.1, 0.5, 0.01);
        assertEquals(7, rule.newRank(desc(10, 9, 8, 7, 6, 5, 4, 0.99, 0.5, 0.1), 100));
        assertEquals(8, rule.newRank(desc(10, 9, 8, 7, 6, 5, 4, 3, 0.9, 0.8), 100));
        // values after i₀ that are above the cutoff again do not matter: the first one below decides
        assertEquals(9, rule.newRank(desc(10, 9, 8, 7, 6, 5, 4, 3, 2, 0.5), 100));
        RankRule noLimit = new RankRule(0.25, 1.0, 0.0);
        assertEquals(2, noLimit.newRank(desc(8, 3, 1.9, 1, 0.1), 5));
        assertEquals(1, noLimit.newRank(desc(8, 1, 1, 1, 1), 5));
    }

    @Test
    void neverCutsMoreThanTheMaximumShareInOneRound() {
        RankRule half = new RankRule(0.1, 0.5, 0.0);
        double[] collapse = desc(100, 1, 1, 1, 1, 1, 1, 1, 1, 1); // i₀ = 1
        assertEquals(5, half.newRank(collapse, 10), "10 → at least ⌈10·0.5⌉ = 5");
        assertEquals(6, half.newRank(Arrays.copyOf(collapse, 11), 11), "11 → ⌈5.5⌉ = 6");
        assertEquals(2, new RankRule(0.1, 0.8, 0.0).newRank(collapse, 10), "10 → ⌈10·0.2⌉ = 2");
        assertEquals(10, new RankRule(0.1, 0.0, 0.0).newRank(collapse, 10), "max cut 0: the rank is frozen");
        assertEquals(1, new RankRule(0.1, 1.0, 0.0).newRank(collapse, 10), "max cut 1: straight to i₀");
        // repeated rounds halve at most each time
        int r = 64;
        int[] expected = {32, 16, 8, 4, 2, 1, 1};
        for (int e : expected) {
            double[] s = new double[r];
            Arrays.fill(s, 1e-3);
            s[0] = 1;
            r = half.newRank(s, 64);
            assertEquals(e, r);
        }
    }

    @Test
    void maxCutBoundIsExactWhereOneMinusTheFractionIsInexact() {
        // 1 − 0.7 = 0.30000000000000004 in double, so 10·(1 − 0.7) = 3.0000000000000004; the documented
        // bound is r·(1 − maxCut) = 3, and a cut from 10 to 3 must be allowed.
        RankRule rule = new RankRule(0.5, 0.7, 0.0);
        double[] s = new double[10];
        Arrays.fill(s, 0.01);
        s[0] = 1;
        assertEquals(3, rule.newRank(s, 10));
        double[] s20 = new double[20];
        Arrays.fill(s20, 0.01);
        s20[0] = 1;
        assertEquals(6, rule.newRank(s20, 20));
    }

    @Test
    void floorIsAShareOfMinMnAndAtLeastOne() {
        assertEquals(1, new RankRule(0.1, 0.5, 0.01).floor(10), "⌈0.1⌉ = 1");
        assertEquals(1, new RankRule(0.1, 0.5, 0.01).floor(100));
        assertEquals(2, new RankRule(0.1, 0.5, 0.01).floor(101));
        assertEquals(1, new RankRule(0.1, 0.5, 0.0).floor(1000), "floor 0 still keeps one");
        assertEquals(16, new RankRule(0.1, 0.5, 0.5).floor(32));
        assertEquals(13, new RankRule(0.1, 0.5, 0.4).floor(32), "⌈12.8⌉");
        assertEquals(7, new RankRule(0.1, 0.5, 0.07).floor(100), "0.07·100 is 7.000000000000001 in double; the floor is 7");
        assertEquals(32, new RankRule(0.1, 0.5, 1.0).floor(32));

        RankRule rule = new RankRule(0.1, 1.0, 0.1);
        double[] s = new double[50];
        Arrays.fill(s, 1e-6);
        s[0] = 1;
        assertEquals(10, rule.newRank(s, 100), "floor ⌈0.1·100⌉ = 10 stops the cut");
        assertEquals(50, rule.newRank(s, 1000), "floor 100 above the current rank 50: keep 50, never grow");
        assertEquals(1, new RankRule(0.1, 1.0, 0.0).newRank(desc(1, 0), 2), "never below 1");
    }

    @ParameterizedTest(name = "beta={0} maxCut={1} minRank={2}")
    @CsvSource({"0.1,0.5,0.01", "0.15,0.5,0.01", "0.3,0.25,0.05", "0.5,0.7,0.0", "0.05,1.0,0.2", "0.9,0.3,0.07",
        "0.0,0.5,0.01", "0.2,0.18,0.01"})
    void randomisedAgainstAnExactReference(double beta, double maxCut, double minRank) {
        RankRule rule = new RankRule(beta, maxCut, minRank);
        SplittableRandom rng = new SplittableRandom(Double.hashCode(beta) * 31L + Double.hashCode(maxCut));
        for (int trial = 0; trial < 2000; trial++) {
            int full = 1 + rng.nextInt(300);
            int r = 1 + rng.nextInt(full);
            double[] s = new double[r];
            double decay = rng.nextDouble(0.5, 1.0);
            double x = rng.nextDouble(0.1, 10);
            for (int i = 0; i < r; i++) {
                s[i] = x;
                x *= rng.nextDouble(decay, 1.0);
            }
            if (rng.nextInt(4) == 0) {
                int z = rng.nextInt(r);
                for (int i = z; i < r; i++) {
                    s[i] = 0; // exactly singular tail
                }
            }
            int got = rule.newRank(s, full);
            int expected = reference(s, full, beta, maxCut, minRank);
            String what = "trial " + trial + " r=" + r + " full=" + full;
            assertEquals(expected, got, what);
            assertTrue(got >= 1 && got <= r, what + ": rank never grows and stays ≥ 1");
            assertTrue(got >= Math.min(r, rule.floor(full)), what + ": floor");
            int removed = r - got;
            assertTrue(BigDecimal.valueOf(removed).compareTo(BigDecimal.valueOf(r).multiply(BigDecimal.valueOf(maxCut))) <= 0,
                    what + ": removed " + removed + " > maxCut·r");
            if (got < r) {
                assertTrue(s[got] < beta * s[0], what + ": a cut only removes values from below the cutoff on");
            }
        }
    }

    /** OIALR.md §3c with exact decimal bounds. */
    private static int reference(double[] s, int full, double beta, double maxCut, double minRank) {
        int r = s.length;
        int i0 = -1;
        for (int i = 0; i < r; i++) {
            if (s[i] < beta * s[0]) {
                i0 = i;
                break;
            }
        }
        if (i0 < 0) {
            return r;
        }
        int lowest = BigDecimal.valueOf(r).multiply(BigDecimal.ONE.subtract(BigDecimal.valueOf(maxCut)))
                .setScale(0, RoundingMode.CEILING).intValueExact();
        int floor = Math.max(1, BigDecimal.valueOf(full).multiply(BigDecimal.valueOf(minRank))
                .setScale(0, RoundingMode.CEILING).intValueExact());
        return Math.min(r, Math.max(i0, Math.max(lowest, floor)));
    }

    @Test
    void rejectsOutOfRangeParametersAndAnEmptySigma() {
        assertThrows(IllegalArgumentException.class, () -> new RankRule(1.0, 0.5, 0.01));
        assertThrows(IllegalArgumentException.class, () -> new RankRule(-0.1, 0.5, 0.01));
        assertThrows(IllegalArgumentException.class, () -> new RankRule(Double.NaN, 0.5, 0.01));
        assertThrows(IllegalArgumentException.class, () -> new RankRule(0.1, 1.5, 0.01));
        assertThrows(IllegalArgumentException.class, () -> new RankRule(0.1, -0.5, 0.01));
        assertThrows(IllegalArgumentException.class, () -> new RankRule(0.1, 0.5, 1.01));
        assertThrows(IllegalArgumentException.class, () -> new RankRule(0.1, 0.5, -0.01));
        assertThrows(IllegalArgumentException.class, () -> new RankRule(0.1, 0.5, 0.01).newRank(new double[0], 4));
    }
}
