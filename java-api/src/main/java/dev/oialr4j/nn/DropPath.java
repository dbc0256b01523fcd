package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.TransformerOps;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CounterRandom;

/**
 * Stochastic depth on a residual branch: in training each sample (first dimension) is dropped with
 * probability p and kept samples are scaled by 1 / (1 - p); identity in evaluation. Each call draws from
 * a counter-based generator keyed by (seed, call number), so runs with the same seed are identical.
 */
public final class DropPath extends Module {

    private final float p;
    private final long seed;
    private long calls;

    public DropPath(float p, long seed) {
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException("drop-path probability must be in [0, 1), got " + p);
        }
        this.p = p;
        this.seed = seed;
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        if (!isTraining() || p == 0f) {
            return x;
        }
        return new TransformerOps(ops).dropPath(x, p, CounterRandom.mix(seed, calls++));
    }

    public float p() {
        return p;
    }

    @Override
    public String toString() {
        return "DropPath(" + p + ")";
    }
}
