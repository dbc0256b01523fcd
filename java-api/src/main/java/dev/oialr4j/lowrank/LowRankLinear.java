package dev.oialr4j.lowrank;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.tensor.Tensor;

/**
 * A linear layer whose weight is held as W = U Σ Vᵀ: U (out × r) and V (in × r) frozen with orthonormal
 * columns, Σ (r × r) a full trainable matrix. The bias is the dense layer's own {@link Parameter} object,
 * so an optimizer that held it keeps updating it.
 *
 * <p>The forward pass runs through the factors, y = ((x V) Σᵀ) Uᵀ + b, and the tape then produces
 * dΣ = (dy U)ᵀ (x V) and dx = ((dy U) Σ) Vᵀ without ever forming the dense out × in weight or its
 * gradient. When the rank is so high that materialising W = (U Σ) Vᵀ once per step and running a dense
 * product is cheaper by FLOP count, the layer does that instead (the gradient still reaches Σ through
 * the same graph).
 */
public final class LowRankLinear extends Module implements LowRankLayer {

    private final int inFeatures;
    private final int outFeatures;
    private final Parameter u;
    private final Parameter sigma;
    private final Parameter v;
    private final Parameter bias;

    /**
     * Wraps factors: {@code u} (out × r), {@code sigma} (r × r), {@code v} (in × r). U and V are frozen
     * here; Σ is trainable. {@code bias} may be null.
     */
    public LowRankLinear(Tensor u, Tensor sigma, Tensor v, Parameter bias) {
        if (u.rank() != 2 || sigma.rank() != 2 || v.rank() != 2) {
            throw new IllegalArgumentException("U, Σ and V must be matrices, got " + u.shape() + ", "
                    + sigma.shape() + ", " + v.shape());
        }
        int r = sigma.dim(0);
        if (sigma.dim(1) != r || u.dim(1) != r || v.dim(1) != r) {
            throw new IllegalArgumentException("factor shapes do not agree: U " + u.shape() + ", Σ "
                    + sigma.shape() + ", V " + v.shape() + " (expected out×r, r×r, in×r)");
        }
        this.outFeatures = u.dim(0);
        this.inFeatures = v.dim(0);
        if (bias != null && bias.value().size() != outFeatures) {
            throw new IllegalArgumentException("bias " + bias.value().shape() + " does not match " + outFeatures
                    + " outputs");
        }
        this.u = registerParameter("u", u);
        this.sigma = registerParameter("sigma", sigma);
        this.v = registerParameter("v", v);
        this.u.setRequiresGrad(false);
        this.v.setRequiresGrad(false);
        this.bias = bias == null ? null : registerParameter("bias", bias);
    }

    @Override
    public int rank() {
        return sigma.value().dim(0);
    }

    @Override
    public int inFeatures() {
        return inFeatures;
    }

    @Override
    public int outFeatures() {
        return outFeatures;
    }

    @Override
    public Parameter u() {
        return u;
    }

    @Override
    public Parameter sigma() {
        return sigma;
    }

    @Override
    public Parameter v() {
        return v;
    }

    @Override
    public Parameter bias() {
        return bias;
    }

    /**
     * Multiply-adds of one training step (forward and backward, no input gradient counted) for
     * {@code rows} input rows, through the factors.
     */
    public static long factoredMacs(long rows, long out, long in, long r) {
        long forward = rows * (in * r + r * r + r * out);
        long backward = rows * (out * r + r * r) // dy U, then (dy U) Σ
                + rows * r * r                   // dΣ = (dy U)ᵀ (x V)
                + rows * r * in;                 // dx = (...) Vᵀ
        return forward + backward;
    }

    /** Multiply-adds of one step when W = (U Σ) Vᵀ is materialised first and used densely. */
    public static long materialisedMacs(long rows, long out, long in, long r) {
        long build = out * r * r + out * in * r;   // U Σ, then (U Σ) Vᵀ
        long dense = 3 * rows * out * in;           // y, dW, dx
        long back = out * in * r + out * r * r;     // dΣ = Uᵀ dW V via (dW V), then Uᵀ(...)
        return build + dense + back;
    }

    /** Whether this layer computes through its factors for a batch of {@code rows} rows. */
    public boolean factoredFor(int rows) {
        int r = rank();
        return factoredMacs(rows, outFeatures, inFeatures, r) <= materialisedMacs(rows, outFeatures, inFeatures, r);
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        if (x.value().cols() != inFeatures) {
            throw new IllegalArgumentException("LowRankLinear: input " + x.value().shape() + " does not match "
                    + inFeatures + " input features");
        }
        int rows = x.value().rows();
        if (!factoredFor(rows)) {
            Variable us = ops.matmul(u, false, sigma, false);
            Variable w = ops.matmul(us, false, v, true);
            return ops.linear(x, w, bias);
        }
        Variable xv = ops.matmul(x, false, v, false);           // rows × r (N-D input folds into rows)
        Variable xvs = ops.matmul(xv, false, sigma, true);      // rows × r, (x V) Σᵀ
        Variable y = ops.matmul(xvs, false, u, true);           // rows × out
        if (bias != null) {
            y = ops.addRowVector(y, bias);
        }
        if (x.value().rank() != 2) {
            int[] dims = x.dims();
            dims[dims.length - 1] = outFeatures;
            y = ops.reshape(y, dims);
        }
        return y;
    }

    /** The dense equivalent: a Linear with W = U Σ Vᵀ computed in double, sharing the bias object. */
    @Override
    public Linear toDense(Backend backend) {
        float[] w = LowRankLayer.product(backend, this);
        Parameter weight = new Parameter("weight", backend.fromHost(w, outFeatures, inFeatures));
        return new Linear(weight, bias);
    }

    @Override
    public String toString() {
        return "LowRankLinear(" + inFeatures + " -> " + outFeatures + ", rank " + rank() + ")";
    }
}
