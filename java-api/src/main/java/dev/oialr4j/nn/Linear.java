package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.tensor.Tensor;
import java.util.random.RandomGenerator;

/** y = x · Wᵀ + b with W of shape (out, in). */
public final class Linear extends Module {

    private final int inFeatures;
    private final int outFeatures;
    private final Parameter weight;
    private final Parameter bias;

    /**
     * Kaiming-uniform initialisation as in common frameworks' default: W and b uniform in
     * ±1/sqrt(in) (Kaiming-uniform with negative slope √5), drawn from {@code rng}.
     */
    public Linear(int in, int out, boolean bias, RandomGenerator rng) {
        if (in < 1 || out < 1) {
            throw new IllegalArgumentException("Linear needs positive sizes, got in=" + in + ", out=" + out);
        }
        this.inFeatures = in;
        this.outFeatures = out;
        double bound = 1.0 / Math.sqrt(in);
        this.weight = registerParameter("weight", uniform(rng, bound, out, in));
        this.bias = bias ? registerParameter("bias", uniform(rng, bound, out)) : null;
    }

    /** Wraps existing parameters (e.g. when a low-rank layer is turned back into a dense one). */
    public Linear(Parameter weight, Parameter bias) {
        if (weight.value().rank() != 2) {
            throw new IllegalArgumentException("Linear weight must be 2-D, got " + weight.value().shape());
        }
        this.outFeatures = weight.value().dim(0);
        this.inFeatures = weight.value().dim(1);
        if (bias != null && bias.value().size() != outFeatures) {
            throw new IllegalArgumentException("bias " + bias.value().shape() + " does not match weight "
                    + weight.value().shape());
        }
        this.weight = registerParameter("weight", weight);
        this.bias = bias == null ? null : registerParameter("bias", bias);
    }

    static Tensor uniform(RandomGenerator rng, double bound, int... dims) {
        Tensor t = Tensor.zeros(dims);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        }
        return t;
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        return ops.linear(x, weight, bias);
    }

    public Parameter weight() {
        return weight;
    }

    /** The bias, or null. */
    public Parameter bias() {
        return bias;
    }

    public int inFeatures() {
        return inFeatures;
    }

    public int outFeatures() {
        return outFeatures;
    }

    @Override
    public String toString() {
        return "Linear(" + inFeatures + " -> " + outFeatures + (bias == null ? ", no bias" : "") + ")";
    }
}
