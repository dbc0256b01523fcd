package dev.oialr4j.backend;

/**
 * A counter-based generator: the value for (seed, index) is a pure function of both, so any element can
 * be drawn independently, in any order, on any thread or device, with the same result. The mixer is the
 * SplitMix64 finaliser applied to the seed-offset counter.
 */
public final class CounterRandom {

    private CounterRandom() {
    }

    public static long mix(long seed, long index) {
        return finalise(seed + (index + 1) * 0x9E3779B97F4A7C15L);
    }

    /** The SplitMix64 finaliser: a bijective 64-bit mixing function. */
    public static long finalise(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, 1) with 24 bits of precision. */
    public static float uniform(long seed, long index) {
        return (mix(seed, index) >>> 40) * 0x1.0p-24f;
    }
}
