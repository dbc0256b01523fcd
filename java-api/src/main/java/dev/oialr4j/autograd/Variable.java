package dev.oialr4j.autograd;

import dev.oialr4j.tensor.Tensor;

/**
 * A tensor value in the graph together with its gradient. Leaves the user creates ({@link Parameter}s
 * and inputs) have no creator; values computed by {@link Ops} remember the tape node that made them.
 */
public class Variable {

    private Tensor value;
    private Tensor grad;
    private boolean requiresGrad;

    public Variable(Tensor value, boolean requiresGrad) {
        this.value = value;
        this.requiresGrad = requiresGrad;
    }

    /** A constant input (no gradient). */
    public static Variable constant(Tensor value) {
        return new Variable(value, false);
    }

    public Tensor value() {
        return value;
    }

    /**
     * Replaces the value (e.g. when OIALR cuts a rank). The gradient is dropped because it no longer
     * matches.
     */
    public void setValue(Tensor value) {
        this.value = value;
        this.grad = null;
    }

    /** The accumulated gradient, or null when none has been computed since the last reset. */
    public Tensor grad() {
        return grad;
    }

    void setGrad(Tensor grad) {
        this.grad = grad;
    }

    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Freezing a variable also drops its gradient so a stale one can never be applied. */
    public void setRequiresGrad(boolean requiresGrad) {
        this.requiresGrad = requiresGrad;
        if (!requiresGrad) {
            grad = null;
        }
    }

    /** Forgets the gradient. Parameters keep their buffer and zero it instead; see {@link Parameter}. */
    public void zeroGrad() {
        grad = null;
    }

    public int[] dims() {
        return value.dims();
    }

    @Override
    public String toString() {
        return "Variable" + value.shape() + (requiresGrad ? " (grad)" : "");
    }
}
