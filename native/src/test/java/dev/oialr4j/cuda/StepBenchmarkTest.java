package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.CpuBackend;
import org.junit.jupiter.api.Test;

/** The step harness of native/gpu-check.sh, on the CPU backend (its CUDA use is checked on a GPU). */
class StepBenchmarkTest {

    @Test
    void timesStepsAndCountsBackendCalls() {
        try (var cpu = new CpuBackend(1)) {
            StepBenchmark.ModelSpec mlp = StepBenchmark.MODELS.get("mlp");
            double[] t = StepBenchmark.time(mlp, cpu, 8, 0, 1, 3);
            assertTrue(t[0] > 0 && t[1] <= t[0] && t[0] <= t[2], "median between p10 and p90: " + t[0]);
            assertEquals(784 * 1024 + 1024 + 2 * (1024 * 1024 + 1024) + 1024 * 10 + 10, (long) t[3], "trainable");
            assertTrue(t[5] > 0 && t[5] <= t[0] * 1.5, "enqueue time " + t[5] + " against the step's " + t[0]);

            StepBenchmark.OpTimer dense = StepBenchmark.profile(mlp, cpu, 8, 0, 2);
            // Four Linears: one forward GEMM each, weight and input gradients for all but the first
            // (whose input needs none).
            assertEquals(4 + 4 + 3, dense.callsPerStep("gemm"), "GEMMs per dense step");
            assertEquals(1, dense.callsPerStep("crossEntropy"));
            StepBenchmark.OpTimer lowRank = StepBenchmark.profile(mlp, cpu, 8, 0.1, 2);
            assertTrue(lowRank.callsPerStep("gemm") > dense.callsPerStep("gemm"),
                    "three factors per converted layer: " + lowRank.callsPerStep("gemm"));
        }
    }

    @Test
    void roundsNeedADeviceRound() {
        try (var cpu = new CpuBackend(1)) {
            assertThrows(IllegalArgumentException.class,
                    () -> StepBenchmark.roundTimes(StepBenchmark.MODELS.get("mlp"), cpu, 0.1, 1));
        }
    }
}
