package dev.oialr4j.lowrank;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.nn.Conv2d;
import dev.oialr4j.nn.Module;
import dev.oialr4j.tensor.Tensor;

/**
 * A convolution (groups = 1) whose kernel, viewed as the matrix W (out × in·kh·kw), is held as U Σ Vᵀ:
 * U (out × r) and V (in·kh·kw × r) frozen, Σ (r × r) trainable, the bias the dense layer's own object.
 *
 * <p>The forward pass runs as two convolutions: the r filters Vᵀ (each a column of V reshaped to
 * [in, kh, kw]) with the layer's stride, padding and dilation give r feature maps, and a 1×1 convolution
 * with the kernel U Σ (out × r) maps them to the outputs and adds the bias. The gradient of Σ is
 * Uᵀ · dK₁ₓ₁, so neither the dense kernel nor its gradient is formed. When the rank is high enough that
 * materialising W = (U Σ) Vᵀ and running one dense convolution costs fewer multiply-adds, the layer does
 * that instead (the gradient still reaches Σ through the same graph).
 */
public final class LowRankConv2d extends Module implements LowRankLayer {

    private final int inChannels;
    private final int outChannels;
    private final int kernelH;
    private final int kernelW;
    private final Conv2dOptions options;
    private final Parameter u;
    private final Parameter sigma;
    private final Parameter v;
    private final Parameter bias;
    /** Vᵀ as an [r, in, kh, kw] kernel, rebuilt when V's tensor is replaced (after an update round). */
    private Tensor filters;
    private Tensor filtersOf;

    /**
     * Wraps factors {@code u} (out × r), {@code sigma} (r × r), {@code v} (in·kh·kw × r) of a kernel
     * [out, in, kh, kw]; U and V are frozen here. {@code bias} may be null.
     */
    public LowRankConv2d(Tensor u, Tensor sigma, Tensor v, Parameter bias, int inChannels, int kernelH, int kernelW,
            Conv2dOptions options) {
        if (u.rank() != 2 || sigma.rank() != 2 || v.rank() != 2) {
            throw new IllegalArgumentException("U, Σ and V must be matrices, got " + u.shape() + ", "
                    + sigma.shape() + ", " + v.shape());
        }
        int r = sigma.dim(0);
        if (sigma.dim(1) != r || u.dim(1) != r || v.dim(1) != r) {
            throw new IllegalArgumentException("factor shapes do not agree: U " + u.shape() + ", Σ "
                    + sigma.shape() + ", V " + v.shape() + " (expected out×r, r×r, in·kh·kw×r)");
        }
        if (options.groups() != 1) {
            throw new IllegalArgumentException("LowRankConv2d supports groups = 1 only, got " + options.groups());
        }
        if (v.dim(0) != inChannels * kernelH * kernelW) {
            throw new IllegalArgumentException("V " + v.shape() + " does not match a kernel of " + inChannels
                    + " channels and " + kernelH + "x" + kernelW + " (expected " + inChannels * kernelH * kernelW
                    + " rows)");
        }
        this.outChannels = u.dim(0);
        this.inChannels = inChannels;
        this.kernelH = kernelH;
        this.kernelW = kernelW;
        this.options = options;
        if (bias != null && bias.value().size() != outChannels) {
            throw new IllegalArgumentException("bias " + bias.value().shape() + " does not match " + outChannels
                    + " output channels");
        }
        this.u = registerParameter("u", u);
        this.sigma = registerParameter("sigma", sigma);
        this.v = registerParameter("v", v);
        this.u.setRequiresGrad(false);
        this.v.setRequiresGrad(false);
        this.bias = bias == null ? null : registerParameter("bias", bias);
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

    @Override
    public int rank() {
        return sigma.value().dim(0);
    }

    /** Output channels: the rows of the kernel's matrix view. */
    @Override
    public int outFeatures() {
        return outChannels;
    }

    /** in · kh · kw: the columns of the kernel's matrix view. */
    @Override
    public int inFeatures() {
        return inChannels * kernelH * kernelW;
    }

    public int inChannels() {
        return inChannels;
    }

    public Conv2dOptions options() {
        return options;
    }

    /**
     * Multiply-adds of one step through the factors for {@code pixels} = batch · outH · outW output
     * positions: forward (r filters, then the 1×1 convolution), the input gradients of both convolutions
     * and the 1×1 kernel's gradient, plus the small U Σ products.
     */
    public static long factoredMacs(long pixels, long out, long patch, long r) {
        return 2 * pixels * patch * r + 3 * pixels * r * out + 2 * out * r * r;
    }

    /** Multiply-adds of one step when W = (U Σ) Vᵀ is formed and used as a dense kernel. */
    public static long materialisedMacs(long pixels, long out, long patch, long r) {
        return 3 * pixels * patch * out + 2 * out * patch * r + 2 * out * r * r;
    }

    /** Whether this layer computes through its factors for {@code pixels} output positions. */
    public boolean factoredFor(long pixels) {
        int r = rank();
        return factoredMacs(pixels, outChannels, inFeatures(), r) <= materialisedMacs(pixels, outChannels, inFeatures(), r);
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        int[] d = x.dims();
        if (d.length != 4 || d[1] != inChannels) {
            throw new IllegalArgumentException("LowRankConv2d: input " + x.value().shape() + " is not [N, "
                    + inChannels + ", H, W]");
        }
        int r = rank();
        int oh = (d[2] + 2 * options.padH() - options.dilationH() * (kernelH - 1) - 1) / options.strideH() + 1;
        int ow = (d[3] + 2 * options.padW() - options.dilationW() * (kernelW - 1) - 1) / options.strideW() + 1;
        Variable us = ops.matmul(u, false, sigma, false); // out × r
        if (!factoredFor((long) d[0] * oh * ow)) {
            Variable w = ops.reshape(ops.matmul(us, false, v, true), outChannels, inChannels, kernelH, kernelW);
            return ops.conv().conv2d(x, w, bias, options);
        }
        Variable z = ops.conv().conv2d(x, Variable.constant(filters(ops.backend())), null, options);
        Variable mix = ops.reshape(us, outChannels, r, 1, 1);
        return ops.conv().conv2d(z, mix, bias, Conv2dOptions.DEFAULT);
    }

    /** Vᵀ reshaped to [r, in, kh, kw]; V is frozen, so no gradient has to flow through the transpose. */
    private Tensor filters(Backend backend) {
        Tensor vt = v.value();
        if (filtersOf != vt) {
            int k = inFeatures();
            int r = rank();
            float[] vh = backend.toHost(vt);
            float[] t = new float[r * k];
            for (int i = 0; i < k; i++) {
                for (int j = 0; j < r; j++) {
                    t[j * k + i] = vh[i * r + j];
                }
            }
            filters = backend.fromHost(t, r, inChannels, kernelH, kernelW);
            filtersOf = vt;
        }
        return filters;
    }

    /** The dense equivalent: a Conv2d with kernel U Σ Vᵀ computed in double, sharing the bias object. */
    @Override
    public Conv2d toDense(Backend backend) {
        float[] w = LowRankLayer.product(backend, this);
        Parameter weight = new Parameter("weight", backend.fromHost(w, outChannels, inChannels, kernelH, kernelW));
        return new Conv2d(weight, bias, options);
    }

    @Override
    public String toString() {
        return "LowRankConv2d(" + inChannels + " -> " + outChannels + ", " + kernelH + "x" + kernelW + ", rank "
                + rank() + ")";
    }
}
