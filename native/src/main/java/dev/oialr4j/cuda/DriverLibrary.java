package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Loads the CUDA driver library and links its functions. This is a holder: the JVM initialises it on
 * first use of {@link #BINDINGS}, which only {@link CudaDriver} does, so nothing is loaded until a
 * caller actually asks for CUDA. Loading never throws; a failure is kept as {@link #LOAD_FAILURE}.
 *
 * <p>Types: {@code CUresult}, {@code CUdevice} and the enums are C ints; {@code CUdeviceptr} is a 64-bit
 * integer (JAVA_LONG); {@code size_t} is JAVA_LONG (64-bit Linux only); opaque handles ({@code CUcontext},
 * {@code CUstream}, {@code CUevent}, {@code CUmodule}, {@code CUfunction}) are pointers (ADDRESS).
 * Symbols are the versioned entry points that {@code cuda.h} maps the plain names to ({@code _v2}).
 */
@SuppressWarnings("restricted")
final class DriverLibrary {

    /** The driver's soname; the unversioned libcuda.so exists only where the toolkit is installed. */
    static final String DEFAULT_LIBRARY = "libcuda.so.1";

    /**
     * System property naming another driver library (a path or a soname); tests point it at a stand-in
     * library to check the bindings on machines without a GPU.
     */
    static final String LIBRARY_PROPERTY = "oialr4j.cuda.library";

    /** The linked functions, or null when the library could not be loaded. */
    static final Bindings BINDINGS;

    /** Why the library could not be loaded (one sentence fragment), or null when it was. */
    static final String LOAD_FAILURE;

    /** Method handles of the bound driver functions; each returns a {@code CUresult}. */
    record Bindings(
            MethodHandle cuInit,               // (unsigned flags)
            MethodHandle cuDriverGetVersion,   // (int* version)
            MethodHandle cuDeviceGetCount,     // (int* count)
            MethodHandle cuDeviceGet,          // (CUdevice* device, int ordinal)
            MethodHandle cuDeviceGetName,      // (char* name, int len, CUdevice dev)
            MethodHandle cuDeviceGetAttribute, // (int* value, CUdevice_attribute attrib, CUdevice dev)
            MethodHandle cuDeviceTotalMem,     // (size_t* bytes, CUdevice dev), cuDeviceTotalMem_v2
            MethodHandle cuGetErrorName,       // (CUresult error, const char** name)
            MethodHandle cuDevicePrimaryCtxRetain,  // (CUcontext* ctx, CUdevice dev)
            MethodHandle cuDevicePrimaryCtxRelease, // (CUdevice dev), _v2
            MethodHandle cuCtxSetCurrent,      // (CUcontext ctx)
            MethodHandle cuCtxSynchronize,     // ()
            MethodHandle cuMemGetInfo,         // (size_t* free, size_t* total), _v2
            MethodHandle cuMemAlloc,           // (CUdeviceptr* ptr, size_t bytes), _v2
            MethodHandle cuMemFree,            // (CUdeviceptr ptr), _v2
            MethodHandle cuMemAllocAsync,      // (CUdeviceptr* ptr, size_t bytes, CUstream stream)
            MethodHandle cuMemFreeAsync,       // (CUdeviceptr ptr, CUstream stream)
            MethodHandle cuMemHostAlloc,       // (void** ptr, size_t bytes, unsigned flags): page-locked host memory
            MethodHandle cuMemFreeHost,        // (void* ptr)
            MethodHandle cuMemcpyHtoDAsync,    // (CUdeviceptr dst, const void* src, size_t bytes, CUstream), _v2
            MethodHandle cuMemcpyDtoHAsync,    // (void* dst, CUdeviceptr src, size_t bytes, CUstream), _v2
            MethodHandle cuMemcpyDtoDAsync,    // (CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream), _v2
            MethodHandle cuMemsetD32Async,     // (CUdeviceptr dst, unsigned value, size_t count, CUstream)
            MethodHandle cuStreamCreate,       // (CUstream* stream, unsigned flags)
            MethodHandle cuStreamDestroy,      // (CUstream stream), _v2
            MethodHandle cuStreamSynchronize,  // (CUstream stream)
            MethodHandle cuEventCreate,        // (CUevent* event, unsigned flags)
            MethodHandle cuEventRecord,        // (CUevent event, CUstream stream)
            MethodHandle cuEventSynchronize,   // (CUevent event)
            MethodHandle cuEventElapsedTime,   // (float* ms, CUevent start, CUevent end): _v2 where present
            MethodHandle cuEventDestroy,       // (CUevent event), _v2
            MethodHandle cuModuleLoadData,     // (CUmodule* module, const void* image)
            MethodHandle cuModuleUnload,       // (CUmodule module)
            MethodHandle cuModuleGetFunction,  // (CUfunction* fn, CUmodule module, const char* name)
            MethodHandle cuLaunchKernel) {     // (CUfunction, 6 x unsigned grid/block dims, unsigned shared,
                                               //  CUstream, void** params, void** extra)
    }

    static {
        var result = NativeLibrary.open(LIBRARY_PROPERTY, List.of(DEFAULT_LIBRARY), "CUDA driver");
        Bindings bindings = null;
        String failure = result.failure();
        if (result.loaded() != null) {
            try {
                bindings = link(result.loaded().lookup());
            } catch (NoSuchElementException e) {
                failure = "the CUDA driver " + result.loaded().name() + " is too old or not a CUDA driver ("
                        + e.getMessage() + ")";
            }
        }
        BINDINGS = bindings;
        LOAD_FAILURE = failure;
    }

    private DriverLibrary() {
    }

    private static Bindings link(SymbolLookup lib) {
        MethodHandle elapsed = NativeLibrary.bindOptional(lib, "cuEventElapsedTime_v2", ADDRESS, ADDRESS, ADDRESS);
        if (elapsed == null) {
            elapsed = NativeLibrary.bind(lib, "cuEventElapsedTime", ADDRESS, ADDRESS, ADDRESS);
        }
        return new Bindings(
                NativeLibrary.bind(lib, "cuInit", JAVA_INT),
                NativeLibrary.bind(lib, "cuDriverGetVersion", ADDRESS),
                NativeLibrary.bind(lib, "cuDeviceGetCount", ADDRESS),
                NativeLibrary.bind(lib, "cuDeviceGet", ADDRESS, JAVA_INT),
                NativeLibrary.bind(lib, "cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT),
                NativeLibrary.bind(lib, "cuDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT),
                NativeLibrary.bind(lib, "cuDeviceTotalMem_v2", ADDRESS, JAVA_INT),
                NativeLibrary.bind(lib, "cuGetErrorName", JAVA_INT, ADDRESS),
                NativeLibrary.bind(lib, "cuDevicePrimaryCtxRetain", ADDRESS, JAVA_INT),
                NativeLibrary.bind(lib, "cuDevicePrimaryCtxRelease_v2", JAVA_INT),
                NativeLibrary.bind(lib, "cuCtxSetCurrent", ADDRESS),
                NativeLibrary.bind(lib, "cuCtxSynchronize"),
                NativeLibrary.bind(lib, "cuMemGetInfo_v2", ADDRESS, ADDRESS),
                NativeLibrary.bind(lib, "cuMemAlloc_v2", ADDRESS, JAVA_LONG),
                NativeLibrary.bind(lib, "cuMemFree_v2", JAVA_LONG),
                NativeLibrary.bind(lib, "cuMemAllocAsync", ADDRESS, JAVA_LONG, ADDRESS),
                NativeLibrary.bind(lib, "cuMemFreeAsync", JAVA_LONG, ADDRESS),
                NativeLibrary.bind(lib, "cuMemHostAlloc", ADDRESS, JAVA_LONG, JAVA_INT),
                NativeLibrary.bind(lib, "cuMemFreeHost", ADDRESS),
                NativeLibrary.bind(lib, "cuMemcpyHtoDAsync_v2", JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS),
                NativeLibrary.bind(lib, "cuMemcpyDtoHAsync_v2", ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS),
                NativeLibrary.bind(lib, "cuMemcpyDtoDAsync_v2", JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS),
                NativeLibrary.bind(lib, "cuMemsetD32Async", JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS),
                NativeLibrary.bind(lib, "cuStreamCreate", ADDRESS, JAVA_INT),
                NativeLibrary.bind(lib, "cuStreamDestroy_v2", ADDRESS),
                NativeLibrary.bind(lib, "cuStreamSynchronize", ADDRESS),
                NativeLibrary.bind(lib, "cuEventCreate", ADDRESS, JAVA_INT),
                NativeLibrary.bind(lib, "cuEventRecord", ADDRESS, ADDRESS),
                NativeLibrary.bind(lib, "cuEventSynchronize", ADDRESS),
                elapsed,
                NativeLibrary.bind(lib, "cuEventDestroy_v2", ADDRESS),
                NativeLibrary.bind(lib, "cuModuleLoadData", ADDRESS, ADDRESS),
                NativeLibrary.bind(lib, "cuModuleUnload", ADDRESS),
                NativeLibrary.bind(lib, "cuModuleGetFunction", ADDRESS, ADDRESS, ADDRESS),
                NativeLibrary.bind(lib, "cuLaunchKernel", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                        JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }
}
