package dev.oialr4j.linalg;

import static dev.oialr4j.linalg.LinalgTesting.gaussian;
import static dev.oialr4j.linalg.LinalgTesting.orthonormalityError;
import static dev.oialr4j.linalg.LinalgTesting.relativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class QrTest {

    static Qr.Result checkQr(double[] a, int m, int n) {
        Qr.Result r = Qr.thin(a, m, n);
        int k = Math.min(m, n);
        assertEquals(k, r.k());
        assertTrue(relativeError(a, r.reconstruct()) < 1e-13 || LinalgTesting.frobenius(a) == 0,
                "‖A − QR‖/‖A‖ = " + relativeError(a, r.reconstruct()));
        assertTrue(orthonormalityError(r.q(), m, k) < 1e-13, "QᵀQ ≠ I: " + orthonormalityError(r.q(), m, k));
        for (int i = 0; i < k; i++) {
            assertTrue(r.r()[i * n + i] >= 0, "diag(R)[" + i + "] = " + r.r()[i * n + i]);
            for (int j = 0; j < Math.min(i, n); j++) {
                assertEquals(0.0, r.r()[i * n + j], 0.0, "R[" + i + "][" + j + "] below the diagonal");
            }
        }
        return r;
    }

    @ParameterizedTest(name = "{0}×{1}")
    @CsvSource({"1,1", "5,1", "1,5", "8,8", "50,20", "20,50", "120,120", "300,64", "64,65"})
    void randomMatchesEjmlAfterSignFix(int m, int n) {
        Random rnd = new Random(100L * m + n);
        double[] a = gaussian(rnd, m, n);
        Qr.Result r = checkQr(a, m, n);
        int k = r.k();
        var ej = DecompositionFactory_DDRM.qr(m, n);
        assertTrue(ej.decompose(new DMatrixRMaj(m, n, true, a.clone())));
        DMatrixRMaj re = ej.getR(null, true); // k×n
        DMatrixRMaj qe = ej.getQ(null, true); // m×k
        for (int i = 0; i < k; i++) {
            double sign = Math.signum(re.get(i, i)) < 0 ? -1 : 1;
            for (int j = 0; j < n; j++) {
                assertEquals(sign * re.get(i, j), r.r()[i * n + j], 1e-12 * Math.max(1, Math.abs(re.get(i, j))),
                        "R[" + i + "][" + j + "]");
            }
            for (int p = 0; p < m; p++) {
                assertEquals(sign * qe.get(p, i), r.q()[p * k + i], 1e-11, "Q[" + p + "][" + i + "]");
            }
        }
    }

    @Test
    void rankDeficientStillOrthonormal() {
        Random rnd = new Random(3);
        int m = 40;
        int n = 12;
        double[] a = gaussian(rnd, m, n);
        for (int i = 0; i < m; i++) {
            a[i * n + 5] = 2 * a[i * n + 1] - a[i * n + 3]; // dependent column
            a[i * n + 8] = 0; // zero column
        }
        Qr.Result r = checkQr(a, m, n);
        assertEquals(0.0, r.r()[8 * n + 8], 1e-13);
        assertTrue(Math.abs(r.r()[5 * n + 5]) < 1e-12, "R[5][5] = " + r.r()[5 * n + 5]);
        checkQr(new double[m * n], m, n);
    }

    @Test
    void floatOverloadAndDeterminism() {
        Random rnd = new Random(9);
        float[] f = new float[30 * 10];
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) rnd.nextGaussian();
            d[i] = f[i];
        }
        Qr.Result a = Qr.thin(f, 30, 10);
        Qr.Result b = Qr.thin(d, 30, 10);
        assertArrayEquals(b.q(), a.q(), 0.0);
        assertArrayEquals(b.r(), a.r(), 0.0);
        float[] qf = a.qAsFloat();
        assertEquals((float) a.q()[7], qf[7]);
    }

    @Test
    void orthonormalInputGivesIdentityR() {
        Random rnd = new Random(13);
        double[] q = LinalgTesting.randomOrthonormal(rnd, 25, 7);
        Qr.Result r = checkQr(q, 25, 7);
        for (int i = 0; i < 7; i++) {
            for (int j = 0; j < 7; j++) {
                assertEquals(i == j ? 1 : 0, r.r()[i * 7 + j], 1e-14);
            }
        }
    }

    @Test
    void rejectsNonFinite() {
        double[] a = new double[4];
        a[3] = Double.NEGATIVE_INFINITY;
        assertThrows(IllegalArgumentException.class, () -> Qr.thin(a, 2, 2));
        assertThrows(IllegalArgumentException.class, () -> Qr.thin(new float[3], 2, 2));
    }
}
