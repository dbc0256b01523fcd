package dev.oialr4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.oialr4j.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The transformer kernels give bit-identical results on one and on three threads (the split differs, the
 * per-element order must not), on sizes large enough to be split; and the drop-path mask follows the
 * counter-based draw. Values are checked against references in the gradient tests of autograd.
 */
class CpuTransformerKernelsTest {

    private static Tensor random(SplittableRandom rng, int... dims) {
        Tensor t = Tensor.zeros(dims);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rng.nextDouble(-2, 2);
        }
        return t;
    }

    /** Runs every kernel on fixed inputs and returns all outputs concatenated. */
    private static float[] runAll(CpuBackend be) {
        SplittableRandom rng = new SplittableRandom(11);
        int rows = 1300;
        int cols = 203;
        Tensor x = random(rng, rows, cols);
        Tensor g = random(rng, cols);
        Tensor b = random(rng, cols);
        Tensor y = be.zeros(rows, cols);
        Tensor mean = be.zeros(rows);
        Tensor rstd = be.zeros(rows);
        be.layerNorm(x, g, b, 1e-5f, y, mean, rstd);
        Tensor dy = random(rng, rows, cols);
        Tensor dx = be.zeros(rows, cols);
        Tensor dg = be.zeros(cols);
        Tensor db = be.zeros(cols);
        be.layerNormBackward(x, g, mean, rstd, dy, dx, dg, db);

        int batch = 24;
        int t = 37;
        int d = 20;
        Tensor q = random(rng, batch, t, d);
        Tensor k = random(rng, batch, t, d);
        Tensor v = random(rng, batch, t, d);
        Tensor probs = be.zeros(batch, t, t);
        Tensor out = be.zeros(batch, t, d);
        be.attention(q, k, v, null, 0.3f, probs, out);
        Tensor dOut = random(rng, batch, t, d);
        Tensor dq = be.zeros(batch, t, d);
        Tensor dk = be.zeros(batch, t, d);
        Tensor dv = be.zeros(batch, t, d);
        be.attentionBackward(q, k, v, probs, dOut, 0.3f, dq, dk, dv);
        Tensor bmm = be.zeros(batch, t, t);
        be.batchedGemm(false, true, 1f, q, k, 0f, bmm);

        Tensor qkv = random(rng, 16, t, 3 * 4 * 8);
        Tensor mhProbs = be.zeros(16 * 4, t, t);
        Tensor mhOut = be.zeros(16, t, 4 * 8);
        be.multiHeadAttention(qkv, 4, null, 0.35f, mhProbs, mhOut);
        Tensor dQkv = be.zeros(16, t, 3 * 4 * 8);
        be.multiHeadAttentionBackward(qkv, 4, mhProbs, random(rng, 16, t, 4 * 8), 0.35f, dQkv);

        Tensor big = random(rng, 64, 50, 3, 4, 32);
        Tensor perm = be.zeros(3, 64, 4, 50, 32);
        be.permute(big, new int[] {2, 0, 3, 1, 4}, perm);
        Tensor scaled = be.zeros(64, 50 * 3 * 4 * 32);
        Tensor mask = be.zeros(64);
        be.dropPathMask(0.25f, 5, mask);
        be.scaleSamples(big.reshape(64, 50 * 3 * 4 * 32), mask, scaled);

        Tensor[] all = {y, mean, rstd, dx, dg, db, probs, out, dq, dk, dv, bmm, mhProbs, mhOut, dQkv, perm, scaled};
        int n = 0;
        for (Tensor a : all) {
            n += a.size();
        }
        float[] cat = new float[n];
        int off = 0;
        for (Tensor a : all) {
            System.arraycopy(a.data(), 0, cat, off, a.size());
            off += a.size();
        }
        return cat;
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        float[] one;
        float[] three;
        try (CpuBackend be = new CpuBackend(1)) {
            one = runAll(be);
        }
        try (CpuBackend be = new CpuBackend(3)) {
            three = runAll(be);
        }
        assertArrayEquals(one, three);
    }

    @Test
    void softmaxExpIsAccurateAndTheVectorAndScalarPathsAgreeBitForBit() {
        SplittableRandom rng = new SplittableRandom(21);
        int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
        float[] xs = new float[lanes * 4000];
        for (int i = 0; i < xs.length; i++) {
            // mostly the softmax range, plus the edges: 0, tiny, below the cut-off, -∞
            xs[i] = switch (i % 50) {
                case 0 -> 0f;
                case 1 -> -1e-30f;
                case 2 -> -87.29f;
                case 3 -> -90f;
                case 4 -> Float.NEGATIVE_INFINITY;
                default -> (float) -rng.nextDouble(0, i % 3 == 0 ? 80 : 12);
            };
        }
        double worst = 0;
        for (int i = 0; i < xs.length; i += lanes) {
            float[] v = new float[lanes];
            CpuAttention.expNonPositive(jdk.incubator.vector.FloatVector.fromArray(
                    jdk.incubator.vector.FloatVector.SPECIES_PREFERRED, xs, i)).intoArray(v, 0);
            for (int l = 0; l < lanes; l++) {
                float x = xs[i + l];
                float scalar = CpuAttention.expNonPositive(x);
                assertEquals(Float.floatToRawIntBits(scalar), Float.floatToRawIntBits(v[l]), "x = " + x);
                double ref = Math.exp(x);
                if (x < -87.3f) {
                    assertEquals(0f, scalar, 0f, "x = " + x + " is below the cut-off");
                } else {
                    worst = Math.max(worst, Math.abs(scalar - ref) / ref);
                }
            }
        }
        // a few ulp (2⁻²³ ≈ 1.19e-7 each) over the whole range
        org.junit.jupiter.api.Assertions.assertTrue(worst < 4e-7, "worst relative error " + worst);
    }

    @Test
    void dropPathMaskFollowsTheCounterDraw() {
        try (CpuBackend be = new CpuBackend(2)) {
            Tensor mask = be.zeros(1000);
            be.dropPathMask(0.3f, 77, mask);
            int kept = 0;
            for (int i = 0; i < 1000; i++) {
                float expected = CounterRandom.uniform(77, i) >= 0.3f ? 1f / 0.7f : 0f;
                assertEquals(expected, mask.data()[i], 0f, "sample " + i);
                kept += expected > 0 ? 1 : 0;
            }
            // 700 expected; 5 standard deviations of a binomial(1000, 0.7) is about 72
            assertEquals(700, kept, 72);
            assertThrows(IllegalArgumentException.class, () -> be.dropPathMask(1f, 1, mask));
        }
    }

    @Test
    void shapeErrorsNameTheShapes() {
        try (CpuBackend be = new CpuBackend(1)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> be.permute(Tensor.zeros(2, 3), new int[] {1, 0}, Tensor.zeros(2, 3)));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("[3, 2]"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> be.narrow(Tensor.zeros(2, 3, 4), 2, Tensor.zeros(2, 2, 4)));
            assertThrows(IllegalArgumentException.class, () -> be.batchedGemm(false, false, 1f, Tensor.zeros(2, 3, 4),
                    Tensor.zeros(2, 5, 4), 0f, Tensor.zeros(2, 3, 4)));
        }
    }
}
