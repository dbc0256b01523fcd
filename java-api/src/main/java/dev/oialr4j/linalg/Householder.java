package dev.oialr4j.linalg;

import dev.oialr4j.backend.Parallel;

/**
 * Householder reflectors H = I − τ·v·vᵀ with v₀ = 1 (LAPACK's dlarfg convention), and the reductions
 * built from them: QR and bidiagonalisation of a row-major double matrix, and the explicit forming
 * of the accumulated orthogonal factors, transposed (one row per column of Q), so that later row
 * operations are contiguous.
 */
final class Householder {

    /** Threads for forming Qᵀ row blocks; nested use from another pool's task is safe (see Parallel). */
    private static final Parallel ROWS = new Parallel(Math.max(1, Runtime.getRuntime().availableProcessors()));

    private Householder() {}

    /**
     * Turns x = (alpha, tail) into (beta, 0, …) in place: the tail is overwritten by v[1..]. Returns tau;
     * beta is written to out[0]. The tail is strided (stride 1 for a row, n for a column).
     */
    static double reflector(double alpha, double[] a, int off, int stride, int len, double[] out) {
        double ss = 0;
        for (int i = 0, p = off; i < len; i++, p += stride) {
            ss = Math.fma(a[p], a[p], ss);
        }
        if (ss == 0) {
            out[0] = alpha;
            return 0;
        }
        double xnorm = Math.sqrt(ss);
        double beta = -Math.copySign(VectorOps.hypot(alpha, xnorm), alpha);
        double tau = (beta - alpha) / beta;
        double scal = 1.0 / (alpha - beta);
        if (stride == 1) {
            VectorOps.scale(scal, a, off, len);
        } else {
            for (int i = 0, p = off; i < len; i++, p += stride) {
                a[p] *= scal;
            }
        }
        out[0] = beta;
        return tau;
    }

    /**
     * Step k of a left reflector on row k: w = vᵀ·A[k:, k+1:] (v₀ = 1, tail in column k below the
     * diagonal), taken from the running column sums z when the previous pass collected them, then
     * A[k, k+1:] −= tau·w. Leaves w for the caller's update of the rows below.
     */
    private static void leftRowUpdate(double[] a, int m, int n, int k, double alpha, double beta, double tau,
                                      boolean haveZ, double[] z, double[] w) {
        int kk = k * n + k;
        int len = n - k - 1;
        if (haveZ) {
            double scal = 1.0 / (alpha - beta);
            for (int j = 0; j < len; j++) {
                w[j] = Math.fma(scal, z[j], a[kk + 1 + j]);
            }
        } else {
            System.arraycopy(a, kk + 1, w, 0, len);
            for (int i = k + 1; i < m; i++) {
                double vi = a[i * n + k];
                if (vi != 0) {
                    VectorOps.axpy(vi, a, i * n + k + 1, w, 0, len);
                }
            }
        }
        VectorOps.axpy(-tau, w, 0, a, kk + 1, len);
    }

    /**
     * Reduces a (m×n, m ≥ n, row-major, overwritten) to upper bidiagonal form B = Q_Lᵀ·A·Q_R with
     * diagonal d (n) and superdiagonal e (n−1). The left reflectors are left below the diagonal (column k,
     * rows k+1..m−1; scale tauL[k]); the right reflectors to the right of the superdiagonal (row k,
     * columns k+2..n−1; scale tauR[k]).
     *
     * <p>One pass over the trailing matrix per step: each row gets the left update, then the right
     * update, and while it is still in L1 it also contributes to z = Σ_i A[i,k+1]·A[i,k+2:], from which
     * the next step's w = vᵀ·A follows without another pass (v is that column scaled).
     */
    static void bidiagonalize(double[] a, int m, int n, double[] d, double[] e, double[] tauL, double[] tauR) {
        double[] w = new double[n];
        double[] u = new double[n];
        double[] z = new double[n];
        double[] out = new double[1];
        boolean haveZ = false;
        for (int k = 0; k < n; k++) {
            int kk = k * n + k;
            double alpha = a[kk];
            double tau = reflector(alpha, a, kk + n, n, m - k - 1, out);
            d[k] = out[0];
            tauL[k] = tau;
            int len = n - k - 1;
            if (len == 0) {
                a[kk] = d[k];
                break;
            }
            if (tau != 0) {
                leftRowUpdate(a, m, n, k, alpha, d[k], tau, haveZ, z, w);
            }
            a[kk] = d[k];
            // Right reflector from the updated row k.
            double tau2 = reflector(a[kk + 1], a, kk + 2, 1, len - 1, out);
            e[k] = out[0];
            tauR[k] = tau2;
            u[0] = 1;
            System.arraycopy(a, kk + 2, u, 1, len - 1);
            java.util.Arrays.fill(z, 0, len, 0.0);
            for (int i = k + 1; i < m; i++) {
                int row = i * n + k + 1;
                double vi = a[i * n + k];
                double dt = tau != 0 && vi != 0
                        ? VectorOps.axpyDot(-tau * vi, w, 0, a, row, u, 0, len)
                        : VectorOps.dot(a, row, u, 0, len);
                double coef = -tau2 * dt;
                a[row] = Math.fma(coef, u[0], a[row]);
                if (i == k + 1) {
                    VectorOps.axpy(coef, u, 1, a, row + 1, len - 1);
                } else {
                    VectorOps.axpyAccumulate(coef, u, 1, a, row + 1, a[row], z, 0, len - 1);
                }
            }
            haveZ = true;
            a[kk + 1] = e[k];
        }
    }

    /**
     * Householder QR of a (m×n, m ≥ n, row-major, overwritten): R on and above the diagonal (diagonal
     * in diag), reflectors below it (column k), scales in tau.
     */
    static void qr(double[] a, int m, int n, double[] diag, double[] tau) {
        // One pass per column, as in bidiagonalize: z collects the next column's w while rows are in L1.
        int steps = Math.min(m, n);
        double[] w = new double[n];
        double[] z = new double[n];
        double[] out = new double[1];
        boolean haveZ = false;
        for (int k = 0; k < steps; k++) {
            int kk = k * n + k;
            double alpha = a[kk];
            double t = reflector(alpha, a, kk + n, n, m - k - 1, out);
            diag[k] = out[0];
            tau[k] = t;
            int len = n - k - 1;
            if (t != 0 && len > 0) {
                leftRowUpdate(a, m, n, k, alpha, diag[k], t, haveZ, z, w);
                java.util.Arrays.fill(z, 0, len, 0.0);
                for (int i = k + 1; i < m; i++) {
                    int row = i * n + k + 1;
                    double coef = -t * a[i * n + k];
                    a[row] = Math.fma(coef, w[0], a[row]);
                    if (i == k + 1) {
                        VectorOps.axpy(coef, w, 1, a, row + 1, len - 1);
                    } else {
                        VectorOps.axpyAccumulate(coef, w, 1, a, row + 1, a[row], z, 0, len - 1);
                    }
                }
                haveZ = true;
            } else {
                haveZ = false;
            }
            a[kk] = diag[k];
        }
    }

    /**
     * Forms Qᵀ (k×m, row-major) for Q = H₀·H₁·…·H_{k−1} restricted to its first k columns, where
     * reflector j has v₀ = 1 at row j and its tail in column j of a (rows j+1..m−1, row stride n).
     */
    static double[] formLeftTransposed(double[] a, int m, int n, int k, double[] tau) {
        // Reflectors copied out contiguously: row j holds v_j at columns j..m−1.
        double[] vs = new double[k * m];
        for (int j = 0; j < k; j++) {
            vs[j * m + j] = 1;
            for (int i = j + 1; i < m; i++) {
                vs[j * m + i] = a[i * n + j];
            }
        }
        return formTransposed(vs, m, k, 0, tau, null);
    }

    /**
     * Computes X·Qᵀ for X = [x | 0] (rows k, x is k×k) and Q as in {@link #formLeftTransposed}, i.e. the
     * transpose of Q·[xᵀ; 0]; used to lift the left singular vectors of R back through A = Q·R.
     */
    static double[] applyLeftTransposed(double[] a, int m, int n, int k, double[] tau, double[] x) {
        double[] vs = new double[k * m];
        for (int j = 0; j < k; j++) {
            vs[j * m + j] = 1;
            for (int i = j + 1; i < m; i++) {
                vs[j * m + i] = a[i * n + j];
            }
        }
        return formTransposed(vs, m, k, 0, tau, x);
    }

    /**
     * Forms Vᵀ (n×n) for V = G₀·G₁·…·G_{n−3}, the right reflectors of {@link #bidiagonalize}: G_j acts on
     * indices j+1..n−1 with v₀ = 1 there and its tail in row j of a (columns j+2..n−1).
     */
    static double[] formRightTransposed(double[] a, int n, double[] tauR) {
        // Shifted by one: reflector j of the product below is G_{j−1}, acting from index j.
        double[] vs = new double[n * n];
        double[] tau = new double[n];
        for (int j = 1; j < n; j++) {
            vs[j * n + j] = 1;
            System.arraycopy(a, (j - 1) * n + j + 1, vs, j * n + j + 1, n - j - 1);
            tau[j] = tauR[j - 1];
        }
        return formTransposed(vs, n, n, 1, tau, null);
    }

    /**
     * Qᵀ for Q = H_first·…·H_{k−1}·[I; 0] (or (Q·[initᵀ; 0])ᵀ when init, k×k, is given), with H_j = I − tau[j]·v_j·v_jᵀ and v_j in row j of vs (zero
     * before index j, 1 at j). Row r of Qᵀ is e_rᵀ·H_r·H_{r−1}·…·H_first (reflectors after r leave e_r
     * alone), so rows are independent: they are formed four at a time, each reflector read once per
     * block of rows while the rows stay in L1.
     */
    private static double[] formTransposed(double[] vs, int m, int k, int first, double[] tau, double[] init) {
        double[] qt = new double[k * m];
        if (init == null) {
            for (int r = 0; r < k; r++) {
                qt[r * m + r] = 1;
            }
        } else {
            for (int r = 0; r < k; r++) {
                System.arraycopy(init, r * k, qt, r * m, k);
            }
        }
        // Rows in super-blocks of about 256 KiB (L2), in groups of four: each reflector comes from memory
        // once per super-block and from L1 for the other groups.
        int superRows = Math.max(4, Math.min(64, (32 * 1024 / m) & ~3));
        int blocks = (k + superRows - 1) / superRows;
        // Super-blocks own disjoint rows of Qᵀ, so they run in parallel; the result does not depend on
        // the thread count. Small matrices (few blocks) stay on the calling thread.
        ROWS.forRange(blocks, 4, (blk0, blk1) -> {
            for (int blk = blk0; blk < blk1; blk++) {
                int b0 = blk * superRows;
                int b1 = Math.min(k, b0 + superRows);
                for (int j = init == null ? b1 - 1 : k - 1; j >= first; j--) {
                    double t = tau[j];
                    if (t == 0) {
                        continue;
                    }
                    int len = m - j;
                    int vo = j * m + j;
                    // Rows r < j are still e_r on indices ≥ j, so H_j leaves them alone (not so for a general init).
                    int r = init == null ? Math.max(b0, j) : b0;
                    for (; r + 4 <= b1; r += 4) {
                        VectorOps.reflectRows4(qt, r * m + j, m, vs, vo, len, t);
                    }
                    for (; r < b1; r++) {
                        int off = r * m + j;
                        double dt = VectorOps.dot(qt, off, vs, vo, len);
                        if (dt != 0) {
                            VectorOps.axpy(-t * dt, vs, vo, qt, off, len);
                        }
                    }
                }
            }
        });
        return qt;
    }
}
