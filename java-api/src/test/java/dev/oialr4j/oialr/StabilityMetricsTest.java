package dev.oialr4j.oialr;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Sequential;
import dev.oialr4j.tensor.Tensor;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Analytic cases of the two analysis metrics, and the factored path against the dense one. */
class StabilityMetricsTest {

    @Test
    void identicalBasesAreFullyStableAndOppositeOnesAreMinusOne() {
        double[] b = {1, 0, 0, 1, 0, 0}; // 3×2 with orthonormal columns
        double[] neg = {-1, 0, 0, -1, 0, 0};
        assertEquals(1.0, StabilityMetrics.stability(b, b, 3, 2), 1e-15);
        assertEquals(-1.0, StabilityMetrics.stability(b, neg, 3, 2), 1e-15);
        double[] half = {1, 0, 0, 0, 0, 1}; // second column rotated by 90°
        assertEquals(0.5, StabilityMetrics.stability(b, half, 3, 2), 1e-15);
    }

    @Test
    void similarityUsesTheStatedNormalisation() {
        double[] r = {2, 1, 0, 3};
        assertEquals(1.0, StabilityMetrics.similarity(r, r), 1e-15);
        double[] zero = new double[4];
        assertEquals(0.0, StabilityMetrics.similarity(r, zero), 1e-15);
        double[] twice = {4, 2, 0, 6};
        // ‖R − 2R‖ / (‖R‖ + ‖2R‖) = 1/3
        assertEquals(1 - 1.0 / 3, StabilityMetrics.similarity(r, twice), 1e-15);
    }

    @Test
    void lowRankSnapshotMatchesTheDenseSnapshotOfTheSameWeight() {
        try (CpuBackend be = new CpuBackend(1)) {
            SplittableRandom rng = new SplittableRandom(5);
            int m = 12;
            int n = 9;
            int r = n; // full rank, so the polar factor is unique and both paths must agree
            Linear dense = new Linear(n, m, true, rng);
            Sequential model = new Sequential(dense, new Linear(m, 3, true, rng));
            Map<String, StabilityMetrics.Snapshot> before = StabilityMetrics.snapshot(model, be);
            OialrConfig cfg = OialrConfig.builder().delay(1).cutoffFraction(0).build();
            var opt = new dev.oialr4j.optim.Sgd(be, dev.oialr4j.optim.ParamGroup.decayMatricesOnly(
                    model.parameters(), 0), 0.1, 0, false);
            Oialr oialr = new Oialr(cfg);
            oialr.convert(model, opt, be);
            LowRankLinear lr = oialr.lowRankLayers().get(0);
            assertEquals(r, lr.rank());
            // Make Σ non-diagonal so the factored path has to do its own SVD.
            float[] s = lr.sigma().value().data();
            for (int i = 0; i < s.length; i++) {
                s[i] += (float) rng.nextDouble(-0.05, 0.05);
            }
            Map<String, StabilityMetrics.Snapshot> low = StabilityMetrics.snapshot(model, be);
            // The dense reference of the perturbed weight.
            Linear back = lr.toDense(be);
            Sequential denseModel = new Sequential(back, new Linear(m, 3, true, rng));
            StabilityMetrics.Snapshot ref = StabilityMetrics.snapshot(denseModel, be).get("0");
            StabilityMetrics.Snapshot got = low.get("0");
            assertEquals(ref.m(), got.m());
            assertEquals(ref.n(), got.n());
            assertEquals(1.0, StabilityMetrics.stability(ref.basis(), got.basis(), m, n), 1e-5);
            assertEquals(1.0, StabilityMetrics.similarity(ref.r(), got.r()), 1e-5);
            // And the perturbation moved the basis a little, not a lot.
            double st = StabilityMetrics.stability(before.get("0").basis(), got.basis(), m, n);
            assertTrue(st < 1 && st > 0.9, "stability after a small perturbation: " + st);
        }
    }

    @Test
    void wideWeightsAreTransposed() {
        try (CpuBackend be = new CpuBackend(1)) {
            Linear wide = new Linear(10, 4, false, new SplittableRandom(3));
            Sequential model = new Sequential(wide, new Linear(4, 2, true, new SplittableRandom(4)));
            StabilityMetrics.Snapshot s = StabilityMetrics.snapshot(model, be).get("0");
            assertEquals(10, s.m());
            assertEquals(4, s.n());
            assertEquals(16, s.r().length);
            Tensor unused = wide.weight().value();
            assertEquals(40, unused.size());
        }
    }

    @Test
    void convolutionsAreMeasuredThroughTheirMatrixViewBeforeAndAfterConversion() {
        try (CpuBackend be = new CpuBackend(1)) {
            SplittableRandom rng = new SplittableRandom(8);
            // 6 output channels, 3·2·2 = 12 columns: the view is 6×12, decomposed through its transpose.
            var conv = new dev.oialr4j.nn.Conv2d(3, 6, 2, dev.oialr4j.backend.Conv2dOptions.DEFAULT, true, rng);
            Sequential model = new Sequential(conv, new dev.oialr4j.nn.Flatten(), new Linear(6 * 3 * 3, 2, true, rng));
            Map<String, StabilityMetrics.Snapshot> before = StabilityMetrics.snapshot(model, be);
            StabilityMetrics.Snapshot direct = StabilityMetrics.ofDense(
                    DenseOps.toDouble(conv.weight().value().data()), 6, 12);
            assertEquals(12, before.get("0").m());
            assertEquals(6, before.get("0").n());
            assertEquals(1.0, StabilityMetrics.stability(direct.basis(), before.get("0").basis(), 12, 6), 1e-12);
            var opt = new dev.oialr4j.optim.Sgd(be, dev.oialr4j.optim.ParamGroup.decayMatricesOnly(
                    model.parameters(), 0), 0.1, 0, false);
            Oialr oialr = new Oialr(OialrConfig.builder().delay(1).cutoffFraction(0).build());
            oialr.convert(model, opt, be);
            assertTrue(model.namedModules().get("0") instanceof dev.oialr4j.lowrank.LowRankConv2d,
                    "the convolution should have been converted");
            StabilityMetrics.Snapshot after = StabilityMetrics.snapshot(model, be).get("0");
            // Conversion at full rank keeps the weight, so its basis and mixing are unchanged.
            assertEquals(1.0, StabilityMetrics.stability(before.get("0").basis(), after.basis(), 12, 6), 1e-5);
            assertEquals(1.0, StabilityMetrics.similarity(before.get("0").r(), after.r()), 1e-5);
        }
    }
}
