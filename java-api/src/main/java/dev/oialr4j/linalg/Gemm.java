package dev.oialr4j.linalg;

import dev.oialr4j.backend.Parallel;
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
                int j = strip * w;
                int width = Math.min(w, n - j);
                for (int p = 0; p < k; p++) {
                    System.arraycopy(b, p * ldb + j, panel, p * w, width);
                }
                int i = 0;
                for (; i + 4 <= m; i += 4) {
                    rows4(a, i, k, panel, w, c, n, j, width, tile);
                }
                for (; i < m; i++) {
                    row1(a, i, k, panel, w, c, n, j, width, tile);
                }
            }
        };
        if (pool == null) {
            body.run(0, strips);
        } else {
            pool.forRange(strips, 1, body);
        }
        return c;
    }

    /** Vectors per strip of C's columns (and of the packed panel of B). */
    private static final int STRIP_VECTORS = 3;

    private static void rows4(double[] a, int i, int k, double[] panel, int w, double[] c, int n, int j, int width,
                              double[] tile) {
        int l = D.length();
        int a0 = i * k;
        int a1 = a0 + k;
        int a2 = a1 + k;
        int a3 = a2 + k;
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
            int r0 = i * n + j;
            c00.intoArray(c, r0);
            c01.intoArray(c, r0 + l);
            c02.intoArray(c, r0 + 2 * l);
            c10.intoArray(c, r0 + n);
            c11.intoArray(c, r0 + n + l);
            c12.intoArray(c, r0 + n + 2 * l);
            c20.intoArray(c, r0 + 2 * n);
            c21.intoArray(c, r0 + 2 * n + l);
            c22.intoArray(c, r0 + 2 * n + 2 * l);
            c30.intoArray(c, r0 + 3 * n);
            c31.intoArray(c, r0 + 3 * n + l);
            c32.intoArray(c, r0 + 3 * n + 2 * l);
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
            System.arraycopy(tile, q * w, c, (i + q) * n + j, width);
        }
    }

    /** One row of C against the panel (the rows left over after the blocks of four). */
    private static void row1(double[] a, int i, int k, double[] panel, int w, double[] c, int n, int j, int width,
                             double[] tile) {
        int l = D.length();
        int a0 = i * k;
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
        System.arraycopy(tile, 0, c, i * n + j, width);
    }
}
