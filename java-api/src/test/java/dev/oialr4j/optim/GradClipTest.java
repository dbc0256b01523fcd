package dev.oialr4j.optim;

import static dev.oialr4j.optim.OptimTestSupport.param;
import static dev.oialr4j.optim.OptimTestSupport.setGrad;
import static dev.oialr4j.optim.OptimTestSupport.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.CpuBackend;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Global-norm clipping against a double computation of the norm. Tolerances: the returned norm 1e-6
 * relative; clipped gradients 1e-6 relative to g * maxNorm / norm; clipped norm within 1e-5 of maxNorm
 * and not above it.
 */
class GradClipTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    @Test
    void clipsToMaxNormAndReturnsThePreClipNorm() {
        Parameter a = param("a", 1, 30, 40);
        Parameter b = param("b", 2, 40_000); // exercises the multi-threaded reduction
        Parameter frozen = param("frozen", 3, 5);
        Parameter stale = param("stale", 4, 6);
        float[] ga = uniform(5, 1200, -3, 3);
        float[] gb = uniform(6, 40_000, -0.5, 0.5);
        float[] gFrozen = uniform(7, 5, 100, 200);
        float[] gStale = uniform(8, 6, 100, 200);
        setGrad(be, a, ga);
        setGrad(be, b, gb);
        setGrad(be, frozen, gFrozen);
        frozen.setRequiresGrad(false);
        setGrad(be, stale, gStale);
        stale.zeroGrad(); // keeps its buffer but the gradient is stale: it must neither count nor change
        double sq = 0;
        for (float g : ga) {
            sq += (double) g * g;
        }
        for (float g : gb) {
            sq += (double) g * g;
        }
        double norm = Math.sqrt(sq);
        double maxNorm = 1.5;
        assertTrue(norm > 10 * maxNorm);
        double returned = GradClip.clipGlobalNorm(be, List.of(a, b, frozen, stale), maxNorm);
        assertEquals(norm, returned, 1e-6 * norm, "pre-clip norm");
        double post = 0;
        double f = maxNorm / norm;
        float[][] gs = {ga, gb};
        Parameter[] ps = {a, b};
        for (int k = 0; k < 2; k++) {
            float[] got = ps[k].grad().data();
            for (int i = 0; i < got.length; i++) {
                assertEquals(gs[k][i] * f, got[i], 1e-6 * Math.abs(gs[k][i] * f) + 1e-12, ps[k].name() + "[" + i + "]");
                post += (double) got[i] * got[i];
            }
        }
        assertEquals(maxNorm, Math.sqrt(post), 1e-5 * maxNorm, "clipped norm");
        assertTrue(Math.sqrt(post) <= maxNorm * (1 + 1e-6), "clipped norm must not exceed maxNorm");
        assertNull(frozen.grad());
        assertArrayEquals(gStale, stale.grad().data(), "a stale gradient buffer is untouched");
    }

    @Test
    void noOpBelowMaxNorm() {
        Parameter a = param("a", 9, 3, 4);
        float[] ga = uniform(10, 12, -1, 1);
        setGrad(be, a, ga);
        double sq = 0;
        for (float g : ga) {
            sq += (double) g * g;
        }
        double returned = GradClip.clipGlobalNorm(be, List.of(a), 100.0);
        assertEquals(Math.sqrt(sq), returned, 1e-6 * Math.sqrt(sq));
        assertArrayEquals(ga, a.grad().data(), "gradients below the limit are bit-identical");
        assertEquals(0.0, GradClip.clipGlobalNorm(be, List.of(), 1.0));
        assertThrows(IllegalArgumentException.class, () -> GradClip.clipGlobalNorm(be, List.of(a), 0));
        assertThrows(IllegalArgumentException.class, () -> GradClip.clipGlobalNorm(be, List.of(a), Double.NaN));
    }
}
