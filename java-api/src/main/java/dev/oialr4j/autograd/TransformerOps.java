package dev.oialr4j.autograd;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.tensor.Tensor;
import java.util.Arrays;

/**
 * The differentiable operations of transformer models: layer norm, batched matmul, scaled dot-product
 * attention, axis permutation (head split and merge, patch extraction), token slices and class tokens,
 * and per-sample stochastic depth. Like {@link Ops}, each forward runs on the {@link Backend} and records
 * its backward right beside it; it records onto the same tape as the {@link Ops} it wraps.
 */
public final class TransformerOps {

    private final Ops ops;
    private final Tape tape;
    private final Backend be;

    public TransformerOps(Ops ops) {
        this.ops = ops;
        this.tape = ops.tape();
        this.be = ops.backend();
    }

    public Ops ops() {
        return ops;
    }

    /**
     * Layer normalisation over the last dimension with a per-feature scale {@code gamma} and shift
     * {@code beta} (each of the last dimension's size); biased variance, {@code eps} inside the root.
     */
    public Variable layerNorm(Variable x, Variable gamma, Variable beta, float eps) {
        Tensor xv = x.value();
        int cols = xv.cols();
        if (gamma.value().size() != cols || beta.value().size() != cols) {
            throw new IllegalArgumentException("layerNorm: gamma " + gamma.value().shape() + " and beta "
                    + beta.value().shape() + " must have " + cols + " elements for input " + xv.shape());
        }
        int rows = xv.rows();
        Tensor y = be.zeros(x.dims());
        Tensor mean = be.zeros(rows);
        Tensor rstd = be.zeros(rows);
        be.layerNorm(xv, gamma.value(), beta.value(), eps, y, mean, rstd);
        return tape.record(y, dy -> {
            Tensor dx = be.zeros(x.dims());
            Tensor dg = be.zeros(cols);
            Tensor db = be.zeros(cols);
            be.layerNormBackward(xv, gamma.value(), mean, rstd, dy, dx, dg, db);
            tape.accumulate(x, dx);
            tape.accumulate(gamma, dg);
            tape.accumulate(beta, db);
        }, x, gamma, beta);
    }

    /** y[b] = op(a[b]) · op(b[b]) for 3-D tensors sharing the first (batch) dimension. */
    public Variable batchedMatmul(Variable a, boolean transA, Variable b, boolean transB) {
        Tensor av = a.value();
        Tensor bv = b.value();
        if (av.rank() != 3 || bv.rank() != 3 || av.dim(0) != bv.dim(0)) {
            throw new IllegalArgumentException("batchedMatmul needs 3-D operands with one batch size, got "
                    + av.shape() + " and " + bv.shape());
        }
        int batch = av.dim(0);
        int m = transA ? av.dim(2) : av.dim(1);
        int n = transB ? bv.dim(1) : bv.dim(2);
        Tensor y = be.zeros(batch, m, n);
        be.batchedGemm(transA, transB, 1f, av, bv, 0f, y);
        return tape.record(y, dy -> {
            if (a.requiresGrad()) {
                Tape.GradTarget t = tape.gradTarget(a);
                if (transA) {
                    be.batchedGemm(transB, true, 1f, bv, dy, t.beta(), t.grad());
                } else {
                    be.batchedGemm(false, !transB, 1f, dy, bv, t.beta(), t.grad());
                }
            }
            if (b.requiresGrad()) {
                Tape.GradTarget t = tape.gradTarget(b);
                if (transB) {
                    be.batchedGemm(true, transA, 1f, dy, av, t.beta(), t.grad());
                } else {
                    be.batchedGemm(!transA, false, 1f, av, dy, t.beta(), t.grad());
                }
            }
        }, a, b);
    }

    /**
     * Scaled dot-product attention on (batch, tokens, headDim) inputs: softmax(q kᵀ / √d + mask) v, with
     * the softmax taken stably per query row. {@code mask} is null or an additive (queries × keys) matrix
     * shared by the batch, -∞ where a query must not see a key (see {@link #causalMask}); every query must
     * see at least one key.
     */
    public Variable attention(Variable q, Variable k, Variable v, Tensor mask) {
        Tensor qv = q.value();
        Tensor kv = k.value();
        Tensor vv = v.value();
        if (qv.rank() != 3 || kv.rank() != 3 || vv.rank() != 3 || qv.dim(0) != kv.dim(0) || qv.dim(0) != vv.dim(0)
                || qv.dim(2) != kv.dim(2) || kv.dim(1) != vv.dim(1)) {
            throw new IllegalArgumentException("attention: q " + qv.shape() + ", k " + kv.shape() + " and v "
                    + vv.shape() + " must be (batch, queries, d), (batch, keys, d) and (batch, keys, dv)");
        }
        int batch = qv.dim(0);
        int tq = qv.dim(1);
        int tk = kv.dim(1);
        if (mask != null) {
            checkMask(mask, tq, tk);
        }
        float scale = (float) (1.0 / Math.sqrt(qv.dim(2)));
        Tensor probs = be.zeros(batch, tq, tk);
        Tensor y = be.zeros(batch, tq, vv.dim(2));
        be.attention(qv, kv, vv, mask, scale, probs, y);
        return tape.record(y, dy -> {
            Tensor dq = be.zeros(qv.dims());
            Tensor dk = be.zeros(kv.dims());
            Tensor dv = be.zeros(vv.dims());
            be.attentionBackward(qv, kv, vv, probs, dy, scale, dq, dk, dv);
            tape.accumulate(q, dq);
            tape.accumulate(k, dk);
            tape.accumulate(v, dv);
        }, q, k, v);
    }

    /**
     * Multi-head self-attention on a fused projection {@code qkv} (batch, tokens, 3 · heads · d), last
     * dimension read as (q | k | v) with heads of d columns each: the same result as
     * {@link #splitHeads}, {@link #attention} per head and {@link #mergeHeads}, (batch, tokens, heads · d),
     * without copying heads in or out (the kernels read and write the heads in place).
     */
    public Variable multiHeadAttention(Variable qkv, int heads, Tensor mask) {
        Tensor x = qkv.value();
        if (x.rank() != 3 || heads < 1 || x.dim(2) % (3 * heads) != 0) {
            throw new IllegalArgumentException("multiHeadAttention: " + x.shape() + " is not (batch, tokens, 3 · "
                    + heads + " · d)");
        }
        int batch = x.dim(0);
        int t = x.dim(1);
        int d = x.dim(2) / (3 * heads);
        if (mask != null) {
            checkMask(mask, t, t);
        }
        float scale = (float) (1.0 / Math.sqrt(d));
        Tensor probs = be.zeros(batch * heads, t, t);
        Tensor y = be.zeros(batch, t, heads * d);
        be.multiHeadAttention(x, heads, mask, scale, probs, y);
        return tape.record(y, dy -> {
            if (qkv.requiresGrad()) {
                Tape.GradTarget target = tape.gradTarget(qkv);
                if (target.accumulate()) {
                    Tensor g = be.zeros(x.dims());
                    be.multiHeadAttentionBackward(x, heads, probs, dy, scale, g);
                    tape.accumulate(qkv, g);
                } else {
                    be.multiHeadAttentionBackward(x, heads, probs, dy, scale, target.grad());
                }
            }
        }, qkv);
    }

    private void checkMask(Tensor mask, int tq, int tk) {
        if (mask.size() != tq * tk) {
            throw new IllegalArgumentException("attention mask " + mask.shape() + " must be (" + tq + ", " + tk + ")");
        }
        float[] m = be.toHost(mask);
        for (int r = 0; r < tq; r++) {
            boolean open = false;
            for (int j = 0; j < tk; j++) {
                float x = m[r * tk + j];
                if (Float.isNaN(x) || x == Float.POSITIVE_INFINITY) {
                    throw new IllegalArgumentException("attention mask entries must be finite or -∞, got " + x
                            + " at (" + r + ", " + j + ")");
                }
                open |= x != Float.NEGATIVE_INFINITY;
            }
            if (!open) {
                throw new IllegalArgumentException("attention mask blocks every key for query " + r);
            }
        }
    }

    /** An additive (t × t) mask that lets query i see keys 0..i only. */
    public static Tensor causalMask(int t) {
        Tensor m = Tensor.zeros(t, t);
        float[] d = m.data();
        for (int i = 0; i < t; i++) {
            for (int j = i + 1; j < t; j++) {
                d[i * t + j] = Float.NEGATIVE_INFINITY;
            }
        }
        return m;
    }

    /** y = x with permuted axes: y's axis i is x's axis {@code perm[i]}. */
    public Variable permute(Variable x, int... perm) {
        int[] xd = x.dims();
        if (perm.length != xd.length) {
            throw new IllegalArgumentException("permute: " + perm.length + " axes given for input " + x.value().shape());
        }
        int[] yd = new int[xd.length];
        int[] inverse = new int[xd.length];
        Arrays.fill(inverse, -1);
        for (int i = 0; i < perm.length; i++) {
            if (perm[i] < 0 || perm[i] >= xd.length || inverse[perm[i]] >= 0) {
                throw new IllegalArgumentException("permute: " + Arrays.toString(perm) + " is not a permutation of "
                        + xd.length + " axes");
            }
            yd[i] = xd[perm[i]];
            inverse[perm[i]] = i;
        }
        Tensor y = be.zeros(yd);
        be.permute(x.value(), perm.clone(), y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor g = be.zeros(xd);
                be.permute(dy, inverse, g);
                tape.accumulate(x, g);
            }
        }, x);
    }

    /** Elements [start, start + len) of axis {@code axis}; the other axes are kept. */
    public Variable narrow(Variable x, int axis, int start, int len) {
        int[] d = x.dims();
        if (axis < 0 || axis >= d.length || start < 0 || len < 1 || start + len > d[axis]) {
            throw new IllegalArgumentException("narrow: [" + start + ", " + (start + len) + ") on axis " + axis
                    + " does not fit " + x.value().shape());
        }
        int outer = 1;
        for (int i = 0; i < axis; i++) {
            outer *= d[i];
        }
        int inner = 1;
        for (int i = axis + 1; i < d.length; i++) {
            inner *= d[i];
        }
        int n = d[axis];
        int[] yd = d.clone();
        yd[axis] = len;
        Tensor y = be.zeros(yd);
        be.narrow(x.value().reshape(outer, n, inner), start, y.reshape(outer, len, inner));
        int o = outer;
        int in = inner;
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor g = be.zeros(d);
                be.addNarrowed(dy.reshape(o, len, in), start, g.reshape(o, n, in));
                tape.accumulate(x, g);
            }
        }, x);
    }

    /** Puts a learned {@code token} (of x's last dimension) in front of every sequence of x (batch, n, d). */
    public Variable prependToken(Variable x, Variable token) {
        Tensor xv = x.value();
        if (xv.rank() != 3 || token.value().size() != xv.dim(2)) {
            throw new IllegalArgumentException("prependToken: token " + token.value().shape() + " must have the last"
                    + " dimension of the (batch, tokens, width) input " + xv.shape());
        }
        int batch = xv.dim(0);
        int n = xv.dim(1);
        int w = xv.dim(2);
        Tensor y = be.zeros(batch, n + 1, w);
        be.addNarrowed(xv, 1, y);
        Tensor copies = be.zeros(batch, w);
        be.addRowVector(copies, token.value(), copies);
        be.addNarrowed(copies.reshape(batch, 1, w), 0, y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor g = be.zeros(batch, n, w);
                be.narrow(dy, 1, g);
                tape.accumulate(x, g);
            }
            if (token.requiresGrad()) {
                Tensor first = be.zeros(batch, 1, w);
                be.narrow(dy, 0, first);
                Tensor g = be.zeros(w);
                be.sumRows(first.reshape(batch, w), g);
                tape.accumulate(token, g);
            }
        }, x, token);
    }

    /** The mean over the tokens of x (batch, tokens, width): (batch, width). */
    public Variable meanTokens(Variable x) {
        Tensor xv = x.value();
        if (xv.rank() != 3) {
            throw new IllegalArgumentException("meanTokens needs a (batch, tokens, width) input, got " + xv.shape());
        }
        int batch = xv.dim(0);
        int n = xv.dim(1);
        Tensor weights = be.zeros(batch, 1, n);
        be.fill(weights, 1f / n);
        Variable y = batchedMatmul(Variable.constant(weights), false, x, false);
        return ops.reshape(y, batch, xv.dim(2));
    }

    /**
     * Splits the fused projection (batch, tokens, 3 · heads · d) into q, k and v, each (batch · heads,
     * tokens, d): the last dimension is read as (3, heads, d).
     */
    public Variable[] splitHeads(Variable qkv, int heads) {
        Tensor v = qkv.value();
        if (v.rank() != 3 || heads < 1 || v.dim(2) % (3 * heads) != 0) {
            throw new IllegalArgumentException("splitHeads: " + v.shape() + " is not (batch, tokens, 3 · " + heads
                    + " · d)");
        }
        int batch = v.dim(0);
        int t = v.dim(1);
        int d = v.dim(2) / (3 * heads);
        Variable split = permute(ops.reshape(qkv, batch, t, 3, heads, d), 2, 0, 3, 1, 4); // (3, B, H, T, d)
        Variable[] out = new Variable[3];
        for (int i = 0; i < 3; i++) {
            out[i] = ops.reshape(narrow(split, 0, i, 1), batch * heads, t, d);
        }
        return out;
    }

    /** The inverse of one part of {@link #splitHeads}: (batch · heads, tokens, d) to (batch, tokens, heads · d). */
    public Variable mergeHeads(Variable x, int heads) {
        Tensor v = x.value();
        if (v.rank() != 3 || heads < 1 || v.dim(0) % heads != 0) {
            throw new IllegalArgumentException("mergeHeads: " + v.shape() + " is not (batch · " + heads
                    + ", tokens, d)");
        }
        int batch = v.dim(0) / heads;
        int t = v.dim(1);
        int d = v.dim(2);
        Variable y = permute(ops.reshape(x, batch, heads, t, d), 0, 2, 1, 3);
        return ops.reshape(y, batch, t, heads * d);
    }

    /**
     * Cuts images (batch, channels · height · width, channel-major as in (batch, C, H, W)) into
     * non-overlapping patch × patch tiles: (batch, tiles, channels · patch · patch), tiles in row-major
     * order, each tile's features ordered (channel, row, column).
     */
    public Variable patchify(Variable images, int channels, int height, int width, int patch) {
        Tensor v = images.value();
        if (patch < 1 || height % patch != 0 || width % patch != 0) {
            throw new IllegalArgumentException("patchify: " + height + "×" + width + " images do not split into "
                    + patch + "×" + patch + " patches");
        }
        if (v.size() % (channels * height * width) != 0 || v.dims()[0] * channels * height * width != v.size()) {
            throw new IllegalArgumentException("patchify: input " + v.shape() + " is not a batch of " + channels
                    + "×" + height + "×" + width + " images");
        }
        int batch = v.dims()[0];
        int gh = height / patch;
        int gw = width / patch;
        Variable six = ops.reshape(images, batch, channels, gh, patch, gw, patch);
        Variable tiles = permute(six, 0, 2, 4, 1, 3, 5); // (B, gh, gw, C, p, p)
        return ops.reshape(tiles, batch, gh * gw, channels * patch * patch);
    }

    /**
     * Stochastic depth: each sample (first dimension) is kept with probability 1 - p and scaled by
     * 1 / (1 - p), or zeroed, by the counter-based draw for (seed, sample); identity when p = 0.
     */
    public Variable dropPath(Variable x, float p, long seed) {
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException("drop-path probability must be in [0, 1), got " + p);
        }
        if (p == 0f) {
            return x;
        }
        Tensor mask = be.zeros(x.dims()[0]);
        be.dropPathMask(p, seed, mask);
        Tensor y = be.zeros(x.dims());
        be.scaleSamples(x.value(), mask, y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor g = be.zeros(x.dims());
                be.scaleSamples(dy, mask, g);
                tape.accumulate(x, g);
            }
        }, x);
    }
}
