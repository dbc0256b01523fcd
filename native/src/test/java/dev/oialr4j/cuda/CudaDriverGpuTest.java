package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Runs against the real driver; skipped, with the reason, where there is none. */
class CudaDriverGpuTest {

    private static List<CudaDriver.DeviceInfo> devicesOrSkip() {
        Assumptions.assumeTrue(CudaDriver.loadFailure().isEmpty(),
                () -> "needs a GPU: " + CudaDriver.loadFailure().orElse(""));
        List<CudaDriver.DeviceInfo> devices = CudaDriver.devices();
        Assumptions.assumeFalse(devices.isEmpty(), "needs a GPU: the CUDA driver found none");
        return devices;
    }

    @Test
    void listsDevices() {
        List<CudaDriver.DeviceInfo> devices = devicesOrSkip();
        assertTrue(CudaDriver.driverVersion() >= 11000, "driver version " + CudaDriver.driverVersion());
        for (var d : devices) {
            System.out.println("CUDA device: " + d);
            assertFalse(d.name().isBlank());
            assertTrue(d.computeMajor() >= 3, d.toString());
            assertTrue(d.totalMemoryBytes() > 0, d.toString());
        }
        assertEquals(devices.size(), CudaDriver.deviceCount());
    }

    @Test
    void errorNamesComeFromTheDriver() {
        devicesOrSkip();
        assertEquals("CUDA_ERROR_NO_DEVICE", CudaDriver.errorName(CudaDriver.CUDA_ERROR_NO_DEVICE));
        assertEquals("CUDA_SUCCESS", CudaDriver.errorName(0));
        assertEquals("CUresult 123456", CudaDriver.errorName(123456));
    }

    @Test
    void providerOffersTheBackendOnAGpu() {
        devicesOrSkip();
        var reason = new CudaBackendProvider().unavailableReason();
        assertTrue(reason.isEmpty(), () -> "a GPU is present but the provider says: " + reason.orElse(""));
    }
}
