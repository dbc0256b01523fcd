package dev.oialr4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * CpuGemm against a naive triple loop that accumulates in double.
 *
 * <p>Tolerance: the float result of a length-k dot product in any summation order satisfies
 * |got - exact| <= gamma_k * sum|a_ip * b_pj| with gamma_k ~ k * eps (eps = 2^-24 for rounding to
 * nearest, we use the looser ulp(1) = 2^-23). Scaling by alpha and adding beta * c add a few more
 * roundings, so each element is checked against
 * {@code (k + 4) * 2^-23 * (|alpha| * sum|a||b| + |beta * c|)} plus the smallest normal float. The
 * double reference itself is exact to far below that.
 */
class CpuGemmTest {

    private static final float EPS = Math.ulp(1f);
    private static Parallel one;
    private static Parallel two;

    @BeforeAll
    static void pools() {
        one = new Parallel(1);
        two = new Parallel(2);
    }

    @AfterAll
    static void closePools() {
        one.close();
        two.close();
    }

    /** One GEMM problem laid out in arrays with offsets and padded leading dimensions. */
    private record Problem(boolean transA, boolean transB, int m, int n, int k, float alpha, float beta,
            float[] a, int offA, int lda, float[] b, int offB, int ldb, float[] c, int offC, int ldc) {

        static Problem random(SplittableRandom rnd, boolean transA, boolean transB, int m, int n, int k,
                float alpha, float beta, int maxPad) {
            int aRows = transA ? k : m;
            int aCols = transA ? m : k;
            int bRows = transB ? n : k;
            int bCols = transB ? k : n;
            int lda = aCols + pad(rnd, maxPad);
            int ldb = bCols + pad(rnd, maxPad);
            int ldc = n + pad(rnd, maxPad);
            int offA = pad(rnd, maxPad);
            int offB = pad(rnd, maxPad);
            int offC = pad(rnd, maxPad);
            float[] a = fill(rnd, offA + aRows * lda + maxPad);
            float[] b = fill(rnd, offB + bRows * ldb + maxPad);
            float[] c = fill(rnd, offC + m * ldc + maxPad);
            return new Problem(transA, transB, m, n, k, alpha, beta, a, offA, lda, b, offB, ldb, c, offC, ldc);
        }

        private static int pad(SplittableRandom rnd, int maxPad) {
            return maxPad == 0 ? 0 : rnd.nextInt(maxPad + 1);
        }

        private static float[] fill(SplittableRandom rnd, int size) {
            float[] x = new float[Math.max(size, 0)];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (rnd.nextDouble() * 2 - 1);
            }
            return x;
        }

        float aAt(int i, int p) {
            return transA ? a[offA + p * lda + i] : a[offA + i * lda + p];
        }

        float bAt(int p, int j) {
            return transB ? b[offB + j * ldb + p] : b[offB + p * ldb + j];
        }

        /** Runs CpuGemm on a copy of C and returns the copy. */
        float[] run(Parallel parallel) {
            float[] out = c.clone();
            new CpuGemm(parallel).sgemm(transA, transB, m, n, k, alpha, a, offA, lda, b, offB, ldb, beta, out,
                    offC, ldc);
            return out;
        }

        /** Checks every element of the C window against the double reference, and that nothing else moved. */
        void check(float[] got, String label) {
            String where = label + " " + this;
            boolean[] inWindow = new boolean[c.length];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    int idx = offC + i * ldc + j;
                    inWindow[idx] = true;
                    double sum = 0;
                    double abs = 0;
                    for (int p = 0; p < k; p++) {
                        double prod = (double) aAt(i, p) * bAt(p, j);
                        sum += prod;
                        abs += Math.abs(prod);
                    }
                    double old = beta == 0f ? 0 : (double) beta * c[idx];
                    double expected = alpha * sum + old;
                    double tol = (k + 4) * (double) EPS * (Math.abs(alpha) * abs + Math.abs(old))
                            + Float.MIN_NORMAL;
                    double err = Math.abs(got[idx] - expected);
                    if (!(err <= tol)) {
                        fail(where + ": C[" + i + "," + j + "] = " + got[idx] + ", expected " + expected
                                + " (error " + err + " > tolerance " + tol + ")");
                    }
                }
            }
            for (int idx = 0; idx < c.length; idx++) {
                if (!inWindow[idx] && Float.floatToRawIntBits(got[idx]) != Float.floatToRawIntBits(c[idx])) {
                    fail(where + ": element " + idx + " outside the C window was written");
                }
            }
        }

        @Override
        public String toString() {
            return "sgemm(transA=" + transA + ", transB=" + transB + ", m=" + m + ", n=" + n + ", k=" + k
                    + ", alpha=" + alpha + ", beta=" + beta + ", offA=" + offA + ", lda=" + lda + ", offB="
                    + offB + ", ldb=" + ldb + ", offC=" + offC + ", ldc=" + ldc + ")";
        }
    }

    static Stream<Arguments> oddShapes() {
        int[][] shapes = {
            {0, 0, 0}, {0, 5, 3}, {5, 0, 3}, {5, 3, 0}, {1, 1, 1}, {1, 4096, 1}, {1000, 1, 1000},
            {17, 33, 65}, {8, 48, 256}, {9, 49, 257}, {7, 47, 255}, {16, 96, 1}, {3, 200, 600},
            {256, 10, 300}, {10, 300, 256}, {130, 97, 513}, {9, 4200, 3},
        };
        List<Arguments> out = new ArrayList<>();
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) {
                out.add(Arguments.of(s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "m={0} n={1} k={2} transA={3} transB={4}")
    @MethodSource("oddShapes")
    void oddShapesMatchNaiveLoopOnOneAndTwoThreads(int m, int n, int k, boolean transA, boolean transB) {
        var rnd = new SplittableRandom(31L * m + 17L * n + k + (transA ? 1000003 : 0) + (transB ? 7 : 0));
        for (float[] ab : new float[][] {{1f, 0f}, {-0.75f, 1.5f}}) {
            Problem pr = Problem.random(rnd, transA, transB, m, n, k, ab[0], ab[1], 3);
            float[] got1 = pr.run(one);
            pr.check(got1, "1 thread");
            float[] got2 = pr.run(two);
            pr.check(got2, "2 threads");
            // Tasks never share an output element and each uses the same summation order.
            assertArrayEquals(got1, got2, "result depends on the thread count: " + pr);
        }
    }

    @Test
    void randomProblemsMatchNaiveLoop() {
        var rnd = new SplittableRandom(20240611L);
        for (int trial = 0; trial < 60; trial++) {
            int m = 1 + rnd.nextInt(trial < 40 ? 70 : 300);
            int n = 1 + rnd.nextInt(trial < 40 ? 110 : 300);
            int k = 1 + rnd.nextInt(trial < 40 ? 90 : 600);
            float alpha = (float) (rnd.nextDouble() * 4 - 2);
            float beta = switch (rnd.nextInt(3)) {
                case 0 -> 0f;
                case 1 -> 1f;
                default -> (float) (rnd.nextDouble() * 4 - 2);
            };
            Problem pr = Problem.random(rnd, rnd.nextBoolean(), rnd.nextBoolean(), m, n, k, alpha, beta, 20);
            pr.check(pr.run(trial % 2 == 0 ? one : two), "trial " + trial);
        }
    }

    @Test
    void mlpShapesMatchNaiveLoop() {
        var rnd = new SplittableRandom(784);
        // Forward x W^T, weight gradient dy^T x, input gradient dy W (batch 64 to keep the naive loop fast).
        Problem forward = Problem.random(rnd, false, true, 64, 1024, 784, 1f, 0f, 0);
        forward.check(forward.run(two), "forward");
        Problem weightGrad = Problem.random(rnd, true, false, 1024, 784, 64, 1f, 1f, 0);
        weightGrad.check(weightGrad.run(two), "weight gradient");
        Problem inputGrad = Problem.random(rnd, false, false, 64, 784, 1024, 1f, 0f, 0);
        inputGrad.check(inputGrad.run(two), "input gradient");
    }

    @Test
    void betaZeroIgnoresNaNInC() {
        var rnd = new SplittableRandom(5);
        for (int t = 0; t < 4; t++) {
            for (int[] s : new int[][] {{17, 33, 65}, {64, 96, 40}, {1, 1, 1}}) {
                Problem pr = Problem.random(rnd, (t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 1.25f, 0f, 2);
                for (int i = 0; i < pr.m; i++) {
                    Arrays.fill(pr.c, pr.offC + i * pr.ldc, pr.offC + i * pr.ldc + pr.n, Float.NaN);
                }
                float[] got = pr.run(two);
                pr.check(got, "NaN-filled C");
            }
        }
    }

    @Test
    void zeroTimesNaNIsNaNLikeBlas() {
        // A row of zeros must still be multiplied: 0 * NaN and 0 * Inf are NaN.
        int m = 20;
        int n = 50;
        int k = 30;
        float[] a = new float[m * k];
        float[] b = new float[k * n];
        Arrays.fill(b, 1f);
        b[5 * n + 7] = Float.NaN;
        b[9 * n + 40] = Float.POSITIVE_INFINITY;
        float[] c = new float[m * n];
        new CpuGemm(two).sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c, 0, n);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float v = c[i * n + j];
                if (j == 7 || j == 40) {
                    assertTrue(Float.isNaN(v), "C[" + i + "," + j + "] = " + v + ", expected NaN");
                } else {
                    assertEquals(0f, v, "C[" + i + "," + j + "]");
                }
            }
        }
    }

    @Test
    void alphaZeroOrKZeroScalesC() {
        float[] a = {Float.NaN, Float.NaN, Float.NaN, Float.NaN};
        float[] b = {Float.NaN, Float.NaN, Float.NaN, Float.NaN};
        float[] c = {1f, 2f, 3f, 4f};
        var gemm = new CpuGemm(one);
        gemm.sgemm(false, false, 2, 2, 2, 0f, a, 0, 2, b, 0, 2, 0.5f, c, 0, 2);
        assertArrayEquals(new float[] {0.5f, 1f, 1.5f, 2f}, c, "alpha = 0 must not read A or B");
        gemm.sgemm(false, false, 2, 2, 0, 1f, a, 0, 2, b, 0, 2, 2f, c, 0, 2);
        assertArrayEquals(new float[] {1f, 2f, 3f, 4f}, c, "k = 0 gives beta * C");
        float[] nan = {Float.NaN, Float.NaN, Float.NaN, Float.NaN};
        gemm.sgemm(true, true, 2, 2, 0, 1f, a, 0, 2, b, 0, 2, 0f, nan, 0, 2);
        assertArrayEquals(new float[4], nan, "beta = 0 clears C even when it holds NaN");
    }

    @Test
    void rejectsArraysTooSmallForTheirShape() {
        var gemm = new CpuGemm(one);
        float[] small = new float[5];
        float[] ok = new float[6];
        assertThrows(IllegalArgumentException.class,
                () -> gemm.sgemm(false, false, 2, 3, 3, 1f, small, 0, 3, new float[9], 0, 3, 0f, ok, 0, 3));
        assertThrows(IllegalArgumentException.class,
                () -> gemm.sgemm(false, false, 2, 3, 3, 1f, new float[6], 0, 3, new float[9], 0, 3, 0f, ok, 1, 3));
        assertThrows(IllegalArgumentException.class,
                () -> gemm.sgemm(false, false, 2, 3, 3, 1f, new float[6], 0, 2, new float[9], 0, 3, 0f, ok, 0, 3));
        assertThrows(IllegalArgumentException.class,
                () -> gemm.sgemm(false, false, -1, 3, 3, 1f, new float[6], 0, 3, new float[9], 0, 3, 0f, ok, 0, 3));
    }
}
