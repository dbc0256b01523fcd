package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;

/** Average pooling with a square window over NCHW inputs; padding counts as zeros. */
public final class AvgPool2d extends Module {

    private final int kernel;
    private final int stride;
    private final int padding;

    public AvgPool2d(int kernel, int stride, int padding) {
        this.kernel = kernel;
        this.stride = stride;
        this.padding = padding;
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        return ops.conv().avgPool2d(x, kernel, stride, padding);
    }

    @Override
    public String toString() {
        return "AvgPool2d(" + kernel + ", stride " + stride + ", padding " + padding + ")";
    }
}
