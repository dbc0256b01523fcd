package dev.oialr4j.oialr;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Small double-precision matrix helpers for update rounds (row-major). Rotations of the frozen bases run
 * here in double so that repeated rounds do not accumulate float rounding in U and V.
 */
final class DenseOps {

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;

    private DenseOps() {
    }

    /** C (m×n) = A (m×k) · B[:, :n] where B is k×ldb (only its first n columns are used). */
    static double[] multiply(double[] a, int m, int k, double[] b, int ldb, int n) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
            int co = i * n;
            for (int p = 0; p < k; p++) {
                double av = a[i * k + p];
                if (av == 0.0) {
                    continue; // a structural zero contributes nothing (inputs here are finite)
                }
                DoubleVector avv = DoubleVector.broadcast(D, av);
                int bo = p * ldb;
                int j = 0;
                for (int bound = D.loopBound(n); j < bound; j += D.length()) {
                    DoubleVector cv = DoubleVector.fromArray(D, c, co + j);
                    DoubleVector.fromArray(D, b, bo + j).fma(avv, cv).intoArray(c, co + j);
                }
                for (; j < n; j++) {
                    c[co + j] += av * b[bo + j];
                }
            }
        }
        return c;
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

    /** Pᵀ M Q for square r×r matrices. */
    static double[] rotate(double[] p, double[] mat, double[] q, int r) {
        double[] mq = multiply(mat, r, r, q, r, r);
        return multiply(transpose(p, r, r), r, r, mq, r, r);
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
