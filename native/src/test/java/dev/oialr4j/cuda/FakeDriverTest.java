package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.kernels.KernelImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checks the driver, cuBLAS and cuSOLVER bindings, the {@link CudaBackend} and {@link CudaSigmaSvd} against
 * stand-in libraries (fake_cuda.c, fake_cublas.c, fake_cusolver.c), so that they are tested on machines
 * without a GPU. Each case runs in a child JVM because a library is loaded once per JVM. Skipped where there
 * is no C compiler.
 */
class FakeDriverTest {

    @TempDir
    static Path dir;

    private static Path fake(String name) throws IOException, InterruptedException {
        Path lib = dir.resolve("lib" + name + ".so");
        if (Files.exists(lib)) {
            return lib;
        }
        Path src = dir.resolve(name + ".c");
        try (InputStream in = FakeDriverTest.class.getResourceAsStream(name + ".c")) {
            Files.copy(in, src);
        }
        Process cc;
        try {
            cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-O1", "-o", lib.toString(), src.toString(), "-lm")
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("no C compiler (cc) to build the stand-in CUDA libraries: " + e.getMessage());
            throw e;
        }
        String out = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, cc.waitFor(), "cc failed: " + out);
        return lib;
    }

    private static List<String> runChild(Class<?> main, Map<String, String> properties, Map<String, String> env)
            throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "--enable-native-access=ALL-UNNAMED",
                "--add-modules", "jdk.incubator.vector"));
        properties.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        var pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM hung");
        assertEquals(0, p.exitValue(), "child JVM failed:\n" + out);
        return out.lines().filter(l -> !l.startsWith("WARNING")).toList();
    }

    private static String kernelsOr(String whenPresent) {
        return KernelImage.fatbin().isPresent() ? whenPresent
                : "the CUDA kernels (" + KernelImage.RESOURCE + ") are missing: this oialr4j-kernels jar was built"
                        + " without nvcc";
    }

    @Test
    void bindingsReadWhatTheDriverWrites() throws Exception {
        List<String> lines = runChild(FakeDriverMain.class, Map.of(DriverLibrary.LIBRARY_PROPERTY,
                fake("fake_cuda").toString(), Cublas.LIBRARY_PROPERTY, "/nonexistent/libcublas.so.13"), Map.of());
        // With a GPU and the kernels found, what is missing next is cuBLAS, here on purpose.
        assertEquals(List.of(
                "reason=" + kernelsOr("the cuBLAS library /nonexistent/libcublas.so.13 (set by -D"
                        + Cublas.LIBRARY_PROPERTY + ") could not be loaded (install the CUDA toolkit's cuBLAS or put it"
                        + " on LD_LIBRARY_PATH)"),
                "version=13000",
                "devices=[cuda:0 Fake GPU 10 (sm_90, 80.0 GiB), cuda:1 Fake GPU 11 (sm_91, 80.0 GiB)]",
                "error100=CUDA_ERROR_NO_DEVICE",
                "error999=CUresult 999",
                "bad device=cuDeviceGet failed: CUDA_ERROR_INVALID_DEVICE (101)"), lines);
    }

    @Test
    void providerOffersTheBackendWhenEverythingIsThere() throws Exception {
        List<String> lines = runChild(FakeDriverMain.class, Map.of(DriverLibrary.LIBRARY_PROPERTY,
                fake("fake_cuda").toString(), Cublas.LIBRARY_PROPERTY, fake("fake_cublas").toString()), Map.of());
        assertEquals("reason=" + kernelsOr("<none>"), lines.getFirst());
    }

    @Test
    void driverWithoutGpu() throws Exception {
        List<String> lines = runChild(FakeDriverMain.class,
                Map.of(DriverLibrary.LIBRARY_PROPERTY, fake("fake_cuda").toString()), Map.of("FAKE_CUDA_NO_DEVICE", "1"));
        assertEquals("reason=the CUDA driver is installed but found no GPU (cuInit failed: CUDA_ERROR_NO_DEVICE"
                + " (100))", lines.getFirst());
        assertTrue(lines.contains("devices=[]"), lines.toString());
    }

    @Test
    void libraryThatIsNotThere() throws Exception {
        List<String> lines = runChild(FakeDriverMain.class,
                Map.of(DriverLibrary.LIBRARY_PROPERTY, dir.resolve("missing.so").toString()), Map.of());
        assertEquals(List.of("reason=the CUDA driver library " + dir.resolve("missing.so") + " (set by -D"
                + DriverLibrary.LIBRARY_PROPERTY + ") could not be loaded"), lines);
    }

    @Test
    void backendAndSigmaSvdOnStandInLibraries() throws Exception {
        backendChecks(Map.of());
    }

    /** The same checks when the driver refuses page-locked memory: host copies fall back to pageable memory. */
    @Test
    void backendWithoutPageLockedMemory() throws Exception {
        backendChecks(Map.of("FAKE_CUDA_NO_PINNED", "1"));
    }

    /** cuSOLVER's start fails once (as on a full device): the backend frees its cache and tries again. */
    @Test
    void solverStartIsRetriedAfterReleasingTheCache() throws Exception {
        backendChecks(Map.of("FAKE_CUSOLVER_CREATE_FAILURES", "1"));
    }

    /** It fails twice: the error says so and how much memory there was. */
    @Test
    void solverStartFailingTwiceIsReported() throws Exception {
        List<String> lines = runChild(FakeBackendMain.class, Map.of(
                DriverLibrary.LIBRARY_PROPERTY, fake("fake_cuda").toString(),
                Cublas.LIBRARY_PROPERTY, fake("fake_cublas").toString(),
                Cusolver.LIBRARY_PROPERTY, fake("fake_cusolver").toString()), Map.of("FAKE_CUSOLVER_CREATE_FAILURES", "2"));
        String sigma = lines.stream().filter(l -> l.startsWith("sigma-svd: ")).findFirst().orElseThrow();
        assertTrue(sigma.contains("cusolverDnCreate failed: CUSOLVER_STATUS_INTERNAL_ERROR (7) twice")
                && sigma.contains("device memory free"), sigma);
    }

    private void backendChecks(Map<String, String> env) throws Exception {
        List<String> lines = runChild(FakeBackendMain.class, Map.of(
                DriverLibrary.LIBRARY_PROPERTY, fake("fake_cuda").toString(),
                Cublas.LIBRARY_PROPERTY, fake("fake_cublas").toString(),
                Cusolver.LIBRARY_PROPERTY, fake("fake_cusolver").toString()), env);
        List<String> expected = List.of("name", "roundtrip", "zeros-fill-copy", "gemmNN", "gemmNT", "gemmTN", "gemmTT",
                "gemm-beta0-ignores-nan", "gemm-vector-shapes", "gemm-shape-error", "tf32-uses-gemmex", "cublas-status",
                "axpby", "add-mul-scale", "addRowVector-relu-sumRows", "dropout-mask-bit-identical", "sgd-nesterov",
                "sgd-plain-null-buffer", "adamw", "sum-sumSquares", "missing-kernel-status", "host-tensor-rejected",
                "sigma-svd", "strided-batched-gemm", "events", "async-alloc", "training-steps-match-cpu", "resnet-steps-match-cpu", "vit-steps-match-cpu", "missing-gpu-index", "bad-image-releases-context", "cusolver-status",
                "close-frees-everything").stream().map(n -> n + ": ok").toList();
        expected = new java.util.ArrayList<>(expected);
        expected.addAll(expected.size() - 1, FakeBackendMain.SPI_OP_CHECKS.stream().map(n -> n + ": ok").toList());
        expected.addAll(expected.size() - 1, FakeBackendMain.OIALR_CHECKS.stream().map(n -> n + ": ok").toList());
        assertEquals(expected, lines);
    }

    @Test
    void laterSonameIsTriedWhenTheFirstIsMissing() throws Exception {
        String fakeBlas = fake("fake_cublas").toString();
        var found = NativeLibrary.open("oialr4j.test.unset", List.of("libcublas-absent.so.13", fakeBlas), "cuBLAS");
        assertEquals(fakeBlas, found.loaded().name());
        var none = NativeLibrary.open("oialr4j.test.unset", List.of("libabsent-a.so.13", "libabsent-a.so.12"), "cuBLAS");
        assertEquals("no cuBLAS (libabsent-a.so.13 or libabsent-a.so.12) was found on this machine", none.failure());
    }
}
