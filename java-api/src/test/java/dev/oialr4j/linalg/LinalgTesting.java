package dev.oialr4j.linalg;

import java.util.Random;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;

/** Test inputs and measures for the linalg tests; the reference decompositions come from EJML. */
final class LinalgTesting {

    private LinalgTesting() {}

    static double[] gaussian(Random rnd, int m, int n) {
        double[] a = new double[m * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = rnd.nextGaussian();
        }
        return a;
    }

    /** A random m×k matrix with orthonormal columns (m ≥ k), from EJML's QR of a Gaussian matrix. */
    static double[] randomOrthonormal(Random rnd, int m, int k) {
        var qr = DecompositionFactory_DDRM.qr(m, k);
        if (!qr.decompose(new DMatrixRMaj(m, k, true, gaussian(rnd, m, k)))) {
            throw new AssertionError("EJML QR failed");
        }
        DMatrixRMaj q = qr.getQ(null, true);
        return q.data.clone();
    }

    /** U·diag(s)·Vᵀ with U m×k, V n×k row-major. */
    static double[] compose(double[] u, double[] s, double[] v, int m, int n, int k) {
        double[] a = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int p = 0; p < k; p++) {
                    sum += u[i * k + p] * s[p] * v[j * k + p];
                }
                a[i * n + j] = sum;
            }
        }
        return a;
    }

    static double frobenius(double[] a) {
        double s = 0;
        for (double x : a) {
            s += x * x;
        }
        return Math.sqrt(s);
    }

    static double relativeError(double[] expected, double[] actual) {
        double num = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = expected[i] - actual[i];
            num += d * d;
        }
        double den = frobenius(expected);
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num) / den;
    }

    /** max |XᵀX − I| over the k columns of a rows×k row-major matrix. */
    static double orthonormalityError(double[] x, int rows, int k) {
        double worst = 0;
        for (int i = 0; i < k; i++) {
            for (int j = i; j < k; j++) {
                double dot = 0;
                for (int p = 0; p < rows; p++) {
                    dot += x[p * k + i] * x[p * k + j];
                }
                worst = Math.max(worst, Math.abs(dot - (i == j ? 1 : 0)));
            }
        }
        return worst;
    }

    /** EJML's singular values of a, descending. */
    static double[] referenceSingularValues(double[] a, int m, int n) {
        var svd = DecompositionFactory_DDRM.svd(m, n, false, false, false);
        if (!svd.decompose(new DMatrixRMaj(m, n, true, a.clone()))) {
            throw new AssertionError("EJML SVD failed");
        }
        double[] s = svd.getSingularValues();
        int k = Math.min(m, n);
        double[] out = java.util.Arrays.copyOf(s, k);
        java.util.Arrays.sort(out);
        for (int i = 0; i < k / 2; i++) {
            double t = out[i];
            out[i] = out[k - 1 - i];
            out[k - 1 - i] = t;
        }
        return out;
    }

    /** The n×m transpose of a row-major m×n matrix. */
    static double[] transposeForTest(double[] a, int m, int n) {
        double[] t = new double[a.length];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                t[j * m + i] = a[i * n + j];
            }
        }
        return t;
    }
}
