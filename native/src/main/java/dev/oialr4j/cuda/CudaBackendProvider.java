package dev.oialr4j.cuda;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.BackendProvider;
import dev.oialr4j.kernels.KernelImage;
import dev.oialr4j.tensor.Device;
import java.util.Optional;

/**
 * Offers the CUDA backend to {@code Backends} through {@link java.util.ServiceLoader}. The checks run in
 * the order a user can fix them: a driver, a GPU, the kernels, and finally the backend itself, which does
 * not exist yet, so this provider always reports itself unavailable with the first reason that applies.
 *
 * <p>Neither loading nor constructing this class touches native code; the first
 * {@link #unavailableReason()} does, and its answer is kept for the life of the JVM (drivers and GPUs do
 * not come and go under a running process).
 */
public final class CudaBackendProvider implements BackendProvider {

    static final String NOT_IMPLEMENTED = "the CUDA backend's operations are not implemented yet in this build";

    @Override
    public Device.Type deviceType() {
        return Device.Type.CUDA;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Optional.of(Probe.REASON);
    }

    @Override
    public Backend create(Device device) {
        throw new UnsupportedOperationException(Probe.REASON);
    }

    /** Holder: the probe runs once, on first use. */
    private static final class Probe {
        static final String REASON = probe();
    }

    /** Why CUDA cannot be used here; never throws. */
    static String probe() {
        try {
            Optional<String> noDriver = CudaDriver.loadFailure();
            if (noDriver.isPresent()) {
                return noDriver.get();
            }
            try {
                CudaDriver.init();
            } catch (CudaException e) {
                return e.status() == CudaDriver.CUDA_ERROR_NO_DEVICE
                        ? "the CUDA driver is installed but found no GPU (" + e.getMessage() + ")"
                        : "the CUDA driver could not be initialised (" + e.getMessage() + ")";
            }
            if (CudaDriver.deviceCount() == 0) {
                return "the CUDA driver is installed but found no GPU";
            }
            if (KernelImage.fatbin().isEmpty()) {
                return "the CUDA kernels (" + KernelImage.RESOURCE + ") are missing: this oialr4j-kernels jar was"
                        + " built without nvcc";
            }
            return NOT_IMPLEMENTED;
        } catch (RuntimeException | LinkageError e) {
            return "probing the CUDA driver failed (" + e + ")";
        }
    }
}
