package dev.oialr4j.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import java.util.function.BiConsumer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Divide and conquer on bidiagonals built to reach every deflation path, checked against the dense
 * product B = X·diag(s)·Yᵀ, orthonormality of X and Y, and the values from the bidiagonal QR.
 */
class BidiagonalDcTest {

    /** Reconstruction and orthonormality, relative to ‖B‖; measured errors are 1e-15 to 1e-14. */
    private static final double TOL = 1e-13;

    @ParameterizedTest(name = "n = {0}")
    // 1-8: every shape of a small split tree (single rows, 1×2 blocks, empty lower blocks).
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8, 33, 34, 64, 65, 100, 191, 192, 257, 600})
    void randomBidiagonals(int n) {
        check("gaussian", n, (d, e) -> fill(new Random(n), d, e, 1.0, 1.0));
    }

    @ParameterizedTest(name = "n = {0}")
    @ValueSource(ints = {3, 5, 40, 97, 300})
    void adversarialBidiagonals(int n) {
        Random rnd = new Random(1000 + n);
        // Zeros on the diagonal, including the split rows of the first levels.
        check("zero diagonal entries", n, (d, e) -> {
            fill(rnd, d, e, 1, 1);
            for (int i : new int[] {0, n / 2, n / 4, n - 1, n / 2 + 1}) {
                d[i] = 0;
            }
        });
        // Zeros on the super-diagonal: independent blocks.
        check("zero super-diagonal entries", n, (d, e) -> {
            fill(rnd, d, e, 1, 1);
            for (int i = 0; i < n - 1; i += 7) {
                e[i] = 0;
            }
            e[n / 2] = 0;
        });
        // A nearly diagonal matrix (the update rounds' Σ): most weights deflate.
        check("nearly diagonal", n, (d, e) -> {
            fill(rnd, d, e, 1, 1e-12);
        });
        // Every value the same: the merges' diagonals are one cluster.
        check("constant", n, (d, e) -> {
            Arrays.fill(d, 0, n, 2.0);
            Arrays.fill(e, 0, n - 1, 2.0);
        });
        check("identity", n, (d, e) -> {
            Arrays.fill(d, 0, n, 1.0);
        });
        // Repeated blocks: the two halves have equal values, deflated as close poles.
        check("repeated halves", n, (d, e) -> {
            Random r = new Random(5);
            int k = n / 2;
            for (int i = 0; i < k; i++) {
                d[i] = 1 + r.nextDouble();
                d[k + 1 + i < n ? k + 1 + i : i] = d[i];
            }
            d[k] = 1e-14;
        });
        // Graded over 200 binary orders of magnitude.
        check("graded", n, (d, e) -> {
            for (int i = 0; i < n; i++) {
                d[i] = Math.scalb(1.0, -i * 200 / n);
                if (i < n - 1) {
                    e[i] = Math.scalb(0.5, -i * 200 / n);
                }
            }
        });
        // Values spanning 1e-6..1 (the SVD's ill-conditioned case) and a zero matrix.
        check("ill-conditioned", n, (d, e) -> {
            fill(rnd, d, e, 1, 1);
            for (int i = 0; i < n; i++) {
                d[i] *= Math.pow(1e-6, (double) i / n);
                if (i < n - 1) {
                    e[i] *= Math.pow(1e-6, (double) i / n);
                }
            }
        });
        check("zero", n, (d, e) -> { });
        check("huge", n, (d, e) -> {
            fill(rnd, d, e, 1e200, 1e200);
        });
        check("tiny", n, (d, e) -> {
            fill(rnd, d, e, 1e-200, 1e-200);
        });
    }

    @ParameterizedTest(name = "n = {0}")
    @ValueSource(ints = {1, 2, 3, 20, 100, 257})
    void leadingVectorsAreTheFullDecompositionsColumns(int n) {
        Random rnd = new Random(300 + n);
        double[] d = new double[n];
        double[] e = new double[n];
        fill(rnd, d, e, 1, 1);
        BidiagonalDc.Node full = BidiagonalDc.solve(d, e, n);
        int keep = n / 3;
        BidiagonalDc.Node lead = BidiagonalDc.solveLeading(d, e, n, values -> keep);
        assertEquals(keep, lead.vectors());
        // Full: values unordered; leading: descending, with the vectors of the first keep of them.
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (p, q) -> Double.compare(full.s()[q], full.s()[p]));
        for (int q = 0; q < n; q++) {
            assertEquals(full.s()[order[q]], lead.s()[q], 0.0, "value " + q);
        }
        for (int q = 0; q < keep; q++) {
            for (int i = 0; i < n; i++) {
                assertEquals(full.x()[i * n + order[q]], lead.x()[i * keep + q], 0.0, "x " + i + "," + q);
                assertEquals(full.y()[i * n + order[q]], lead.y()[i * keep + q], 0.0, "y " + i + "," + q);
            }
        }
    }

    private static void fill(Random rnd, double[] d, double[] e, double ds, double es) {
        int n = d.length;
        for (int i = 0; i < n; i++) {
            d[i] = ds * rnd.nextGaussian();
            if (i < n - 1) {
                e[i] = es * rnd.nextGaussian();
            }
        }
    }

    private static void check(String what, int n, BiConsumer<double[], double[]> init) {
        double[] d = new double[n];
        double[] e = new double[n];
        init.accept(d, e);
        double[] d0 = d.clone();
        double[] e0 = e.clone();
        BidiagonalDc.Node r = BidiagonalDc.solve(d, e, n);
        assertTrue(Arrays.equals(d0, d) && Arrays.equals(e0, e), what + ": inputs modified");
        assertEquals(n, r.n());
        double norm = 0;
        for (int i = 0; i < n; i++) {
            norm = Math.max(norm, Math.abs(d[i]) + (i < n - 1 ? Math.abs(e[i]) : 0) + (i > 0 ? Math.abs(e[i - 1]) : 0));
        }
        // B − X·diag(s)·Yᵀ entry by entry, in units of ‖B‖ (max row sum bounds the 2-norm up to √n).
        double worst = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int p = 0; p < n; p++) {
                    sum += r.x()[i * n + p] * r.s()[p] * r.y()[j * n + p];
                }
                double b = i == j ? d[i] : j == i + 1 ? e[i] : 0;
                worst = Math.max(worst, Math.abs(b - sum));
            }
        }
        double scale = norm == 0 ? 1 : norm;
        assertTrue(worst <= TOL * scale, what + ", n = " + n + ": |B − XSYᵀ| = " + worst / scale + " ‖B‖");
        assertTrue(LinalgTesting.orthonormalityError(r.x(), n, n) < TOL, what + ": XᵀX ≠ I");
        assertTrue(LinalgTesting.orthonormalityError(r.y(), n, n) < TOL, what + ": YᵀY ≠ I");
        // The values against the bidiagonal QR (absolute accuracy ε‖B‖ is what divide and conquer promises).
        double[] s = r.s().clone();
        double[] q = d.clone();
        BidiagonalQr.solve(q, e.clone(), n, null, 0, null, 0);
        for (int i = 0; i < n; i++) {
            assertTrue(s[i] >= 0, what + ": negative value " + s[i]);
            q[i] = Math.abs(q[i]);
        }
        Arrays.sort(s);
        Arrays.sort(q);
        for (int i = 0; i < n; i++) {
            assertTrue(Math.abs(s[i] - q[i]) <= TOL * scale,
                    what + ": σ" + i + " = " + s[i] + " against " + q[i] + " from the QR");
        }
    }
}
