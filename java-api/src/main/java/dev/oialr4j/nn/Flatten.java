package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;

/** [N, d1, d2, ...] → [N, d1 · d2 · ...], a view. */
public final class Flatten extends Module {

    @Override
    public Variable forward(Ops ops, Variable x) {
        int[] d = x.dims();
        if (d.length == 2) {
            return x;
        }
        return ops.reshape(x, d[0], x.value().size() / Math.max(1, d[0]));
    }

    @Override
    public String toString() {
        return "Flatten";
    }
}
