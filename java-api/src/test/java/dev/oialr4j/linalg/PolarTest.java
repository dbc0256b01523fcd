package dev.oialr4j.linalg;

import static dev.oialr4j.linalg.LinalgTesting.gaussian;
import static dev.oialr4j.linalg.LinalgTesting.orthonormalityError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.tensor.Tensor;
import java.util.Random;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PolarTest {

    @ParameterizedTest(name = "{0}×{1}")
    @CsvSource({"1,1", "1,6", "6,1", "30,30", "60,20", "20,60"})
    void orthonormalAndEqualToEjmlUVt(int m, int n) {
        Random rnd = new Random(10L * m + n);
        double[] a = gaussian(rnd, m, n);
        double[] p = Polar.factor(a, m, n);
        // Orthonormal columns (tall) or rows (wide).
        if (m >= n) {
            assertTrue(orthonormalityError(p, m, n) < 1e-12);
        } else {
            assertTrue(orthonormalityError(LinalgTesting.transposeForTest(p, m, n), n, m) < 1e-12);
        }
        var svd = DecompositionFactory_DDRM.svd(m, n, true, true, true);
        assertTrue(svd.decompose(new DMatrixRMaj(m, n, true, a.clone())));
        DMatrixRMaj expected = new DMatrixRMaj(m, n);
        CommonOps_DDRM.multTransB(svd.getU(null, false), svd.getV(null, false), expected);
        assertArrayEquals(expected.data, p, 1e-11);
    }

    @Test
    void invariantToSignFlipsOfSingularPairs() {
        Random rnd = new Random(5);
        double[] a = gaussian(rnd, 25, 15);
        Svd.Result r = Svd.decompose(a, 25, 15);
        double[] u = r.u().clone();
        double[] v = r.v().clone();
        for (int j = 0; j < 15; j += 2) {
            for (int i = 0; i < 25; i++) {
                u[i * 15 + j] = -u[i * 15 + j];
            }
            for (int i = 0; i < 15; i++) {
                v[i * 15 + j] = -v[i * 15 + j];
            }
        }
        double[] flipped = Polar.fromSvd(new Svd.Result(25, 15, 15, u, r.s(), v));
        assertArrayEquals(Polar.fromSvd(r), flipped, 1e-15);
    }

    @Test
    void recoversTheOrthogonalFactorOfQTimesSpd() {
        Random rnd = new Random(8);
        int m = 30;
        int n = 12;
        double[] q = LinalgTesting.randomOrthonormal(rnd, m, n);
        double[] b = gaussian(rnd, n, n);
        double[] s = new double[n * n]; // BᵀB + I, symmetric positive definite
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double sum = i == j ? 1 : 0;
                for (int p = 0; p < n; p++) {
                    sum += b[p * n + i] * b[p * n + j];
                }
                s[i * n + j] = sum;
            }
        }
        double[] a = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int p = 0; p < n; p++) {
                    sum += q[i * n + p] * s[p * n + j];
                }
                a[i * n + j] = sum;
            }
        }
        assertArrayEquals(q, Polar.factor(a, m, n), 1e-11);
    }

    @Test
    void floatAndTensorOverloads() {
        Random rnd = new Random(2);
        float[] f = new float[8 * 5];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) rnd.nextGaussian();
        }
        double[] p = Polar.factor(f, 8, 5);
        Tensor t = Polar.factor(Tensor.of(f, 8, 5));
        assertEquals(8, t.rows());
        assertEquals(5, t.cols());
        for (int i = 0; i < p.length; i++) {
            assertEquals((float) p[i], t.data()[i]);
        }
    }
}
