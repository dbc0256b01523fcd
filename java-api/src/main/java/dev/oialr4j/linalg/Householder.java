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
        // Each step is a method of its own: called n times per matrix, it is compiled early and once.
        Bidiagonalization steps = new Bidiagonalization(a, m, n, d, e, tauL, tauR);
        for (int k = 0; k < n; k++) {
            if (!steps.step(k)) {
                break;
            }
        }
    }

    /** The state of {@link #bidiagonalize} between its steps. */
    private static final class Bidiagonalization {
        final double[] a;
        final int m;
        final int n;
        final double[] d;
        final double[] e;
        final double[] tauL;
        final double[] tauR;
        final double[] w;
        final double[] u;
        final double[] z;
        final double[] out = new double[1];
        final int blocks;
        // z is summed per fixed block of rows and the partial sums are added in block order, so the
        // result is the same whether the blocks run on one thread or several.
        final double[] zParts;
        final double[][] blockDots;
        // col holds column k+1 as the row pass leaves it, so the next reflector reads it contiguously; the
        // scaling of that reflector's tail is then done row by row inside the (parallel) row pass instead of
        // down a strided column on one thread. Same operations, same bits.
        final double[] col;
        boolean haveZ;

        Bidiagonalization(double[] a, int m, int n, double[] d, double[] e, double[] tauL, double[] tauR) {
            this.a = a;
            this.m = m;
            this.n = n;
            this.d = d;
            this.e = e;
            this.tauL = tauL;
            this.tauR = tauR;
            w = new double[n];
            u = new double[n];
            z = new double[n];
            blocks = (m + ROW_BLOCK - 1) / ROW_BLOCK;
            zParts = new double[blocks * n];
            blockDots = new double[blocks][2];
            col = new double[m];
        }

        /** Step k; false after the last one. */
        boolean step(int k) {
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
                return false;
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
            double sc = scal;
            Parallel.ChunkBody body = (c, total) -> rowBlock(first + c, k, tau, tau2, len, sc);
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
            return true;
        }

        /** The rows of block b below row k+1 through step k, collecting their share of z in zParts. */
        private void rowBlock(int b, int k, double tau, double tau2, int len, double scal) {
            int zo = b * n;
            java.util.Arrays.fill(zParts, zo, zo + len, 0.0);
            int r1 = Math.min(m, (b + 1) * ROW_BLOCK);
            int i = Math.max(k + 2, b * ROW_BLOCK);
            double[] dots = blockDots[b];
            for (; i + 2 <= r1; i += 2) {
                bidiagonalRows2(a, n, k, i, tau, tau2, w, u, len, zParts, zo, dots, scal, col);
            }
            for (; i < r1; i++) {
                bidiagonalRow(a, n, k, i, tau, tau2, w, u, len, zParts, zo, scal, col);
            }
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
        double[] vs = new double[k * m];
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
        double[] vs = new double[k * m];
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
        double[] vs = new double[n * n];
        double[] tau = new double[n];
        for (int j = 1; j < n; j++) {
            vs[j * n + j] = 1;
            System.arraycopy(a, (j - 1) * n + j + 1, vs, j * n + j + 1, n - j - 1);
            tau[j] = tauR[j - 1];
        }
        return formTransposed(vs, n, n, 1, tau, x, rows);
    }

    /**
     * Qᵀ for Q = H_first·…·H_{k−1}·[I; 0] (or (Q·[initᵀ; 0])ᵀ when init, rows×k, is given), with
     * H_j = I − tau[j]·v_j·v_jᵀ and v_j in row j of vs (zero before index j, 1 at j). Row r of Qᵀ is
     * e_rᵀ·H_{k−1}·…·H_first, and for init = null the reflectors after r leave e_r alone.
     *
     * <p>Reflectors are applied in blocks of {@value #BLOCK}, highest first, each as one compact WY block
     * I − V·T·Vᵀ (LAPACK's dlarft/dlarfb): X ← X − ((X·V)·T)·Vᵀ on the columns the block touches, three
     * {@link Gemm#product} calls per row range, so the work runs at matrix-product speed and each block's
     * vectors are read once per row range rather than once per few rows. A reflector whose index is
     * outside [first, k) counts as the identity (τ = 0). A row's result depends only on that row, so it is
     * the same whatever rows are asked for and however the row ranges are spread over the threads.
     */
    private static double[] formTransposed(double[] vs, int m, int k, int first, double[] tau, double[] init,
            int rows) {
        if (init == null ? rows != k : init.length != rows * k) {
            throw new IllegalArgumentException("init must be rows×k (rows = k without one)");
        }
        double[] qt = new double[rows * m];
        if (init == null) {
            for (int r = 0; r < k; r++) {
                qt[r * m + r] = 1;
            }
        } else {
            for (int r = 0; r < rows; r++) {
                System.arraycopy(init, r * k, qt, r * m, k);
            }
        }
        double[] v = new double[Math.min(BLOCK, k) * m];
        double[] vt = new double[v.length];
        double[] t = new double[BLOCK * BLOCK];
        for (int j0 = (k - 1) / BLOCK * BLOCK; j0 + BLOCK > first && j0 >= 0; j0 -= BLOCK) {
            int b = Math.min(BLOCK, k - j0);
            int len = m - j0;
            boolean any = false;
            // Columns in the order H_{j0+b−1}, …, H_{j0}: the block is their product in that order.
            for (int c = 0; c < b; c++) {
                int j = j0 + b - 1 - c;
                double tj = j >= first ? tau[j] : 0;
                any |= tj != 0;
                System.arraycopy(vs, j * m + j0, vt, c * len, len);
            }
            if (!any) {
                continue;
            }
            for (int c = 0; c < b; c++) {
                for (int i = 0; i < len; i++) {
                    v[i * b + c] = vt[c * len + i];
                }
            }
            blockFactor(vt, len, b, j0, first, tau, t);
            // Starting from the identity, rows above j0 are still e_r on these columns: the block leaves them alone.
            int r0 = init == null ? j0 : 0;
            int chunks = (rows - r0 + ROW_CHUNK - 1) / ROW_CHUNK;
            int col = j0;
            ROWS.forRange(chunks, (long) ROW_CHUNK * len * b >= PARALLEL_MIN_BLOCK ? 1 : chunks, (c0, c1) -> {
                int lo = r0 + c0 * ROW_CHUNK;
                int hi = Math.min(rows, r0 + c1 * ROW_CHUNK);
                int n = hi - lo;
                double[] xv = new double[n * b];
                double[] xvt = new double[n * b];
                Gemm.product(qt, lo * m + col, m, v, 0, b, xv, 0, b, n, len, b, false);
                Gemm.product(xv, 0, b, t, 0, BLOCK, xvt, 0, b, n, b, b, false);
                Gemm.product(xvt, 0, b, vt, 0, len, qt, lo * m + col, m, n, b, len, true);
            });
        }
        return qt;
    }

    /** Reflectors per compact WY block of {@link #formTransposed}. */
    private static final int BLOCK = 48;
    /** Rows per task of {@link #formTransposed}. */
    private static final int ROW_CHUNK = 64;
    /** Work of one row chunk (rows × length × block) from which the chunks go to the threads. */
    private static final long PARALLEL_MIN_BLOCK = 256 * 1024;

    /**
     * The triangular factor of one block: with the columns of V (len×b, given as its transpose vt) the reflectors
     * H_{j0+b−1}, …, H_{j0} in that order, their product is I − V·T·Vᵀ (LAPACK's forward dlarft recurrence).
     * Writes T (b×b, upper triangular) into t with row stride {@value #BLOCK}.
     */
    private static void blockFactor(double[] vt, int len, int b, int j0, int first, double[] tau, double[] t) {
        Arrays.fill(t, 0.0);
        double[] gram = new double[b];
        for (int i = 0; i < b; i++) {
            int j = j0 + b - 1 - i;
            double ti = j >= first ? tau[j] : 0;
            t[i * BLOCK + i] = ti;
            if (i == 0 || ti == 0) {
                continue;
            }
            // Column i of V is zero before its own index j − j0, which the earlier (higher) ones start after.
            int from = j - j0;
            for (int l = 0; l < i; l++) {
                gram[l] = VectorOps.dot(vt, l * len + from, vt, i * len + from, len - from);
            }
            for (int a = 0; a < i; a++) {
                double sum = 0;
                for (int l = a; l < i; l++) {
                    sum = Math.fma(t[a * BLOCK + l], gram[l], sum);
                }
                t[a * BLOCK + i] = -ti * sum;
            }
        }
    }
}
