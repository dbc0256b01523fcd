package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
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

    private static void check(String call, int status) {
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
