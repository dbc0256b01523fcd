package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.TransformerOps;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.tensor.Tensor;
import java.util.Arrays;

/** Layer normalisation over the last dimension with a learned scale ({@code weight}, ones) and shift ({@code bias}, zeros). */
public final class LayerNorm extends Module {

    private final int features;
    private final float eps;
    private final Parameter weight;
    private final Parameter bias;

    public LayerNorm(int features, float eps) {
        if (features < 1) {
            throw new IllegalArgumentException("LayerNorm needs a positive width, got " + features);
        }
        if (!(eps > 0f)) {
            throw new IllegalArgumentException("LayerNorm eps must be positive, got " + eps);
        }
        this.features = features;
        this.eps = eps;
        float[] ones = new float[features];
        Arrays.fill(ones, 1f);
        this.weight = registerParameter("weight", Tensor.of(ones, features));
        this.bias = registerParameter("bias", Tensor.zeros(features));
    }

    /** eps = 1e-6, as vision transformers commonly use. */
    public LayerNorm(int features) {
        this(features, 1e-6f);
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        if (x.value().cols() != features) {
            throw new IllegalArgumentException("LayerNorm(" + features + "): input " + x.value().shape()
                    + " has a different last dimension");
        }
        return new TransformerOps(ops).layerNorm(x, weight, bias, eps);
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    @Override
    public String toString() {
        return "LayerNorm(" + features + ")";
    }
}
