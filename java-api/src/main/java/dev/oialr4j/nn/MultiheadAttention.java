package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.TransformerOps;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.tensor.Tensor;
import java.util.random.RandomGenerator;

/**
 * Multi-head self-attention on (batch, tokens, width): one fused Linear {@code qkv} (width → 3 · width,
 * read as (q | k | v), each split into heads), scaled dot-product attention per head, heads merged, and
 * an output Linear {@code proj}. The heads are read from and written to the projections in place
 * ({@link TransformerOps#multiHeadAttention}), never copied out. Both projections are ordinary child
 * layers looked up by name on every call, so OIALR can replace them with low-rank layers in place.
 */
public final class MultiheadAttention extends Module {

    private final int width;
    private final int heads;
    private Tensor mask;

    public MultiheadAttention(int width, int heads, boolean bias, RandomGenerator rng) {
        if (width < 1 || heads < 1 || width % heads != 0) {
            throw new IllegalArgumentException("attention width " + width + " must be a positive multiple of the "
                    + heads + " heads");
        }
        this.width = width;
        this.heads = heads;
        registerModule("qkv", new Linear(width, 3 * width, bias, rng));
        registerModule("proj", new Linear(width, width, bias, rng));
    }

    /**
     * Sets an additive (tokens × tokens) mask, -∞ where a query must not see a key (e.g.
     * {@link TransformerOps#causalMask}); null removes it.
     */
    public MultiheadAttention mask(Tensor mask) {
        this.mask = mask;
        return this;
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        Tensor xv = x.value();
        if (xv.rank() != 3 || xv.dim(2) != width) {
            throw new IllegalArgumentException("MultiheadAttention(" + width + "): input " + xv.shape()
                    + " is not (batch, tokens, " + width + ")");
        }
        TransformerOps t = new TransformerOps(ops);
        Variable qkv = children().get("qkv").forward(ops, x);
        return children().get("proj").forward(ops, t.multiHeadAttention(qkv, heads, mask));
    }

    public int width() {
        return width;
    }

    public int heads() {
        return heads;
    }

    @Override
    public String toString() {
        return "MultiheadAttention(width " + width + ", " + heads + " heads)";
    }
}
