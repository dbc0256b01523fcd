package dev.oialr4j.linalg;

import dev.oialr4j.backend.Parallel;
import java.util.Arrays;
import jdk.incubator.vector.DoubleVector;

/**
 * Givens rotations recorded by the bidiagonal QR, applied later in one pass per column strip.
 *
 * <p>A sweep of the implicit QR step rotates rows (j, j+1) of Uᵀ and of Vᵀ for j = lo, lo+1, …,
 * lo+count−1 in order. Applying a sweep immediately streams the whole of Uᵀ through the cache once per
 * sweep. Here the sweeps are buffered and then replayed strip by strip (two vectors of columns).
 *
 * <p><b>Wavefront.</b> Four consecutive sweeps over (nearly) the same rows are applied together: at step
 * t, sweep w rotates rows (t−w, t−w+1), taking as its second row what sweep w−1 has just finished, so
 * every row is loaded and stored once for four sweeps and every element still sees its rotations in the
 * original order.
 *
 * <p><b>Scaled rotations.</b> Each row i is held as dᵢ·x̃ᵢ with a scale dᵢ kept here (the matrix holds
 * x̃). A rotation x' = c·x + s·y, y' = c·y − s·x with |c| not small is then applied as x̃' = x̃ + α·ỹ,
 * ỹ' = ỹ + β·x̃ (α = s·d_y/(c·d_x), β = −s·d_x/(c·d_y), both scales times c): two fused multiply-adds
 * per element instead of four operations (fast Givens). The error, in true units, is that of the plain
 * rotation (ε·(|c·x| + |s·y|) per element). Where |c| is small or a scale would leave [2⁻⁴⁰⁰, 1], the
 * rotation is applied in general form with both scales reset to 1. {@link #flush} multiplies the rows
 * by their scales, so outside this class the matrices always hold true values.
 */
final class RotationBatch {

    /** Threads for applying column strips; inside another loop of the same pool the strips run inline. */
    private static final Parallel STRIPS = Parallel.common();

    private static final int MAX_SWEEPS = 4096;
    private static final int L = VectorOps.L;
    /** Columns per strip. */
    private static final int W = 4 * L;
    /** Sweeps per wavefront. */
    private static final int WAVE = 4;
    private static final double MIN_C = 0x1p-10;
    private static final double MIN_SCALE = 0x1p-400;

    private final double[] uc;
    private final double[] us;
    private final double[] vc;
    private final double[] vs;
    private final int[] sweepLo;
    private final int[] sweepCount;
    private final int[] sweepOffset;
    /** Row scales of Uᵀ and Vᵀ (see the class comment); length k. */
    private final double[] du;
    private final double[] dv;
    private boolean scaledU;
    private boolean scaledV;
    private int size;
    private int sweeps;

    // The plan of the current side: operation o is a wavefront of sweeps opSweep[o].. over rows
    // opLo..opHi (per step, WAVE pairs (α, β) at tab[opTab[o] + 2·WAVE·step..], and where stepSlow of the
    // step's global index is ≥ 0, the general coefficients at slowTab[stepSlow]) or the single sweep
    // opSweep[o] (general coefficients, four per rotation, at gen[opTab[o]..]).
    private int[] opSweep = new int[16];
    private boolean[] opWave = new boolean[16];
    private int[] opLo = new int[16];
    private int[] opHi = new int[16];
    private int[] opTab = new int[16];
    private int[] opStep = new int[16];
    private double[] tab = new double[0];
    private int[] stepSlow = new int[0];
    private double[] slowTab = new double[0];
    private double[] gen = new double[0];
    // Per recorded rotation: general coefficients (a, b, c, d: x' = a·x + b·y, y' = c·x + d·y) and
    // whether it is in the fast form (a = d = 1).
    private double[] rot = new double[0];
    private boolean[] fast = new boolean[0];
    private double[] scratch = new double[0];
    // plan's running sizes of tab, the wavefront steps, slowTab and gen. plan's steps are separate methods
    // so that each is compiled on its own, early and cheaply (one large method would be compiled late, and
    // once per hot loop).
    private int tabSize;
    private int steps;
    private int slowSize;
    private int genSize;

    /** capacity: rotations per side; k: the number of rows of Uᵀ and Vᵀ. */
    RotationBatch(int capacity, int k) {
        uc = new double[capacity];
        us = new double[capacity];
        vc = new double[capacity];
        vs = new double[capacity];
        int maxSweeps = Math.min(MAX_SWEEPS, capacity); // every sweep holds at least one rotation
        sweepLo = new int[maxSweeps];
        sweepCount = new int[maxSweeps];
        sweepOffset = new int[maxSweeps];
        du = new double[k];
        dv = new double[k];
        Arrays.fill(du, 1.0);
        Arrays.fill(dv, 1.0);
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
     * Applies every recorded sweep to ut (rows of length uLen) and vt (rows of length vLen) and clears;
     * the rows may be left scaled (see the class comment). A null matrix is skipped.
     */
    void applyPending(double[] ut, int uLen, double[] vt, int vLen) {
        if (sweeps > 0) {
            if (ut != null) {
                apply(ut, uLen, uc, us, du);
                scaledU = true;
            }
            if (vt != null) {
                apply(vt, vLen, vc, vs, dv);
                scaledV = true;
            }
        }
        sweeps = 0;
        size = 0;
    }

    /** {@link #applyPending}, then gives every row its true scale, so the matrices hold true values. */
    void flush(double[] ut, int uLen, double[] vt, int vLen) {
        applyPending(ut, uLen, vt, vLen);
        if (scaledU) {
            unscale(ut, uLen, du);
            scaledU = false;
        }
        if (scaledV) {
            unscale(vt, vLen, dv);
            scaledV = false;
        }
    }

    private static void unscale(double[] mat, int rowLen, double[] d) {
        for (int i = 0; i < d.length; i++) {
            if (d[i] != 1.0) {
                VectorOps.scale(d[i], mat, i * rowLen, rowLen);
                d[i] = 1.0;
            }
        }
    }

    private void apply(double[] mat, int rowLen, double[] c, double[] s, double[] d) {
        int ops = plan(c, s, d);
        int full = rowLen - rowLen % W;
        // Strips touch disjoint columns and only read the plan, so they run in parallel with results
        // independent of the thread count; small matrices (few strips) stay on the calling thread.
        STRIPS.forRange(full / W, 8, (s0, s1) -> {
            for (int strip = s0; strip < s1; strip++) {
                run(mat, rowLen, strip * W, ops);
            }
        });
        if (full < rowLen) {
            // The last columns go through a zero-padded copy one strip wide.
            int width = rowLen - full;
            int rows = d.length;
            if (scratch.length < rows * W) {
                scratch = new double[rows * W];
            } else {
                Arrays.fill(scratch, 0, rows * W, 0.0);
            }
            for (int i = 0; i < rows; i++) {
                System.arraycopy(mat, i * rowLen + full, scratch, i * W, width);
            }
            run(scratch, W, 0, ops);
            for (int i = 0; i < rows; i++) {
                System.arraycopy(scratch, i * W, mat, i * rowLen + full, width);
            }
        }
    }

    private void run(double[] mat, int rowLen, int col, int ops) {
        for (int o = 0; o < ops; o++) {
            if (opWave[o]) {
                wave(mat, rowLen, col, opLo[o], opHi[o], tab, opTab[o], stepSlow, opStep[o], slowTab);
            } else {
                int q = opSweep[o];
                single(mat, rowLen, col, sweepLo[q], sweepCount[q], gen, opTab[o]);
            }
        }
    }

    /**
     * Turns the recorded rotations (c, s) into scaled ones, evolving the row scales d in the order of the
     * sweeps, and groups the sweeps into operations. Returns the number of operations.
     */
    private int plan(double[] c, double[] s, double[] d) {
        if (rot.length < 4 * size) {
            rot = new double[4 * size];
            fast = new boolean[size];
        }
        for (int q = 0; q < sweeps; q++) {
            scaleSweep(q, c, s, d);
        }
        int ops = 0;
        tabSize = 0;
        steps = 0;
        slowSize = 0;
        genSize = 0;
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
                // A wavefront step costs about as much as WAVE rotations; accept up to a third of padding.
                wave = 3L * WAVE * (hi - lo + WAVE) <= 4L * work;
            }
            if (ops == opSweep.length) {
                growOps();
            }
            opSweep[ops] = q;
            opWave[ops] = wave;
            if (wave) {
                planWave(ops, q, lo, hi);
                q += WAVE;
            } else {
                int count = sweepCount[q];
                gen = ensure(gen, genSize + 4 * count);
                System.arraycopy(rot, 4 * sweepOffset[q], gen, genSize, 4 * count);
                opTab[ops] = genSize;
                genSize += 4 * count;
                q++;
            }
            ops++;
        }
        return ops;
    }

    /** Sweep q's rotations with the scales d folded in (fast form where that is safe), updating d. */
    private void scaleSweep(int q, double[] c, double[] s, double[] d) {
        int lo = sweepLo[q];
        int off = sweepOffset[q];
        for (int t = 0; t < sweepCount[q]; t++) {
            int i = off + t;
            int j = lo + t;
            double ci = c[i];
            double si = s[i];
            double dx = d[j];
            double dy = d[j + 1];
            double ndx = ci * dx;
            double ndy = ci * dy;
            int r = 4 * i;
            if (Math.abs(ci) >= MIN_C && Math.abs(ndx) >= MIN_SCALE && Math.abs(ndy) >= MIN_SCALE) {
                rot[r] = 1;
                rot[r + 1] = si * dy / ndx;
                rot[r + 2] = -si * dx / ndy;
                rot[r + 3] = 1;
                fast[i] = true;
                d[j] = ndx;
                d[j + 1] = ndy;
            } else {
                rot[r] = ci * dx;
                rot[r + 1] = si * dy;
                rot[r + 2] = -si * dx;
                rot[r + 3] = ci * dy;
                fast[i] = false;
                d[j] = 1;
                d[j + 1] = 1;
            }
        }
    }

    /** Operation ops as a wavefront over sweeps q..q+WAVE−1, rows lo..hi: its coefficient tables. */
    private void planWave(int ops, int q, int lo, int hi) {
        int n = hi - lo + WAVE;
        tab = ensure(tab, tabSize + 2 * WAVE * n);
        if (stepSlow.length < steps + n) {
            stepSlow = Arrays.copyOf(stepSlow, Math.max(steps + n, 2 * stepSlow.length));
        }
        Arrays.fill(stepSlow, steps, steps + n, -1);
        opLo[ops] = lo;
        opHi[ops] = hi;
        opTab[ops] = tabSize;
        opStep[ops] = steps;
        for (int w = 0; w < WAVE; w++) {
            int sq = q + w;
            int from = sweepLo[sq];
            int to = from + sweepCount[sq];
            int off = sweepOffset[sq] - from;
            int p = tabSize + 2 * w;
            for (int i = 0; i < n; i++, p += 2 * WAVE) {
                int j = lo + i - w;
                if (j >= from && j < to) {
                    int ri = off + j;
                    tab[p] = rot[4 * ri + 1];
                    tab[p + 1] = rot[4 * ri + 2];
                    if (!fast[ri] && stepSlow[steps + i] < 0) {
                        stepSlow[steps + i] = slowSize;
                        slowSize += 4 * WAVE;
                    }
                } else {
                    tab[p] = 0;
                    tab[p + 1] = 0;
                }
            }
        }
        // Steps with a general rotation get general coefficients for all their rotations.
        slowTab = ensure(slowTab, slowSize);
        for (int i = 0; i < n; i++) {
            int at = stepSlow[steps + i];
            if (at >= 0) {
                slowStep(q, lo + i, at);
            }
        }
        tabSize += 2 * WAVE * n;
        steps += n;
    }

    /** General coefficients of every rotation of a wavefront step (row lo + i) into slowTab[at..]. */
    private void slowStep(int q, int row, int at) {
        for (int w = 0; w < WAVE; w++) {
            int sq = q + w;
            int j = row - w;
            int pos = at + 4 * w;
            if (j >= sweepLo[sq] && j < sweepLo[sq] + sweepCount[sq]) {
                System.arraycopy(rot, 4 * (sweepOffset[sq] + j - sweepLo[sq]), slowTab, pos, 4);
            } else {
                slowTab[pos] = 1;
                slowTab[pos + 1] = 0;
                slowTab[pos + 2] = 0;
                slowTab[pos + 3] = 1;
            }
        }
    }

    private static double[] ensure(double[] a, int n) {
        return n <= a.length ? a : Arrays.copyOf(a, Math.max(n, 2 * a.length));
    }

    private void growOps() {
        int n = 2 * opSweep.length;
        opSweep = Arrays.copyOf(opSweep, n);
        opWave = Arrays.copyOf(opWave, n);
        opLo = Arrays.copyOf(opLo, n);
        opHi = Arrays.copyOf(opHi, n);
        opTab = Arrays.copyOf(opTab, n);
        opStep = Arrays.copyOf(opStep, n);
    }

    /**
     * Four sweeps at once on a strip of two vectors of columns, rows lo..hi (see the class comment).
     * Padding rotations are identities (α = β = 0). Before lo+3 the output is garbage and goes to row lo,
     * which is stored again (correctly) at step lo+3 and never reloaded; past hi the loads repeat row hi,
     * which only identities see.
     */
    private static void wave(double[] mat, int rowLen, int col, int lo, int hi, double[] tab, int tp,
                             int[] stepSlow, int step, double[] slowTab) {
        var sp = VectorOps.S;
        int base = lo * rowLen + col;
        var a0 = DoubleVector.fromArray(sp, mat, base + 0 * L);
        var a1 = DoubleVector.fromArray(sp, mat, base + 1 * L);
        var a2 = DoubleVector.fromArray(sp, mat, base + 2 * L);
        var a3 = DoubleVector.fromArray(sp, mat, base + 3 * L);
        var zero = DoubleVector.zero(sp);
        var b0 = zero;
        var b1 = zero;
        var b2 = zero;
        var b3 = zero;
        var c0 = zero;
        var c1 = zero;
        var c2 = zero;
        var c3 = zero;
        var d0 = zero;
        var d1 = zero;
        var d2 = zero;
        var d3 = zero;
        for (int t = lo, last = hi + WAVE - 1; t <= last; t++, tp += 2 * WAVE, step++) {
            int ld = Math.min(t + 1, hi) * rowLen + col;
            int st = Math.max(t - (WAVE - 1), lo) * rowLen + col;
            var y0 = DoubleVector.fromArray(sp, mat, ld + 0 * L);
            var y1 = DoubleVector.fromArray(sp, mat, ld + 1 * L);
            var y2 = DoubleVector.fromArray(sp, mat, ld + 2 * L);
            var y3 = DoubleVector.fromArray(sp, mat, ld + 3 * L);
            int slow = stepSlow[step];
            if (slow < 0) {
                var av = DoubleVector.broadcast(sp, tab[tp + 0]);
                var bv = DoubleVector.broadcast(sp, tab[tp + 1]);
                var o0 = y0.fma(av, a0);
                var o1 = y1.fma(av, a1);
                var o2 = y2.fma(av, a2);
                var o3 = y3.fma(av, a3);
                a0 = a0.fma(bv, y0);
                a1 = a1.fma(bv, y1);
                a2 = a2.fma(bv, y2);
                a3 = a3.fma(bv, y3);
                av = DoubleVector.broadcast(sp, tab[tp + 2]);
                bv = DoubleVector.broadcast(sp, tab[tp + 3]);
                y0 = o0.fma(av, b0);
                y1 = o1.fma(av, b1);
                y2 = o2.fma(av, b2);
                y3 = o3.fma(av, b3);
                b0 = b0.fma(bv, o0);
                b1 = b1.fma(bv, o1);
                b2 = b2.fma(bv, o2);
                b3 = b3.fma(bv, o3);
                av = DoubleVector.broadcast(sp, tab[tp + 4]);
                bv = DoubleVector.broadcast(sp, tab[tp + 5]);
                o0 = y0.fma(av, c0);
                o1 = y1.fma(av, c1);
                o2 = y2.fma(av, c2);
                o3 = y3.fma(av, c3);
                c0 = c0.fma(bv, y0);
                c1 = c1.fma(bv, y1);
                c2 = c2.fma(bv, y2);
                c3 = c3.fma(bv, y3);
                av = DoubleVector.broadcast(sp, tab[tp + 6]);
                bv = DoubleVector.broadcast(sp, tab[tp + 7]);
                o0.fma(av, d0).intoArray(mat, st + 0 * L);
                o1.fma(av, d1).intoArray(mat, st + 1 * L);
                o2.fma(av, d2).intoArray(mat, st + 2 * L);
                o3.fma(av, d3).intoArray(mat, st + 3 * L);
                d0 = d0.fma(bv, o0);
                d1 = d1.fma(bv, o1);
                d2 = d2.fma(bv, o2);
                d3 = d3.fma(bv, o3);
            } else {
                var ga = DoubleVector.broadcast(sp, slowTab[slow + 0]);
                var gb = DoubleVector.broadcast(sp, slowTab[slow + 1]);
                var gc = DoubleVector.broadcast(sp, slowTab[slow + 2]);
                var gd = DoubleVector.broadcast(sp, slowTab[slow + 3]);
                var o0 = a0.fma(ga, y0.mul(gb));
                var o1 = a1.fma(ga, y1.mul(gb));
                var o2 = a2.fma(ga, y2.mul(gb));
                var o3 = a3.fma(ga, y3.mul(gb));
                a0 = a0.fma(gc, y0.mul(gd));
                a1 = a1.fma(gc, y1.mul(gd));
                a2 = a2.fma(gc, y2.mul(gd));
                a3 = a3.fma(gc, y3.mul(gd));
                ga = DoubleVector.broadcast(sp, slowTab[slow + 4]);
                gb = DoubleVector.broadcast(sp, slowTab[slow + 5]);
                gc = DoubleVector.broadcast(sp, slowTab[slow + 6]);
                gd = DoubleVector.broadcast(sp, slowTab[slow + 7]);
                y0 = b0.fma(ga, o0.mul(gb));
                y1 = b1.fma(ga, o1.mul(gb));
                y2 = b2.fma(ga, o2.mul(gb));
                y3 = b3.fma(ga, o3.mul(gb));
                b0 = b0.fma(gc, o0.mul(gd));
                b1 = b1.fma(gc, o1.mul(gd));
                b2 = b2.fma(gc, o2.mul(gd));
                b3 = b3.fma(gc, o3.mul(gd));
                ga = DoubleVector.broadcast(sp, slowTab[slow + 8]);
                gb = DoubleVector.broadcast(sp, slowTab[slow + 9]);
                gc = DoubleVector.broadcast(sp, slowTab[slow + 10]);
                gd = DoubleVector.broadcast(sp, slowTab[slow + 11]);
                o0 = c0.fma(ga, y0.mul(gb));
                o1 = c1.fma(ga, y1.mul(gb));
                o2 = c2.fma(ga, y2.mul(gb));
                o3 = c3.fma(ga, y3.mul(gb));
                c0 = c0.fma(gc, y0.mul(gd));
                c1 = c1.fma(gc, y1.mul(gd));
                c2 = c2.fma(gc, y2.mul(gd));
                c3 = c3.fma(gc, y3.mul(gd));
                ga = DoubleVector.broadcast(sp, slowTab[slow + 12]);
                gb = DoubleVector.broadcast(sp, slowTab[slow + 13]);
                gc = DoubleVector.broadcast(sp, slowTab[slow + 14]);
                gd = DoubleVector.broadcast(sp, slowTab[slow + 15]);
                y0 = d0.fma(ga, o0.mul(gb));
                y1 = d1.fma(ga, o1.mul(gb));
                y2 = d2.fma(ga, o2.mul(gb));
                y3 = d3.fma(ga, o3.mul(gb));
                d0 = d0.fma(gc, o0.mul(gd));
                d1 = d1.fma(gc, o1.mul(gd));
                d2 = d2.fma(gc, o2.mul(gd));
                d3 = d3.fma(gc, o3.mul(gd));
                y0.intoArray(mat, st + 0 * L);
                y1.intoArray(mat, st + 1 * L);
                y2.intoArray(mat, st + 2 * L);
                y3.intoArray(mat, st + 3 * L);
            }
        }
    }

    /** One sweep in general form (four coefficients per rotation at g[gp..]) on a strip of two vectors. */
    private static void single(double[] mat, int rowLen, int col, int lo, int count, double[] g, int gp) {
        var sp = VectorOps.S;
        int base = lo * rowLen + col;
        var x0 = DoubleVector.fromArray(sp, mat, base + 0 * L);
        var x1 = DoubleVector.fromArray(sp, mat, base + 1 * L);
        var x2 = DoubleVector.fromArray(sp, mat, base + 2 * L);
        var x3 = DoubleVector.fromArray(sp, mat, base + 3 * L);
        for (int t = 0; t < count; t++, gp += 4) {
            var ga = DoubleVector.broadcast(sp, g[gp + 0]);
            var gb = DoubleVector.broadcast(sp, g[gp + 1]);
            var gc = DoubleVector.broadcast(sp, g[gp + 2]);
            var gd = DoubleVector.broadcast(sp, g[gp + 3]);
            int next = base + rowLen;
            var y0 = DoubleVector.fromArray(sp, mat, next + 0 * L);
            var y1 = DoubleVector.fromArray(sp, mat, next + 1 * L);
            var y2 = DoubleVector.fromArray(sp, mat, next + 2 * L);
            var y3 = DoubleVector.fromArray(sp, mat, next + 3 * L);
            x0.fma(ga, y0.mul(gb)).intoArray(mat, base + 0 * L);
            x1.fma(ga, y1.mul(gb)).intoArray(mat, base + 1 * L);
            x2.fma(ga, y2.mul(gb)).intoArray(mat, base + 2 * L);
            x3.fma(ga, y3.mul(gb)).intoArray(mat, base + 3 * L);
            x0 = x0.fma(gc, y0.mul(gd));
            x1 = x1.fma(gc, y1.mul(gd));
            x2 = x2.fma(gc, y2.mul(gd));
            x3 = x3.fma(gc, y3.mul(gd));
            base = next;
        }
        x0.intoArray(mat, base + 0 * L);
        x1.intoArray(mat, base + 1 * L);
        x2.intoArray(mat, base + 2 * L);
        x3.intoArray(mat, base + 3 * L);
    }
}
