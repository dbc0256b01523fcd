package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.BackendProvider;
import dev.oialr4j.tensor.Device;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class CudaBackendProviderTest {

    @Test
    void registeredAsAServiceForCuda() {
        var providers = ServiceLoader.load(BackendProvider.class).stream()
                .map(ServiceLoader.Provider::get)
                .filter(p -> p instanceof CudaBackendProvider)
                .toList();
        assertEquals(1, providers.size());
        assertEquals(Device.Type.CUDA, providers.getFirst().deviceType());
    }

    @Test
    void withoutDriverCreateRefusesWithTheReason() {
        Assumptions.assumeTrue(CudaDriver.loadFailure().isPresent(), "a CUDA driver is installed here");
        var provider = new CudaBackendProvider();
        String reason = provider.unavailableReason().orElseThrow();
        assertTrue(!reason.isBlank() && !reason.contains("\n"), reason);
        var e = assertThrows(UnsupportedOperationException.class, () -> provider.create(Device.cuda(0)));
        assertEquals(reason, e.getMessage());
    }

    @Test
    void withoutDriverTheReasonNamesLibcuda() {
        Assumptions.assumeTrue(CudaDriver.loadFailure().isPresent(), "a CUDA driver is installed here");
        assertEquals("no CUDA driver (libcuda.so.1) was found on this machine",
                new CudaBackendProvider().unavailableReason().orElseThrow());
    }

    @Test
    void withoutDriverCallsThrowNamingTheCall() {
        Assumptions.assumeTrue(CudaDriver.loadFailure().isPresent(), "a CUDA driver is installed here");
        var e = assertThrows(CudaException.class, CudaDriver::deviceCount);
        assertEquals("cuDeviceGetCount failed: no CUDA driver (libcuda.so.1) was found on this machine",
                e.getMessage());
        assertEquals(CudaException.NOT_CALLED, e.status());
    }

    @Test
    void exceptionMessageNamesCallAndStatus() {
        var e = new CudaException("cuDeviceGetCount", 100, "CUDA_ERROR_NO_DEVICE");
        assertEquals("cuDeviceGetCount failed: CUDA_ERROR_NO_DEVICE (100)", e.getMessage());
        assertEquals("cuDeviceGetCount", e.call());
        assertEquals(100, e.status());
    }
}
