package dev.oialr4j.oialr;

/**
 * The rank cut of one update round (OIALR.md §3c): singular values below β·σ₁ are dropped, but at most
 * {@code maxCutFraction} of the current rank goes in one round, never below the floor, and the rank never
 * grows.
 */
public record RankRule(double cutoffFraction, double maxCutFraction, double minRankFraction) {

    public RankRule {
        if (!(cutoffFraction >= 0 && cutoffFraction < 1)) {
            throw new IllegalArgumentException("cutoff fraction must be in [0, 1), got " + cutoffFraction);
        }
        if (!(maxCutFraction >= 0 && maxCutFraction <= 1)) {
            throw new IllegalArgumentException("max cut fraction must be in [0, 1], got " + maxCutFraction);
        }
        if (!(minRankFraction >= 0 && minRankFraction <= 1)) {
            throw new IllegalArgumentException("min rank fraction must be in [0, 1], got " + minRankFraction);
        }
    }

    /** The rank floor of a layer whose full rank is {@code fullRank} = min(m, n): at least 1. */
    public int floor(int fullRank) {
        return Math.max(1, ceil(minRankFraction * fullRank));
    }

    /**
     * ⌈x⌉ for a product of a decimal fraction and a count, where x within rounding error of an integer is
     * that integer: 0.07·100 is 7.000000000000001 and 10·(1 − 0.7) is 3.0000000000000004 in double.
     */
    static int ceil(double x) {
        double nearest = Math.rint(x);
        return (int) (Math.abs(x - nearest) <= 1e-9 * Math.max(1, Math.abs(x)) ? nearest : Math.ceil(x));
    }

    /**
     * The new rank given the descending singular values of Σ (length = current rank).
     *
     * @param fullRank min(m, n) of the layer, for the floor
     */
    public int newRank(double[] sigma, int fullRank) {
        int r = sigma.length;
        if (r == 0) {
            throw new IllegalArgumentException("Σ has rank 0");
        }
        double threshold = cutoffFraction * sigma[0];
        int firstBelow = -1;
        for (int i = 0; i < r; i++) {
            if (sigma[i] < threshold) {
                firstBelow = i;
                break;
            }
        }
        if (firstBelow < 0) {
            return r;
        }
        int lowestThisRound = ceil(r * (1 - maxCutFraction));
        int target = Math.max(firstBelow, Math.max(lowestThisRound, floor(fullRank)));
        return Math.min(r, Math.max(1, target));
    }
}
