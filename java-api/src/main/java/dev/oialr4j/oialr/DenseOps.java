package dev.oialr4j.oialr;

import dev.oialr4j.backend.Parallel;
import dev.oialr4j.linalg.Gemm;

/**
 * Small double-precision matrix helpers for update rounds (row-major). Rotations of the frozen bases run
 * here in double so that repeated rounds do not accumulate float rounding in U and V.
 */
final class DenseOps {

    private DenseOps() {
    }

    /**
     * Runs every kernel here on small inputs until the JIT has compiled it. Vector-API code is very slow
     * before C2 compiles it (the first 1024×1024×512 product takes ~460 ms instead of ~40 ms), so
     * conversion calls this once and the first update rounds do not pay for compilation on large
     * matrices. Costs a few tens of milliseconds, counted in the conversion time.
     */
    static void warmUp(Parallel pool) {
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
        // Both the sequential and the pooled entry are run: a path C2 has never seen taken becomes an
        // uncommon trap, and the first large product after it would run in slow tiers (seen: 0.9 s
        // instead of 30 ms for 1024×1024×512 in the first real round).
        for (int i = 0; i < 6_000; i++) {
            sink += multiply(a, m, k, a, n, n, (i & 1) == 0 ? null : pool)[i % (m * n)];
        }
        for (int i = 0; i < 1_000; i++) {
            sink += rotateLeading(a, a, a, 4, 3, (i & 1) == 0 ? null : pool)[0] + orthogonalityError(a, 5, 4);
        }
        if (Double.isNaN(sink)) {
            throw new AssertionError("warm-up produced NaN");
        }
    }

    /** C (m×n) = A (m×k) · B[:, :n] where B is k×ldb (only its first n columns are used). */
    static double[] multiply(double[] a, int m, int k, double[] b, int ldb, int n) {
        return multiply(a, m, k, b, ldb, n, null);
    }

    /** As {@link #multiply(double[], int, int, double[], int, int)}, the strips spread over pool if given (see {@link Gemm}). */
    static double[] multiply(double[] a, int m, int k, double[] b, int ldb, int n, Parallel pool) {
        return Gemm.multiply(a, m, k, b, ldb, n, pool);
    }

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
        return rotateLeading(p, mat, q, r, k, null);
    }

    /** As {@link #rotateLeading(double[], double[], double[], int, int)}, the products spread over pool if given. */
    static double[] rotateLeading(double[] p, double[] mat, double[] q, int r, int k, Parallel pool) {
        return rotateLeading(p, q, r, mat, r, k, pool);
    }

    /**
     * As {@link #rotateLeading(double[], double[], double[], int, int)} for P and Q given as r×ld blocks
     * (ld ≥ k columns, e.g. only the leading singular vectors).
     */
    static double[] rotateLeading(double[] p, double[] q, int ld, double[] mat, int r, int k, Parallel pool) {
        double[] mq = multiply(mat, r, r, q, ld, k, pool);
        double[] pt = new double[k * r];
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < k; j++) {
                pt[j * r + i] = p[i * ld + j];
            }
        }
        return multiply(pt, k, r, mq, k, k, pool);
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
