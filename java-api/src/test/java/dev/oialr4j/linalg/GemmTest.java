package dev.oialr4j.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.Parallel;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The double product against a naive loop (accumulated in the same order, so within a few ulps of
 * the fused chain), on strided blocks inside larger arrays, for shapes around the kernel's 4-row and
 * strip boundaries; a row's result must not depend on the other rows of the call or on the threads.
 */
class GemmTest {

    private static final long SEED = System.nanoTime();

    private static double[] random(Random rnd, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = rnd.nextGaussian();
        }
        return a;
    }

    @Test
    void stridedProductAndSubtractMatchANaiveLoop() {
        Random rnd = new Random(SEED);
        int[][] shapes = {{1, 1, 1}, {3, 5, 7}, {4, 1, 24}, {5, 48, 25}, {9, 33, 49}, {17, 100, 3}, {64, 48, 130}};
        for (int[] s : shapes) {
            int m = s[0];
            int k = s[1];
            int n = s[2];
            int lda = k + 3;
            int ldb = n + 5;
            int ldc = n + 2;
            int ao = 7;
            int bo = 2;
            int co = 11;
            double[] a = random(rnd, ao + m * lda);
            double[] b = random(rnd, bo + k * ldb);
            double[] c0 = random(rnd, co + m * ldc + 4);
            for (boolean subtract : new boolean[] {false, true}) {
                double[] c = c0.clone();
                Gemm.product(a, ao, lda, b, bo, ldb, c, co, ldc, m, k, n, subtract);
                for (int i = 0; i < c.length; i++) {
                    int row = (i - co) / ldc;
                    int col = (i - co) - row * ldc;
                    boolean inside = i >= co && row < m && col < n;
                    if (!inside) {
                        assertEquals(c0[i], c[i], 0.0, "entry outside C changed at " + i);
                        continue;
                    }
                    double sum = 0;
                    for (int p = 0; p < k; p++) {
                        sum = Math.fma(a[ao + row * lda + p], b[bo + p * ldb + col], sum);
                    }
                    double expected = subtract ? c0[i] - sum : sum;
                    double tol = 1e-13 * (k + Math.abs(c0[i]));
                    assertEquals(expected, c[i], tol, "shape " + Arrays.toString(s) + " subtract " + subtract
                            + " (" + row + ", " + col + "), seed " + SEED);
                }
            }
        }
    }

    @Test
    void aRowDoesNotDependOnTheOtherRowsOrTheThreads() {
        Random rnd = new Random(SEED + 1);
        int m = 23;
        int k = 57;
        int n = 41;
        double[] a = random(rnd, m * k);
        double[] b = random(rnd, k * n);
        double[] all = Gemm.multiply(a, m, k, b, n, n, null);
        try (Parallel two = new Parallel(2)) {
            assertArrayEquals(all, Gemm.multiply(a, m, k, b, n, n, two));
        }
        for (int i = 0; i < m; i++) {
            double[] one = new double[n];
            Gemm.product(a, i * k, k, b, 0, n, one, 0, n, 1, k, n, false);
            assertArrayEquals(Arrays.copyOfRange(all, i * n, (i + 1) * n), one, "row " + i);
        }
        assertTrue(Arrays.stream(all).allMatch(Double::isFinite));
    }
}
