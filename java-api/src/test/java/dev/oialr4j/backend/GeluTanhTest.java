package dev.oialr4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.tensor.Tensor;
import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/** GELU's tanh: accurate, and the same bits in vector lanes and scalar tails, on any thread count. */
class GeluTanhTest {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Test
    void tanhIsAccurateAndVectorAndScalarAgreeBitForBit() {
        Random rnd = new Random(5);
        float[] z = new float[S.length() * 4096];
        for (int i = 0; i < z.length; i++) {
            z[i] = switch (i % 4) {
                case 0 -> (float) (rnd.nextGaussian() * 3);
                case 1 -> (float) (rnd.nextGaussian() * 1e-3);
                case 2 -> (float) ((rnd.nextDouble() - 0.5) * 100);
                default -> (float) (rnd.nextGaussian() * 20);
            };
        }
        z[0] = 0f;
        z[1] = -0f;
        z[2] = Float.POSITIVE_INFINITY;
        z[3] = Float.NEGATIVE_INFINITY;
        float[] v = new float[z.length];
        for (int i = 0; i < z.length; i += S.length()) {
            CpuBackend.tanh(FloatVector.fromArray(S, z, i)).intoArray(v, i);
        }
        double worst = 0;
        for (int i = 0; i < z.length; i++) {
            float s = CpuBackend.tanh(z[i]);
            assertEquals(Float.floatToIntBits(s), Float.floatToIntBits(v[i]), "lane vs scalar at z = " + z[i]);
            worst = Math.max(worst, Math.abs(s - Math.tanh(z[i])));
        }
        assertTrue(worst < 4e-7, "max |tanh error| = " + worst);
        assertEquals(1f, CpuBackend.tanh(Float.POSITIVE_INFINITY));
        assertEquals(-1f, CpuBackend.tanh(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(CpuBackend.tanh(Float.NaN)));
    }

    @Test
    void geluForwardAndBackwardDoNotDependOnTheThreadCount() {
        Random rnd = new Random(6);
        int n = 100_003; // not a multiple of any vector length, so every split has scalar tails
        float[] x = new float[n];
        float[] g = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextGaussian() * 2);
            g[i] = (float) rnd.nextGaussian();
        }
        float[][] fwd = new float[2][];
        float[][] bwd = new float[2][];
        int[] threads = {1, 3};
        for (int t = 0; t < 2; t++) {
            try (CpuBackend be = new CpuBackend(threads[t])) {
                Tensor out = be.zeros(n);
                be.gelu(Tensor.of(x.clone(), n), out);
                fwd[t] = out.data();
                Tensor dx = be.zeros(n);
                be.geluBackward(Tensor.of(x.clone(), n), Tensor.of(g.clone(), n), dx);
                bwd[t] = dx.data();
            }
        }
        assertArrayEquals(fwd[0], fwd[1]);
        assertArrayEquals(bwd[0], bwd[1]);
        for (int i = 0; i < n; i += 997) {
            double xv = x[i];
            double ref = 0.5 * xv * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (xv + 0.044715 * xv * xv * xv)));
            assertEquals(ref, fwd[0][i], 1e-6 * (1 + Math.abs(ref)), "gelu(" + xv + ")");
        }
    }
}
