package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;

/** [N, C, H, W] → [N, C]: the mean of every feature map. */
public final class GlobalAvgPool extends Module {

    @Override
    public Variable forward(Ops ops, Variable x) {
        return ops.conv().globalAvgPool(x);
    }

    @Override
    public String toString() {
        return "GlobalAvgPool";
    }
}
