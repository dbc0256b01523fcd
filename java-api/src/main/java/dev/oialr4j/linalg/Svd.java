package dev.oialr4j.linalg;

import dev.oialr4j.tensor.Tensor;
import java.util.function.ToIntFunction;

/**
 * Reduced singular value decomposition A = U·diag(σ)·Vᵀ of a dense m×n matrix, computed in double.
 *
 * <p>With k = min(m, n): U is m×k and V is n×k, both with orthonormal columns (also where σ = 0: the
 * basis is completed, not left zero), and σ₁ ≥ σ₂ ≥ … ≥ σ_k ≥ 0. Algorithm: Householder
 * bidiagonalisation (after a QR step when m ≥ 1.6·n), then the bidiagonal's SVD by divide and conquer
 * from {@value #DIVIDE_AND_CONQUER_MIN} columns ({@link BidiagonalDc}) or by implicit-shift QR with
 * relative deflation tests below; either way the error in every σ is a small multiple of ε·σ₁, however
 * ill-conditioned A is. A wide matrix (m &lt; n) is decomposed through its transpose.
 *
 * <p><b>Sign rule.</b> Singular vectors are defined up to a common sign per pair (u_j, v_j). We fix it:
 * in every column of U the entry of largest magnitude is positive (on a tie, the one with the lowest
 * row index decides), and v_j is flipped together with u_j. Equal singular values still leave the
 * basis of their subspace to the algorithm, but the result is deterministic: the same input gives
 * bit-identical output on the same JVM and CPU.
 *
 * <p>Non-finite input is rejected with {@link IllegalArgumentException}; if the iteration limit is ever
 * reached, {@link ConvergenceException} is thrown rather than returning an inaccurate result.
 */
public final class Svd {

    private Svd() {}

    /**
     * A reduced SVD. Arrays are row-major: u is m×k, s has k entries (descending, non-negative), v is n×k,
     * so that A = U·diag(s)·Vᵀ. The arrays are owned by the record's creator; do not share and mutate.
     */
    public record Result(int m, int n, int k, double[] u, double[] s, double[] v) {

        public Result {
            if (k != Math.min(m, n) || u.length != m * k || s.length != k || v.length != n * k) {
                throw new IllegalArgumentException("inconsistent SVD result for a " + m + "×" + n + " matrix: k=" + k
                        + ", |u|=" + u.length + ", |s|=" + s.length + ", |v|=" + v.length);
            }
        }

        /** U[i][j]. */
        public double u(int i, int j) {
            return u[i * k + j];
        }

        /** V[i][j]. */
        public double v(int i, int j) {
            return v[i * k + j];
        }

        /** U·diag(s)·Vᵀ as a row-major m×n array. */
        public double[] reconstruct() {
            return reconstruct(k);
        }

        /** The best rank-r approximation U_r·diag(s_r)·V_rᵀ (r ≤ k), row-major m×n. */
        public double[] reconstruct(int r) {
            if (r < 0 || r > k) {
                throw new IllegalArgumentException("rank " + r + " is outside 0.." + k);
            }
            double[] us = new double[m * r];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < r; j++) {
                    us[i * r + j] = u[i * k + j] * s[j];
                }
            }
            return Matrices.multiply(us, transposedColumns(v, n, k, r), m, r, n);
        }

        /** The first r columns of U, row-major m×r. */
        public double[] leadingU(int r) {
            return leadingColumns(u, m, k, r);
        }

        /** The first r columns of V, row-major n×r. */
        public double[] leadingV(int r) {
            return leadingColumns(v, n, k, r);
        }

        /** U as float, row-major m×k. */
        public float[] uAsFloat() {
            return Matrices.toFloat(u);
        }

        /** σ as float. */
        public float[] sAsFloat() {
            return Matrices.toFloat(s);
        }

        /** V as float, row-major n×k. */
        public float[] vAsFloat() {
            return Matrices.toFloat(v);
        }

        /** Vᵀ as float, row-major k×n. */
        public float[] vtAsFloat() {
            return Matrices.toFloat(transposedColumns(v, n, k, k));
        }

        @Override
        public String toString() {
            return "Svd.Result[" + m + "×" + n + ", k=" + k + ", σ₁=" + (k > 0 ? s[0] : 0) + ", σ_k="
                    + (k > 0 ? s[k - 1] : 0) + "]";
        }

        private static double[] leadingColumns(double[] x, int rows, int k, int r) {
            if (r < 0 || r > k) {
                throw new IllegalArgumentException("rank " + r + " is outside 0.." + k);
            }
            double[] out = new double[rows * r];
            for (int i = 0; i < rows; i++) {
                System.arraycopy(x, i * k, out, i * r, r);
            }
            return out;
        }

        /** The first r columns of x (rows×k) transposed: r×rows. */
        private static double[] transposedColumns(double[] x, int rows, int k, int r) {
            double[] out = new double[r * rows];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < r; j++) {
                    out[j * rows + i] = x[i * k + j];
                }
            }
            return out;
        }
    }

    /** SVD of a row-major m×n float matrix (widened to double; a is not modified). */
    public static Result decompose(float[] a, int m, int n) {
        return decomposeOwned(Matrices.toDouble("SVD", a, m, n), m, n);
    }

    /** SVD of a row-major m×n double matrix (a is not modified). */
    public static Result decompose(double[] a, int m, int n) {
        return decomposeOwned(Matrices.copyChecked("SVD", a, m, n), m, n);
    }

    /** SVD of the 2-D view of a host tensor (rows = all but the last dimension, columns = the last). */
    public static Result decompose(Tensor t) {
        if (!t.isHost()) {
            throw new IllegalArgumentException("SVD needs a host tensor, got one on " + t.device());
        }
        return decompose(t.data(), t.rows(), t.cols());
    }

    /**
     * All singular values of an m×n matrix and only its leading singular vectors: u is m×r, v is n×r and
     * s holds all min(m, n) values (descending), where r = rank.applyAsInt(s) is chosen from the values.
     * The vectors are bit for bit the first r columns of {@link #decompose(double[], int, int)}'s. A square
     * matrix from {@value #DIVIDE_AND_CONQUER_MIN} columns up forms only those r vectors, which is what an
     * update round needs (it keeps the leading part of Σ's SVD and cuts the rest); other shapes are
     * decomposed fully and sliced.
     */
    public record Leading(int m, int n, int r, double[] u, double[] s, double[] v) {

        public Leading {
            if (r < 0 || r > Math.min(m, n) || u.length != m * r || s.length != Math.min(m, n) || v.length != n * r) {
                throw new IllegalArgumentException("inconsistent leading SVD of a " + m + "×" + n + " matrix: r=" + r
                        + ", |u|=" + u.length + ", |s|=" + s.length + ", |v|=" + v.length);
            }
        }
    }

    /** See {@link Leading}; a is not modified. */
    public static Leading leading(double[] a, int m, int n, ToIntFunction<double[]> rank) {
        if (m != n || n < DIVIDE_AND_CONQUER_MIN) {
            Result full = decompose(a, m, n);
            int r = checkedRank(rank.applyAsInt(full.s().clone()), full.k());
            return new Leading(m, n, r, full.leadingU(r), full.s(), full.leadingV(r));
        }
        double[] w = Matrices.copyChecked("SVD", a, n, n);
        double scale = rangeScale(w);
        double[] d = new double[n];
        double[] e = new double[n];
        double[] tauL = new double[n];
        double[] tauR = new double[n];
        Householder.bidiagonalize(w, n, n, d, e, tauL, tauR);
        BidiagonalDc.Node b = BidiagonalDc.solveLeading(d, e, n, values -> {
            double[] unscaled = values.clone();
            for (int j = 0; j < n; j++) {
                unscaled[j] /= scale;
            }
            return checkedRank(rank.applyAsInt(unscaled), n);
        });
        int r = b.vectors();
        double[] ut = Householder.applyLeftTransposed(w, n, n, n, tauL, Matrices.transpose(b.x(), n, r), r);
        double[] vt = Householder.applyRightTransposed(w, n, tauR, Matrices.transpose(b.y(), n, r), r);
        double[] s = b.s().clone();
        for (int j = 0; j < n; j++) {
            s[j] /= scale;
        }
        int[] src = new int[r];
        double[] sign = new double[r];
        for (int j = 0; j < r; j++) {
            src[j] = j;
            sign[j] = signOfLargest(ut, j * n, n);
        }
        return new Leading(n, n, r, transposeRows(ut, n, src, sign), s, transposeRows(vt, n, src, sign));
    }

    private static int checkedRank(int r, int k) {
        if (r < 0 || r > k) {
            throw new IllegalArgumentException("rank " + r + " is outside 0.." + k);
        }
        return r;
    }

    /** The singular values only (descending). */
    public static double[] singularValues(double[] a, int m, int n) {
        return decompose(a, m, n).s();
    }

    /** a is a private, validated copy and is destroyed. */
    private static Result decomposeOwned(double[] a, int m, int n) {
        if (m < n) {
            // Aᵀ = U'·Σ·V'ᵀ, so A = V'·Σ·U'ᵀ: the rows of U'ᵀ become the columns of V and vice versa.
            Raw t = tall(Matrices.transpose(a, m, n), n, m);
            return assemble(m, n, t.d, t.vt, t.ut);
        }
        Raw t = tall(a, m, n);
        return assemble(m, n, t.d, t.ut, t.vt);
    }

    /** Unordered σ with the factors as rows: ut is k×m (rows = columns of U), vt is k×n. */
    private record Raw(double[] d, double[] ut, double[] vt) {}

    /** Aspect ratio m/n from which a tall matrix is first reduced by QR (LAPACK's crossover is similar). */
    private static final double QR_FIRST_RATIO = 1.6;

    /**
     * Size from which the bidiagonal is decomposed by divide and conquer ({@link BidiagonalDc}) rather
     * than by QR with rotations on the vectors.
     */
    static final int DIVIDE_AND_CONQUER_MIN = 64;

    /**
     * Keeps the reductions far from overflow and underflow: scales a in place by a power of two (exact)
     * when its largest entry is outside [2⁻⁴⁰⁰, 2⁴⁰⁰], and returns the factor (1 if none).
     */
    private static double rangeScale(double[] a) {
        double maxAbs = Matrices.maxAbs(a);
        double scale = 1;
        if (maxAbs != 0 && (maxAbs < 0x1p-400 || maxAbs > 0x1p400)) {
            scale = Math.scalb(1.0, -Math.getExponent(maxAbs));
            VectorOps.scale(scale, a, 0, a.length);
        }
        return scale;
    }

    /** m ≥ n. */
    private static Raw tall(double[] a, int m, int n) {
        double scale = rangeScale(a);
        double[] d = new double[n];
        double[] ut;
        double[] vt = new double[n * n];
        if (m >= QR_FIRST_RATIO * n && n > 1) {
            // A = Q·R, R = U_R·Σ·Vᵀ, so Uᵀ = U_Rᵀ·Qᵀ: the bidiagonalisation and the rotations then work on
            // n×n instead of m×n, which roughly halves the work for tall matrices.
            double[] diag = new double[n];
            double[] tau = new double[n];
            Householder.qr(a, m, n, diag, tau);
            double[] r = new double[n * n];
            for (int i = 0; i < n; i++) {
                System.arraycopy(a, i * n + i, r, i * n + i, n - i);
                r[i * n + i] = diag[i];
            }
            double[] urt = square(r, n, n, d, vt);
            ut = Householder.applyLeftTransposed(a, m, n, n, tau, urt);
        } else {
            ut = square(a, m, n, d, vt);
        }
        if (scale != 1) {
            for (int j = 0; j < n; j++) {
                d[j] /= scale;
            }
        }
        return new Raw(d, ut, vt);
    }

    /**
     * Bidiagonalisation and the bidiagonal's SVD of a (m×n, m ≥ n, destroyed): fills d (unordered σ) and vt
     * (Vᵀ, n×n) and returns Uᵀ (n×m).
     */
    private static double[] square(double[] a, int m, int n, double[] d, double[] vtOut) {
        double[] e = new double[n];
        double[] tauL = new double[n];
        double[] tauR = new double[n];
        Householder.bidiagonalize(a, m, n, d, e, tauL, tauR);
        if (n >= DIVIDE_AND_CONQUER_MIN) {
            // The bidiagonal's vectors first (n×n), then through the reflectors: Uᵀ = Xᵀ·Q_Lᵀ, Vᵀ = Yᵀ·Q_Rᵀ.
            BidiagonalDc.Node b = BidiagonalDc.solve(d, e, n);
            System.arraycopy(b.s(), 0, d, 0, n);
            double[] vt = Householder.applyRightTransposed(a, n, tauR, Matrices.transpose(b.y(), n, n));
            System.arraycopy(vt, 0, vtOut, 0, n * n);
            return Householder.applyLeftTransposed(a, m, n, n, tauL, Matrices.transpose(b.x(), n, n));
        }
        double[] ut = Householder.formLeftTransposed(a, m, n, n, tauL);
        double[] vt = Householder.formRightTransposed(a, n, tauR);
        BidiagonalQr.solve(d, e, n, ut, m, vt, n);
        System.arraycopy(vt, 0, vtOut, 0, n * n);
        return ut;
    }

    /**
     * Orders σ descending (stable), applies the sign rule (see the class comment) on the rows of Uᵀ,
     * where it reads contiguous memory, and transposes the factors into U (m×k) and V (n×k).
     */
    private static Result assemble(int m, int n, double[] d, double[] ut, double[] vt) {
        int k = d.length;
        int[] order = Matrices.stableOrder(d, 0, k, true);
        double[] s = new double[k];
        int[] src = new int[k];
        double[] sign = new double[k];
        for (int j = 0; j < k; j++) {
            src[j] = order[j];
            s[j] = d[src[j]];
            sign[j] = signOfLargest(ut, src[j] * m, m);
        }
        return new Result(m, n, k, transposeRows(ut, m, src, sign), s, transposeRows(vt, n, src, sign));
    }

    /** +1 or −1: the sign of the entry of largest magnitude (the first one on a tie). */
    private static double signOfLargest(double[] x, int off, int len) {
        double best = -1;
        double sign = 1;
        for (int i = 0; i < len; i++) {
            double v = x[off + i];
            double av = Math.abs(v);
            if (av > best) {
                best = av;
                sign = v;
            }
        }
        return sign < 0 ? -1 : 1;
    }

    /** Column j of the result (len×k) is sign[j]·(row src[j] of rows), copied in tiles that stay in cache. */
    private static double[] transposeRows(double[] rows, int len, int[] src, double[] sign) {
        int k = src.length;
        double[] out = new double[len * k];
        final int tile = 16;
        for (int j0 = 0; j0 < k; j0 += tile) {
            int j1 = Math.min(k, j0 + tile);
            for (int i0 = 0; i0 < len; i0 += 256) {
                int i1 = Math.min(len, i0 + 256);
                for (int j = j0; j < j1; j++) {
                    int from = src[j] * len;
                    double sg = sign[j];
                    for (int i = i0; i < i1; i++) {
                        out[i * k + j] = sg * rows[from + i];
                    }
                }
            }
        }
        return out;
    }
}
