package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.oialr4j.tensor.Device;
import dev.oialr4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/**
 * The GPU for GPU tests: one {@link CudaBackend} per test JVM, or a JUnit assumption failure (the test is
 * reported as skipped, with the reason) where the provider says CUDA is unavailable.
 */
final class Gpu {

    private static CudaBackend backend;
    private static CudaBackend tf32;

    private Gpu() {
    }

    static Optional<String> unavailableReason() {
        return new CudaBackendProvider().unavailableReason();
    }

    static synchronized CudaBackend backendOrSkip() {
        var reason = unavailableReason();
        Assumptions.assumeTrue(reason.isEmpty(), () -> "needs a GPU: " + reason.orElse(""));
        if (backend == null) {
            backend = (CudaBackend) new CudaBackendProvider().create(Device.cuda(0));
        }
        return backend;
    }

    /** A second backend on the same GPU with TF32 GEMMs. */
    static synchronized CudaBackend tf32BackendOrSkip() {
        backendOrSkip();
        if (tf32 == null) {
            tf32 = new CudaBackend(Device.cuda(0), new CudaBackend.Options(true),
                    dev.oialr4j.kernels.KernelImage.fatbin().orElseThrow());
        }
        return tf32;
    }

    /** Device ints in a float tensor's memory (same element size). */
    static Tensor ints(CudaBackend cuda, int[] values) {
        Tensor t = cuda.empty(Math.max(1, values.length));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_INT, Math.max(1, values.length));
            MemorySegment.copy(values, 0, host, JAVA_INT, 0, values.length);
            CudaDriver.copyHostToDevice(cuda.address(t), host, 4L * values.length, cuda.stream());
            cuda.synchronize();
        }
        return t;
    }

    static int[] readInts(CudaBackend cuda, Tensor t, int n) {
        cuda.synchronize();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_INT, Math.max(1, n));
            CudaDriver.copyDeviceToHost(host, cuda.address(t), 4L * n, cuda.stream());
            cuda.synchronize();
            return java.util.Arrays.copyOf(host.toArray(JAVA_INT), n);
        }
    }

    static Tensor bytes(CudaBackend cuda, byte[] values) {
        Tensor t = cuda.empty((values.length + 3) / 4 + 1);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(values.length + 1L);
            MemorySegment.copy(values, 0, host, JAVA_BYTE, 0, values.length);
            CudaDriver.copyHostToDevice(cuda.address(t), host, values.length, cuda.stream());
            cuda.synchronize();
        }
        return t;
    }
}
