package dev.oialr4j.linalg;

import dev.oialr4j.backend.Parallel;
import java.util.Arrays;

/**
 * Householder reflectors H = I − τ·v·vᵀ with v₀ = 1 (LAPACK's dlarfg convention), and the reductions
 * built from them: QR and bidiagonalisation of a row-major double matrix, and the explicit forming
 * of the accumulated orthogonal factors, transposed (one row per column of Q), so that later row
 * operations are contiguous.
 */
final class Householder {

    /** Threads for the row passes and for forming Qᵀ row blocks (inside another loop of the pool: inline). */
    private static final Parallel ROWS = Parallel.common();

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
        double tau = reflectorFromSumOfSquares(alpha, ss, out);
        if (tau == 0) {
            return 0;
        }
        double scal = 1.0 / (alpha - out[0]);
        if (stride == 1) {
            VectorOps.scale(scal, a, off, len);
        } else {
            for (int i = 0, p = off; i < len; i++, p += stride) {
                a[p] *= scal;
            }
        }
        return tau;
    }

    /**
     * As {@link #reflector} for the column tail held contiguously in col[from..m): the same arithmetic, but
     * the tail is left unscaled (the caller scales each entry by 1/(alpha − beta) as it reaches its row).
     */
    private static double reflectorFromCopy(double alpha, double[] col, int from, int m, double[] out) {
        double ss = 0;
        for (int i = from; i < m; i++) {
            ss = Math.fma(col[i], col[i], ss);
        }
        return reflectorFromSumOfSquares(alpha, ss, out);
    }

    /** tau and beta (into out[0]) of the reflector for (alpha, tail) with ‖tail‖² = ss; tau = 0 when ss = 0. */
    private static double reflectorFromSumOfSquares(double alpha, double ss, double[] out) {
        if (ss == 0) {
            out[0] = alpha;
            return 0;
        }
        double beta = -Math.copySign(VectorOps.hypot(alpha, Math.sqrt(ss)), alpha);
        out[0] = beta;
        return (beta - alpha) / beta;
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
        // z is summed per fixed block of rows and the partial sums are added in block order, so the
        // result is the same whether the blocks run on one thread or several.
        int blocks = (m + ROW_BLOCK - 1) / ROW_BLOCK;
        double[] zParts = new double[blocks * n];
        double[][] blockDots = new double[blocks][2];
        // col holds column k+1 as the row pass leaves it, so the next reflector reads it contiguously; the
        // scaling of that reflector's tail is then done row by row inside the (parallel) row pass instead of
        // down a strided column on one thread. Same operations, same bits.
        double[] col = new double[m];
        boolean haveZ = false;
        for (int k = 0; k < n; k++) {
            int kk = k * n + k;
            double alpha = a[kk];
            double tau;
            double scal = 1;
            if (haveZ) {
                tau = reflectorFromCopy(alpha, col, k + 1, m, out);
                if (tau != 0) {
                    scal = 1.0 / (alpha - out[0]);
                }
            } else {
                tau = reflector(alpha, a, kk + n, n, m - k - 1, out);
            }
            d[k] = out[0];
            tauL[k] = tau;
            int len = n - k - 1;
            if (len == 0) {
                // No row pass follows the last step: scale the reflector's tail here.
                if (scal != 1) {
                    for (int i = k + 1; i < m; i++) {
                        a[i * n + k] *= scal;
                    }
                }
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
            if (k + 1 < m) {
                bidiagonalRow(a, n, k, k + 1, tau, tau2, w, u, len, null, 0, scal, col);
            }
            int first = (k + 2) / ROW_BLOCK;
            int count = blocks - first;
            int kf = k;
            double sc = scal;
            Parallel.ChunkBody body = (c, total) -> {
                int b = first + c;
                int zo = b * n;
                java.util.Arrays.fill(zParts, zo, zo + len, 0.0);
                int r1 = Math.min(m, (b + 1) * ROW_BLOCK);
                int i = Math.max(kf + 2, b * ROW_BLOCK);
                double[] dots = blockDots[b];
                for (; i + 2 <= r1; i += 2) {
                    bidiagonalRows2(a, n, kf, i, tau, tau2, w, u, len, zParts, zo, dots, sc, col);
                }
                for (; i < r1; i++) {
                    bidiagonalRow(a, n, kf, i, tau, tau2, w, u, len, zParts, zo, sc, col);
                }
            };
            if (count > 0) {
                if ((long) (m - k) * len >= PARALLEL_MIN_ELEMENTS) {
                    ROWS.forChunks(count, body);
                } else {
                    for (int c = 0; c < count; c++) {
                        body.run(c, count);
                    }
                }
            }
            java.util.Arrays.fill(z, 0, len, 0.0);
            for (int b = first; b < blocks; b++) {
                VectorOps.axpy(1.0, zParts, b * n, z, 0, len - 1);
            }
            haveZ = true;
            a[kk + 1] = e[k];
        }
    }

    /** Rows per block of the bidiagonalisation's parallel pass. */
    private static final int ROW_BLOCK = 128;
    /** Trailing-matrix size from which a bidiagonalisation step is spread over the threads. */
    private static final long PARALLEL_MIN_ELEMENTS = 128 * 1024;

    /**
     * Rows i and i+1 of step k together, with the same arithmetic as two calls of
     * {@link #bidiagonalRow} (z given), but w, u and z read once for both rows.
     */
    private static void bidiagonalRows2(double[] a, int n, int k, int i, double tau, double tau2, double[] w,
                                        double[] u, int len, double[] z, int zo, double[] dots, double scal,
                                        double[] col) {
        int row0 = i * n + k + 1;
        int row1 = row0 + n;
        if (scal != 1) {
            a[row0 - 1] *= scal;
            a[row1 - 1] *= scal;
        }
        double v0 = a[row0 - 1];
        double v1 = a[row1 - 1];
        if (tau == 0 || v0 == 0 || v1 == 0) {
            bidiagonalRow(a, n, k, i, tau, tau2, w, u, len, z, zo, 1, col);
            bidiagonalRow(a, n, k, i + 1, tau, tau2, w, u, len, z, zo, 1, col);
            return;
        }
        VectorOps.axpyDot2(-tau * v0, -tau * v1, w, 0, a, row0, row1, u, 0, len, dots);
        double coef0 = -tau2 * dots[0];
        double coef1 = -tau2 * dots[1];
        a[row0] = Math.fma(coef0, u[0], a[row0]);
        a[row1] = Math.fma(coef1, u[0], a[row1]);
        col[i] = a[row0];
        col[i + 1] = a[row1];
        VectorOps.axpyAccumulate2(coef0, coef1, u, 1, a, row0 + 1, row1 + 1, a[row0], a[row1], z, zo, len - 1);
    }

    /**
     * Row i of step k: the left update with w, then the right reflector (u, tau2); when z is given, the
     * row's contribution a[i, k+1]·a[i, k+2:] to the next step's w is added to z[zo..].
     */
    private static void bidiagonalRow(double[] a, int n, int k, int i, double tau, double tau2, double[] w,
                                      double[] u, int len, double[] z, int zo, double scal, double[] col) {
        int row = i * n + k + 1;
        if (scal != 1) {
            a[row - 1] *= scal;
        }
        double vi = a[row - 1];
        double dt = tau != 0 && vi != 0
                ? VectorOps.axpyDot(-tau * vi, w, 0, a, row, u, 0, len)
                : VectorOps.dot(a, row, u, 0, len);
        double coef = -tau2 * dt;
        a[row] = Math.fma(coef, u[0], a[row]);
        col[i] = a[row];
        if (z == null) {
            VectorOps.axpy(coef, u, 1, a, row + 1, len - 1);
        } else {
            VectorOps.axpyAccumulate(coef, u, 1, a, row + 1, a[row], z, zo, len - 1);
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
        double[] vs = reflectorRows(k, m);
        for (int j = 0; j < k; j++) {
            vs[j * m + j] = 1;
            for (int i = j + 1; i < m; i++) {
                vs[j * m + i] = a[i * n + j];
            }
        }
        return formTransposed(vs, m, k, 0, tau, null, k);
    }

    /**
     * Computes X·Qᵀ for X = [x | 0] (rows k, x is k×k) and Q as in {@link #formLeftTransposed}, i.e. the
     * transpose of Q·[xᵀ; 0]; used to lift the left singular vectors of R back through A = Q·R.
     */
    static double[] applyLeftTransposed(double[] a, int m, int n, int k, double[] tau, double[] x) {
        return applyLeftTransposed(a, m, n, k, tau, x, k);
    }

    /** As {@link #applyLeftTransposed(double[], int, int, int, double[], double[])} for an x of {@code rows}×k. */
    static double[] applyLeftTransposed(double[] a, int m, int n, int k, double[] tau, double[] x, int rows) {
        double[] vs = reflectorRows(k, m);
        for (int j = 0; j < k; j++) {
            vs[j * m + j] = 1;
            for (int i = j + 1; i < m; i++) {
                vs[j * m + i] = a[i * n + j];
            }
        }
        return formTransposed(vs, m, k, 0, tau, x, rows);
    }

    /**
     * Forms Vᵀ (n×n) for V = G₀·G₁·…·G_{n−3}, the right reflectors of {@link #bidiagonalize}: G_j acts on
     * indices j+1..n−1 with v₀ = 1 there and its tail in row j of a (columns j+2..n−1).
     */
    static double[] formRightTransposed(double[] a, int n, double[] tauR) {
        return applyRightTransposed(a, n, tauR, null);
    }

    /**
     * X·Vᵀ for V as in {@link #formRightTransposed} and a given n×n X (null: the identity), i.e. the
     * transpose of V·Xᵀ; used to lift the right singular vectors of the bidiagonal back.
     */
    static double[] applyRightTransposed(double[] a, int n, double[] tauR, double[] x) {
        return applyRightTransposed(a, n, tauR, x, n);
    }

    /** As {@link #applyRightTransposed(double[], int, double[], double[])} for an x of {@code rows}×n. */
    static double[] applyRightTransposed(double[] a, int n, double[] tauR, double[] x, int rows) {
        // Shifted by one: reflector j of the product below is G_{j−1}, acting from index j.
        double[] vs = reflectorRows(n, n);
        double[] tau = new double[n];
        for (int j = 1; j < n; j++) {
            vs[j * n + j] = 1;
            System.arraycopy(a, (j - 1) * n + j + 1, vs, j * n + j + 1, n - j - 1);
            tau[j] = tauR[j - 1];
        }
        return formTransposed(vs, n, n, 1, tau, x, rows);
    }

    /**
     * Qᵀ for Q = H_first·…·H_{k−1}·[I; 0] (or (Q·[initᵀ; 0])ᵀ when init, rows×k, is given), with H_j = I − tau[j]·v_j·v_jᵀ and v_j in row j of vs (zero
     * before index j, 1 at j). Row r of Qᵀ is e_rᵀ·H_r·H_{r−1}·…·H_first (reflectors after r leave e_r
     * alone), so rows are independent.
     *
     * <p>Reflectors are applied in fixed groups {4g, …, 4g+3} as one block I − V·T·Vᵀ (the compact WY
     * form), to four rows at a time: sixteen dot products share each load, which makes the kernel
     * bound by arithmetic rather than by memory traffic. A reflector whose index is outside
     * [first, k) counts as the identity (τ = 0); vs must have rows up to the next multiple of four
     * (see {@link #reflectorRows}).
     */
    private static double[] formTransposed(double[] vs, int m, int k, int first, double[] tau, double[] init,
            int rows) {
        if (init == null ? rows != k : init.length != rows * k) {
            throw new IllegalArgumentException("init must be rows×k (rows = k without one)");
        }
        // Rows are computed in groups of four with one kernel; a last group of fewer rows is padded with
        // zero rows rather than given to a one-row kernel, whose rounding differs, so that a row's result
        // does not depend on how many rows are asked for (the leading SVD relies on it).
        int padded = (rows + 3) & ~3;
        double[] qt = new double[padded * m];
        if (init == null) {
            for (int r = 0; r < k; r++) {
                qt[r * m + r] = 1;
            }
        } else {
            for (int r = 0; r < rows; r++) {
                System.arraycopy(init, r * k, qt, r * m, k);
            }
        }
        int groups = (k + 3) / 4;
        if (vs.length < groups * 4 * m) {
            throw new IllegalStateException("reflector rows not padded to a multiple of four");
        }
        double[] taus = new double[groups * 4];
        for (int j = first; j < k; j++) {
            taus[j] = tau[j];
        }
        double[] ts = new double[groups * 16];
        int[] offs = new int[groups * 4];
        for (int g = 0; g < groups; g++) {
            blockFactor(vs, m, g, taus, ts, offs);
        }
        // Rows in super-blocks of about 256 KiB (L2), in groups of four: each reflector block comes from
        // memory once per super-block and from cache for the other row groups.
        int superRows = Math.max(4, Math.min(64, (32 * 1024 / m) & ~3));
        int blocks = (padded + superRows - 1) / superRows;
        int gFirst = first / 4;
        // Super-blocks own disjoint rows of Qᵀ, so they run in parallel; the result does not depend on
        // the thread count. Small matrices (few blocks) stay on the calling thread.
        ROWS.forRange(blocks, 4, (blk0, blk1) -> {
            double[] work = new double[16];
            double[] t = new double[16];
            int[] vOff = new int[4];
            for (int blk = blk0; blk < blk1; blk++) {
                int b0 = blk * superRows;
                int b1 = Math.min(padded, b0 + superRows);
                int gTop = ((init == null ? b1 : k) - 1) / 4;
                for (int g = gTop; g >= gFirst; g--) {
                    int col = 4 * g;
                    int len = m - col;
                    if (taus[col] == 0 && taus[col + 1] == 0 && taus[col + 2] == 0 && taus[col + 3] == 0) {
                        continue;
                    }
                    System.arraycopy(offs, g * 4, vOff, 0, 4);
                    System.arraycopy(ts, g * 16, t, 0, 16);
                    // Rows r < 4g are still e_r on indices ≥ 4g, so the block leaves them alone (not so for a general init).
                    int r = init == null ? Math.max(b0, col) : b0;
                    for (; r < b1; r += 4) {
                        VectorOps.reflectRows4Block4(qt, r * m + col, m, vs, vOff, len, t, work);
                    }
                }
            }
        });
        return padded == rows ? qt : Arrays.copyOf(qt, rows * m);
    }

    /**
     * The triangular factor of reflector group g: H_{4g+3}·H_{4g+2}·H_{4g+1}·H_{4g} = I − V·T·Vᵀ with the
     * columns of V in that order (LAPACK's forward dlarft recurrence, on the vectors from index 4g on).
     * Writes T (row-major 4×4) to ts[16g..] and the column offsets into vs to offs[4g..].
     */
    private static void blockFactor(double[] vs, int m, int g, double[] taus, double[] ts, int[] offs) {
        int col = 4 * g;
        int len = m - col;
        int t0 = g * 16;
        for (int c = 0; c < 4; c++) {
            offs[g * 4 + c] = (col + 3 - c) * m + col;
        }
        for (int i = 0; i < 4; i++) {
            double ti = taus[col + 3 - i];
            ts[t0 + i * 4 + i] = ti;
            if (i == 0 || ti == 0) {
                continue;
            }
            double[] gram = new double[i];
            for (int l = 0; l < i; l++) {
                gram[l] = VectorOps.dot(vs, offs[g * 4 + l], vs, offs[g * 4 + i], len);
            }
            for (int a = 0; a < i; a++) {
                double sum = 0;
                for (int l = a; l < i; l++) {
                    sum = Math.fma(ts[t0 + a * 4 + l], gram[l], sum);
                }
                ts[t0 + a * 4 + i] = -ti * sum;
            }
        }
    }

    /** Zeroed storage for k reflector rows of length m, padded to a multiple of four rows. */
    static double[] reflectorRows(int k, int m) {
        return new double[(k + 3) / 4 * 4 * m];
    }
}
