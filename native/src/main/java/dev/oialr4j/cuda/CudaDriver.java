package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The CUDA driver API calls oialr4j uses, with every {@code CUresult} checked: a failing call throws
 * {@link CudaException} naming the function and the status ({@code cuInit failed:
 * CUDA_ERROR_NO_DEVICE (100)}). Without a driver every call throws {@link CudaException} saying so;
 * {@link #loadFailure()} asks first without throwing.
 */
public final class CudaDriver {

    /** {@code CUDA_SUCCESS}. */
    public static final int CUDA_SUCCESS = 0;
    /** {@code CUDA_ERROR_NO_DEVICE}: the driver is installed but sees no GPU. */
    public static final int CUDA_ERROR_NO_DEVICE = 100;
    /** {@code CUDA_ERROR_OUT_OF_MEMORY}: an allocation did not fit. */
    public static final int CUDA_ERROR_OUT_OF_MEMORY = 2;

    private static final int ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    private static final int ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    private static final int NAME_BUFFER = 256;

    private CudaDriver() {
    }

    /** One GPU as the driver reports it. */
    public record DeviceInfo(int ordinal, String name, int computeMajor, int computeMinor, long totalMemoryBytes) {
        @Override
        public String toString() {
            return String.format("cuda:%d %s (sm_%d%d, %.1f GiB)", ordinal, name, computeMajor, computeMinor,
                    totalMemoryBytes / (double) (1L << 30));
        }
    }

    /** Empty when the driver library is loaded and linked; otherwise why not. Loads it on first call. */
    public static Optional<String> loadFailure() {
        return Optional.ofNullable(DriverLibrary.LOAD_FAILURE);
    }

    /** {@code cuInit(0)}; the driver makes repeated calls cheap. */
    public static void init() {
        check("cuInit", invoke(lib("cuInit").cuInit(), 0));
    }

    /** The driver's CUDA version as 1000 * major + 10 * minor (13000 for CUDA 13.0). */
    public static int driverVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("cuDriverGetVersion", invoke(lib("cuDriverGetVersion").cuDriverGetVersion(), out));
            return out.get(JAVA_INT, 0);
        }
    }

    /** Number of GPUs the driver sees; call {@link #init()} first. */
    public static int deviceCount() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("cuDeviceGetCount", invoke(lib("cuDeviceGetCount").cuDeviceGetCount(), out));
            return out.get(JAVA_INT, 0);
        }
    }

    /** The {@code CUdevice} handle of GPU {@code ordinal}. */
    public static int device(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("cuDeviceGet", invoke(lib("cuDeviceGet").cuDeviceGet(), out, ordinal));
            return out.get(JAVA_INT, 0);
        }
    }

    /** The product name of a device, e.g. {@code NVIDIA H100 80GB HBM3}. */
    public static String deviceName(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(NAME_BUFFER);
            check("cuDeviceGetName", invoke(lib("cuDeviceGetName").cuDeviceGetName(), buf, NAME_BUFFER, device));
            return buf.getString(0);
        }
    }

    /** A {@code CUdevice_attribute} of a device. */
    public static int deviceAttribute(int device, int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check("cuDeviceGetAttribute",
                    invoke(lib("cuDeviceGetAttribute").cuDeviceGetAttribute(), out, attribute, device));
            return out.get(JAVA_INT, 0);
        }
    }

    /** Total memory of a device in bytes. */
    public static long deviceTotalMemory(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check("cuDeviceTotalMem", invoke(lib("cuDeviceTotalMem").cuDeviceTotalMem(), out, device));
            return out.get(JAVA_LONG, 0);
        }
    }

    /** Initialises the driver and describes every GPU it sees (an empty list when it sees none). */
    public static List<DeviceInfo> devices() {
        try {
            init();
        } catch (CudaException e) {
            if (e.status() == CUDA_ERROR_NO_DEVICE) {
                return List.of();
            }
            throw e;
        }
        int count = deviceCount();
        List<DeviceInfo> list = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int dev = device(i);
            list.add(new DeviceInfo(i, deviceName(dev), deviceAttribute(dev, ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                    deviceAttribute(dev, ATTRIBUTE_COMPUTE_CAPABILITY_MINOR), deviceTotalMemory(dev)));
        }
        return List.copyOf(list);
    }

    // ---- contexts -------------------------------------------------------------------------------

    /** Retains the primary context of a device (the one the runtime API and PyTorch share). */
    public static MemorySegment primaryContextRetain(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check("cuDevicePrimaryCtxRetain",
                    invoke(lib("cuDevicePrimaryCtxRetain").cuDevicePrimaryCtxRetain(), out, device));
            return out.get(ADDRESS, 0);
        }
    }

    /** Releases one retain of a device's primary context. */
    public static void primaryContextRelease(int device) {
        check("cuDevicePrimaryCtxRelease", invoke(lib("cuDevicePrimaryCtxRelease").cuDevicePrimaryCtxRelease(), device));
    }

    /** Binds a context to the calling thread (contexts are per thread in the driver API). */
    public static void setCurrentContext(MemorySegment ctx) {
        int rc;
        try {
            rc = (int) lib("cuCtxSetCurrent").cuCtxSetCurrent().invokeExact(ctx);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuCtxSetCurrent", rc);
    }

    /** Waits for all work of the current context. */
    public static void contextSynchronize() {
        check("cuCtxSynchronize", invoke(lib("cuCtxSynchronize").cuCtxSynchronize()));
    }

    // ---- memory ---------------------------------------------------------------------------------

    /** Free and total device memory of the current context's device, in bytes. */
    public static long[] memoryInfo() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(JAVA_LONG);
            MemorySegment total = arena.allocate(JAVA_LONG);
            check("cuMemGetInfo", invoke(lib("cuMemGetInfo").cuMemGetInfo(), free, total));
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        }
    }

    /** {@code cuMemAlloc}: device memory, 256-byte aligned, or {@code CUDA_ERROR_OUT_OF_MEMORY}. */
    public static long memAlloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            int rc;
            try {
                rc = (int) lib("cuMemAlloc").cuMemAlloc().invokeExact(out, bytes);
            } catch (Throwable t) {
                throw rethrow(t);
            }
            check("cuMemAlloc", rc);
            return out.get(JAVA_LONG, 0);
        }
    }

    /** {@code cuMemFree}. */
    public static void memFree(long ptr) {
        int rc;
        try {
            rc = (int) lib("cuMemFree").cuMemFree().invokeExact(ptr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuMemFree", rc);
    }

    /** {@code cuMemAllocAsync}: stream-ordered allocation from the device's default memory pool. */
    public static long memAllocAsync(long bytes, MemorySegment stream) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            int rc;
            try {
                rc = (int) lib("cuMemAllocAsync").cuMemAllocAsync().invokeExact(out, bytes, stream);
            } catch (Throwable t) {
                throw rethrow(t);
            }
            check("cuMemAllocAsync", rc);
            return out.get(JAVA_LONG, 0);
        }
    }

    /** {@code cuMemFreeAsync}. */
    public static void memFreeAsync(long ptr, MemorySegment stream) {
        int rc;
        try {
            rc = (int) lib("cuMemFreeAsync").cuMemFreeAsync().invokeExact(ptr, stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuMemFreeAsync", rc);
    }

    /**
     * {@code cuMemHostAlloc}: page-locked host memory of {@code bytes}, which the device copies from and to
     * without a staging copy (and asynchronously: the memory must stay untouched until the copy is done).
     * Free with {@link #memFreeHost}.
     */
    public static MemorySegment memHostAlloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int rc;
            try {
                rc = (int) lib("cuMemHostAlloc").cuMemHostAlloc().invokeExact(out, bytes, 0);
            } catch (Throwable t) {
                throw rethrow(t);
            }
            check("cuMemHostAlloc", rc);
            return out.get(ADDRESS, 0).reinterpret(bytes);
        }
    }

    /** {@code cuMemFreeHost}. */
    public static void memFreeHost(MemorySegment ptr) {
        int rc;
        try {
            rc = (int) lib("cuMemFreeHost").cuMemFreeHost().invokeExact(ptr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuMemFreeHost", rc);
    }

    /**
     * Host to device, ordered on {@code stream}. From pageable (ordinary off-heap) memory the driver
     * copies {@code src} to a staging buffer before returning, so the caller may reuse it at once.
     */
    public static void copyHostToDevice(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        int rc;
        try {
            rc = (int) lib("cuMemcpyHtoDAsync").cuMemcpyHtoDAsync().invokeExact(dst, src, bytes, stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuMemcpyHtoDAsync", rc);
    }

    /** Device to host, ordered on {@code stream}; synchronise the stream before reading {@code dst}. */
    public static void copyDeviceToHost(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        int rc;
        try {
            rc = (int) lib("cuMemcpyDtoHAsync").cuMemcpyDtoHAsync().invokeExact(dst, src, bytes, stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuMemcpyDtoHAsync", rc);
    }

    /** Device to device, ordered on {@code stream}. */
    public static void copyDeviceToDevice(long dst, long src, long bytes, MemorySegment stream) {
        int rc;
        try {
            rc = (int) lib("cuMemcpyDtoDAsync").cuMemcpyDtoDAsync().invokeExact(dst, src, bytes, stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuMemcpyDtoDAsync", rc);
    }

    /** Sets {@code count} 32-bit words at {@code dst} to {@code value} (a float's raw bits, for fills). */
    public static void memsetD32(long dst, int value, long count, MemorySegment stream) {
        int rc;
        try {
            rc = (int) lib("cuMemsetD32Async").cuMemsetD32Async().invokeExact(dst, value, count, stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuMemsetD32Async", rc);
    }

    // ---- streams and events ---------------------------------------------------------------------

    /** {@code CU_STREAM_NON_BLOCKING}: the stream does not synchronise with the legacy default stream. */
    public static final int STREAM_NON_BLOCKING = 0x1;
    /** {@code CU_EVENT_DISABLE_TIMING}: an event only waited for, which is cheaper to record. */
    public static final int EVENT_DISABLE_TIMING = 0x2;
    /** {@code CU_EVENT_DEFAULT}: an event that records timing. */
    public static final int EVENT_DEFAULT = 0x0;

    public static MemorySegment streamCreate(int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check("cuStreamCreate", invoke(lib("cuStreamCreate").cuStreamCreate(), out, flags));
            return out.get(ADDRESS, 0);
        }
    }

    public static void streamDestroy(MemorySegment stream) {
        check("cuStreamDestroy", invoke(lib("cuStreamDestroy").cuStreamDestroy(), stream));
    }

    /** Waits until all work queued on {@code stream} is done; an asynchronous kernel error surfaces here. */
    public static void streamSynchronize(MemorySegment stream) {
        int rc;
        try {
            rc = (int) lib("cuStreamSynchronize").cuStreamSynchronize().invokeExact(stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuStreamSynchronize", rc);
    }

    public static MemorySegment eventCreate(int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check("cuEventCreate", invoke(lib("cuEventCreate").cuEventCreate(), out, flags));
            return out.get(ADDRESS, 0);
        }
    }

    public static void eventRecord(MemorySegment event, MemorySegment stream) {
        check("cuEventRecord", invoke(lib("cuEventRecord").cuEventRecord(), event, stream));
    }

    public static void eventSynchronize(MemorySegment event) {
        check("cuEventSynchronize", invoke(lib("cuEventSynchronize").cuEventSynchronize(), event));
    }

    /** Milliseconds between two recorded, completed events. */
    public static float eventElapsedMillis(MemorySegment start, MemorySegment end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_FLOAT);
            check("cuEventElapsedTime", invoke(lib("cuEventElapsedTime").cuEventElapsedTime(), out, start, end));
            return out.get(JAVA_FLOAT, 0);
        }
    }

    public static void eventDestroy(MemorySegment event) {
        check("cuEventDestroy", invoke(lib("cuEventDestroy").cuEventDestroy(), event));
    }

    // ---- modules and launches -------------------------------------------------------------------

    /**
     * Loads a fatbin, cubin or PTX image into the current context. The driver picks the SASS for the
     * device or JIT-compiles the PTX. The image is copied into native memory for the call only.
     */
    public static MemorySegment moduleLoadData(byte[] image) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment img = arena.allocate(image.length + 1L, 16); // NUL-terminated: PTX is text
            img.copyFrom(MemorySegment.ofArray(image));
            MemorySegment out = arena.allocate(ADDRESS);
            check("cuModuleLoadData", invoke(lib("cuModuleLoadData").cuModuleLoadData(), out, img));
            return out.get(ADDRESS, 0);
        }
    }

    public static void moduleUnload(MemorySegment module) {
        check("cuModuleUnload", invoke(lib("cuModuleUnload").cuModuleUnload(), module));
    }

    /** A kernel of a loaded module by its (extern "C") name; {@code CUDA_ERROR_NOT_FOUND} if absent. */
    public static MemorySegment moduleGetFunction(MemorySegment module, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int rc = invoke(lib("cuModuleGetFunction").cuModuleGetFunction(), out, module, arena.allocateFrom(name));
            if (rc != CUDA_SUCCESS) {
                throw new CudaException("cuModuleGetFunction(" + name + ")", rc, errorName(rc));
            }
            return out.get(ADDRESS, 0);
        }
    }

    /**
     * {@code cuLaunchKernel}: {@code params} is a {@code void*[]} holding one pointer per kernel argument to
     * that argument's value (see {@link KernelArgs}); the driver copies the values before returning.
     */
    public static void launchKernel(MemorySegment function, int gridX, int gridY, int gridZ, int blockX, int blockY,
            int blockZ, int sharedBytes, MemorySegment stream, MemorySegment params) {
        int rc;
        try {
            rc = (int) lib("cuLaunchKernel").cuLaunchKernel().invokeExact(function, gridX, gridY, gridZ, blockX,
                    blockY, blockZ, sharedBytes, stream, params, MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("cuLaunchKernel", rc);
    }

    /**
     * The symbolic name of a {@code CUresult}, e.g. {@code CUDA_ERROR_NO_DEVICE}. Never throws once the
     * driver is loaded: a code the driver does not know is named {@code CUresult <code>}.
     */
    @SuppressWarnings("restricted") // reinterpret: the driver's string has no size; FFM access is the point here
    public static String errorName(int status) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int rc = invoke(lib("cuGetErrorName").cuGetErrorName(), status, out);
            MemorySegment str = out.get(ADDRESS, 0);
            if (rc != CUDA_SUCCESS || str.equals(MemorySegment.NULL)) {
                return "CUresult " + status;
            }
            // The driver returns a pointer to a static NUL-terminated string of unknown length.
            return str.reinterpret(Long.MAX_VALUE).getString(0);
        }
    }

    static void check(String call, int status) {
        if (status != CUDA_SUCCESS) {
            throw new CudaException(call, status, errorName(status));
        }
    }

    private static DriverLibrary.Bindings lib(String call) {
        DriverLibrary.Bindings b = DriverLibrary.BINDINGS;
        if (b == null) {
            throw new CudaException(call, DriverLibrary.LOAD_FAILURE);
        }
        return b;
    }

    // Downcalls through a handle held in a record are not exact-typed at compile time, so they go through
    // invokeWithArguments' adaptation; the setup calls bound here are far from any hot path.
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("unexpected checked exception from a native call", t);
    }

    private static int invoke(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("unexpected checked exception from a CUDA driver call", t);
        }
    }
}
