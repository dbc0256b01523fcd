package dev.oialr4j.oialr;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Sequential;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.optim.Sgd;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The repair path: when U drifts from orthonormal, the next checked round restores it by QR and folds
 * R into Σ, leaving U Σ Vᵀ unchanged (tolerance 1e-5 relative, float storage).
 */
class OialrReorthonormaliseTest {

    @Test
    void driftedBasisIsRestoredAndTheProductKept() {
        try (CpuBackend be = new CpuBackend(1)) {
            SplittableRandom rng = new SplittableRandom(9);
            Sequential model = new Sequential(new Linear(20, 24, true, rng), new Linear(24, 3, true, rng));
            Sgd opt = new Sgd(be, ParamGroup.decayMatricesOnly(model.parameters(), 0), 0.1, 0.9, false);
            Oialr oialr = new Oialr(OialrConfig.builder().delay(1).cutoffFraction(0).rolloutFraction(1).build());
            oialr.convert(model, opt, be);
            oialr.updateRound(opt, be); // round 0 (unchecked: fresh bases), Σ diagonal
            LowRankLinear layer = oialr.lowRankLayers().get(0);
            int r = layer.rank();
            oialr.skewBasisForTesting(0, 3, 1.01, be);
            double[] before = OialrTestSupport.product(be, layer);
            double driftBefore = OialrTestSupport.orthonormalityError(
                    OialrTestSupport.host(be, layer.u().value()), layer.outFeatures(), r);
            assertTrue(driftBefore > 1e-3, "the hook must break orthonormality: " + driftBefore);
            assertEquals(0, oialr.reorthonormalisations());
            // Rounds 1..9 are unchecked; round 10 checks and repairs.
            for (int i = 1; i < Oialr.ORTHO_CHECK_EVERY; i++) {
                oialr.updateRound(opt, be);
            }
            assertEquals(0, oialr.reorthonormalisations(), "unchecked rounds must not repair");
            oialr.updateRound(opt, be);
            assertEquals(1, oialr.reorthonormalisations());
            double driftAfter = OialrTestSupport.orthonormalityError(
                    OialrTestSupport.host(be, layer.u().value()), layer.outFeatures(), layer.rank());
            assertTrue(driftAfter < 1e-6, "U must be orthonormal again: " + driftAfter);
            double[] after = OialrTestSupport.product(be, layer);
            assertTrue(OialrTestSupport.relativeError(before, after) < 1e-5,
                    "U Σ Vᵀ must be unchanged: " + OialrTestSupport.relativeError(before, after));
        }
    }
}
