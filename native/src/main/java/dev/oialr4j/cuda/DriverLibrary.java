package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.NoSuchElementException;

/**
 * Loads the CUDA driver library and links its functions. This is a holder: the JVM initialises it on
 * first use of {@link #BINDINGS}, which only {@link CudaDriver} does, so nothing is loaded until a
 * caller actually asks for CUDA. Loading never throws; a failure is kept as {@link #LOAD_FAILURE}.
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
            MethodHandle cuInit,              // (unsigned flags)
            MethodHandle cuDriverGetVersion,  // (int* version)
            MethodHandle cuDeviceGetCount,    // (int* count)
            MethodHandle cuDeviceGet,         // (CUdevice* device, int ordinal)
            MethodHandle cuDeviceGetName,     // (char* name, int len, CUdevice dev)
            MethodHandle cuDeviceGetAttribute, // (int* value, CUdevice_attribute attrib, CUdevice dev)
            MethodHandle cuDeviceTotalMem,    // (size_t* bytes, CUdevice dev), the _v2 entry point
            MethodHandle cuGetErrorName) {    // (CUresult error, const char** name)
    }

    // Restricted FFM methods are this class's job; the JVM's --enable-native-access governs them.
    static {
        String name = System.getProperty(LIBRARY_PROPERTY, DEFAULT_LIBRARY);
        Bindings bindings = null;
        String failure = null;
        try {
            bindings = link(SymbolLookup.libraryLookup(name, Arena.global()));
        } catch (IllegalArgumentException e) {
            failure = name.equals(DEFAULT_LIBRARY)
                    ? "no CUDA driver (libcuda.so.1) was found on this machine"
                    : "the CUDA driver library " + name + " (set by -D" + LIBRARY_PROPERTY + ") could not be loaded";
        } catch (NoSuchElementException e) {
            failure = "the CUDA driver " + name + " is too old or not a CUDA driver (" + e.getMessage() + ")";
        } catch (IllegalCallerException e) {
            failure = "native access is disabled; run java with --enable-native-access=ALL-UNNAMED to use CUDA";
        }
        BINDINGS = bindings;
        LOAD_FAILURE = failure;
    }

    private DriverLibrary() {
    }

    private static Bindings link(SymbolLookup lib) {
        Linker linker = Linker.nativeLinker();
        // CUdevice and CUdevice_attribute are C ints; CUresult is an enum, an int on every CUDA platform.
        return new Bindings(
                bind(linker, lib, "cuInit", JAVA_INT),
                bind(linker, lib, "cuDriverGetVersion", ADDRESS),
                bind(linker, lib, "cuDeviceGetCount", ADDRESS),
                bind(linker, lib, "cuDeviceGet", ADDRESS, JAVA_INT),
                bind(linker, lib, "cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT),
                bind(linker, lib, "cuDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT),
                bind(linker, lib, "cuDeviceTotalMem_v2", ADDRESS, JAVA_INT),
                bind(linker, lib, "cuGetErrorName", JAVA_INT, ADDRESS));
    }

    private static MethodHandle bind(Linker linker, SymbolLookup lib, String symbol,
            java.lang.foreign.MemoryLayout... args) {
        return linker.downcallHandle(lib.findOrThrow(symbol), FunctionDescriptor.of(JAVA_INT, args));
    }
}
