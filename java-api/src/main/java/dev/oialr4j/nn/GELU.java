package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;

/** GELU, tanh approximation. */
public final class GELU extends Module {
    @Override
    public Variable forward(Ops ops, Variable x) {
        return ops.gelu(x);
    }

    @Override
    public String toString() {
        return "GELU";
    }
}
