package dev.oialr4j.oialr;

import dev.oialr4j.backend.Parallel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Small double-precision matrix helpers for update rounds (row-major). Rotations of the frozen bases run
 * here in double so that repeated rounds do not accumulate float rounding in U and V.
 */
final class DenseOps {

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;

    private DenseOps() {
    }

    /**
     * Runs every kernel here on small inputs until the JIT has compiled it. Vector-API code is very slow
     * before C2 compiles it (the first 1024×1024×512 product takes ~460 ms instead of ~40 ms), so
     * conversion calls this once and the first update rounds do not pay for compilation on large
     * matrices. Costs a few tens of milliseconds, counted in the conversion time.
     */
    static void warmUp() {
        // Tiny shapes, many calls: the JIT counts invocations and loop back-edges, not work done, so
        // this reaches C2 quickly. m = 5 runs both row kernels; n = 25 runs the 3-vector tile and the
        // masked tail.
        int m = 5;
        int k = 4;
        int n = 25;
        double[] a = new double[Math.max(m * k, k * n)];
        for (int i = 0; i < a.length; i++) {
            a[i] = (i % 7) - 3;
        }
        double sink = 0;
        for (int i = 0; i < 6_000; i++) {
            sink += multiply(a, m, k, a, n, n)[i % (m * n)];
        }
        for (int i = 0; i < 1_000; i++) {
            sink += rotateLeading(a, a, a, 4, 3)[0] + orthogonalityError(a, 5, 4);
        }
        if (Double.isNaN(sink)) {
            throw new AssertionError("warm-up produced NaN");
        }
    }

    /** C (m×n) = A (m×k) · B[:, :n] where B is k×ldb (only its first n columns are used). */
    static double[] multiply(double[] a, int m, int k, double[] b, int ldb, int n) {
        return multiply(a, m, k, b, ldb, n, null);
    }

    /**
     * As {@link #multiply(double[], int, int, double[], int, int)}, with blocks of four rows of C spread
     * over {@code pool} when it is not null. Every entry of C is computed the same way either way.
     */
    static double[] multiply(double[] a, int m, int k, double[] b, int ldb, int n, Parallel pool) {
        double[] c = new double[m * n];
        int quads = m / 4;
        if (pool == null) {
            rowQuads(a, 0, quads, k, b, ldb, n, c);
        } else {
            pool.forRange(quads, 8, (q0, q1) -> rowQuads(a, q0, q1, k, b, ldb, n, c));
        }
        for (int i = quads * 4; i < m; i++) {
            row1(a, i, k, b, ldb, n, c);
        }
        return c;
    }

    private static void rowQuads(double[] a, int q0, int q1, int k, double[] b, int ldb, int n, double[] c) {
        for (int q = q0; q < q1; q++) {
            rows4(a, 4 * q, k, b, ldb, n, c);
        }
    }

    /**
     * Four rows of C at a time, 3 vectors wide: 12 accumulators stay in registers while the k loop
     * streams one row-slice of B per step. Accumulators start from a fresh zero() each block (a shared
     * constant vector would be boxed by C2).
     */
    private static void rows4(double[] a, int i, int k, double[] b, int ldb, int n, double[] c) {
        int l = D.length();
        int a0 = i * k;
        int a1 = a0 + k;
        int a2 = a1 + k;
        int a3 = a2 + k;
        int j = 0;
        for (; j + 3 * l <= n; j += 3 * l) {
            DoubleVector c00 = DoubleVector.zero(D);
            DoubleVector c01 = DoubleVector.zero(D);
            DoubleVector c02 = DoubleVector.zero(D);
            DoubleVector c10 = DoubleVector.zero(D);
            DoubleVector c11 = DoubleVector.zero(D);
            DoubleVector c12 = DoubleVector.zero(D);
            DoubleVector c20 = DoubleVector.zero(D);
            DoubleVector c21 = DoubleVector.zero(D);
            DoubleVector c22 = DoubleVector.zero(D);
            DoubleVector c30 = DoubleVector.zero(D);
            DoubleVector c31 = DoubleVector.zero(D);
            DoubleVector c32 = DoubleVector.zero(D);
            for (int p = 0; p < k; p++) {
                int bo = p * ldb + j;
                DoubleVector b0 = DoubleVector.fromArray(D, b, bo);
                DoubleVector b1 = DoubleVector.fromArray(D, b, bo + l);
                DoubleVector b2 = DoubleVector.fromArray(D, b, bo + 2 * l);
                DoubleVector x = DoubleVector.broadcast(D, a[a0 + p]);
                c00 = b0.fma(x, c00);
                c01 = b1.fma(x, c01);
                c02 = b2.fma(x, c02);
                x = DoubleVector.broadcast(D, a[a1 + p]);
                c10 = b0.fma(x, c10);
                c11 = b1.fma(x, c11);
                c12 = b2.fma(x, c12);
                x = DoubleVector.broadcast(D, a[a2 + p]);
                c20 = b0.fma(x, c20);
                c21 = b1.fma(x, c21);
                c22 = b2.fma(x, c22);
                x = DoubleVector.broadcast(D, a[a3 + p]);
                c30 = b0.fma(x, c30);
                c31 = b1.fma(x, c31);
                c32 = b2.fma(x, c32);
            }
            int r0 = i * n + j;
            c00.intoArray(c, r0);
            c01.intoArray(c, r0 + l);
            c02.intoArray(c, r0 + 2 * l);
            c10.intoArray(c, r0 + n);
            c11.intoArray(c, r0 + n + l);
            c12.intoArray(c, r0 + n + 2 * l);
            c20.intoArray(c, r0 + 2 * n);
            c21.intoArray(c, r0 + 2 * n + l);
            c22.intoArray(c, r0 + 2 * n + 2 * l);
            c30.intoArray(c, r0 + 3 * n);
            c31.intoArray(c, r0 + 3 * n + l);
            c32.intoArray(c, r0 + 3 * n + 2 * l);
        }
        for (; j < n; j += l) {
            VectorMask<Double> mask = D.indexInRange(j, n);
            DoubleVector c0 = DoubleVector.zero(D);
            DoubleVector c1 = DoubleVector.zero(D);
            DoubleVector c2 = DoubleVector.zero(D);
            DoubleVector c3 = DoubleVector.zero(D);
            for (int p = 0; p < k; p++) {
                DoubleVector bv = DoubleVector.fromArray(D, b, p * ldb + j, mask);
                c0 = bv.fma(DoubleVector.broadcast(D, a[a0 + p]), c0);
                c1 = bv.fma(DoubleVector.broadcast(D, a[a1 + p]), c1);
                c2 = bv.fma(DoubleVector.broadcast(D, a[a2 + p]), c2);
                c3 = bv.fma(DoubleVector.broadcast(D, a[a3 + p]), c3);
            }
            int r0 = i * n + j;
            c0.intoArray(c, r0, mask);
            c1.intoArray(c, r0 + n, mask);
            c2.intoArray(c, r0 + 2 * n, mask);
            c3.intoArray(c, r0 + 3 * n, mask);
        }
    }

    private static void row1(double[] a, int i, int k, double[] b, int ldb, int n, double[] c) {
        int l = D.length();
        int a0 = i * k;
        for (int j = 0; j < n; j += l) {
            VectorMask<Double> mask = D.indexInRange(j, n);
            DoubleVector acc = DoubleVector.zero(D);
            for (int p = 0; p < k; p++) {
                acc = DoubleVector.fromArray(D, b, p * ldb + j, mask).fma(DoubleVector.broadcast(D, a[a0 + p]), acc);
            }
            acc.intoArray(c, i * n + j, mask);
        }
    }

    /** Aᵀ (n×m) of A (m×n). */
    static double[] transpose(double[] a, int m, int n) {
        double[] t = new double[a.length];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                t[j * m + i] = a[i * n + j];
            }
        }
        return t;
    }

    /** The top-left r×r block of an n×n matrix. */
    static double[] slice(double[] a, int n, int r) {
        double[] s = new double[r * r];
        for (int i = 0; i < r; i++) {
            System.arraycopy(a, i * n, s, i * r, r);
        }
        return s;
    }

    /**
     * (Pᵀ M Q)[:k, :k] for square r×r P, M, Q, computed as P[:, :k]ᵀ (M Q[:, :k]) so the columns that the
     * rank cut drops are never formed.
     */
    static double[] rotateLeading(double[] p, double[] mat, double[] q, int r, int k) {
        double[] mq = multiply(mat, r, r, q, r, k);
        double[] pt = new double[k * r];
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < k; j++) {
                pt[j * r + i] = p[i * r + j];
            }
        }
        return multiply(pt, k, r, mq, k, k);
    }

    /** max |AᵀA − I| over the r×r Gram matrix of the m×r column block A. */
    static double orthogonalityError(double[] a, int m, int r) {
        double[] at = transpose(a, m, r);
        double[] g = multiply(at, r, m, a, r, r);
        double worst = 0;
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                worst = Math.max(worst, Math.abs(g[i * r + j] - (i == j ? 1 : 0)));
            }
        }
        return worst;
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
