package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * {@link CudaSigmaSvd} with the real cuSOLVER and cuBLAS: batched (r ≤ 32) and single (r = 40) Jacobi SVDs,
 * rotations and the moment rotation against a double SVD on the host (the same checks the stand-in
 * libraries run in {@link FakeDriverTest}); skipped without a GPU or without cuSOLVER.
 */
class CudaSigmaSvdGpuTest {

    @Test
    void batchedSigmaSvdAndRotationsMatchADoubleSvd() {
        CudaBackend cuda = Gpu.backendOrSkip();
        Assumptions.assumeTrue(Cusolver.loadFailure().isEmpty(), () -> "needs cuSOLVER: " + Cusolver.loadFailure().orElse(""));
        assertNull(FakeBackendMain.checkSigmaSvd(cuda));
    }
}
