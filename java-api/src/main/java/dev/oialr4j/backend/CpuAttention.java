package dev.oialr4j.backend;

import dev.oialr4j.tensor.Tensor;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The transformer primitives on the host: batched GEMM, fused scaled dot-product attention (scores,
 * softmax and the value product stay in one task per batch entry, so a (tokens × tokens) score block is
 * reused from cache), axis permutation for splitting and merging heads, token slices and the per-sample
 * stochastic-depth scale. Batch entries are independent and each output element is produced by exactly
 * one task in a fixed order, so results do not depend on the thread count.
 */
final class CpuAttention {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Elements below which a copy-like op stays on the calling thread. */
    private static final int GRAIN = 1 << 15;

    private final Parallel parallel;
    private final CpuGemm gemm;

    CpuAttention(Parallel parallel, CpuGemm gemm) {
        this.parallel = parallel;
        this.gemm = gemm;
    }

    void batchedGemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        if (a.rank() != 3 || b.rank() != 3 || c.rank() != 3 || a.dim(0) != b.dim(0) || a.dim(0) != c.dim(0)) {
            throw new IllegalArgumentException("batchedGemm needs 3-D tensors with one batch size, got A "
                    + a.shape() + ", B " + b.shape() + ", C " + c.shape());
        }
        int batch = a.dim(0);
        int m = transA ? a.dim(2) : a.dim(1);
        int ka = transA ? a.dim(1) : a.dim(2);
        int kb = transB ? b.dim(2) : b.dim(1);
        int n = transB ? b.dim(1) : b.dim(2);
        if (ka != kb || c.dim(1) != m || c.dim(2) != n) {
            throw new IllegalArgumentException("batchedGemm shapes do not match: op(A) from " + a.shape()
                    + (transA ? "ᵀ" : "") + ", op(B) from " + b.shape() + (transB ? "ᵀ" : "") + ", C " + c.shape());
        }
        int sa = a.dim(1) * a.dim(2);
        int sb = b.dim(1) * b.dim(2);
        int sc = m * n;
        float[] as = a.data();
        float[] bs = b.data();
        float[] cs = c.data();
        // One GEMM per task: a GEMM started inside the loop runs on its own thread, so entries that are
        // large enough to split still get both cores when the batch has a single entry.
        parallel.forRange(batch, 1, (b0, b1) -> {
            for (int i = b0; i < b1; i++) {
                gemm.sgemm(transA, transB, m, n, ka, alpha, as, i * sa, a.dim(2), bs, i * sb, b.dim(2),
                        beta, cs, i * sc, n);
            }
        });
    }

    void attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale, Tensor probs, Tensor out) {
        Dims d = check("attention", q, k, v);
        if (probs.rank() != 3 || probs.dim(0) != d.batch || probs.dim(1) != d.tq || probs.dim(2) != d.tk) {
            throw new IllegalArgumentException("attention: probs " + probs.shape() + " must be (" + d.batch + ", "
                    + d.tq + ", " + d.tk + ") for q " + q.shape() + " and k " + k.shape());
        }
        if (out.rank() != 3 || out.dim(0) != d.batch || out.dim(1) != d.tq || out.dim(2) != d.dv) {
            throw new IllegalArgumentException("attention: output " + out.shape() + " must be (" + d.batch + ", "
                    + d.tq + ", " + d.dv + ") for q " + q.shape() + " and v " + v.shape());
        }
        if (mask != null && mask.size() != d.tq * d.tk) {
            throw new IllegalArgumentException("attention: mask " + mask.shape() + " must be (" + d.tq + ", " + d.tk
                    + ") for q " + q.shape() + " and k " + k.shape());
        }
        Layout lq = Layout.dense(d.tq, d.dh);
        Layout lk = Layout.dense(d.tk, d.dh);
        Layout lv = Layout.dense(d.tk, d.dv);
        Layout lo = Layout.dense(d.tq, d.dv);
        attend(d.batch, d.tq, d.tk, d.dh, d.dv, q.data(), lq, k.data(), lk, v.data(), lv,
                mask == null ? null : mask.data(), scale, probs.data(), out.data(), lo);
    }

    void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor probs, Tensor dOut, float scale, Tensor dq,
            Tensor dk, Tensor dv) {
        Dims d = check("attentionBackward", q, k, v);
        if (probs.size() != d.batch * d.tq * d.tk || dOut.size() != d.batch * d.tq * d.dv
                || !dq.shape().equals(q.shape()) || !dk.shape().equals(k.shape()) || !dv.shape().equals(v.shape())) {
            throw new IllegalArgumentException("attentionBackward: probs " + probs.shape() + ", dOut " + dOut.shape()
                    + ", dq " + dq.shape() + ", dk " + dk.shape() + ", dv " + dv.shape() + " do not match q "
                    + q.shape() + ", k " + k.shape() + ", v " + v.shape());
        }
        Layout lq = Layout.dense(d.tq, d.dh);
        Layout lk = Layout.dense(d.tk, d.dh);
        Layout lv = Layout.dense(d.tk, d.dv);
        Layout lo = Layout.dense(d.tq, d.dv);
        attendBackward(d.batch, d.tq, d.tk, d.dh, d.dv, q.data(), dq.data(), lq, k.data(), dk.data(), lk,
                v.data(), dv.data(), lv, probs.data(), dOut.data(), lo, scale);
    }

    void multiHeadAttention(Tensor qkv, int heads, Tensor mask, float scale, Tensor probs, Tensor out) {
        int[] s = checkPacked("multiHeadAttention", qkv, heads);
        int batch = s[0];
        int t = s[1];
        int d = s[2];
        int w = heads * d;
        if (probs.rank() != 3 || probs.dim(0) != batch * heads || probs.dim(1) != t || probs.dim(2) != t) {
            throw new IllegalArgumentException("multiHeadAttention: probs " + probs.shape() + " must be ("
                    + batch * heads + ", " + t + ", " + t + ") for qkv " + qkv.shape() + " and " + heads + " heads");
        }
        if (out.rank() != 3 || out.dim(0) != batch || out.dim(1) != t || out.dim(2) != w) {
            throw new IllegalArgumentException("multiHeadAttention: output " + out.shape() + " must be (" + batch + ", "
                    + t + ", " + w + ") for qkv " + qkv.shape());
        }
        if (mask != null && mask.size() != t * t) {
            throw new IllegalArgumentException("multiHeadAttention: mask " + mask.shape() + " must be (" + t + ", " + t
                    + ") for qkv " + qkv.shape());
        }
        float[] x = qkv.data();
        attend(batch * heads, t, t, d, d, x, Layout.packed(heads, t, w, d, 0), x, Layout.packed(heads, t, w, d, 1),
                x, Layout.packed(heads, t, w, d, 2), mask == null ? null : mask.data(), scale, probs.data(),
                out.data(), new Layout(heads, t * w, d, w, 0));
    }

    void multiHeadAttentionBackward(Tensor qkv, int heads, Tensor probs, Tensor dOut, float scale, Tensor dQkv) {
        int[] s = checkPacked("multiHeadAttentionBackward", qkv, heads);
        int batch = s[0];
        int t = s[1];
        int d = s[2];
        int w = heads * d;
        if (probs.size() != batch * heads * t * t || dOut.size() != batch * t * w || !dQkv.shape().equals(qkv.shape())) {
            throw new IllegalArgumentException("multiHeadAttentionBackward: probs " + probs.shape() + ", dOut "
                    + dOut.shape() + " and dQkv " + dQkv.shape() + " do not match qkv " + qkv.shape() + " with "
                    + heads + " heads");
        }
        float[] x = qkv.data();
        float[] g = dQkv.data();
        attendBackward(batch * heads, t, t, d, d, x, g, Layout.packed(heads, t, w, d, 0), x, g,
                Layout.packed(heads, t, w, d, 1), x, g, Layout.packed(heads, t, w, d, 2), probs.data(), dOut.data(),
                new Layout(heads, t * w, d, w, 0), scale);
    }

    /**
     * Where the matrix of batch entry e starts and its row stride: entry e is head e % heads of sample
     * e / heads, so one layout covers both separate (entries, tokens, d) tensors and heads packed side by
     * side in the columns of (batch, tokens, parts · heads · d).
     */
    private record Layout(int heads, int sampleStride, int headStride, int ld, int base) {
        static Layout dense(int rows, int cols) {
            return new Layout(1, rows * cols, 0, cols, 0);
        }

        /** Part {@code part} (0 = q, 1 = k, 2 = v) of a fused (batch, tokens, 3 · width) projection. */
        static Layout packed(int heads, int tokens, int width, int d, int part) {
            return new Layout(heads, tokens * 3 * width, d, 3 * width, part * width);
        }

        int offset(int e) {
            return base + (e / heads) * sampleStride + (e % heads) * headStride;
        }
    }

    private void attend(int entries, int tq, int tk, int dh, int dv, float[] qs, Layout lq, float[] ks, Layout lk,
            float[] vs, Layout lv, float[] ms, float scale, float[] ps, float[] os, Layout lo) {
        parallel.forRange(entries, 1, (e0, e1) -> {
            for (int e = e0; e < e1; e++) {
                int pOff = e * tq * tk;
                gemm.sgemm(false, true, tq, tk, dh, scale, qs, lq.offset(e), lq.ld(), ks, lk.offset(e), lk.ld(),
                        0f, ps, pOff, tk);
                for (int r = 0; r < tq; r++) {
                    softmaxRow(ps, pOff + r * tk, tk, ms, r * tk);
                }
                gemm.sgemm(false, false, tq, dv, tk, 1f, ps, pOff, tk, vs, lv.offset(e), lv.ld(), 0f, os, lo.offset(e),
                        lo.ld());
            }
        });
    }

    private void attendBackward(int entries, int tq, int tk, int dh, int dv, float[] qs, float[] dqs, Layout lq,
            float[] ks, float[] dks, Layout lk, float[] vs, float[] dvs, Layout lv, float[] ps, float[] dos, Layout lo,
            float scale) {
        parallel.forRange(entries, 1, (e0, e1) -> {
            float[] ds = new float[tq * tk]; // one score-gradient block per task, reused across its entries
            for (int e = e0; e < e1; e++) {
                int pOff = e * tq * tk;
                // dP = dO · Vᵀ, dV = Pᵀ · dO
                gemm.sgemm(false, true, tq, tk, dv, 1f, dos, lo.offset(e), lo.ld(), vs, lv.offset(e), lv.ld(), 0f,
                        ds, 0, tk);
                gemm.sgemm(true, false, tk, dv, tq, 1f, ps, pOff, tk, dos, lo.offset(e), lo.ld(), 0f, dvs,
                        lv.offset(e), lv.ld());
                // dS = P ⊙ (dP - rowsum(dP ⊙ P)): the softmax Jacobian applied row by row.
                for (int r = 0; r < tq; r++) {
                    softmaxBackwardRow(ps, pOff + r * tk, ds, r * tk, tk);
                }
                // dQ = scale · dS · K, dK = scale · dSᵀ · Q
                gemm.sgemm(false, false, tq, dh, tk, scale, ds, 0, tk, ks, lk.offset(e), lk.ld(), 0f, dqs,
                        lq.offset(e), lq.ld());
                gemm.sgemm(true, false, tk, dh, tq, scale, ds, 0, tk, qs, lq.offset(e), lq.ld(), 0f, dks,
                        lk.offset(e), lk.ld());
            }
        });
    }

    private static int[] checkPacked(String op, Tensor qkv, int heads) {
        if (qkv.rank() != 3 || heads < 1 || qkv.dim(2) % (3 * heads) != 0 || qkv.dim(2) == 0) {
            throw new IllegalArgumentException(op + ": qkv " + qkv.shape() + " is not (batch, tokens, 3 · " + heads
                    + " · d)");
        }
        return new int[] {qkv.dim(0), qkv.dim(1), qkv.dim(2) / (3 * heads)};
    }

    /** In-place stable softmax of one row, after adding the mask row when there is one. */
    private static void softmaxRow(float[] x, int off, int n, float[] mask, int maskOff) {
        if (mask != null) {
            for (int j = 0; j < n; j++) {
                x[off + j] += mask[maskOff + j];
            }
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, x[off + j]);
        }
        FloatVector maxV = FloatVector.broadcast(S, max);
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (int bound = S.loopBound(n); j < bound; j += L) {
            FloatVector e = expNonPositive(FloatVector.fromArray(S, x, off + j).sub(maxV));
            e.intoArray(x, off + j);
            acc = acc.add(e);
        }
        double z = 0;
        for (int l = 0; l < L; l++) {
            z += acc.lane(l);
        }
        for (; j < n; j++) {
            float e = expNonPositive(x[off + j] - max);
            x[off + j] = e;
            z += e;
        }
        FloatVector inv = FloatVector.broadcast(S, (float) (1.0 / z));
        j = 0;
        for (int bound = S.loopBound(n); j < bound; j += L) {
            FloatVector.fromArray(S, x, off + j).mul(inv).intoArray(x, off + j);
        }
        float invS = (float) (1.0 / z);
        for (; j < n; j++) {
            x[off + j] *= invS;
        }
    }

    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 split so that n · LN2_HI is exact for the n that occur here. */
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** Adding and subtracting 1.5 · 2²³ rounds a float to the nearest integer. */
    private static final float ROUND = 12582912f;
    /** Below this exp(x) is under the smallest normal float; it is returned as 0. */
    private static final float EXP_MIN = -87.3f;
    private static final float P0 = 1.9875691500e-4f;
    private static final float P1 = 1.3981999507e-3f;
    private static final float P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f;
    private static final float P4 = 1.6666665459e-1f;
    private static final float P5 = 5.0000001201e-1f;

    /**
     * exp(x) for x ≤ 0 (softmax arguments after subtracting the row maximum; -∞ gives 0), within a few
     * ulp: exp(x) = 2ⁿ · exp(r) with n = round(x / ln 2) and a degree-7 polynomial for exp(r) on
     * |r| ≤ ln 2 / 2. Written with plain multiply, add and fused multiply-add only, never the Vector
     * API's EXP: that one runs a vendor math library once compiled and a scalar fallback before, whose
     * last bits differ, so results would depend on JIT timing (and so on the thread count).
     */
    static FloatVector expNonPositive(FloatVector x) {
        VectorMask<Float> tiny = x.compare(VectorOperators.LT, EXP_MIN);
        FloatVector xc = x.max(EXP_MIN);
        FloatVector n = xc.mul(LOG2E).add(ROUND).sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector y = r.fma(P0, P1);
        y = y.fma(r, FloatVector.broadcast(S, P2));
        y = y.fma(r, FloatVector.broadcast(S, P3));
        y = y.fma(r, FloatVector.broadcast(S, P4));
        y = y.fma(r, FloatVector.broadcast(S, P5));
        y = y.fma(r.mul(r), r.add(1f));
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        return y.mul(bits.reinterpretAsFloats()).blend(0f, tiny);
    }

    /** The scalar twin of {@link #expNonPositive(FloatVector)}: the same operations, the same bits. */
    static float expNonPositive(float x) {
        if (x < EXP_MIN) {
            return 0f;
        }
        float n = x * LOG2E + ROUND - ROUND;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float y = Math.fma(r, P0, P1);
        y = Math.fma(y, r, P2);
        y = Math.fma(y, r, P3);
        y = Math.fma(y, r, P4);
        y = Math.fma(y, r, P5);
        y = Math.fma(y, r * r, r + 1f);
        return y * Float.intBitsToFloat(((int) n + 127) << 23);
    }

    /** g ← p ⊙ (g - Σ g ⊙ p) on one row (p at pOff, g at gOff). */
    private static void softmaxBackwardRow(float[] p, int pOff, float[] g, int gOff, int n) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (int bound = S.loopBound(n); j < bound; j += L) {
            acc = acc.add(FloatVector.fromArray(S, p, pOff + j).mul(FloatVector.fromArray(S, g, gOff + j)));
        }
        double dot = 0;
        for (int l = 0; l < L; l++) {
            dot += acc.lane(l);
        }
        for (; j < n; j++) {
            dot += p[pOff + j] * g[gOff + j];
        }
        float dotF = (float) dot;
        FloatVector dotV = FloatVector.broadcast(S, dotF);
        j = 0;
        for (int bound = S.loopBound(n); j < bound; j += L) {
            FloatVector pv = FloatVector.fromArray(S, p, pOff + j);
            FloatVector.fromArray(S, g, gOff + j).sub(dotV).mul(pv).intoArray(g, gOff + j);
        }
        for (; j < n; j++) {
            g[gOff + j] = (g[gOff + j] - dotF) * p[pOff + j];
        }
    }

    void permute(Tensor x, int[] perm, Tensor out) {
        Backend.checkPermute(x, perm, out);
        int r = x.rank();
        int[] xd = x.dims();
        int[] od = out.dims();
        int[] xStride = new int[r];
        int s = 1;
        for (int i = r - 1; i >= 0; i--) {
            xStride[i] = s;
            s *= xd[i];
        }
        // Stride in x of each output axis; the output is walked row by row (its last axis innermost).
        int[] st = new int[r];
        for (int i = 0; i < r; i++) {
            st[i] = xStride[perm[i]];
        }
        float[] xs = x.data();
        float[] os = out.data();
        int inner = od[r - 1];
        int innerStride = st[r - 1];
        int outer = x.size() / Math.max(1, inner);
        if (x.size() == 0) {
            return;
        }
        parallel.forRange(outer, Math.max(1, GRAIN / Math.max(1, inner)), (o0, o1) -> {
            int[] idx = new int[r];
            int rem = o0;
            int src = 0;
            for (int i = r - 2; i >= 0; i--) {
                idx[i] = rem % od[i];
                rem /= od[i];
                src += idx[i] * st[i];
            }
            for (int o = o0; o < o1; o++) {
                int dst = o * inner;
                if (innerStride == 1) {
                    System.arraycopy(xs, src, os, dst, inner);
                } else {
                    for (int j = 0, p = src; j < inner; j++, p += innerStride) {
                        os[dst + j] = xs[p];
                    }
                }
                // Advance the output multi-index over all but the last axis (an odometer).
                for (int i = r - 2; i >= 0; i--) {
                    idx[i]++;
                    src += st[i];
                    if (idx[i] < od[i]) {
                        break;
                    }
                    src -= idx[i] * st[i];
                    idx[i] = 0;
                }
            }
        });
    }

    void narrow(Tensor x, int start, Tensor out) {
        checkNarrow("narrow", x, start, out);
        int outer = x.dim(0);
        int n = x.dim(1);
        int len = out.dim(1);
        int inner = x.dim(2);
        float[] xs = x.data();
        float[] os = out.data();
        parallel.forRange(outer, Math.max(1, GRAIN / Math.max(1, len * inner)), (o0, o1) -> {
            for (int o = o0; o < o1; o++) {
                System.arraycopy(xs, (o * n + start) * inner, os, o * len * inner, len * inner);
            }
        });
    }

    void addNarrowed(Tensor src, int start, Tensor dst) {
        checkNarrow("addNarrowed", dst, start, src);
        int outer = dst.dim(0);
        int n = dst.dim(1);
        int len = src.dim(1);
        int inner = dst.dim(2);
        int w = len * inner;
        float[] ss = src.data();
        float[] ds = dst.data();
        parallel.forRange(outer, Math.max(1, GRAIN / Math.max(1, w)), (o0, o1) -> {
            for (int o = o0; o < o1; o++) {
                int so = o * w;
                int dOff = (o * n + start) * inner;
                int j = 0;
                for (int bound = S.loopBound(w); j < bound; j += L) {
                    FloatVector.fromArray(S, ds, dOff + j).add(FloatVector.fromArray(S, ss, so + j))
                            .intoArray(ds, dOff + j);
                }
                for (; j < w; j++) {
                    ds[dOff + j] += ss[so + j];
                }
            }
        });
    }

    void dropPathMask(float p, long seed, Tensor mask) {
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException("drop-path probability must be in [0, 1), got " + p);
        }
        float keep = 1f / (1f - p);
        float[] ms = mask.data();
        for (int b = 0; b < ms.length; b++) {
            ms[b] = CounterRandom.uniform(seed, b) >= p ? keep : 0f;
        }
    }

    void scaleSamples(Tensor x, Tensor scale, Tensor out) {
        if (x.rank() < 1 || scale.size() != x.dim(0) || out.size() != x.size()) {
            throw new IllegalArgumentException("scaleSamples: scale " + scale.shape() + " needs one element per sample"
                    + " of " + x.shape() + ", and output " + out.shape() + " the input's size");
        }
        int samples = x.dim(0);
        int per = samples == 0 ? 0 : x.size() / samples;
        float[] xs = x.data();
        float[] cs = scale.data();
        float[] os = out.data();
        parallel.forRange(samples, Math.max(1, GRAIN / Math.max(1, per)), (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                int off = b * per;
                FloatVector c = FloatVector.broadcast(S, cs[b]);
                int j = 0;
                for (int bound = S.loopBound(per); j < bound; j += L) {
                    FloatVector.fromArray(S, xs, off + j).mul(c).intoArray(os, off + j);
                }
                for (; j < per; j++) {
                    os[off + j] = xs[off + j] * cs[b];
                }
            }
        });
    }

    private record Dims(int batch, int tq, int tk, int dh, int dv) {
    }

    private static Dims check(String op, Tensor q, Tensor k, Tensor v) {
        if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3 || q.dim(0) != k.dim(0) || q.dim(0) != v.dim(0)
                || q.dim(2) != k.dim(2) || k.dim(1) != v.dim(1)) {
            throw new IllegalArgumentException(op + ": q " + q.shape() + ", k " + k.shape() + " and v " + v.shape()
                    + " must be (batch, queries, d), (batch, keys, d) and (batch, keys, dv)");
        }
        return new Dims(q.dim(0), q.dim(1), k.dim(1), q.dim(2), v.dim(2));
    }

    private static void checkNarrow(String op, Tensor big, int start, Tensor small) {
        if (big.rank() != 3 || small.rank() != 3 || big.dim(0) != small.dim(0) || big.dim(2) != small.dim(2)
                || start < 0 || start + small.dim(1) > big.dim(1)) {
            throw new IllegalArgumentException(op + ": a slice " + small.shape() + " starting at token " + start
                    + " does not fit " + big.shape() + " (both must be 3-D with equal outer and inner sizes)");
        }
    }
}
