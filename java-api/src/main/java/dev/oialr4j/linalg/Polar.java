package dev.oialr4j.linalg;

import dev.oialr4j.tensor.Tensor;

/**
 * The orthogonal polar factor of a dense m×n matrix: B = U·Vᵀ from the reduced SVD A = U·Σ·Vᵀ, the
 * nearest matrix with orthonormal columns (m ≥ n) or rows (m &lt; n) to A in the Frobenius norm.
 *
 * <p>B does not depend on the signs of the singular vector pairs (u_j v_jᵀ is unchanged when both
 * flip) nor on the basis chosen inside a repeated singular value, so it is a stable thing to compare
 * between checkpoints. For a rank-deficient A it is not unique: the part of B belonging to σ = 0 is
 * whatever completing basis the SVD returned.
 */
public final class Polar {

    private Polar() {}

    /** U·Vᵀ for a row-major m×n float matrix, as row-major m×n double. */
    public static double[] factor(float[] a, int m, int n) {
        return fromSvd(Svd.decompose(a, m, n));
    }

    /** U·Vᵀ for a row-major m×n double matrix, as row-major m×n. */
    public static double[] factor(double[] a, int m, int n) {
        return fromSvd(Svd.decompose(a, m, n));
    }

    /** U·Vᵀ of the 2-D view of a host tensor, as a float tensor of the same 2-D shape. */
    public static Tensor factor(Tensor t) {
        Svd.Result svd = Svd.decompose(t);
        return Tensor.of(Matrices.toFloat(fromSvd(svd)), svd.m(), svd.n());
    }

    /** U·Vᵀ from an existing reduced SVD, row-major m×n. */
    public static double[] fromSvd(Svd.Result svd) {
        int m = svd.m();
        int n = svd.n();
        int k = svd.k();
        double[] vt = Matrices.transpose(svd.v(), n, k);
        return Matrices.multiply(svd.u(), vt, m, k, n);
    }
}
