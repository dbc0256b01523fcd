package dev.oialr4j.linalg;

import jdk.incubator.vector.DoubleVector;

/**
 * Givens rotations recorded by the bidiagonal QR, applied later in one pass per column strip.
 *
 * <p>A sweep of the implicit QR step rotates rows (j, j+1) of Uᵀ and of Vᵀ for j = lo, lo+1, …,
 * lo+count−1 in order. Applying a sweep immediately streams the whole of Uᵀ through the cache once per
 * sweep. Here the sweeps are buffered and then replayed strip by strip: a strip is a few vector widths
 * of columns of Uᵀ (that is, a few rows of U), so all buffered sweeps touch the same block of memory
 * (eight vectors wide, enough independent chains to hide the FMA latency), and the element of
 * row j+1 produced by rotation j stays in a register as the input of rotation j+1.
 */
final class RotationBatch {

    private static final int MAX_SWEEPS = 4096;
    private static final int L = VectorOps.L;

    private final double[] uc;
    private final double[] us;
    private final double[] vc;
    private final double[] vs;
    private final int[] sweepLo;
    private final int[] sweepCount;
    private final int[] sweepOffset;
    private int size;
    private int sweeps;

    /** capacity: rotations per side. */
    RotationBatch(int capacity) {
        uc = new double[capacity];
        us = new double[capacity];
        vc = new double[capacity];
        vs = new double[capacity];
        int maxSweeps = Math.min(MAX_SWEEPS, capacity); // every sweep holds at least one rotation
        sweepLo = new int[maxSweeps];
        sweepCount = new int[maxSweeps];
        sweepOffset = new int[maxSweeps];
    }

    boolean fits(int count) {
        return size + count <= uc.length && sweeps < sweepLo.length;
    }

    /** Starts a sweep of count rotations on (lo, lo+1), …; returns the offset to record them at. */
    int beginSweep(int lo, int count) {
        int off = size;
        sweepLo[sweeps] = lo;
        sweepCount[sweeps] = count;
        sweepOffset[sweeps] = off;
        sweeps++;
        size += count;
        return off;
    }

    void setU(int index, double c, double s) {
        uc[index] = c;
        us[index] = s;
    }

    void setV(int index, double c, double s) {
        vc[index] = c;
        vs[index] = s;
    }

    /**
     * Applies every recorded sweep to ut (rows of length uLen) and vt (rows of length vLen), then clears;
     * a null matrix is skipped (singular values only).
     */
    void flush(double[] ut, int uLen, double[] vt, int vLen) {
        if (sweeps == 0) {
            return;
        }
        if (ut != null) {
            apply(ut, uLen, uc, us);
        }
        if (vt != null) {
            apply(vt, vLen, vc, vs);
        }
        sweeps = 0;
        size = 0;
    }

    private void apply(double[] mat, int rowLen, double[] c, double[] s) {
        int col = 0;
        for (; col + 8 * L <= rowLen; col += 8 * L) {
            strip8(mat, rowLen, col, c, s);
        }
        for (; col + 4 * L <= rowLen; col += 4 * L) {
            strip4(mat, rowLen, col, c, s);
        }
        for (; col + L <= rowLen; col += L) {
            strip1(mat, rowLen, col, c, s);
        }
        if (col < rowLen) {
            stripScalar(mat, rowLen, col, rowLen - col, c, s);
        }
    }

    private void strip8(double[] mat, int rowLen, int col, double[] c, double[] s) {
        var sp = VectorOps.S;
        for (int q = 0; q < sweeps; q++) {
            int base = sweepLo[q] * rowLen + col;
            int end = sweepOffset[q] + sweepCount[q];
            var x0 = DoubleVector.fromArray(sp, mat, base);
            var x1 = DoubleVector.fromArray(sp, mat, base + L);
            var x2 = DoubleVector.fromArray(sp, mat, base + 2 * L);
            var x3 = DoubleVector.fromArray(sp, mat, base + 3 * L);
            var x4 = DoubleVector.fromArray(sp, mat, base + 4 * L);
            var x5 = DoubleVector.fromArray(sp, mat, base + 5 * L);
            var x6 = DoubleVector.fromArray(sp, mat, base + 6 * L);
            var x7 = DoubleVector.fromArray(sp, mat, base + 7 * L);
            for (int t = sweepOffset[q]; t < end; t++) {
                var cv = DoubleVector.broadcast(sp, c[t]);
                var sv = DoubleVector.broadcast(sp, s[t]);
                var nsv = DoubleVector.broadcast(sp, -s[t]);
                int next = base + rowLen;
                var y0 = DoubleVector.fromArray(sp, mat, next);
                var y1 = DoubleVector.fromArray(sp, mat, next + L);
                var y2 = DoubleVector.fromArray(sp, mat, next + 2 * L);
                var y3 = DoubleVector.fromArray(sp, mat, next + 3 * L);
                var y4 = DoubleVector.fromArray(sp, mat, next + 4 * L);
                var y5 = DoubleVector.fromArray(sp, mat, next + 5 * L);
                var y6 = DoubleVector.fromArray(sp, mat, next + 6 * L);
                var y7 = DoubleVector.fromArray(sp, mat, next + 7 * L);
                x0.fma(cv, y0.mul(sv)).intoArray(mat, base);
                x1.fma(cv, y1.mul(sv)).intoArray(mat, base + L);
                x2.fma(cv, y2.mul(sv)).intoArray(mat, base + 2 * L);
                x3.fma(cv, y3.mul(sv)).intoArray(mat, base + 3 * L);
                x4.fma(cv, y4.mul(sv)).intoArray(mat, base + 4 * L);
                x5.fma(cv, y5.mul(sv)).intoArray(mat, base + 5 * L);
                x6.fma(cv, y6.mul(sv)).intoArray(mat, base + 6 * L);
                x7.fma(cv, y7.mul(sv)).intoArray(mat, base + 7 * L);
                x0 = x0.fma(nsv, y0.mul(cv));
                x1 = x1.fma(nsv, y1.mul(cv));
                x2 = x2.fma(nsv, y2.mul(cv));
                x3 = x3.fma(nsv, y3.mul(cv));
                x4 = x4.fma(nsv, y4.mul(cv));
                x5 = x5.fma(nsv, y5.mul(cv));
                x6 = x6.fma(nsv, y6.mul(cv));
                x7 = x7.fma(nsv, y7.mul(cv));
                base = next;
            }
            x0.intoArray(mat, base);
            x1.intoArray(mat, base + L);
            x2.intoArray(mat, base + 2 * L);
            x3.intoArray(mat, base + 3 * L);
            x4.intoArray(mat, base + 4 * L);
            x5.intoArray(mat, base + 5 * L);
            x6.intoArray(mat, base + 6 * L);
            x7.intoArray(mat, base + 7 * L);
        }
    }

    private void strip4(double[] mat, int rowLen, int col, double[] c, double[] s) {
        var sp = VectorOps.S;
        for (int q = 0; q < sweeps; q++) {
            int base = sweepLo[q] * rowLen + col;
            int end = sweepOffset[q] + sweepCount[q];
            var x0 = DoubleVector.fromArray(sp, mat, base);
            var x1 = DoubleVector.fromArray(sp, mat, base + L);
            var x2 = DoubleVector.fromArray(sp, mat, base + 2 * L);
            var x3 = DoubleVector.fromArray(sp, mat, base + 3 * L);
            for (int t = sweepOffset[q]; t < end; t++) {
                var cv = DoubleVector.broadcast(sp, c[t]);
                var sv = DoubleVector.broadcast(sp, s[t]);
                var nsv = DoubleVector.broadcast(sp, -s[t]);
                int next = base + rowLen;
                var y0 = DoubleVector.fromArray(sp, mat, next);
                var y1 = DoubleVector.fromArray(sp, mat, next + L);
                var y2 = DoubleVector.fromArray(sp, mat, next + 2 * L);
                var y3 = DoubleVector.fromArray(sp, mat, next + 3 * L);
                x0.fma(cv, y0.mul(sv)).intoArray(mat, base);
                x1.fma(cv, y1.mul(sv)).intoArray(mat, base + L);
                x2.fma(cv, y2.mul(sv)).intoArray(mat, base + 2 * L);
                x3.fma(cv, y3.mul(sv)).intoArray(mat, base + 3 * L);
                x0 = x0.fma(nsv, y0.mul(cv));
                x1 = x1.fma(nsv, y1.mul(cv));
                x2 = x2.fma(nsv, y2.mul(cv));
                x3 = x3.fma(nsv, y3.mul(cv));
                base = next;
            }
            x0.intoArray(mat, base);
            x1.intoArray(mat, base + L);
            x2.intoArray(mat, base + 2 * L);
            x3.intoArray(mat, base + 3 * L);
        }
    }

    private void strip1(double[] mat, int rowLen, int col, double[] c, double[] s) {
        var sp = VectorOps.S;
        for (int q = 0; q < sweeps; q++) {
            int base = sweepLo[q] * rowLen + col;
            int end = sweepOffset[q] + sweepCount[q];
            var x0 = DoubleVector.fromArray(sp, mat, base);
            for (int t = sweepOffset[q]; t < end; t++) {
                var cv = DoubleVector.broadcast(sp, c[t]);
                var sv = DoubleVector.broadcast(sp, s[t]);
                var nsv = DoubleVector.broadcast(sp, -s[t]);
                int next = base + rowLen;
                var y0 = DoubleVector.fromArray(sp, mat, next);
                x0.fma(cv, y0.mul(sv)).intoArray(mat, base);
                x0 = x0.fma(nsv, y0.mul(cv));
                base = next;
            }
            x0.intoArray(mat, base);
        }
    }

    private void stripScalar(double[] mat, int rowLen, int col, int width, double[] c, double[] s) {
        for (int q = 0; q < sweeps; q++) {
            int off = sweepOffset[q];
            int end = off + sweepCount[q];
            for (int w = 0; w < width; w++) {
                int base = sweepLo[q] * rowLen + col + w;
                double x = mat[base];
                for (int t = off; t < end; t++) {
                    int next = base + rowLen;
                    double y = mat[next];
                    mat[base] = Math.fma(x, c[t], y * s[t]);
                    x = Math.fma(x, -s[t], y * c[t]);
                    base = next;
                }
                mat[base] = x;
            }
        }
    }
}
