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
    /** Sweeps per wavefront. */
    private static final int WAVE = 4;
    /** Row length from which the wavefront kernels are used. */
    private static final int WAVE_MIN_COLS = 2 * L;

    private final double[] uc;
    private final double[] us;
    private final double[] vc;
    private final double[] vs;
    private final int[] sweepLo;
    private final int[] sweepCount;
    private final int[] sweepOffset;
    private int size;
    private int sweeps;
    // The plan of the current flush: operation o is a wavefront of sweeps opSweep[o].. (rows opLo..opHi,
    // coefficients at tab[opTab[o]..]) or the single sweep opSweep[o].
    private int[] opSweep = new int[0];
    private boolean[] opWave = new boolean[0];
    private int[] opLo = new int[0];
    private int[] opHi = new int[0];
    private int[] opTab = new int[0];
    private double[] tab = new double[0];

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
        int waveCols = rowLen >= WAVE_MIN_COLS ? rowLen - rowLen % (2 * L) : 0;
        if (waveCols > 0) {
            int ops = plan(c, s);
            for (; col < waveCols; col += 2 * L) {
                for (int o = 0; o < ops; o++) {
                    int q = opSweep[o];
                    if (opWave[o]) {
                        wave4(mat, rowLen, col, opLo[o], opHi[o], tab, opTab[o]);
                    } else {
                        single2(mat, rowLen, col, sweepLo[q], sweepOffset[q], sweepCount[q], c, s);
                    }
                }
            }
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

    /**
     * Splits the recorded sweeps into operations: runs of four consecutive sweeps over nearly the same
     * rows become one wavefront (their rotations padded with identities to a common range and laid out
     * step by step in tab), the others stay single sweeps. Returns the number of operations.
     */
    static long ROT, WSTEPS, SINGLE, FLUSH;
    private int plan(double[] c, double[] s) {
        FLUSH++;
        int ops = 0;
        int tabSize = 0;
        int q = 0;
        while (q < sweeps) {
            boolean wave = false;
            int lo = 0;
            int hi = 0;
            if (q + WAVE <= sweeps) {
                lo = Integer.MAX_VALUE;
                hi = Integer.MIN_VALUE;
                int work = 0;
                for (int w = q; w < q + WAVE; w++) {
                    lo = Math.min(lo, sweepLo[w]);
                    hi = Math.max(hi, sweepLo[w] + sweepCount[w]);
                    work += sweepCount[w];
                }
                // A wavefront step costs as much as WAVE rotations; accept up to a third of padding.
                wave = 3L * WAVE * (hi - lo + WAVE) <= 4L * work;
            }
            if (ops == opSweep.length) {
                growOps();
            }
            opSweep[ops] = q;
            opWave[ops] = wave;
            if (wave) {
                int steps = hi - lo + WAVE;
                int need = tabSize + 2 * WAVE * steps;
                if (need > tab.length) {
                    tab = java.util.Arrays.copyOf(tab, Math.max(need, 2 * tab.length));
                }
                opLo[ops] = lo;
                opHi[ops] = hi;
                opTab[ops] = tabSize;
                for (int w = 0; w < WAVE; w++) {
                    int sq = q + w;
                    int from = sweepLo[sq];
                    int to = from + sweepCount[sq];
                    int off = sweepOffset[sq] - from;
                    int p = tabSize + 2 * w;
                    for (int i = 0; i < steps; i++, p += 2 * WAVE) {
                        int j = lo + i - w;
                        if (j >= from && j < to) {
                            tab[p] = c[off + j];
                            tab[p + 1] = s[off + j];
                        } else {
                            tab[p] = 1;
                            tab[p + 1] = 0;
                        }
                    }
                }
                tabSize = need;
                q += WAVE;
            } else {
                q++;
            }
            ops++;
        }
        for (int i = 0; i < ops; i++) { if (opWave[i]) WSTEPS += opHi[i]-opLo[i]+WAVE; else SINGLE += sweepCount[opSweep[i]]; }
        for (int i = 0; i < sweeps; i++) ROT += sweepCount[i];
        return ops;
    }

    private void growOps() {
        int n = Math.max(16, 2 * opSweep.length);
        opSweep = java.util.Arrays.copyOf(opSweep, n);
        opWave = java.util.Arrays.copyOf(opWave, n);
        opLo = java.util.Arrays.copyOf(opLo, n);
        opHi = java.util.Arrays.copyOf(opHi, n);
        opTab = java.util.Arrays.copyOf(opTab, n);
    }

    /**
     * Four sweeps at once on a strip of two vectors of columns, rows lo..hi: at step t, sweep w applies
     * its rotation on rows (t−w, t−w+1) (an identity where it has none), taking as its second row what
     * sweep w−1 just finished. So each row is loaded and stored once for all four sweeps, and every
     * element sees exactly the operations, in the same order, as with the sweeps applied one by one.
     * Before lo+3 the output is garbage and goes to row lo, which is stored again (correctly) at step
     * lo+3 and is never reloaded; past hi the loads repeat row hi, which only identities see.
     */
    private static void wave4(double[] mat, int rowLen, int col, int lo, int hi, double[] tab, int tp) {
        var sp = VectorOps.S;
        int base = lo * rowLen + col;
        var a0 = DoubleVector.fromArray(sp, mat, base);
        var a1 = DoubleVector.fromArray(sp, mat, base + L);
        var b0 = DoubleVector.zero(sp);
        var b1 = b0;
        var c0 = b0;
        var c1 = b0;
        var d0 = b0;
        var d1 = b0;
        for (int t = lo, last = hi + WAVE - 1; t <= last; t++, tp += 2 * WAVE) {
            int ld = Math.min(t + 1, hi) * rowLen + col;
            var y0 = DoubleVector.fromArray(sp, mat, ld);
            var y1 = DoubleVector.fromArray(sp, mat, ld + L);
            var cv = DoubleVector.broadcast(sp, tab[tp]);
            var sv = DoubleVector.broadcast(sp, tab[tp + 1]);
            var nsv = DoubleVector.broadcast(sp, -tab[tp + 1]);
            var o0 = a0.fma(cv, y0.mul(sv));
            var o1 = a1.fma(cv, y1.mul(sv));
            a0 = a0.fma(nsv, y0.mul(cv));
            a1 = a1.fma(nsv, y1.mul(cv));
            cv = DoubleVector.broadcast(sp, tab[tp + 2]);
            sv = DoubleVector.broadcast(sp, tab[tp + 3]);
            nsv = DoubleVector.broadcast(sp, -tab[tp + 3]);
            y0 = b0.fma(cv, o0.mul(sv));
            y1 = b1.fma(cv, o1.mul(sv));
            b0 = b0.fma(nsv, o0.mul(cv));
            b1 = b1.fma(nsv, o1.mul(cv));
            cv = DoubleVector.broadcast(sp, tab[tp + 4]);
            sv = DoubleVector.broadcast(sp, tab[tp + 5]);
            nsv = DoubleVector.broadcast(sp, -tab[tp + 5]);
            o0 = c0.fma(cv, y0.mul(sv));
            o1 = c1.fma(cv, y1.mul(sv));
            c0 = c0.fma(nsv, y0.mul(cv));
            c1 = c1.fma(nsv, y1.mul(cv));
            cv = DoubleVector.broadcast(sp, tab[tp + 6]);
            sv = DoubleVector.broadcast(sp, tab[tp + 7]);
            nsv = DoubleVector.broadcast(sp, -tab[tp + 7]);
            int st = Math.max(t - (WAVE - 1), lo) * rowLen + col;
            d0.fma(cv, o0.mul(sv)).intoArray(mat, st);
            d1.fma(cv, o1.mul(sv)).intoArray(mat, st + L);
            d0 = d0.fma(nsv, o0.mul(cv));
            d1 = d1.fma(nsv, o1.mul(cv));
        }
    }

    /** One sweep on a strip of two vectors of columns. */
    private static void single2(double[] mat, int rowLen, int col, int lo, int off, int count, double[] c,
                                double[] s) {
        var sp = VectorOps.S;
        int base = lo * rowLen + col;
        int end = off + count;
        var x0 = DoubleVector.fromArray(sp, mat, base);
        var x1 = DoubleVector.fromArray(sp, mat, base + L);
        for (int t = off; t < end; t++) {
            var cv = DoubleVector.broadcast(sp, c[t]);
            var sv = DoubleVector.broadcast(sp, s[t]);
            var nsv = DoubleVector.broadcast(sp, -s[t]);
            int next = base + rowLen;
            var y0 = DoubleVector.fromArray(sp, mat, next);
            var y1 = DoubleVector.fromArray(sp, mat, next + L);
            x0.fma(cv, y0.mul(sv)).intoArray(mat, base);
            x1.fma(cv, y1.mul(sv)).intoArray(mat, base + L);
            x0 = x0.fma(nsv, y0.mul(cv));
            x1 = x1.fma(nsv, y1.mul(cv));
            base = next;
        }
        x0.intoArray(mat, base);
        x1.intoArray(mat, base + L);
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
