package dev.oialr4j.linalg;

import dev.oialr4j.backend.Parallel;
import java.util.Arrays;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Double-precision matrix product on row-major arrays, for the update rounds' basis rotations and the
 * divide-and-conquer SVD's merges: register tiles of four rows by three vectors over a packed panel of B.
 */
public final class Gemm {

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;

    private Gemm() {
    }

    /**
     * C (m×n) = A (m×k) · B[:, :n] where B is k×ldb (only its first n columns are used), with strips of
     * C's columns spread over {@code pool} when it is not null. Every entry is the same fused multiply-add chain over p = 0..k−1
     * either way, so the result does not depend on the pool.
     *
     * <p>B is copied one strip of {@value #STRIP_VECTORS} vectors at a time into a contiguous k×w panel
     * (zero-padded at the right edge), which then stays in L2 while every row of A passes over it; reading
     * the strip straight from B would touch a new page for each of its k rows.
     */
    public static double[] multiply(double[] a, int m, int k, double[] b, int ldb, int n, Parallel pool) {
        double[] c = new double[m * n];
        int w = STRIP_VECTORS * D.length();
        int strips = (n + w - 1) / w;
        Parallel.RangeBody body = (s0, s1) -> {
            double[] panel = new double[k * w];
            double[] tile = new double[4 * w];
            for (int strip = s0; strip < s1; strip++) {
                strip(a, 0, k, b, 0, ldb, c, 0, n, m, k, strip * w, Math.min(w, n - strip * w), false, panel, tile);
            }
        };
        if (pool == null) {
            body.run(0, strips);
        } else {
            pool.forRange(strips, 1, body);
        }
        return c;
    }

    /**
     * C ← A·B, or C ← C − A·B when {@code subtract}, on strided row-major blocks: A is m×k at a[ao + i·lda + p],
     * B is k×n at b[bo + p·ldb + j], C is m×n at c[co + i·ldc + j]. On the calling thread. Each entry of A·B is
     * the same fused multiply-add chain over p = 0..k−1 as in {@link #multiply}, whatever m is, so a row's
     * result does not depend on the other rows of the call.
     */
    static void product(double[] a, int ao, int lda, double[] b, int bo, int ldb, double[] c, int co, int ldc, int m,
            int k, int n, boolean subtract) {
        if (m <= 0 || n <= 0) {
            return;
        }
        int w = STRIP_VECTORS * D.length();
        double[] panel = new double[k * w];
        double[] tile = new double[4 * w];
        for (int j = 0; j < n; j += w) {
            strip(a, ao, lda, b, bo, ldb, c, co, ldc, m, k, j, Math.min(w, n - j), subtract, panel, tile);
        }
    }

    /** Vectors per strip of C's columns (and of the packed panel of B). */
    private static final int STRIP_VECTORS = 3;

    /** Columns j..j+width of C (width ≤ the strip width w): B's strip packed into a zero-padded k×w panel. */
    private static void strip(double[] a, int ao, int lda, double[] b, int bo, int ldb, double[] c, int co, int ldc,
            int m, int k, int j, int width, boolean subtract, double[] panel, double[] tile) {
        int w = STRIP_VECTORS * D.length();
        if (width < w) {
            Arrays.fill(panel, 0, k * w, 0.0);
        }
        for (int p = 0; p < k; p++) {
            System.arraycopy(b, bo + p * ldb + j, panel, p * w, width);
        }
        int i = 0;
        for (; i + 4 <= m; i += 4) {
            rows4(a, ao + i * lda, lda, k, panel, w, c, co + i * ldc + j, ldc, width, subtract, tile);
        }
        for (; i < m; i++) {
            row1(a, ao + i * lda, k, panel, w, c, co + i * ldc + j, width, subtract, tile);
        }
    }

    /** Four rows of C (from c[ci], row stride ldc) against the panel; A's rows start at a[a0], stride lda. */
    private static void rows4(double[] a, int a0, int lda, int k, double[] panel, int w, double[] c, int ci, int ldc,
            int width, boolean subtract, double[] tile) {
        int l = D.length();
        int a1 = a0 + lda;
        int a2 = a1 + lda;
        int a3 = a2 + lda;
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
        for (int p = 0, bo = 0; p < k; p++, bo += w) {
            DoubleVector b0 = DoubleVector.fromArray(D, panel, bo);
            DoubleVector b1 = DoubleVector.fromArray(D, panel, bo + l);
            DoubleVector b2 = DoubleVector.fromArray(D, panel, bo + 2 * l);
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
        if (width == w) {
            if (subtract) {
                c00 = DoubleVector.fromArray(D, c, ci).sub(c00);
                c01 = DoubleVector.fromArray(D, c, ci + l).sub(c01);
                c02 = DoubleVector.fromArray(D, c, ci + 2 * l).sub(c02);
                c10 = DoubleVector.fromArray(D, c, ci + ldc).sub(c10);
                c11 = DoubleVector.fromArray(D, c, ci + ldc + l).sub(c11);
                c12 = DoubleVector.fromArray(D, c, ci + ldc + 2 * l).sub(c12);
                c20 = DoubleVector.fromArray(D, c, ci + 2 * ldc).sub(c20);
                c21 = DoubleVector.fromArray(D, c, ci + 2 * ldc + l).sub(c21);
                c22 = DoubleVector.fromArray(D, c, ci + 2 * ldc + 2 * l).sub(c22);
                c30 = DoubleVector.fromArray(D, c, ci + 3 * ldc).sub(c30);
                c31 = DoubleVector.fromArray(D, c, ci + 3 * ldc + l).sub(c31);
                c32 = DoubleVector.fromArray(D, c, ci + 3 * ldc + 2 * l).sub(c32);
            }
            c00.intoArray(c, ci);
            c01.intoArray(c, ci + l);
            c02.intoArray(c, ci + 2 * l);
            c10.intoArray(c, ci + ldc);
            c11.intoArray(c, ci + ldc + l);
            c12.intoArray(c, ci + ldc + 2 * l);
            c20.intoArray(c, ci + 2 * ldc);
            c21.intoArray(c, ci + 2 * ldc + l);
            c22.intoArray(c, ci + 2 * ldc + 2 * l);
            c30.intoArray(c, ci + 3 * ldc);
            c31.intoArray(c, ci + 3 * ldc + l);
            c32.intoArray(c, ci + 3 * ldc + 2 * l);
            return;
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, l);
        c02.intoArray(tile, 2 * l);
        c10.intoArray(tile, w);
        c11.intoArray(tile, w + l);
        c12.intoArray(tile, w + 2 * l);
        c20.intoArray(tile, 2 * w);
        c21.intoArray(tile, 2 * w + l);
        c22.intoArray(tile, 2 * w + 2 * l);
        c30.intoArray(tile, 3 * w);
        c31.intoArray(tile, 3 * w + l);
        c32.intoArray(tile, 3 * w + 2 * l);
        for (int q = 0; q < 4; q++) {
            store(tile, q * w, c, ci + q * ldc, width, subtract);
        }
    }

    /** One row of C against the panel (the rows left over after the blocks of four). */
    private static void row1(double[] a, int a0, int k, double[] panel, int w, double[] c, int ci, int width,
            boolean subtract, double[] tile) {
        int l = D.length();
        DoubleVector c0 = DoubleVector.zero(D);
        DoubleVector c1 = DoubleVector.zero(D);
        DoubleVector c2 = DoubleVector.zero(D);
        for (int p = 0, bo = 0; p < k; p++, bo += w) {
            DoubleVector x = DoubleVector.broadcast(D, a[a0 + p]);
            c0 = DoubleVector.fromArray(D, panel, bo).fma(x, c0);
            c1 = DoubleVector.fromArray(D, panel, bo + l).fma(x, c1);
            c2 = DoubleVector.fromArray(D, panel, bo + 2 * l).fma(x, c2);
        }
        c0.intoArray(tile, 0);
        c1.intoArray(tile, l);
        c2.intoArray(tile, 2 * l);
        store(tile, 0, c, ci, width, subtract);
    }

    private static void store(double[] tile, int to, double[] c, int ci, int width, boolean subtract) {
        if (!subtract) {
            System.arraycopy(tile, to, c, ci, width);
            return;
        }
        for (int j = 0; j < width; j++) {
            c[ci + j] -= tile[to + j];
        }
    }
}
