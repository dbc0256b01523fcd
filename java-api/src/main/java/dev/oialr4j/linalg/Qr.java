package dev.oialr4j.linalg;

import dev.oialr4j.tensor.Tensor;

/**
 * Thin QR decomposition A = Q·R of a dense m×n matrix by Householder reflections, in double.
 *
 * <p>With k = min(m, n), Q is m×k with orthonormal columns and R is k×n upper triangular (upper
 * trapezoidal when m &lt; n, i.e. a wide A gives Q square and R with the same width as A). The signs
 * are fixed so that diag(R) ≥ 0: where a reflector produced a negative diagonal entry, that row of R
 * and that column of Q are negated. For A of full column rank this makes the factorisation unique,
 * so factorisations computed at different times can be compared entry by entry.
 */
public final class Qr {

    private Qr() {}

    /** A thin QR: q is m×k, r is k×n (row-major), k = min(m, n), diag(r) ≥ 0. */
    public record Result(int m, int n, int k, double[] q, double[] r) {

        public Result {
            if (k != Math.min(m, n) || q.length != m * k || r.length != k * n) {
                throw new IllegalArgumentException("inconsistent QR result for a " + m + "×" + n + " matrix: k=" + k
                        + ", |q|=" + q.length + ", |r|=" + r.length);
            }
        }

        /** Q·R as a row-major m×n array. */
        public double[] reconstruct() {
            return Matrices.multiply(q, r, m, k, n);
        }

        public float[] qAsFloat() {
            return Matrices.toFloat(q);
        }

        public float[] rAsFloat() {
            return Matrices.toFloat(r);
        }
    }

    /** Thin QR of a row-major m×n float matrix (a is not modified). */
    public static Result thin(float[] a, int m, int n) {
        return thinOwned(Matrices.toDouble("QR", a, m, n), m, n);
    }

    /** Thin QR of a row-major m×n double matrix (a is not modified). */
    public static Result thin(double[] a, int m, int n) {
        return thinOwned(Matrices.copyChecked("QR", a, m, n), m, n);
    }

    /** Thin QR of the 2-D view of a host tensor. */
    public static Result thin(Tensor t) {
        if (!t.isHost()) {
            throw new IllegalArgumentException("QR needs a host tensor, got one on " + t.device());
        }
        return thin(t.data(), t.rows(), t.cols());
    }

    private static Result thinOwned(double[] a, int m, int n) {
        int k = Math.min(m, n);
        double[] diag = new double[k];
        double[] tau = new double[k];
        Householder.qr(a, m, n, diag, tau);
        double[] qt = Householder.formLeftTransposed(a, m, n, k, tau);
        double[] r = new double[k * n];
        for (int i = 0; i < k; i++) {
            System.arraycopy(a, i * n + i, r, i * n + i, n - i);
            r[i * n + i] = diag[i];
            if (diag[i] < 0) {
                VectorOps.scale(-1.0, r, i * n + i, n - i);
                VectorOps.scale(-1.0, qt, i * m, m);
            }
        }
        double[] q = Matrices.transpose(qt, k, m);
        return new Result(m, n, k, q, r);
    }
}
