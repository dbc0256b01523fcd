package dev.oialr4j.cuda;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.BackendProvider;
import dev.oialr4j.kernels.KernelImage;
import dev.oialr4j.tensor.Device;
import java.util.Optional;

/**
 * Offers the {@link CudaBackend} to {@code Backends} through {@link java.util.ServiceLoader}. The checks run
 * in the order a user can fix them: a driver, a GPU, the kernels, cuBLAS; the first that fails is the
 * reason reported. cuSOLVER is not required by the backend (only by {@link CudaSigmaSvd}, which checks it
 * itself).
 *
 * <p>Neither loading nor constructing this class touches native code; the first
 * {@link #unavailableReason()} does, and its answer is kept for the life of the JVM (drivers and GPUs do
 * not come and go under a running process).
 */
public final class CudaBackendProvider implements BackendProvider {

    @Override
    public Device.Type deviceType() {
        return Device.Type.CUDA;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Optional.ofNullable(Probe.REASON);
    }

    @Override
    public Backend create(Device device) {
        if (Probe.REASON != null) {
            throw new UnsupportedOperationException(Probe.REASON);
        }
        return new CudaBackend(device, CudaBackend.Options.defaults(), KernelImage.fatbin().orElseThrow());
    }

    /** Holder: the probe runs once, on first use. */
    private static final class Probe {
        static final String REASON = probe();
    }

    /** Why CUDA cannot be used here, or null when it can; never throws. */
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
            Optional<String> noCublas = Cublas.loadFailure();
            if (noCublas.isPresent()) {
                return noCublas.get() + " (install the CUDA toolkit's cuBLAS or put it on LD_LIBRARY_PATH)";
            }
            return null;
        } catch (RuntimeException | LinkageError e) {
            return "probing the CUDA driver failed (" + e + ")";
        }
    }
}
