package dev.oialr4j.oialr;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.oialr4j.backend.Parallel;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The double-precision products of the update round against plain loops. */
class DenseOpsTest {

    private static final Parallel POOL = new Parallel(3);

    @AfterAll
    static void close() {
        POOL.close();
    }

    private static double[] random(Random rnd, int size) {
        double[] a = new double[size];
        for (int i = 0; i < size; i++) {
            a[i] = rnd.nextGaussian();
        }
        return a;
    }

    /** Σ_p a[i,p]·b[p,j] as one fused multiply-add chain in p order, the kernel's own arithmetic. */
    private static double[] naive(double[] a, int m, int k, double[] b, int ldb, int n) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s = Math.fma(a[i * k + p], b[p * ldb + j], s);
                }
                c[i * n + j] = s;
            }
        }
        return c;
    }

    @Test
    void multiplyMatchesTheLoopForEveryEdgeShapeWithAndWithoutThreads() {
        Random rnd = new Random(11);
        for (int m : new int[] {1, 3, 4, 5, 17, 64}) {
            for (int k : new int[] {1, 7, 64}) {
                for (int n : new int[] {1, 8, 23, 24, 25, 50, 97}) {
                    int ldb = n + (m % 3) * 5; // a leading dimension wider than the columns used
                    double[] a = random(rnd, m * k);
                    double[] b = random(rnd, k * ldb);
                    double[] expected = naive(a, m, k, b, ldb, n);
                    String shape = m + "×" + k + "×" + n + " (ldb " + ldb + ")";
                    assertArrayEquals(expected, DenseOps.multiply(a, m, k, b, ldb, n), 0.0, shape);
                    assertArrayEquals(expected, DenseOps.multiply(a, m, k, b, ldb, n, POOL), 0.0, shape + " pooled");
                }
            }
        }
    }

    @Test
    void rotateLeadingIsTheLeadingBlockOfPTransposeMQ() {
        Random rnd = new Random(12);
        int r = 37;
        int keep = 20;
        double[] p = random(rnd, r * r);
        double[] mat = random(rnd, r * r);
        double[] q = random(rnd, r * r);
        double[] got = DenseOps.rotateLeading(p, mat, q, r, keep, POOL);
        for (int i = 0; i < keep; i++) {
            for (int j = 0; j < keep; j++) {
                double s = 0;
                for (int a = 0; a < r; a++) {
                    for (int b = 0; b < r; b++) {
                        s += p[a * r + i] * mat[a * r + b] * q[b * r + j];
                    }
                }
                assertEquals(s, got[i * keep + j], 1e-11 * r * r, "entry " + i + "," + j);
            }
        }
        assertArrayEquals(got, DenseOps.rotateLeading(p, mat, q, r, keep), 0.0);
    }
}
