package dev.oialr4j.backend;

import dev.oialr4j.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Layer normalisation on the host. Rows are independent in the forward pass and in dx, so those split
 * over rows; dGamma and dBeta sum over rows, so they split over columns and every column is summed in
 * row order by one thread. The vector and scalar paths use the same separate multiply and add (no fused
 * multiply-add), so a column gives the same bits whichever path a thread split puts it on: results do not
 * depend on the thread count.
 */
final class CpuNorms {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Rows summed in float before the partial sum is folded into double (bounds float round-off). */
    private static final int ROW_BLOCK = 256;

    private final Parallel parallel;

    CpuNorms(Parallel parallel) {
        this.parallel = parallel;
    }

    void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out, Tensor mean, Tensor rstd) {
        int rows = x.rows();
        int cols = x.cols();
        checkAffine("layerNorm", x, gamma, beta);
        if (!out.shape().equals(x.shape())) {
            throw new IllegalArgumentException("layerNorm: output " + out.shape() + " does not match input " + x.shape());
        }
        checkRowStats("layerNorm", x, mean, rstd);
        if (!(eps >= 0f)) {
            throw new IllegalArgumentException("layerNorm: eps must be >= 0, got " + eps);
        }
        float[] xs = x.data();
        float[] gs = gamma.data();
        float[] bs = beta.data();
        float[] os = out.data();
        float[] ms = mean.data();
        float[] rs = rstd.data();
        parallel.forRange(rows, grain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int off = r * cols;
                float mu = (float) (rowSum(xs, off, cols) / cols);
                // Two passes (mean, then squared deviations) rather than E[x²] - E[x]²: no cancellation.
                FloatVector muV = FloatVector.broadcast(S, mu);
                FloatVector acc = FloatVector.zero(S);
                int j = 0;
                for (int bound = S.loopBound(cols); j < bound; j += L) {
                    FloatVector d = FloatVector.fromArray(S, xs, off + j).sub(muV);
                    acc = acc.add(d.mul(d));
                }
                double var = 0;
                for (int l = 0; l < L; l++) {
                    var += acc.lane(l);
                }
                for (; j < cols; j++) {
                    double d = xs[off + j] - mu;
                    var += d * d;
                }
                float inv = (float) (1.0 / Math.sqrt(var / cols + eps));
                ms[r] = mu;
                rs[r] = inv;
                FloatVector invV = FloatVector.broadcast(S, inv);
                j = 0;
                for (int bound = S.loopBound(cols); j < bound; j += L) {
                    FloatVector.fromArray(S, xs, off + j).sub(muV).mul(invV)
                            .mul(FloatVector.fromArray(S, gs, j)).add(FloatVector.fromArray(S, bs, j))
                            .intoArray(os, off + j);
                }
                for (; j < cols; j++) {
                    os[off + j] = (xs[off + j] - mu) * inv * gs[j] + bs[j];
                }
            }
        });
    }

    void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dGamma,
            Tensor dBeta) {
        int rows = x.rows();
        int cols = x.cols();
        if (gamma.size() != cols || dGamma.size() != cols || dBeta.size() != cols) {
            throw new IllegalArgumentException("layerNormBackward: gamma " + gamma.shape() + ", dGamma "
                    + dGamma.shape() + " and dBeta " + dBeta.shape() + " must have " + cols + " elements for input "
                    + x.shape());
        }
        if (!dy.shape().equals(x.shape()) || !dx.shape().equals(x.shape())) {
            throw new IllegalArgumentException("layerNormBackward: dy " + dy.shape() + " and dx " + dx.shape()
                    + " must match input " + x.shape());
        }
        checkRowStats("layerNormBackward", x, mean, rstd);
        float[] xs = x.data();
        float[] gs = gamma.data();
        float[] ms = mean.data();
        float[] rs = rstd.data();
        float[] dys = dy.data();
        float[] dxs = dx.data();
        // dx = rstd · (g - mean(g) - x̂ · mean(g ⊙ x̂)) with g = dy ⊙ gamma, per row.
        parallel.forRange(rows, grain(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int off = r * cols;
                FloatVector muV = FloatVector.broadcast(S, ms[r]);
                FloatVector invV = FloatVector.broadcast(S, rs[r]);
                FloatVector accG = FloatVector.zero(S);
                FloatVector accGx = FloatVector.zero(S);
                int j = 0;
                for (int bound = S.loopBound(cols); j < bound; j += L) {
                    FloatVector g = FloatVector.fromArray(S, dys, off + j).mul(FloatVector.fromArray(S, gs, j));
                    FloatVector xh = FloatVector.fromArray(S, xs, off + j).sub(muV).mul(invV);
                    accG = accG.add(g);
                    accGx = accGx.add(g.mul(xh));
                }
                double sumG = 0;
                double sumGx = 0;
                for (int l = 0; l < L; l++) {
                    sumG += accG.lane(l);
                    sumGx += accGx.lane(l);
                }
                for (; j < cols; j++) {
                    float g = dys[off + j] * gs[j];
                    float xh = (xs[off + j] - ms[r]) * rs[r];
                    sumG += g;
                    sumGx += g * xh;
                }
                float meanG = (float) (sumG / cols);
                float meanGx = (float) (sumGx / cols);
                FloatVector meanGV = FloatVector.broadcast(S, meanG);
                FloatVector meanGxV = FloatVector.broadcast(S, meanGx);
                j = 0;
                for (int bound = S.loopBound(cols); j < bound; j += L) {
                    FloatVector g = FloatVector.fromArray(S, dys, off + j).mul(FloatVector.fromArray(S, gs, j));
                    FloatVector xh = FloatVector.fromArray(S, xs, off + j).sub(muV).mul(invV);
                    g.sub(meanGV).sub(xh.mul(meanGxV)).mul(invV).intoArray(dxs, off + j);
                }
                for (; j < cols; j++) {
                    float g = dys[off + j] * gs[j];
                    float xh = (xs[off + j] - ms[r]) * rs[r];
                    dxs[off + j] = (g - meanG - xh * meanGx) * rs[r];
                }
            }
        });
        float[] dgs = dGamma.data();
        float[] dbs = dBeta.data();
        int colBlocks = Math.max(1, Math.min(parallel.threads(), cols / (4 * L)));
        parallel.forChunks(colBlocks, (blk, count) -> {
            int c0 = (int) ((long) cols * blk / count);
            int c1 = (int) ((long) cols * (blk + 1) / count);
            int width = c1 - c0;
            float[] pg = new float[width];
            float[] pb = new float[width];
            double[] tg = new double[width];
            double[] tb = new double[width];
            for (int rb = 0; rb < rows; rb += ROW_BLOCK) {
                java.util.Arrays.fill(pg, 0f);
                java.util.Arrays.fill(pb, 0f);
                for (int r = rb; r < Math.min(rows, rb + ROW_BLOCK); r++) {
                    int off = r * cols + c0;
                    float mu = ms[r];
                    float inv = rs[r];
                    FloatVector muV = FloatVector.broadcast(S, mu);
                    FloatVector invV = FloatVector.broadcast(S, inv);
                    int j = 0;
                    for (int bound = S.loopBound(width); j < bound; j += L) {
                        FloatVector d = FloatVector.fromArray(S, dys, off + j);
                        FloatVector xh = FloatVector.fromArray(S, xs, off + j).sub(muV).mul(invV);
                        FloatVector.fromArray(S, pg, j).add(d.mul(xh)).intoArray(pg, j);
                        FloatVector.fromArray(S, pb, j).add(d).intoArray(pb, j);
                    }
                    for (; j < width; j++) {
                        float d = dys[off + j];
                        float xh = (xs[off + j] - mu) * inv;
                        pg[j] += d * xh;
                        pb[j] += d;
                    }
                }
                for (int j = 0; j < width; j++) {
                    tg[j] += pg[j];
                    tb[j] += pb[j];
                }
            }
            for (int j = 0; j < width; j++) {
                dgs[c0 + j] = (float) tg[j];
                dbs[c0 + j] = (float) tb[j];
            }
        });
    }

    private static int grain(int cols) {
        return Math.max(1, (1 << 14) / Math.max(1, cols));
    }

    private static double rowSum(float[] xs, int off, int len) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
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

    private static void checkAffine(String op, Tensor x, Tensor gamma, Tensor beta) {
        if (gamma.size() != x.cols() || beta.size() != x.cols()) {
            throw new IllegalArgumentException(op + ": gamma " + gamma.shape() + " and beta " + beta.shape()
                    + " must have " + x.cols() + " elements for input " + x.shape());
        }
    }

    private static void checkRowStats(String op, Tensor x, Tensor mean, Tensor rstd) {
        if (mean.size() != x.rows() || rstd.size() != x.rows()) {
            throw new IllegalArgumentException(op + ": mean " + mean.shape() + " and rstd " + rstd.shape()
                    + " must have one element per row of " + x.shape());
        }
    }
}
