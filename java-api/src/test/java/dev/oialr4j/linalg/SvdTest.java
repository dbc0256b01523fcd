package dev.oialr4j.linalg;

import static dev.oialr4j.linalg.LinalgTesting.compose;
import static dev.oialr4j.linalg.LinalgTesting.gaussian;
import static dev.oialr4j.linalg.LinalgTesting.orthonormalityError;
import static dev.oialr4j.linalg.LinalgTesting.randomOrthonormal;
import static dev.oialr4j.linalg.LinalgTesting.referenceSingularValues;
import static dev.oialr4j.linalg.LinalgTesting.relativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SvdTest {

    /** Tolerances for double input; measured errors are ~1e-15 to 1e-14 at these sizes. */
    private static final double RECON_TOL = 1e-12;
    private static final double ORTHO_TOL = 1e-12;
    private static final double SIGMA_TOL = 1e-12; // relative to σ₁

    /** Checks every property of a valid reduced SVD of a and returns the result. */
    static Svd.Result checkSvd(double[] a, int m, int n) {
        Svd.Result r = Svd.decompose(a, m, n);
        int k = Math.min(m, n);
        assertEquals(m, r.m());
        assertEquals(n, r.n());
        assertEquals(k, r.k());
        double[] s = r.s();
        for (int j = 0; j < k; j++) {
            assertTrue(s[j] >= 0, "σ" + j + " = " + s[j] + " is negative");
            if (j > 0) {
                assertTrue(s[j] <= s[j - 1], "σ not descending at " + j + ": " + s[j - 1] + ", " + s[j]);
            }
        }
        double err = relativeError(a, r.reconstruct());
        assertTrue(err < RECON_TOL || LinalgTesting.frobenius(a) == 0 && err == 0,
                m + "×" + n + ": ‖A − UΣVᵀ‖/‖A‖ = " + err);
        assertTrue(orthonormalityError(r.u(), m, k) < ORTHO_TOL, "UᵀU ≠ I: " + orthonormalityError(r.u(), m, k));
        assertTrue(orthonormalityError(r.v(), n, k) < ORTHO_TOL, "VᵀV ≠ I: " + orthonormalityError(r.v(), n, k));
        checkSignRule(r);
        return r;
    }

    /** In each column of U the entry of largest magnitude (first on ties) is positive. */
    static void checkSignRule(Svd.Result r) {
        for (int j = 0; j < r.k(); j++) {
            double best = -1;
            double val = 0;
            for (int i = 0; i < r.m(); i++) {
                if (Math.abs(r.u(i, j)) > best) {
                    best = Math.abs(r.u(i, j));
                    val = r.u(i, j);
                }
            }
            assertTrue(val > 0, "column " + j + " of U breaks the sign rule (largest entry " + val + ")");
        }
    }

    static void assertSigmaClose(double[] expected, double[] actual, double tolRelToSigma1) {
        assertEquals(expected.length, actual.length);
        double scale = Math.max(expected.length == 0 ? 0 : expected[0], Double.MIN_NORMAL);
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs(expected[i] - actual[i]) / scale;
            assertTrue(d < tolRelToSigma1, "σ" + i + ": expected " + expected[i] + ", got " + actual[i]
                    + " (|Δ|/σ₁ = " + d + ")");
        }
    }

    @ParameterizedTest(name = "{0}×{1}")
    @CsvSource({"1,1", "1,7", "7,1", "2,2", "5,3", "3,5", "17,17", "64,64", "100,37", "37,100", "129,128",
            "200,200", "300,60", "60,300", "250,249"})
    void randomMatchesEjml(int m, int n) {
        Random rnd = new Random(1000L * m + n);
        double[] a = gaussian(rnd, m, n);
        Svd.Result r = checkSvd(a, m, n);
        assertSigmaClose(referenceSingularValues(a, m, n), r.s(), SIGMA_TOL);
    }

    @Test
    void everySmallSquareSize() {
        Random rnd = new Random(7);
        for (int n = 1; n <= 64; n++) {
            double[] a = gaussian(rnd, n, n);
            Svd.Result r = checkSvd(a, n, n);
            assertSigmaClose(referenceSingularValues(a, n, n), r.s(), SIGMA_TOL);
        }
    }

    @Test
    void floatInputIsWidenedExactly() {
        Random rnd = new Random(11);
        int m = 90;
        int n = 70;
        float[] f = new float[m * n];
        double[] widened = new double[m * n];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) rnd.nextGaussian();
            widened[i] = f[i];
        }
        Svd.Result r = Svd.decompose(f, m, n);
        assertTrue(relativeError(widened, r.reconstruct()) < RECON_TOL);
        assertArrayEquals(Svd.decompose(widened, m, n).s(), r.s(), 0.0);
        // Rounded back to float the factors still reconstruct A to float accuracy.
        float[] u = r.uAsFloat();
        float[] s = r.sAsFloat();
        float[] vt = r.vtAsFloat();
        double num = 0;
        double den = 0;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int p = 0; p < r.k(); p++) {
                    sum += (double) u[i * r.k() + p] * s[p] * vt[p * n + j];
                }
                num += (sum - f[i * n + j]) * (sum - f[i * n + j]);
                den += (double) f[i * n + j] * f[i * n + j];
            }
        }
        assertTrue(Math.sqrt(num / den) < 1e-6, "float factors reconstruct to " + Math.sqrt(num / den));
    }

    @ParameterizedTest(name = "{0}×{1} rank {2}")
    @CsvSource({"50,50,10", "80,30,1", "30,80,29", "64,64,63", "40,40,0"})
    void rankDeficientCompletesTheBasis(int m, int n, int rank) {
        Random rnd = new Random(31L * m + rank);
        double[] a = new double[m * n];
        if (rank > 0) {
            double[] x = gaussian(rnd, m, rank);
            double[] y = gaussian(rnd, n, rank);
            double[] ones = new double[rank];
            java.util.Arrays.fill(ones, 1.0);
            a = compose(x, ones, y, m, n, rank);
        }
        Svd.Result r = checkSvd(a, m, n);
        int k = Math.min(m, n);
        double s1 = Math.max(r.s()[0], 1);
        for (int j = rank; j < k; j++) {
            assertTrue(r.s()[j] < 1e-13 * s1, "σ" + j + " = " + r.s()[j] + " should vanish at rank " + rank);
        }
        for (int j = 0; j < rank; j++) {
            assertTrue(r.s()[j] > 1e-8 * s1, "σ" + j + " = " + r.s()[j] + " should not vanish");
        }
    }

    @ParameterizedTest(name = "{0}×{1}")
    @CsvSource({"60,60", "120,40", "40,120", "200,200"})
    void illConditionedSmallValuesToHighAccuracy(int m, int n) {
        Random rnd = new Random(5L * m + n);
        int k = Math.min(m, n);
        double[] sigma = new double[k];
        for (int i = 0; i < k; i++) {
            sigma[i] = Math.pow(10, -6.0 * i / Math.max(1, k - 1)); // 1 … 1e-6
        }
        double[] u = randomOrthonormal(rnd, m, k);
        double[] v = randomOrthonormal(rnd, n, k);
        double[] a = compose(u, sigma, v, m, n, k);
        Svd.Result r = checkSvd(a, m, n);
        for (int i = 0; i < k; i++) {
            double abs = Math.abs(r.s()[i] - sigma[i]);
            assertTrue(abs < 1e-13, "σ" + i + ": |Δ| = " + abs);
            assertTrue(abs / sigma[i] < 1e-7, "σ" + i + " = " + sigma[i] + ": relative error " + abs / sigma[i]);
        }
        // Leading singular vectors agree with the prescribed ones up to sign.
        for (int j = 0; j < 5; j++) {
            double dot = 0;
            for (int i = 0; i < m; i++) {
                dot += r.u(i, j) * u[i * k + j];
            }
            assertEquals(1.0, Math.abs(dot), 1e-9, "u" + j);
        }
    }

    @Test
    void zeroMatrix() {
        for (int[] shape : new int[][] {{1, 1}, {4, 3}, {3, 4}, {1, 5}, {6, 1}}) {
            int m = shape[0];
            int n = shape[1];
            Svd.Result r = checkSvd(new double[m * n], m, n);
            for (double s : r.s()) {
                assertEquals(0.0, s, 0.0);
            }
            assertEquals(0.0, LinalgTesting.frobenius(r.reconstruct()), 0.0);
        }
    }

    @Test
    void repeatedSingularValues() {
        Random rnd = new Random(17);
        int m = 40;
        int n = 30;
        double[] sigma = new double[n];
        for (int i = 0; i < n; i++) {
            sigma[i] = i < 10 ? 2.0 : i < 25 ? 1.0 : 0.0;
        }
        double[] a = compose(randomOrthonormal(rnd, m, n), sigma, randomOrthonormal(rnd, n, n), m, n, n);
        Svd.Result r = checkSvd(a, m, n);
        for (int i = 0; i < n; i++) {
            assertEquals(sigma[i], r.s()[i], 1e-13, "σ" + i);
        }
        // Identity-like input: all σ equal.
        double[] eye = new double[25];
        for (int i = 0; i < 5; i++) {
            eye[i * 5 + i] = 3;
        }
        Svd.Result e = checkSvd(eye, 5, 5);
        assertArrayEquals(new double[] {3, 3, 3, 3, 3}, e.s(), 1e-15);
    }

    @Test
    void rowAndColumnVectors() {
        double[] row = {3, 0, -4, 0, 0, 12};
        Svd.Result r = checkSvd(row, 1, 6);
        assertEquals(13.0, r.s()[0], 1e-14);
        assertEquals(1.0, r.u(0, 0), 0.0);
        assertArrayEquals(new double[] {3 / 13.0, 0, -4 / 13.0, 0, 0, 12 / 13.0}, r.v(), 1e-15);
        Svd.Result c = checkSvd(new double[] {0, -5, 0, 0}, 4, 1);
        assertEquals(5.0, c.s()[0], 0.0);
        assertArrayEquals(new double[] {0, 1, 0, 0}, c.u(), 0.0);
        assertArrayEquals(new double[] {-1}, c.v(), 0.0);
    }

    @Test
    void deterministicAndSignStable() {
        Random rnd = new Random(23);
        double[] a = gaussian(rnd, 150, 120);
        Svd.Result r1 = Svd.decompose(a, 150, 120);
        Svd.Result r2 = Svd.decompose(a.clone(), 150, 120);
        assertArrayEquals(r1.u(), r2.u(), 0.0);
        assertArrayEquals(r1.s(), r2.s(), 0.0);
        assertArrayEquals(r1.v(), r2.v(), 0.0);
        // −A has the same U and σ up to the sign rule: U fixed, V flipped.
        double[] neg = a.clone();
        for (int i = 0; i < neg.length; i++) {
            neg[i] = -neg[i];
        }
        Svd.Result rn = Svd.decompose(neg, 150, 120);
        assertArrayEquals(r1.s(), rn.s(), 1e-12);
        for (int i = 0; i < r1.u().length; i++) {
            assertEquals(r1.u()[i], rn.u()[i], 1e-9);
        }
        for (int i = 0; i < r1.v().length; i++) {
            assertEquals(-r1.v()[i], rn.v()[i], 1e-9);
        }
    }

    @Test
    void extremeScalesDoNotOverflow() {
        Random rnd = new Random(29);
        double[] a = gaussian(rnd, 20, 15);
        double[] ref = Svd.decompose(a, 20, 15).s();
        for (double scale : new double[] {1e-300, 1e-160, 1e160, 1e300}) {
            double[] b = a.clone();
            for (int i = 0; i < b.length; i++) {
                b[i] *= scale;
            }
            Svd.Result r = Svd.decompose(b, 20, 15);
            for (int i = 0; i < ref.length; i++) {
                assertEquals(ref[i], r.s()[i] / scale, 1e-12 * ref[0], "scale " + scale + " σ" + i);
            }
            assertTrue(orthonormalityError(r.u(), 20, 15) < ORTHO_TOL);
        }
    }

    @Test
    void rejectsNonFiniteAndBadShapes() {
        double[] a = new double[6];
        a[4] = Double.NaN;
        var ex = assertThrows(IllegalArgumentException.class, () -> Svd.decompose(a, 2, 3));
        assertTrue(ex.getMessage().contains("NaN") && ex.getMessage().contains("(1, 1)"), ex.getMessage());
        float[] f = {1, Float.POSITIVE_INFINITY};
        assertThrows(IllegalArgumentException.class, () -> Svd.decompose(f, 1, 2));
        assertThrows(IllegalArgumentException.class, () -> Svd.decompose(new double[5], 2, 3));
        assertThrows(IllegalArgumentException.class, () -> Svd.decompose(new double[0], 0, 3));
    }

    @Test
    void tensorOverloadUsesTheTwoDimensionalView() {
        Random rnd = new Random(37);
        float[] data = new float[2 * 3 * 4];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian();
        }
        Svd.Result r = Svd.decompose(Tensor.of(data, 2, 3, 4));
        assertEquals(6, r.m());
        assertEquals(4, r.n());
        assertArrayEquals(Svd.decompose(data, 6, 4).s(), r.s(), 0.0);
    }

    @Test
    void lowRankReconstructionAndLeadingFactors() {
        Random rnd = new Random(41);
        double[] a = gaussian(rnd, 30, 20);
        Svd.Result r = Svd.decompose(a, 30, 20);
        double[] a5 = r.reconstruct(5);
        double[] u5 = r.leadingU(5);
        double[] v5 = r.leadingV(5);
        assertArrayEquals(compose(u5, java.util.Arrays.copyOf(r.s(), 5), v5, 30, 20, 5), a5, 1e-12);
        // Eckart–Young: the error of the best rank-5 approximation is √(Σ_{i≥5} σᵢ²).
        double tail = 0;
        for (int i = 5; i < 20; i++) {
            tail += r.s()[i] * r.s()[i];
        }
        double err = 0;
        for (int i = 0; i < a.length; i++) {
            err += (a[i] - a5[i]) * (a[i] - a5[i]);
        }
        assertEquals(Math.sqrt(tail), Math.sqrt(err), 1e-12);
    }

    @Test
    void largerTallAndSquare() {
        Random rnd = new Random(43);
        for (int[] shape : new int[][] {{512, 512}, {700, 150}, {1000, 20}}) {
            int m = shape[0];
            int n = shape[1];
            double[] a = gaussian(rnd, m, n);
            Svd.Result r = checkSvd(a, m, n);
            assertSigmaClose(referenceSingularValues(a, m, n), r.s(), SIGMA_TOL);
        }
    }

    /** Σ of an update round: a diagonal that has trained for a while (small full perturbation), near-equal values too. */
    private static double[] trainedSigma(Random rnd, int n) {
        double[] a = new double[n * n];
        for (int i = 0; i < n; i++) {
            a[i * n + i] = 3 * Math.exp(-i / (0.3 * n));
        }
        for (int i = 0; i < a.length; i++) {
            a[i] += 0.02 * rnd.nextGaussian();
        }
        return a;
    }

    @ParameterizedTest(name = "{0}×{0}, keep {1}")
    @CsvSource({"64,64", "64,1", "100,50", "150,0", "300,150", "300,299", "20,7", "80,40"})
    void leadingVectorsAreThoseOfTheFullDecomposition(int n, int keep) {
        Random rnd = new Random(n * 31L + keep);
        double[] a = rnd.nextBoolean() ? trainedSigma(rnd, n) : gaussian(rnd, n, n);
        double[] copy = a.clone();
        Svd.Result full = Svd.decompose(a, n, n);
        double[][] seen = new double[1][];
        Svd.Leading lead = Svd.leading(a, n, n, values -> {
            seen[0] = values;
            return keep;
        });
        assertArrayEquals(copy, a, 0.0, "input modified");
        assertArrayEquals(full.s(), seen[0], 0.0, "the rank function sees every value, descending");
        assertArrayEquals(full.s(), lead.s(), 0.0);
        assertEquals(keep, lead.r());
        assertArrayEquals(full.leadingU(keep), lead.u(), 0.0);
        assertArrayEquals(full.leadingV(keep), lead.v(), 0.0);
    }

    @Test
    void leadingOnOtherShapesSlicesTheFullDecomposition() {
        Random rnd = new Random(77);
        for (int[] shape : new int[][] {{90, 70}, {70, 90}, {5, 5}}) {
            int m = shape[0];
            int n = shape[1];
            double[] a = gaussian(rnd, m, n);
            Svd.Result full = Svd.decompose(a, m, n);
            Svd.Leading lead = Svd.leading(a, m, n, values -> 3);
            assertArrayEquals(full.leadingU(3), lead.u(), 0.0);
            assertArrayEquals(full.leadingV(3), lead.v(), 0.0);
            assertArrayEquals(full.s(), lead.s(), 0.0);
        }
        double[] sq = gaussian(rnd, 70, 70);
        var ex = assertThrows(IllegalArgumentException.class, () -> Svd.leading(sq, 70, 70, values -> 71));
        assertTrue(ex.getMessage().contains("71"), ex.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Svd.leading(sq, 70, 70, values -> -1));
        assertThrows(IllegalArgumentException.class, () -> Svd.leading(gaussian(rnd, 4, 3), 4, 3, values -> 4));
    }

    @Test
    void iterationLimitThrowsInsteadOfReturningGarbage() {
        // The public entry points reject NaN; fed one directly, the bidiagonal QR can never deflate and
        // must stop at its limit with a typed exception.
        double[] s = {1, Double.NaN, 2, 3};
        double[] e = {0.5, 0.5, 0.5, 0};
        assertThrows(ConvergenceException.class, () -> BidiagonalQr.solve(s, e, 4, null, 0, null, 0));
    }
}
