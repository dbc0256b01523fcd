package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CounterRandom;

/**
 * Inverted dropout; identity in evaluation mode. Each training call draws a fresh mask from a
 * counter-based generator keyed by (seed, call number), so runs with the same seed are identical.
 */
public final class Dropout extends Module {

    private final float p;
    private final long seed;
    private long calls;

    public Dropout(float p, long seed) {
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1), got " + p);
        }
        this.p = p;
        this.seed = seed;
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        if (!isTraining() || p == 0f) {
            return x;
        }
        return ops.dropout(x, p, CounterRandom.mix(seed, calls++));
    }

    public float p() {
        return p;
    }

    @Override
    public String toString() {
        return "Dropout(" + p + ")";
    }

    /** Training calls so far: the counter that keys the next mask (kept in checkpoints so a resumed run draws the same masks). */
    public long calls() {
        return calls;
    }

    public void setCalls(long calls) {
        if (calls < 0) {
            throw new IllegalArgumentException("dropout call count must be >= 0, got " + calls);
        }
        this.calls = calls;
    }
}
