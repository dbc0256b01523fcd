package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Finds one of several versions of a native library and links functions from it. Used by the holders of
 * the driver, cuBLAS and cuSOLVER bindings; never throws for a missing library, it returns the reason.
 *
 * <p>Search order: the system property (a path or soname) if set, else each soname in the order given
 * (newest first) through the dynamic loader ({@code LD_LIBRARY_PATH}, the loader cache), then the same
 * sonames in {@code $CUDA_HOME/lib64} and {@code /usr/local/cuda/lib64}, where toolkits install them
 * without registering them with the loader.
 */
@SuppressWarnings("restricted") // loading libraries and linking downcalls is this class's purpose
final class NativeLibrary {

    /** A loaded library: its lookup and the name or path that loaded it. */
    record Loaded(SymbolLookup lookup, String name) {
    }

    /** Either a loaded library or why none could be loaded. */
    record Result(Loaded loaded, String failure) {
        Optional<Loaded> get() {
            return Optional.ofNullable(loaded);
        }
    }

    private NativeLibrary() {
    }

    static Result open(String property, List<String> sonames, String what) {
        String override = System.getProperty(property);
        if (override != null && !override.isBlank()) {
            try {
                return new Result(new Loaded(SymbolLookup.libraryLookup(override, Arena.global()), override), null);
            } catch (IllegalArgumentException e) {
                return new Result(null, "the " + what + " library " + override + " (set by -D" + property
                        + ") could not be loaded");
            } catch (IllegalCallerException e) {
                return new Result(null, NATIVE_ACCESS_DISABLED);
            }
        }
        List<String> candidates = new ArrayList<>(sonames);
        for (String dir : toolkitDirs()) {
            for (String so : sonames) {
                Path p = Path.of(dir, so);
                if (Files.exists(p)) {
                    candidates.add(p.toString());
                }
            }
        }
        for (String name : candidates) {
            try {
                return new Result(new Loaded(SymbolLookup.libraryLookup(name, Arena.global()), name), null);
            } catch (IllegalArgumentException e) {
                // try the next candidate
            } catch (IllegalCallerException e) {
                return new Result(null, NATIVE_ACCESS_DISABLED);
            }
        }
        return new Result(null, "no " + what + " (" + String.join(" or ", sonames) + ") was found on this machine");
    }

    static final String NATIVE_ACCESS_DISABLED =
            "native access is disabled; run java with --enable-native-access=ALL-UNNAMED to use CUDA";

    private static List<String> toolkitDirs() {
        List<String> dirs = new ArrayList<>();
        String home = System.getenv("CUDA_HOME");
        if (home != null && !home.isBlank()) {
            dirs.add(home + "/lib64");
        }
        dirs.add("/usr/local/cuda/lib64");
        return dirs;
    }

    /** A downcall returning a C int status, with the given argument layouts. */
    static MethodHandle bind(SymbolLookup lib, String symbol, MemoryLayout... args) {
        return Linker.nativeLinker().downcallHandle(lib.findOrThrow(symbol), FunctionDescriptor.of(JAVA_INT, args));
    }

    /** Like {@link #bind} but null when the library lacks the symbol (optional entry points). */
    static MethodHandle bindOptional(SymbolLookup lib, String symbol, MemoryLayout... args) {
        return lib.find(symbol).map(s -> Linker.nativeLinker().downcallHandle(s, FunctionDescriptor.of(JAVA_INT, args)))
                .orElse(null);
    }
}
