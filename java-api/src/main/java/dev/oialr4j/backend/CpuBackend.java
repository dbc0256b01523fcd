package dev.oialr4j.backend;

import dev.oialr4j.tensor.Device;
import dev.oialr4j.tensor.HostStorage;
import dev.oialr4j.tensor.Shape;
import dev.oialr4j.tensor.Tensor;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The host backend: Vector-API loops, multi-threaded over a fixed pool. Large elementwise ops are split
 * into contiguous chunks per thread; row ops are split over rows. Results do not depend on the thread
 * count except where a reduction's summation order does (reductions accumulate in double, per row or
 * per fixed-size block, so they are deterministic for a given thread count and input).
 */
public final class CpuBackend implements Backend {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Elements below which an elementwise op stays on the calling thread. */
    private static final int GRAIN = 1 << 15;
    /** Dropout draws a vector of 64-bit counters at a time; the floats they gate use a species of as many lanes. */
    private static final VectorSpecies<Long> DROPOUT_LONGS = LongVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> DROPOUT_FLOATS =
            VectorSpecies.of(float.class, VectorShape.forBitSize(DROPOUT_LONGS.vectorBitSize() / 2));
    private static final long[] DROPOUT_IOTA = java.util.stream.LongStream.range(0, DROPOUT_LONGS.length()).toArray();
    private static final float GELU_C = (float) Math.sqrt(2.0 / Math.PI);
    private static final float GELU_A = 0.044715f;

    private final Parallel parallel;
    private final CpuGemm gemm;
    private final CpuNorms norms;
    private final CpuAttention attention;
    private final CpuConv conv;

    public CpuBackend(int threads) {
        this.parallel = new Parallel(threads);
        this.gemm = new CpuGemm(parallel);
        this.norms = new CpuNorms(parallel);
        this.attention = new CpuAttention(parallel, gemm);
        this.conv = new CpuConv(parallel, gemm);
    }

    /** All available processors. */
    public CpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    public int threads() {
        return parallel.threads();
    }

    public Parallel parallel() {
        return parallel;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    // ---- memory -------------------------------------------------------------------------------

    @Override
    public Tensor zeros(int... dims) {
        return Tensor.zeros(dims);
    }

    @Override
    public Tensor fromHost(float[] data, int... dims) {
        Shape s = Shape.of(dims);
        if (s.size() != data.length) {
            throw new IllegalArgumentException(
                    "host array of " + data.length + " elements does not fit shape " + s);
        }
        return new Tensor(new HostStorage(data.clone()), s);
    }

    @Override
    public float[] toHost(Tensor t) {
        return t.data().clone();
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        sameSize("copy", src, dst);
        System.arraycopy(src.data(), 0, dst.data(), 0, src.size());
    }

    @Override
    public void fill(Tensor t, float value) {
        Arrays.fill(t.data(), value);
    }

    // ---- BLAS-like ----------------------------------------------------------------------------

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        int m = transA ? a.cols() : a.rows();
        int ka = transA ? a.rows() : a.cols();
        int kb = transB ? b.cols() : b.rows();
        int n = transB ? b.rows() : b.cols();
        if (ka != kb || c.rows() != m || c.cols() != n) {
            throw new IllegalArgumentException("gemm shapes do not match: op(A) from " + a.shape()
                    + (transA ? "ᵀ" : "") + ", op(B) from " + b.shape() + (transB ? "ᵀ" : "")
                    + ", C " + c.shape());
        }
        gemm.sgemm(transA, transB, m, n, ka, alpha, a.data(), 0, a.cols(), b.data(), 0, b.cols(),
                beta, c.data(), 0, c.cols());
    }

    @Override
    public void axpby(float alpha, Tensor x, float beta, Tensor y) {
        sameSize("axpby", x, y);
        float[] xs = x.data();
        float[] ys = y.data();
        forElements(xs.length, (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                FloatVector xv = FloatVector.fromArray(S, xs, i);
                FloatVector yv = FloatVector.fromArray(S, ys, i);
                xv.mul(alpha).add(yv.mul(beta)).intoArray(ys, i);
            }
            for (; i < to; i++) {
                ys[i] = alpha * xs[i] + beta * ys[i];
            }
        });
    }

    // ---- elementwise ----------------------------------------------------------------------------

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        sameShape("add", a, b);
        sameShape("add", a, out);
        binary(a.data(), b.data(), out.data(), true);
    }

    @Override
    public void mul(Tensor a, Tensor b, Tensor out) {
        sameShape("mul", a, b);
        sameShape("mul", a, out);
        binary(a.data(), b.data(), out.data(), false);
    }

    /**
     * Elementwise add or multiply. The two direct vector calls, rather than lanewise with an operator
     * argument: an operator the JIT cannot see as a constant is not intrinsified and runs a lane at a time.
     */
    private void binary(float[] a, float[] b, float[] out, boolean add) {
        forElements(a.length, (from, to) -> {
            int i = from;
            int bound = from + S.loopBound(to - from);
            if (add) {
                for (; i < bound; i += L) {
                    FloatVector.fromArray(S, a, i).add(FloatVector.fromArray(S, b, i)).intoArray(out, i);
                }
                for (; i < to; i++) {
                    out[i] = a[i] + b[i];
                }
            } else {
                for (; i < bound; i += L) {
                    FloatVector.fromArray(S, a, i).mul(FloatVector.fromArray(S, b, i)).intoArray(out, i);
                }
                for (; i < to; i++) {
                    out[i] = a[i] * b[i];
                }
            }
        });
    }

    @Override
    public void scale(Tensor x, float alpha, Tensor out) {
        sameShape("scale", x, out);
        float[] xs = x.data();
        float[] os = out.data();
        forElements(xs.length, (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                FloatVector.fromArray(S, xs, i).mul(alpha).intoArray(os, i);
            }
            for (; i < to; i++) {
                os[i] = alpha * xs[i];
            }
        });
    }

    @Override
    public void addRowVector(Tensor x, Tensor bias, Tensor out) {
        sameShape("addRowVector", x, out);
        int cols = x.cols();
        if (bias.size() != cols) {
            throw new IllegalArgumentException("bias " + bias.shape() + " does not match the columns of " + x.shape());
        }
        float[] xs = x.data();
        float[] bs = bias.data();
        float[] os = out.data();
        parallel.forRange(x.rows(), Math.max(1, GRAIN / Math.max(1, cols)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int off = r * cols;
                int j = 0;
                for (int bound = S.loopBound(cols); j < bound; j += L) {
                    FloatVector.fromArray(S, xs, off + j).add(FloatVector.fromArray(S, bs, j)).intoArray(os, off + j);
                }
                for (; j < cols; j++) {
                    os[off + j] = xs[off + j] + bs[j];
                }
            }
        });
    }

    @Override
    public void relu(Tensor x, Tensor out) {
        sameShape("relu", x, out);
        float[] xs = x.data();
        float[] os = out.data();
        forElements(xs.length, (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                FloatVector.fromArray(S, xs, i).max(0f).intoArray(os, i);
            }
            for (; i < to; i++) {
                os[i] = Math.max(xs[i], 0f);
            }
        });
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        sameShape("reluBackward", x, dy);
        sameShape("reluBackward", x, dx);
        float[] xs = x.data();
        float[] gs = dy.data();
        float[] os = dx.data();
        forElements(xs.length, (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                VectorMask<Float> pos = FloatVector.fromArray(S, xs, i).compare(VectorOperators.GT, 0f);
                FloatVector.zero(S).blend(FloatVector.fromArray(S, gs, i), pos).intoArray(os, i);
            }
            for (; i < to; i++) {
                os[i] = xs[i] > 0f ? gs[i] : 0f;
            }
        });
    }

    /**
     * tanh(z) = sign(z)·(1 − e)/(1 + e) with e = exp(−2|z|) from the fixed-polynomial exp: the Vector API's
     * TANH runs a vendor library once compiled and a scalar fallback before, whose last bits differ, so a
     * run's numbers would depend on JIT timing and on which elements fall in a loop's scalar tail. The
     * vector and scalar forms here perform the same IEEE operations and agree bit for bit. Absolute error
     * a few 1e-7, which is what GELU's 0.5·x·(1 + tanh) sees.
     */
    static FloatVector tanh(FloatVector z) {
        FloatVector e = CpuAttention.expNonPositive(z.abs().mul(-2f));
        FloatVector t = e.neg().add(1f).div(e.add(1f));
        return t.blend(t.neg(), z.compare(VectorOperators.LT, 0f));
    }

    /** The scalar twin of {@link #tanh(FloatVector)}. */
    static float tanh(float z) {
        float e = CpuAttention.expNonPositive(Math.abs(z) * -2f);
        float t = (1f - e) / (e + 1f);
        return z < 0f ? -t : t;
    }

    @Override
    public void gelu(Tensor x, Tensor out) {
        sameShape("gelu", x, out);
        float[] xs = x.data();
        float[] os = out.data();
        forElements(xs.length, (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                FloatVector v = FloatVector.fromArray(S, xs, i);
                FloatVector inner = v.mul(v).mul(GELU_A).add(1f).mul(v).mul(GELU_C);
                v.mul(0.5f).mul(tanh(inner).add(1f)).intoArray(os, i);
            }
            for (; i < to; i++) {
                float v = xs[i];
                os[i] = 0.5f * v * (1f + tanh((v * v * GELU_A + 1f) * v * GELU_C));
            }
        });
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx) {
        sameShape("geluBackward", x, dy);
        sameShape("geluBackward", x, dx);
        float[] xs = x.data();
        float[] gs = dy.data();
        float[] os = dx.data();
        forElements(xs.length, (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                FloatVector v = FloatVector.fromArray(S, xs, i);
                FloatVector v2 = v.mul(v);
                FloatVector t = tanh(v2.mul(GELU_A).add(1f).mul(v).mul(GELU_C));
                // d/dx [0.5 x (1 + t)] = 0.5 (1 + t) + 0.5 x (1 - t²) c (1 + 3 a x²)
                FloatVector sech2 = t.mul(t).neg().add(1f);
                FloatVector d = t.add(1f).mul(0.5f)
                        .add(v.mul(0.5f).mul(sech2).mul(v2.mul(3f * GELU_A).add(1f)).mul(GELU_C));
                d.mul(FloatVector.fromArray(S, gs, i)).intoArray(os, i);
            }
            for (; i < to; i++) {
                float v = xs[i];
                float t = tanh((v * v * GELU_A + 1f) * v * GELU_C);
                float d = (t + 1f) * 0.5f + v * 0.5f * (1f - t * t) * (v * v * (3f * GELU_A) + 1f) * GELU_C;
                os[i] = d * gs[i];
            }
        });
    }

    @Override
    public void dropout(Tensor x, float p, long seed, Tensor mask, Tensor out) {
        sameShape("dropout", x, mask);
        sameShape("dropout", x, out);
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1), got " + p);
        }
        float[] xs = x.data();
        float[] ms = mask.data();
        float[] os = out.data();
        float keepScale = 1f / (1f - p);
        // uniform(seed, i) >= p  <=>  (mix(seed, i) >>> 40) >= ceil(p * 2^24), exactly (24-bit values),
        // so the vector path draws the same mask as the scalar generator, eight 64-bit lanes at a time.
        long threshold = (long) Math.ceil((double) p * 0x1.0p24);
        forElements(xs.length, (from, to) -> {
            int i = from;
            int lanes = DROPOUT_LONGS.length();
            FloatVector scale = FloatVector.broadcast(DROPOUT_FLOATS, keepScale);
            FloatVector zero = FloatVector.zero(DROPOUT_FLOATS);
            for (int bound = from + DROPOUT_LONGS.loopBound(to - from); i < bound; i += lanes) {
                LongVector idx = LongVector.fromArray(DROPOUT_LONGS, DROPOUT_IOTA, 0).add(i + 1L);
                LongVector z = idx.mul(0x9E3779B97F4A7C15L).add(seed);
                z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 30)).mul(0xBF58476D1CE4E5B9L);
                z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 27)).mul(0x94D049BB133111EBL);
                z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 31));
                VectorMask<Float> keep = z.lanewise(VectorOperators.LSHR, 40)
                        .compare(VectorOperators.GE, threshold).cast(DROPOUT_FLOATS);
                FloatVector m = zero.blend(scale, keep);
                m.intoArray(ms, i);
                FloatVector.fromArray(DROPOUT_FLOATS, xs, i).mul(m).intoArray(os, i);
            }
            for (; i < to; i++) {
                float m = CounterRandom.uniform(seed, i) >= p ? keepScale : 0f;
                ms[i] = m;
                os[i] = xs[i] * m;
            }
        });
    }

    // ---- reductions -----------------------------------------------------------------------------

    @Override
    public void sumRows(Tensor x, Tensor out) {
        int rows = x.rows();
        int cols = x.cols();
        if (out.size() != cols) {
            throw new IllegalArgumentException("sumRows output " + out.shape() + " must have " + cols
                    + " elements for input " + x.shape());
        }
        float[] xs = x.data();
        float[] os = out.data();
        // Split over columns so each output element is owned by one thread and summed in row order.
        int colBlocks = Math.max(1, Math.min(parallel.threads(), cols / (4 * L)));
        parallel.forChunks(colBlocks, (blk, count) -> {
            int c0 = (int) ((long) cols * blk / count);
            int c1 = (int) ((long) cols * (blk + 1) / count);
            int width = c1 - c0;
            float[] acc = new float[width];
            for (int r = 0; r < rows; r++) {
                int off = r * cols + c0;
                int j = 0;
                for (int bound = S.loopBound(width); j < bound; j += L) {
                    FloatVector.fromArray(S, acc, j).add(FloatVector.fromArray(S, xs, off + j)).intoArray(acc, j);
                }
                for (; j < width; j++) {
                    acc[j] += xs[off + j];
                }
            }
            System.arraycopy(acc, 0, os, c0, width);
        });
    }

    @Override
    public void sumCols(Tensor x, Tensor out) {
        int rows = x.rows();
        int cols = x.cols();
        if (out.size() != rows) {
            throw new IllegalArgumentException("sumCols output " + out.shape() + " must have " + rows
                    + " elements for input " + x.shape());
        }
        float[] xs = x.data();
        float[] os = out.data();
        parallel.forRange(rows, Math.max(1, GRAIN / Math.max(1, cols)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                os[r] = (float) rowSum(xs, r * cols, cols);
            }
        });
    }

    @Override
    public double sum(Tensor x) {
        float[] xs = x.data();
        return blockedSum(xs, false);
    }

    @Override
    public double sumSquares(Tensor x) {
        return blockedSum(x.data(), true);
    }

    /** Sums in fixed blocks of 4096 so the result does not depend on the thread count. */
    private double blockedSum(float[] xs, boolean squares) {
        final int block = 4096;
        int blocks = (xs.length + block - 1) / block;
        double[] partial = new double[blocks];
        parallel.forRange(blocks, 8, (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                int from = b * block;
                int len = Math.min(block, xs.length - from);
                partial[b] = squares ? rowSumSquares(xs, from, len) : rowSum(xs, from, len);
            }
        });
        double total = 0;
        for (double p : partial) {
            total += p;
        }
        return total;
    }

    private static double rowSum(float[] xs, int off, int len) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        // Float vector lanes over at most a few thousand elements, then double across lanes: enough
        // precision for losses and norms while keeping the loop vectorised.
        for (int bound = S.loopBound(len); j < bound; j += L) {
            acc = acc.add(FloatVector.fromArray(S, xs, off + j));
        }
        double s = 0;
        for (int l = 0; l < L; l++) {
            s += acc.lane(l);
        }
        for (; j < len; j++) {
            s += xs[off + j];
        }
        return s;
    }

    private static double rowSumSquares(float[] xs, int off, int len) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (int bound = S.loopBound(len); j < bound; j += L) {
            FloatVector v = FloatVector.fromArray(S, xs, off + j);
            acc = v.fma(v, acc);
        }
        double s = 0;
        for (int l = 0; l < L; l++) {
            s += acc.lane(l);
        }
        for (; j < len; j++) {
            s += (double) xs[off + j] * xs[off + j];
        }
        return s;
    }

    @Override
    public int[] argmaxRows(Tensor x) {
        int rows = x.rows();
        int cols = x.cols();
        float[] xs = x.data();
        int[] out = new int[rows];
        for (int r = 0; r < rows; r++) {
            int off = r * cols;
            int best = 0;
            float bv = xs[off];
            for (int j = 1; j < cols; j++) {
                float v = xs[off + j];
                if (v > bv || (Float.isNaN(v) && !Float.isNaN(bv))) {
                    bv = v;
                    best = j;
                }
            }
            out[r] = best;
        }
        return out;
    }

    // ---- softmax and losses ---------------------------------------------------------------------

    @Override
    public void softmaxRows(Tensor x, Tensor out) {
        sameShape("softmaxRows", x, out);
        rowSoftmax(x, out, false);
    }

    @Override
    public void logSoftmaxRows(Tensor x, Tensor out) {
        sameShape("logSoftmaxRows", x, out);
        rowSoftmax(x, out, true);
    }

    private void rowSoftmax(Tensor x, Tensor out, boolean log) {
        int cols = x.cols();
        float[] xs = x.data();
        float[] os = out.data();
        parallel.forRange(x.rows(), Math.max(1, GRAIN / Math.max(1, cols)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int off = r * cols;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < cols; j++) {
                    max = Math.max(max, xs[off + j]);
                }
                double z = 0;
                for (int j = 0; j < cols; j++) {
                    z += Math.exp(xs[off + j] - max);
                }
                if (log) {
                    // (x - max) - log z in double: adding max back in float first would cost ulp(max).
                    double logZ = Math.log(z);
                    for (int j = 0; j < cols; j++) {
                        os[off + j] = (float) ((xs[off + j] - max) - logZ);
                    }
                } else {
                    float inv = (float) (1.0 / z);
                    for (int j = 0; j < cols; j++) {
                        os[off + j] = (float) Math.exp(xs[off + j] - max) * inv;
                    }
                }
            }
        });
    }

    @Override
    public double crossEntropy(Tensor logits, int[] labels, float smoothing, Tensor probs) {
        sameShape("crossEntropy", logits, probs);
        int rows = logits.rows();
        int cols = logits.cols();
        checkLabels(labels, rows, cols);
        float[] xs = logits.data();
        float[] ps = probs.data();
        double[] rowLoss = new double[rows];
        parallel.forRange(rows, Math.max(1, GRAIN / Math.max(1, cols)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int off = r * cols;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < cols; j++) {
                    max = Math.max(max, xs[off + j]);
                }
                double z = 0;
                double sumShifted = 0;
                for (int j = 0; j < cols; j++) {
                    double s = xs[off + j] - max;
                    z += Math.exp(s);
                    sumShifted += s;
                }
                double logZ = Math.log(z);
                double nll = -((xs[off + labels[r]] - max) - logZ);
                double uniform = -(sumShifted / cols - logZ);
                rowLoss[r] = (1.0 - smoothing) * nll + smoothing * uniform;
                double inv = 1.0 / z;
                for (int j = 0; j < cols; j++) {
                    ps[off + j] = (float) (Math.exp(xs[off + j] - max) * inv);
                }
            }
        });
        double total = 0;
        for (double l : rowLoss) {
            total += l;
        }
        return rows == 0 ? 0 : total / rows;
    }

    @Override
    public void crossEntropyBackward(Tensor probs, int[] labels, float smoothing, float scale, Tensor dLogits) {
        sameShape("crossEntropyBackward", probs, dLogits);
        int rows = probs.rows();
        int cols = probs.cols();
        checkLabels(labels, rows, cols);
        float[] ps = probs.data();
        float[] ds = dLogits.data();
        float off = smoothing / cols;
        for (int r = 0; r < rows; r++) {
            int base = r * cols;
            for (int j = 0; j < cols; j++) {
                float target = off + (j == labels[r] ? 1f - smoothing : 0f);
                ds[base + j] = scale * (ps[base + j] - target);
            }
        }
    }

    private static void checkLabels(int[] labels, int rows, int cols) {
        if (labels.length != rows) {
            throw new IllegalArgumentException(labels.length + " labels for " + rows + " rows of logits");
        }
        for (int l : labels) {
            if (l < 0 || l >= cols) {
                throw new IllegalArgumentException("label " + l + " is outside [0, " + cols + ")");
            }
        }
    }

    // ---- convolution, pooling, batch norm ------------------------------------------------------

    @Override
    public void im2col(Tensor x, Conv2dGeometry g, int image0, int images, int group, Tensor cols) {
        convInput("im2col", x, g);
        g.checkImages(image0, images, group);
        requireSize("im2col columns", cols, (long) g.patchSize() * images * g.outHeight() * g.outWidth());
        CpuConv.im2col(x.data(), g, image0, images, group, cols.data(), 0);
    }

    @Override
    public void col2im(Tensor cols, Conv2dGeometry g, int image0, int images, int group, Tensor dx) {
        convInput("col2im", dx, g);
        g.checkImages(image0, images, group);
        requireSize("col2im columns", cols, (long) g.patchSize() * images * g.outHeight() * g.outWidth());
        CpuConv.col2im(cols.data(), 0, g, image0, images, group, dx.data(), false);
    }

    @Override
    public void conv2d(Tensor x, Tensor w, Tensor bias, Conv2dGeometry g, Tensor y) {
        convInput("conv2d", x, g);
        w.requireShape("conv2d weight", g.weightDims());
        y.requireShape("conv2d output", g.outputDims());
        if (bias != null) {
            requireSize("conv2d bias", bias, g.outChannels());
        }
        conv.forward(x.data(), w.data(), bias == null ? null : bias.data(), g, y.data());
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor w, Tensor dy, Conv2dGeometry g, Tensor dx, Tensor dw, float dwBeta) {
        convInput("conv2dBackward", x, g);
        w.requireShape("conv2d weight", g.weightDims());
        dy.requireShape("conv2d output gradient", g.outputDims());
        if (dx != null) {
            dx.requireShape("conv2d input gradient", g.inputDims());
        }
        if (dw != null) {
            dw.requireShape("conv2d weight gradient", g.weightDims());
        }
        conv.backward(x.data(), w.data(), dy.data(), g, dx == null ? null : dx.data(), dw == null ? null : dw.data(),
                dwBeta);
    }

    @Override
    public void maxPool2d(Tensor x, Pool2dGeometry g, Tensor y) {
        x.requireShape("maxPool2d input", g.inputDims());
        y.requireShape("maxPool2d output", g.outputDims());
        conv.maxPool(x.data(), g, y.data());
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Pool2dGeometry g, Tensor dx) {
        x.requireShape("maxPool2d input", g.inputDims());
        dy.requireShape("maxPool2d output gradient", g.outputDims());
        dx.requireShape("maxPool2d input gradient", g.inputDims());
        conv.maxPoolBackward(x.data(), dy.data(), g, dx.data());
    }

    @Override
    public void avgPool2d(Tensor x, Pool2dGeometry g, Tensor y) {
        x.requireShape("avgPool2d input", g.inputDims());
        y.requireShape("avgPool2d output", g.outputDims());
        conv.avgPool(x.data(), g, y.data());
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Pool2dGeometry g, Tensor dx) {
        dy.requireShape("avgPool2d output gradient", g.outputDims());
        dx.requireShape("avgPool2d input gradient", g.inputDims());
        conv.avgPoolBackward(dy.data(), g, dx.data());
    }

    @Override
    public void globalAvgPool(Tensor x, Tensor y) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException("globalAvgPool needs an input [N, C, H, W], got " + x.shape());
        }
        y.requireShape("globalAvgPool output", x.dim(0), x.dim(1));
        conv.globalAvgPool(x.data(), x.dim(0) * x.dim(1), x.dim(2) * x.dim(3), y.data());
    }

    @Override
    public void globalAvgPoolBackward(Tensor dy, Tensor dx) {
        if (dx.rank() != 4) {
            throw new IllegalArgumentException("globalAvgPoolBackward needs dx [N, C, H, W], got " + dx.shape());
        }
        dy.requireShape("globalAvgPool output gradient", dx.dim(0), dx.dim(1));
        conv.globalAvgPoolBackward(dy.data(), dx.dim(0) * dx.dim(1), dx.dim(2) * dx.dim(3), dx.data());
    }

    @Override
    public void batchNorm2d(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
            boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        int c = batchNormChannels("batchNorm2d", x, gamma, beta, runningMean, runningVar, saveMean, saveInvStd);
        sameShape("batchNorm2d", x, y);
        if (training && x.dim(0) * x.dim(2) * x.dim(3) < 2) {
            throw new IllegalArgumentException("batchNorm2d in training mode needs more than one value per channel,"
                    + " got input " + x.shape());
        }
        conv.batchNorm(x.data(), x.dim(0), c, x.dim(2) * x.dim(3), gamma.data(), beta.data(), runningMean.data(),
                runningVar.data(), training, momentum, eps, y.data(), saveMean.data(), saveInvStd.data());
    }

    @Override
    public void batchNorm2dBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
            boolean training, Tensor dx, Tensor dGamma, Tensor dBeta) {
        int c = batchNormChannels("batchNorm2dBackward", x, gamma, dGamma, dBeta, saveMean, saveInvStd);
        sameShape("batchNorm2dBackward", x, dy);
        if (dx != null) {
            sameShape("batchNorm2dBackward", x, dx);
        }
        conv.batchNormBackward(x.data(), dy.data(), x.dim(0), c, x.dim(2) * x.dim(3), gamma.data(), saveMean.data(),
                saveInvStd.data(), training, dx == null ? null : dx.data(), dGamma.data(), dBeta.data());
    }

    private static int batchNormChannels(String op, Tensor x, Tensor... perChannel) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException(op + " needs an input [N, C, H, W], got " + x.shape());
        }
        int c = x.dim(1);
        for (Tensor t : perChannel) {
            if (t.size() != c) {
                throw new IllegalArgumentException(op + ": per-channel tensor " + t.shape() + " does not match the "
                        + c + " channels of input " + x.shape());
            }
        }
        return c;
    }

    private static void convInput(String op, Tensor x, Conv2dGeometry g) {
        x.requireShape(op + " input", g.inputDims());
    }


    private static void requireSize(String what, Tensor t, long size) {
        if (t.size() != size) {
            throw new IllegalArgumentException(what + " " + t.shape() + " must have " + size + " elements");
        }
    }

    // ---- optimizer updates ----------------------------------------------------------------------

    @Override
    public void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
            float eps, float weightDecay, long step) {
        sameShape("adamwStep", param, grad);
        sameShape("adamwStep", param, m);
        sameShape("adamwStep", param, v);
        if (step < 1) {
            throw new IllegalArgumentException("Adam step count must be >= 1, got " + step);
        }
        float[] ps = param.data();
        float[] gs = grad.data();
        float[] ms = m.data();
        float[] vs = v.data();
        float decay = 1f - lr * weightDecay;
        float bc1 = (float) (1.0 - Math.pow(beta1, step));
        float bc2 = (float) (1.0 - Math.pow(beta2, step));
        float stepSize = lr / bc1;
        float invSqrtBc2 = (float) (1.0 / Math.sqrt(bc2));
        float b1c = 1f - beta1;
        float b2c = 1f - beta2;
        forElements(ps.length, (from, to) -> {
            int i = from;
            for (int bound = from + S.loopBound(to - from); i < bound; i += L) {
                FloatVector g = FloatVector.fromArray(S, gs, i);
                FloatVector mv = FloatVector.fromArray(S, ms, i).mul(beta1).add(g.mul(b1c));
                FloatVector vv = FloatVector.fromArray(S, vs, i).mul(beta2).add(g.mul(g).mul(b2c));
                mv.intoArray(ms, i);
                vv.intoArray(vs, i);
                FloatVector denom = vv.sqrt().mul(invSqrtBc2).add(eps);
                FloatVector p = FloatVector.fromArray(S, ps, i).mul(decay);
                p.sub(mv.div(denom).mul(stepSize)).intoArray(ps, i);
            }
            for (; i < to; i++) {
                float g = gs[i];
                ms[i] = beta1 * ms[i] + b1c * g;
                vs[i] = beta2 * vs[i] + b2c * g * g;
                float denom = (float) Math.sqrt(vs[i]) * invSqrtBc2 + eps;
                ps[i] = ps[i] * decay - stepSize * ms[i] / denom;
            }
        });
    }

    @Override
    public void sgdStep(Tensor param, Tensor grad, Tensor buf, float lr, float momentum, boolean nesterov,
            float weightDecay, boolean firstStep) {
        sameShape("sgdStep", param, grad);
        if (momentum != 0f) {
            if (buf == null) {
                throw new IllegalArgumentException("SGD with momentum needs a momentum buffer");
            }
            sameShape("sgdStep", param, buf);
        }
        float[] ps = param.data();
        float[] gs = grad.data();
        float[] bs = momentum != 0f ? buf.data() : null;
        forElements(ps.length, (from, to) -> {
            for (int i = from; i < to; i++) {
                float g = gs[i] + weightDecay * ps[i];
                if (bs != null) {
                    float b = firstStep ? g : momentum * bs[i] + g;
                    bs[i] = b;
                    g = nesterov ? g + momentum * b : b;
                }
                ps[i] -= lr * g;
            }
        });
    }

    /**
     * Splits [0, n) over the threads at multiples of the vector length, so each element takes the same
     * (vector or scalar-tail) path whatever the thread count and results do not depend on it.
     */
    private void forElements(int n, Parallel.RangeBody body) {
        int blocks = (int) (((long) n + L - 1) / L);
        parallel.forRange(blocks, Math.max(1, GRAIN / L),
                (b0, b1) -> body.run(b0 * L, (int) Math.min(n, (long) b1 * L)));
    }

    // ---- layer norm, attention ----------------------------------------------------------------

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out, Tensor mean, Tensor rstd) {
        norms.layerNorm(x, gamma, beta, eps, out, mean, rstd);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
            Tensor dGamma, Tensor dBeta) {
        norms.layerNormBackward(x, gamma, mean, rstd, dy, dx, dGamma, dBeta);
    }

    @Override
    public void batchedGemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        attention.batchedGemm(transA, transB, alpha, a, b, beta, c);
    }

    @Override
    public void attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale, Tensor probs, Tensor out) {
        attention.attention(q, k, v, mask, scale, probs, out);
    }

    @Override
    public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor probs, Tensor dOut, float scale, Tensor dq,
            Tensor dk, Tensor dv) {
        attention.attentionBackward(q, k, v, probs, dOut, scale, dq, dk, dv);
    }

    @Override
    public void multiHeadAttention(Tensor qkv, int heads, Tensor mask, float scale, Tensor probs, Tensor out) {
        attention.multiHeadAttention(qkv, heads, mask, scale, probs, out);
    }

    @Override
    public void multiHeadAttentionBackward(Tensor qkv, int heads, Tensor probs, Tensor dOut, float scale,
            Tensor dQkv) {
        attention.multiHeadAttentionBackward(qkv, heads, probs, dOut, scale, dQkv);
    }

    @Override
    public void permute(Tensor x, int[] perm, Tensor out) {
        attention.permute(x, perm, out);
    }

    @Override
    public void narrow(Tensor x, int start, Tensor out) {
        attention.narrow(x, start, out);
    }

    @Override
    public void addNarrowed(Tensor src, int start, Tensor dst) {
        attention.addNarrowed(src, start, dst);
    }

    @Override
    public void dropPathMask(float p, long seed, Tensor mask) {
        attention.dropPathMask(p, seed, mask);
    }

    @Override
    public void scaleSamples(Tensor x, Tensor scale, Tensor out) {
        attention.scaleSamples(x, scale, out);
    }

    // ---- checks -------------------------------------------------------------------------------

    private static void sameShape(String op, Tensor a, Tensor b) {
        if (!a.shape().equals(b.shape())) {
            throw new IllegalArgumentException(op + ": shapes " + a.shape() + " and " + b.shape() + " differ");
        }
    }

    private static void sameSize(String op, Tensor a, Tensor b) {
        if (a.size() != b.size()) {
            throw new IllegalArgumentException(op + ": sizes of " + a.shape() + " and " + b.shape() + " differ");
        }
    }

    @Override
    public void close() {
        parallel.close();
    }
}
