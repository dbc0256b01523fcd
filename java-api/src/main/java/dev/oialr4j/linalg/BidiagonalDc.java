package dev.oialr4j.linalg;

import dev.oialr4j.backend.Parallel;
import java.util.Arrays;
import java.util.function.ToIntFunction;

/**
 * Singular values and vectors of an upper bidiagonal matrix by divide and conquer (the method of
 * LAPACK's dbdsdc, after Gu and Eisenstat), for the sizes where the rotations of the bidiagonal QR
 * would dominate an SVD.
 *
 * <p><b>Split.</b> An n×(n+sqre) upper bidiagonal B (sqre = 1: one extra column, whose last
 * super-diagonal entry sits in it) is cut at row k = n/2 into the k×(k+1) block above it, the middle
 * row (d_k in column k, e_k in column k+1) and the (n−k−1)×(n−k−1+sqre) block below. With the two
 * blocks decomposed, B = X·M·Yᵀ where M is an arrowhead: its first row z comes from the middle row
 * times the blocks' right vectors, its diagonal holds the blocks' singular values, and its first
 * column belongs to the upper block's null vector (rotated together with the lower one's when sqre = 1;
 * the other combination becomes the null vector of B).
 *
 * <p><b>Arrowhead.</b> After deflation (weights |z_i| at round-off level, or two diagonal entries
 * closer than that, rotated into one), the singular values of M are the roots of
 * 1 + Σ z_i²/(d_i² − σ²) = 0, one between each pair of neighbouring d_i and one above the largest.
 * Each root is found relative to its nearer pole (so σ − d_i keeps its relative accuracy) by a
 * two-pole rational model safeguarded by bisection. The weights are then recomputed from the roots
 * (Löwner's formula), so that the vectors v_i ∝ z_i/(d_i² − σ²), u = (−1, d_i·v_i) are orthogonal to
 * working precision, and the blocks' vectors are multiplied by them, keeping apart the rows that only
 * one block touches.
 *
 * <p>The split goes down to single rows, whose decomposition is closed form (1×1, or 1×2 with its null
 * vector); the merges of small blocks cost no more than a bidiagonal QR of the leaves did, and keeping
 * one algorithm means fewer methods for the JIT to compile before an SVD runs at full speed (the QR of
 * 32-row leaves and its rotation batches were a large share of C2's work in a training run's first
 * update rounds). Results do not depend on the number of threads.
 */
final class BidiagonalDc {

    private static final double EPS = Math.ulp(1.0);
    /** Blocks from this size run their two halves, roots and products on the shared pool. */
    private static final int PARALLEL_MIN = 192;
    private static final Parallel POOL = Parallel.common();

    private BidiagonalDc() {}

    /**
     * Decomposition of an n×(n+sqre) block: s (n values, unordered), x (n×n, row-major, column j the left
     * vector of s[j]) and y ((n+sqre)×(n+sqre), column j the right vector of s[j]; for sqre = 1 column n
     * spans the null space). From {@link #solveLeading}: s sorted descending, and x, y only n×vectors,
     * the vectors of the leading values.
     */
    record Node(int n, int sqre, double[] s, double[] x, double[] y, int vectors) {}

    /**
     * SVD of the square upper bidiagonal with diagonal d[0..n) and super-diagonal e[0..n−1) (neither is
     * modified): B = X·diag(s)·Yᵀ.
     */
    static Node solve(double[] d, double[] e, int n) {
        return solve(d, 0, e, n, 0, null);
    }

    /**
     * As {@link #solve(double[], double[], int)}, but with vectors only for the leading values: rank gets
     * all n values in descending order and returns how many of them to keep (0..n); the result holds the
     * values sorted descending and their first rank vectors. The last merge forms only those columns, and
     * a caller lifting them through reflectors does a share rank/n of that work.
     */
    static Node solveLeading(double[] d, double[] e, int n, ToIntFunction<double[]> rank) {
        if (n <= 1) {
            // No merge to select in: select here.
            Node all = solve(d, 0, e, n, 0, null);
            Selection sel = select(all.s(), rank);
            int[] order = sel.columns();
            double[] x = new double[n * order.length];
            double[] y = new double[n * order.length];
            for (int q = 0; q < order.length; q++) {
                copyColumn(all.x(), n, n, order[q], x, order.length, q);
                copyColumn(all.y(), n, n, order[q], y, order.length, q);
            }
            return new Node(n, 0, sel.values(), x, y, order.length);
        }
        return solve(d, 0, e, n, 0, rank);
    }

    /** The block with diagonal d[off..off+n) and super-diagonal e[off..off+n−1+sqre). */
    private static Node solve(double[] d, int off, double[] e, int n, int sqre, ToIntFunction<double[]> rank) {
        if (n == 0) {
            // An empty block; with sqre = 1 its single column is its null vector.
            return new Node(0, sqre, new double[0], new double[0], identity(sqre), 0);
        }
        if (n == 1) {
            return single(d[off], sqre == 1 ? e[off] : 0, sqre);
        }
        int k = n / 2;
        int n2 = n - k - 1;
        Node[] parts = new Node[2];
        if (n >= PARALLEL_MIN) {
            POOL.forChunks(2, (i, count) -> parts[i] = i == 0 ? solve(d, off, e, k, 1, null)
                    : solve(d, off + k + 1, e, n2, sqre, null));
        } else {
            parts[0] = solve(d, off, e, k, 1, null);
            parts[1] = solve(d, off + k + 1, e, n2, sqre, null);
        }
        return merge(parts[0], parts[1], d[off + k], e[off + k], n, sqre, rank);
    }

    /** A 1×1 block (d) or, for sqre = 1, the 1×2 block (d e): closed form. */
    private static Node single(double d, double e, int sqre) {
        if (sqre == 0) {
            return new Node(1, 0, new double[] {Math.abs(d)}, new double[] {d < 0 ? -1 : 1}, new double[] {1}, 1);
        }
        double sigma = VectorOps.hypot(d, e);
        double c = sigma == 0 ? 1 : d / sigma;
        double sn = sigma == 0 ? 0 : e / sigma;
        // Right vectors as columns: (c, sn) for σ, (−sn, c) spans the null space.
        return new Node(1, 1, new double[] {sigma}, new double[] {1}, new double[] {c, -sn, sn, c}, 1);
    }

    private static double[] identity(int n) {
        double[] a = new double[n * n];
        for (int i = 0; i < n; i++) {
            a[i * n + i] = 1;
        }
        return a;
    }

    /**
     * Joins the upper block (k×(k+1)) and the lower one through the middle row (alpha in column k, beta in
     * column k+1).
     *
     * <p>The steps are separate methods on purpose: the JIT compiled the loops of one large merge one by one
     * by on-stack replacement, each time the whole method (eight to ten compiles per run); small methods
     * are compiled once each, sooner and far more cheaply.
     */
    private static Node merge(Node top, Node bot, double alpha, double beta, int n, int sqre,
            ToIntFunction<double[]> rank) {
        Arrow arrow = Arrow.assemble(top, bot, alpha, beta, n, sqre);
        // Scale to keep the secular equation far from overflow.
        double scale = arrow.scale(alpha, beta);
        if (scale == 0) {
            return arrow.zero(rank); // B = 0: any orthonormal bases do
        }
        arrow.divide(scale);
        Deflation f = arrow.deflate();
        int nk = f.nKept;

        // Roots of the secular equation, relative to their nearer pole.
        double[] poles = f.keptValues(arrow.dv);
        double[] w = f.keptValues(arrow.z);
        int[] origin = new int[nk];
        double[] tau = new double[nk];
        Parallel.RangeBody roots = (j0, j1) -> {
            for (int j = j0; j < j1; j++) {
                root(poles, w, nk, j, origin, tau);
            }
        };
        if (nk >= PARALLEL_MIN) {
            POOL.forRange(nk, 16, roots);
        } else {
            roots.run(0, nk);
        }
        double[] zhat = loewner(poles, w, nk, origin, tau);

        // Vectors of the arrowhead: column j of um (nk×nk) is u for root j, likewise vm.
        double[] um = new double[nk * nk];
        double[] vm = new double[nk * nk];
        Parallel.RangeBody vectors = (j0, j1) -> {
            for (int j = j0; j < j1; j++) {
                arrowVector(poles, zhat, nk, origin, tau, j, um, vm);
            }
        };
        if (nk >= PARALLEL_MIN) {
            POOL.forRange(nk, 16, vectors);
        } else {
            vectors.run(0, nk);
        }

        // Every value of B: the roots, then the deflated values; and which of them get vectors.
        Selection sel = select(f.values(poles, origin, tau, n, scale), rank);
        int[] pick = sel.columns();
        int[] rootIndex = rootIndex(pick, nk);
        int nr = rootIndex.length == 0 ? 0 : Arrays.stream(rootIndex).max().getAsInt() + 1; // roots numbered 0..nr−1
        double[] umSel = rank == null ? um : selectColumns(um, nk, pick, rootIndex, nr);
        double[] vmSel = rank == null ? vm : selectColumns(vm, nk, pick, rootIndex, nr);
        return arrow.lift(f, umSel, vmSel, nr, rootIndex, pick, sel.values(), rank);
    }

    /**
     * The arrowhead of a merge before deflation: B = X·M·Yᵀ with X's columns in left (n×n) and Y's in
     * right (cols×n), M's diagonal in dv and first row in z, and for each arrow index which row block of B
     * its left and right vectors touch (the upper block, the lower one; the middle row only index 0's).
     */
    private static final class Arrow {
        final int n;
        final int sqre;
        final int k;
        final int n2;
        final int cols;
        final int c1;
        final double[] dv;
        final double[] z;
        final double[] left;
        final double[] right;
        final boolean[] leftTop;
        final boolean[] leftBot;
        final boolean[] rightTop;
        final boolean[] rightBot;
        /** For sqre = 1, B's null vector (cols entries); else null. */
        double[] nullVector;

        private Arrow(int n, int sqre, int k, int n2) {
            this.n = n;
            this.sqre = sqre;
            this.k = k;
            this.n2 = n2;
            this.cols = n + sqre;
            this.c1 = k + 1;
            dv = new double[n];
            z = new double[n];
            left = new double[n * n];
            right = new double[cols * n];
            leftTop = new boolean[n];
            leftBot = new boolean[n];
            rightTop = new boolean[n];
            rightBot = new boolean[n];
        }

        // Arrow index a: 0 = the middle row (left) and the null column (right); 1..k the upper block's
        // values; k+1..n−1 the lower block's. Left vectors live in B's n rows, right ones in its columns.
        static Arrow assemble(Node top, Node bot, double alpha, double beta, int n, int sqre) {
            int k = top.n;
            int n2 = bot.n;
            Arrow m = new Arrow(n, sqre, k, n2);
            int c1 = m.c1;
            int c2 = n2 + sqre;
            m.left[k * n] = 1;
            m.entries(1, top.s, top.y, k * c1, alpha, k, m.leftTop, m.rightTop);
            m.entries(k + 1, bot.s, bot.y, 0, beta, n2, m.leftBot, m.rightBot);
            // The blocks' vectors, row by row (contiguous copies): upper ones in arrow columns 1..k, lower
            // ones in k+1..n−1.
            copyRows(top.x, k, m.left, 1, n, k, k);
            copyRows(bot.x, n2, m.left, (k + 1) * n + k + 1, n, n2, n2);
            copyRows(top.y, c1, m.right, 1, n, c1, k);
            copyRows(bot.y, c2, m.right, c1 * n + k + 1, n, c2, n2);
            m.nullColumns(top, bot, alpha, beta, c2);
            return m;
        }

        /** A block's values and weights (its null vector's row y[yOff..] times w) at arrow indices from.. */
        private void entries(int from, double[] values, double[] y, int yOff, double w, int count, boolean[] leftFlag,
                boolean[] rightFlag) {
            for (int j = 0; j < count; j++) {
                dv[from + j] = values[j];
                z[from + j] = w * y[yOff + j];
                leftFlag[from + j] = true;
                rightFlag[from + j] = true;
            }
        }

        /**
         * The null columns: the upper block's, and for sqre = 1 the lower block's, rotated so that one
         * carries all of the middle row's weight and the other none (that one is B's null vector).
         */
        private void nullColumns(Node top, Node bot, double alpha, double beta, int c2) {
            double za = alpha * top.y[k * c1 + k];
            if (sqre == 1) {
                double zb = beta * bot.y[n2];
                double h = VectorOps.hypot(za, zb);
                double c = h == 0 ? 1 : za / h;
                double s = h == 0 ? 0 : zb / h;
                nullVector = new double[cols];
                for (int i = 0; i < c1; i++) {
                    double t = top.y[i * c1 + k];
                    right[i * n] = c * t;
                    nullVector[i] = -s * t;
                }
                for (int i = 0; i < c2; i++) {
                    double t = bot.y[i * c2 + n2];
                    right[(c1 + i) * n] = s * t;
                    nullVector[c1 + i] = c * t;
                }
                z[0] = h;
                rightBot[0] = true;
            } else {
                for (int i = 0; i < c1; i++) {
                    right[i * n] = top.y[i * c1 + k];
                }
                z[0] = za;
            }
            rightTop[0] = true;
        }

        /** The largest of |alpha|, |beta| and the blocks' values (0 only when B = 0). */
        double scale(double alpha, double beta) {
            double scale = Math.max(Math.abs(alpha), Math.abs(beta));
            for (int a = 1; a < n; a++) {
                scale = Math.max(scale, dv[a]);
            }
            return scale;
        }

        void divide(double scale) {
            for (int a = 0; a < n; a++) {
                dv[a] /= scale;
                z[a] /= scale;
            }
        }

        /** B = 0: every value is 0 and the arrow's own columns serve as vectors. */
        Node zero(ToIntFunction<double[]> rank) {
            Selection sel = select(new double[n], rank);
            int wanted = sel.columns().length;
            int yCols = rank == null ? cols : wanted;
            double[] x = new double[n * wanted];
            double[] y = new double[cols * yCols];
            for (int q = 0; q < wanted; q++) {
                copyColumn(left, n, n, q, x, wanted, q);
                copyColumn(right, cols, n, q, y, yCols, q);
            }
            if (nullVector != null) {
                copyColumn(nullVector, cols, 1, 0, y, yCols, n);
            }
            return new Node(n, sqre, sel.values(), x, y, wanted);
        }

        /**
         * Deflation, poles in ascending order (the null column, d = 0, first): a weight at round-off level
         * leaves its value as it is; a value at round-off level next to the null column, or two (nearly)
         * equal values, are rotated so that one of them loses its weight.
         */
        Deflation deflate() {
            int[] ascending = ascendingPoles(dv, n);
            double zmax = 0;
            for (int a = 0; a < n; a++) {
                zmax = Math.max(zmax, Math.abs(z[a]));
            }
            double tol = 8 * EPS * Math.max(1.0, zmax);
            if (Math.abs(z[0]) <= tol) {
                z[0] = z[0] < 0 ? -tol : tol;
            }
            Deflation f = new Deflation(n);
            f.keep(0);
            for (int a : ascending) {
                int last = f.kept[f.nKept - 1];
                if (Math.abs(z[a]) <= tol) {
                    f.deflate(a, dv[a]);
                } else if (last == 0 && dv[a] <= tol) {
                    f.deflate(a, intoNullColumn(a));
                } else if (last != 0 && dv[a] - dv[last] <= tol) {
                    mergePair(last, a);
                    f.deflate(last, dv[last]);
                    f.kept[f.nKept - 1] = a;
                } else {
                    f.keep(a);
                }
            }
            return f;
        }

        /**
         * A value at round-off level next to the null column: rotates the two columns so that this one loses
         * its weight and returns its new value c·d (the s·d left in column 0 is below the tolerance).
         */
        private double intoNullColumn(int a) {
            double h = VectorOps.hypot(z[0], z[a]);
            double c = z[0] / h;
            double sn = z[a] / h;
            rotateColumns(right, cols, n, 0, a, c, sn);
            rightTop[0] |= rightTop[a];
            rightBot[0] |= rightBot[a];
            rightTop[a] = rightTop[0];
            rightBot[a] = rightBot[0];
            z[0] = h;
            double value = c * dv[a];
            if (value < 0) {
                scaleColumn(left, n, n, a, -1);
                value = -value;
            }
            return value;
        }

        /** Two (nearly) equal values: one rotation on both sides moves last's weight onto a. */
        private void mergePair(int last, int a) {
            double h = VectorOps.hypot(z[last], z[a]);
            double c = z[a] / h;
            double sn = z[last] / h;
            rotateColumns(left, n, n, a, last, c, sn);
            rotateColumns(right, cols, n, a, last, c, sn);
            boolean lt = leftTop[a] | leftTop[last];
            boolean lb = leftBot[a] | leftBot[last];
            boolean rt = rightTop[a] | rightTop[last];
            boolean rb = rightBot[a] | rightBot[last];
            leftTop[a] = leftTop[last] = lt;
            leftBot[a] = leftBot[last] = lb;
            rightTop[a] = rightTop[last] = rt;
            rightBot[a] = rightBot[last] = rb;
            z[a] = h;
            z[last] = 0;
        }

        /**
         * B's vectors: the blocks' vectors times the arrowhead's (umSel, vmSel: nk × nr, the roots that get
         * vectors), row blocks apart; output column q from root rootIndex[q], or (−1) from the deflated
         * arrow column of value pick[q].
         */
        Node lift(Deflation f, double[] umSel, double[] vmSel, int nr, int[] rootIndex, int[] pick,
                double[] values, ToIntFunction<double[]> rank) {
            int nk = f.nKept;
            int wanted = pick.length;
            double[] rootsX = new double[n * nr];
            liftRows(left, n, f.kept, nk, umSel, nr, 0, k, leftTop, rootsX);
            System.arraycopy(umSel, 0, rootsX, k * nr, nr);  // the middle row: only arrow index 0 has it
            liftRows(left, n, f.kept, nk, umSel, nr, k + 1, n, leftBot, rootsX);
            double[] rootsY = new double[cols * nr];
            liftRows(right, n, f.kept, nk, vmSel, nr, 0, c1, rightTop, rootsY);
            liftRows(right, n, f.kept, nk, vmSel, nr, c1, cols, rightBot, rootsY);

            int yCols = rank == null ? cols : wanted;
            double[] x = new double[n * wanted];
            double[] y = new double[cols * yCols];
            int[] arrowColumn = new int[wanted];
            for (int q = 0; q < wanted; q++) {
                arrowColumn[q] = rootIndex[q] >= 0 ? -1 : f.deflated[pick[q] - nk];
            }
            gatherRows(rootsX, nr, left, n, rootIndex, arrowColumn, x, wanted, n);
            gatherRows(rootsY, nr, right, n, rootIndex, arrowColumn, y, yCols, cols);
            if (nullVector != null) {
                copyColumn(nullVector, cols, 1, 0, y, yCols, n);
            }
            return new Node(n, sqre, values, x, y, wanted);
        }
    }

    /** Which arrow indices keep a root (kept, ascending poles) and which were deflated, with their values. */
    private static final class Deflation {
        final int[] kept;
        final int[] deflated;
        final double[] deflatedValue;
        int nKept;
        int nDeflated;

        Deflation(int n) {
            kept = new int[n];
            deflated = new int[n];
            deflatedValue = new double[n];
        }

        void keep(int a) {
            kept[nKept++] = a;
        }

        void deflate(int a, double value) {
            deflated[nDeflated] = a;
            deflatedValue[nDeflated++] = value;
        }

        /** a[kept[t]] for each kept index t. */
        double[] keptValues(double[] a) {
            double[] out = new double[nKept];
            for (int t = 0; t < nKept; t++) {
                out[t] = a[kept[t]];
            }
            return out;
        }

        /** Every value of B, unscaled: the roots (σ_j = poles[origin[j]] + tau[j]), then the deflated values. */
        double[] values(double[] poles, int[] origin, double[] tau, int n, double scale) {
            double[] values = new double[n];
            for (int j = 0; j < nKept; j++) {
                values[j] = (poles[origin[j]] + tau[j]) * scale;
            }
            for (int t = 0; t < nDeflated; t++) {
                values[nKept + t] = deflatedValue[t] * scale;
            }
            return values;
        }
    }

    /** Arrow indices 1..n−1 ordered by their value, ascending (stable). */
    private static int[] ascendingPoles(double[] dv, int n) {
        return Matrices.stableOrder(dv, 1, n, false);
    }

    /** Column j of the arrowhead's vectors: v_t ∝ ẑ_t/(σ_j² − d_t²), u = (−1, d_t·v_t), both normalised. */
    private static void arrowVector(double[] poles, double[] zhat, int nk, int[] origin, double[] tau, int j,
            double[] um, double[] vm) {
        double dOrigin = poles[origin[j]];
        double sigma = dOrigin + tau[j];
        double vn = 0;
        double un = 1;
        for (int t = 0; t < nk; t++) {
            double diff = (dOrigin - poles[t]) + tau[j];   // σ_j − d_t
            double v = -zhat[t] / (diff * (sigma + poles[t]));
            vm[t * nk + j] = v;
            vn += v * v;
            if (t > 0) {
                double u = poles[t] * v;
                um[t * nk + j] = u;
                un += u * u;
            }
        }
        um[j] = -1;
        double vs = 1 / Math.sqrt(vn);
        double us = 1 / Math.sqrt(un);
        for (int t = 0; t < nk; t++) {
            vm[t * nk + j] *= vs;
            um[t * nk + j] *= us;
        }
    }

    /** For each picked value, its column among the picked roots (in order), or −1 for a deflated value. */
    private static int[] rootIndex(int[] pick, int nk) {
        int[] rootIndex = new int[pick.length];
        int nr = 0;
        for (int q = 0; q < pick.length; q++) {
            rootIndex[q] = pick[q] < nk ? nr++ : -1;
        }
        return rootIndex;
    }

    /** Columns of m (nk × nk) for the picked roots, as an nk × nr matrix; rootIndex[q] < 0 skips pick q. */
    private static double[] selectColumns(double[] m, int nk, int[] pick, int[] rootIndex, int nr) {
        double[] out = new double[nk * nr];
        int wanted = pick.length;
        int[] columns = new int[wanted];
        int[] at = new int[wanted];
        int count = 0;
        for (int q = 0; q < wanted; q++) {
            if (rootIndex[q] >= 0) {
                columns[count] = pick[q];
                at[count++] = rootIndex[q];
            }
        }
        for (int t = 0; t < nk; t++) {
            gather(m, t * nk, columns, out, t * nr, at, count);
        }
        return out;
    }

    /** The output columns (indices into the values) and the values as the node reports them. */
    private record Selection(int[] columns, double[] values) {}

    /**
     * Without rank: every column, values as they are. With rank: the values in descending order (stable,
     * as {@link Svd} orders them) and the columns of the first rank(those values) of them.
     */
    private static Selection select(double[] values, ToIntFunction<double[]> rank) {
        int n = values.length;
        if (rank == null) {
            return new Selection(identityOrder(n), values);
        }
        int[] order = descending(values);
        double[] sorted = new double[n];
        for (int q = 0; q < n; q++) {
            sorted[q] = values[order[q]];
        }
        int r = rank.applyAsInt(sorted.clone());
        if (r < 0 || r > n) {
            throw new IllegalArgumentException("rank " + r + " is outside 0.." + n);
        }
        return new Selection(Arrays.copyOf(order, r), sorted);
    }

    private static int[] descending(double[] values) {
        return Matrices.stableOrder(values, 0, values.length, true);
    }

    /**
     * Rows r0..r1 of out (rows × width) = basis[r0..r1, kept[t] for the t that touch these rows] · arrow[those
     * t, :] (arrow is nk × width).
     */
    private static void liftRows(double[] basis, int ld, int[] kept, int nk, double[] arrow, int width, int r0,
            int r1, boolean[] touches, double[] out) {
        int rows = r1 - r0;
        if (rows == 0) {
            return;
        }
        int[] ts = new int[nk];
        int nt = 0;
        for (int t = 0; t < nk; t++) {
            if (touches[kept[t]]) {
                ts[nt++] = t;
            }
        }
        if (nt == 0 || width == 0) {
            return;
        }
        int[] columns = new int[nt];
        for (int q = 0; q < nt; q++) {
            columns[q] = kept[ts[q]];
        }
        double[] a = new double[rows * nt];
        for (int i = 0; i < rows; i++) {
            gather(basis, (r0 + i) * ld, columns, a, i * nt, nt);
        }
        double[] b = new double[nt * width];
        for (int q = 0; q < nt; q++) {
            System.arraycopy(arrow, ts[q] * width, b, q * width, width);
        }
        Parallel pool = (long) rows * nt * width >= 1L << 21 ? POOL : null;
        double[] c = Gemm.multiply(a, rows, nt, b, width, width, pool);
        System.arraycopy(c, 0, out, r0 * width, rows * width);
    }

    /**
     * Root j of 1 + Σ w_t²/(p_t² − σ²) = 0 (p ascending, p_0 = 0, gaps and weights above round-off): σ_j lies
     * between p_j and p_{j+1} (above p_{nk−1} for the last). Stores the nearer pole's index and σ − that pole.
     */
    private static void root(double[] p, double[] w, int nk, int j, int[] origin, double[] tau) {
        boolean last = j == nk - 1;
        int o = j;
        double lo;
        double hi;
        double[] delta = new double[nk];
        setDeltas(p, nk, o, delta);
        if (last) {
            double ww = 0;
            for (int t = 0; t < nk; t++) {
                ww += w[t] * w[t];
            }
            lo = 0;
            hi = ww;
        } else {
            double mid = delta[j + 1] / 2;
            if (secular(w, delta, nk, mid) >= 0) {
                lo = 0;
                hi = mid;
            } else {
                o = j + 1;
                setDeltas(p, nk, o, delta);
                lo = delta[j] / 2;
                hi = 0;
            }
        }
        double a = delta[j];                       // left pole (0 when o = j)
        double b = last ? Double.POSITIVE_INFINITY : delta[j + 1]; // right pole (0 when o = j + 1)
        double x = last ? hi : (lo + hi) / 2;
        for (int it = 0; it < 200; it++) {
            double psi = 0;
            double dpsi = 0;
            double phi = 0;
            double dphi = 0;
            for (int t = 0; t <= j; t++) {
                double r = w[t] / (delta[t] - x);
                psi += w[t] * r;
                dpsi += r * r;
            }
            for (int t = j + 1; t < nk; t++) {
                double r = w[t] / (delta[t] - x);
                phi += w[t] * r;
                dphi += r * r;
            }
            double f = 1 + psi + phi;
            if (f == 0) {
                break;
            }
            if (f > 0) {
                hi = x;
            } else {
                lo = x;
            }
            if (Math.abs(f) <= 8 * EPS * nk * (1 + Math.abs(psi) + Math.abs(phi))
                    || hi - lo <= 2 * EPS * Math.max(Math.abs(lo), Math.abs(hi))) {
                break;
            }
            // Two-pole model: psi ≈ pp + q/(a − y), phi ≈ rr + sw/(b − y), matching values and slopes at x.
            double q = dpsi * (a - x) * (a - x);
            double pp = psi - dpsi * (a - x);
            double next;
            if (last) {
                double c = 1 + pp;
                next = c > 0 ? a + q / c : Double.NaN;
            } else {
                double sw = dphi * (b - x) * (b - x);
                double rr = phi - dphi * (b - x);
                double c = 1 + pp + rr;
                if (o == j) {
                    // a = 0: c·y² − (c·b + q + sw)·y + q·b = 0, the root in (0, b).
                    double bb = c * b + q + sw;
                    double disc = bb * bb - 4 * c * q * b;
                    next = disc >= 0 ? 2 * q * b / (bb + Math.sqrt(disc)) : Double.NaN;
                } else {
                    // b = 0: c·y² − (c·a + q + sw)·y + sw·a = 0, the root in (a, 0).
                    double bb = c * a + q + sw;
                    double disc = bb * bb - 4 * c * sw * a;
                    next = disc >= 0 ? 2 * sw * a / (bb + Math.sqrt(disc)) : Double.NaN;
                }
            }
            if (!(next > lo && next < hi)) {
                next = (lo + hi) / 2;
            }
            if (next == x) {
                break;
            }
            x = next;
        }
        double po = p[o];
        origin[j] = o;
        // σ − p_o from x = σ² − p_o² without cancellation.
        tau[j] = x / (po + Math.sqrt(po * po + x));
    }

    /** delta[t] = p_t² − p_o², as (p_t − p_o)(p_t + p_o). */
    private static void setDeltas(double[] p, int nk, int o, double[] delta) {
        for (int t = 0; t < nk; t++) {
            delta[t] = (p[t] - p[o]) * (p[t] + p[o]);
        }
    }

    private static double secular(double[] w, double[] delta, int nk, double x) {
        double f = 1;
        for (int t = 0; t < nk; t++) {
            f += w[t] * w[t] / (delta[t] - x);
        }
        return f;
    }

    /**
     * The weights for which the computed roots are exact (Gu and Eisenstat): ẑ_i² = Π_j (σ_j² − p_i²) /
     * Π_{j≠i} (p_j² − p_i²), each factor from differences to the roots' own poles; signs from w.
     */
    private static double[] loewner(double[] p, double[] w, int nk, int[] origin, double[] tau) {
        double[] zhat = new double[nk];
        for (int i = 0; i < nk; i++) {
            zhat[i] = loewnerWeight(p, w, nk, origin, tau, i);
        }
        return zhat;
    }

    /** ẑ_i of {@link #loewner} (a method of its own: called nk times per merge, it is compiled early). */
    private static double loewnerWeight(double[] p, double[] w, int nk, int[] origin, double[] tau, int i) {
        double pi = p[i];
        int last = nk - 1;
        double prod = sigmaMinus(p, origin, tau, last, pi) * sigmaPlus(p, origin, tau, last, pi);
        for (int j = 0; j < i; j++) {
            prod *= sigmaMinus(p, origin, tau, j, pi) * sigmaPlus(p, origin, tau, j, pi)
                    / ((p[j] - pi) * (p[j] + pi));
        }
        for (int j = i; j < last; j++) {
            prod *= sigmaMinus(p, origin, tau, j, pi) * sigmaPlus(p, origin, tau, j, pi)
                    / ((p[j + 1] - pi) * (p[j + 1] + pi));
        }
        return Math.copySign(Math.sqrt(Math.abs(prod)), w[i]);
    }

    /** σ_j − x, with σ_j = p[origin[j]] + tau[j]. */
    private static double sigmaMinus(double[] p, int[] origin, double[] tau, int j, double x) {
        return (p[origin[j]] - x) + tau[j];
    }

    private static double sigmaPlus(double[] p, int[] origin, double[] tau, int j, double x) {
        return p[origin[j]] + tau[j] + x;
    }

    /** Columns a and b of m (rows × ld): a ← c·a + s·b, b ← c·b − s·a. */
    private static void rotateColumns(double[] m, int rows, int ld, int a, int b, double c, double s) {
        for (int i = 0; i < rows; i++) {
            double xa = m[i * ld + a];
            double xb = m[i * ld + b];
            m[i * ld + a] = c * xa + s * xb;
            m[i * ld + b] = c * xb - s * xa;
        }
    }

    private static void scaleColumn(double[] m, int rows, int ld, int a, double f) {
        for (int i = 0; i < rows; i++) {
            m[i * ld + a] *= f;
        }
    }

    /**
     * Row by row: dst[i][q] = roots[i][rootIndex[q]] where that is ≥ 0, else basis[i][arrowColumn[q]]
     * (q < the length of both index arrays; dst has ld dstLd).
     */
    private static void gatherRows(double[] roots, int rootsLd, double[] basis, int basisLd, int[] rootIndex,
            int[] arrowColumn, double[] dst, int dstLd, int rows) {
        // Split into the columns taken from the roots and those taken from the basis, each a plain gather.
        int wanted = rootIndex.length;
        int[] fromRoots = new int[wanted];
        int[] rootsAt = new int[wanted];
        int[] fromBasis = new int[wanted];
        int[] basisAt = new int[wanted];
        int nr = 0;
        int nb = 0;
        for (int q = 0; q < wanted; q++) {
            if (rootIndex[q] >= 0) {
                fromRoots[nr] = rootIndex[q];
                rootsAt[nr++] = q;
            } else {
                fromBasis[nb] = arrowColumn[q];
                basisAt[nb++] = q;
            }
        }
        for (int i = 0; i < rows; i++) {
            gather(roots, i * rootsLd, fromRoots, dst, i * dstLd, rootsAt, nr);
            gather(basis, i * basisLd, fromBasis, dst, i * dstLd, basisAt, nb);
        }
    }

    /**
     * dst[dstOff + q] = src[srcOff + idx[q]] for q &lt; count. The gathers of the merge are row by row through
     * this one small method, which is called often enough to be compiled early (a loop nest inside each
     * rarely-called caller would run in the slower tiers through the first update rounds).
     */
    private static void gather(double[] src, int srcOff, int[] idx, double[] dst, int dstOff, int count) {
        for (int q = 0; q < count; q++) {
            dst[dstOff + q] = src[srcOff + idx[q]];
        }
    }

    /** rows rows of len entries from src (row stride srcLd, from 0) to dst (from dstOff, row stride dstLd). */
    private static void copyRows(double[] src, int srcLd, double[] dst, int dstOff, int dstLd, int rows, int len) {
        for (int i = 0; i < rows; i++) {
            System.arraycopy(src, i * srcLd, dst, dstOff + i * dstLd, len);
        }
    }

    /** dst[dstOff + at[q]] = src[srcOff + idx[q]] for q &lt; count. */
    private static void gather(double[] src, int srcOff, int[] idx, double[] dst, int dstOff, int[] at, int count) {
        for (int q = 0; q < count; q++) {
            dst[dstOff + at[q]] = src[srcOff + idx[q]];
        }
    }

    /** Column from of src (rows × srcLd) into column to of dst (rows × dstLd). */
    private static void copyColumn(double[] src, int rows, int srcLd, int from, double[] dst, int dstLd, int to) {
        for (int i = 0; i < rows; i++) {
            dst[i * dstLd + to] = src[i * srcLd + from];
        }
    }

    private static int[] identityOrder(int n) {
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            idx[i] = i;
        }
        return idx;
    }
}
