package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;

/** max(x, 0). */
public final class ReLU extends Module {
    @Override
    public Variable forward(Ops ops, Variable x) {
        return ops.relu(x);
    }

    @Override
    public String toString() {
        return "ReLU";
    }
}
