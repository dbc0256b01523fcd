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
 * Checks the driver bindings against a stand-in driver library (fake_cuda.c), so that they are tested on
 * machines without a GPU. Each case runs in a child JVM because the driver library is loaded once per
 * JVM. Skipped where there is no C compiler.
 */
class FakeDriverTest {

    @TempDir
    static Path dir;

    private static Path fakeLibrary() throws IOException, InterruptedException {
        Path lib = dir.resolve("libfakecuda.so");
        if (Files.exists(lib)) {
            return lib;
        }
        Path src = dir.resolve("fake_cuda.c");
        try (InputStream in = FakeDriverTest.class.getResourceAsStream("fake_cuda.c")) {
            Files.copy(in, src);
        }
        Process cc;
        try {
            cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-O1", "-o", lib.toString(), src.toString())
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("no C compiler (cc) to build the fake CUDA driver: " + e.getMessage());
            throw e;
        }
        String out = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, cc.waitFor(), "cc failed: " + out);
        return lib;
    }

    private static List<String> runChild(Path library, Map<String, String> env) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "--enable-native-access=ALL-UNNAMED",
                "-D" + DriverLibrary.LIBRARY_PROPERTY + "=" + library,
                "-cp", System.getProperty("java.class.path"), FakeDriverMain.class.getName()));
        var pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM hung");
        assertEquals(0, p.exitValue(), "child JVM failed:\n" + out);
        return out.lines().filter(l -> !l.startsWith("WARNING")).toList();
    }

    @Test
    void bindingsReadWhatTheDriverWrites() throws Exception {
        List<String> lines = runChild(fakeLibrary(), Map.of());
        // With a GPU found, what is missing next depends on whether this build has the kernels.
        String reason = KernelImage.fatbin().isPresent() ? CudaBackendProvider.NOT_IMPLEMENTED
                : "the CUDA kernels (" + KernelImage.RESOURCE + ") are missing: this oialr4j-kernels jar was built"
                        + " without nvcc";
        assertEquals(List.of(
                "reason=" + reason,
                "version=13000",
                "devices=[cuda:0 Fake GPU 10 (sm_90, 80.0 GiB), cuda:1 Fake GPU 11 (sm_91, 80.0 GiB)]",
                "error100=CUDA_ERROR_NO_DEVICE",
                "error999=CUresult 999",
                "bad device=cuDeviceGet failed: CUDA_ERROR_INVALID_DEVICE (101)"), lines);
    }

    @Test
    void driverWithoutGpu() throws Exception {
        List<String> lines = runChild(fakeLibrary(), Map.of("FAKE_CUDA_NO_DEVICE", "1"));
        assertEquals("reason=the CUDA driver is installed but found no GPU (cuInit failed: CUDA_ERROR_NO_DEVICE"
                + " (100))", lines.getFirst());
        assertTrue(lines.contains("devices=[]"), lines.toString());
    }

    @Test
    void libraryThatIsNotThere() throws Exception {
        List<String> lines = runChild(dir.resolve("missing.so"), Map.of());
        assertEquals(List.of("reason=the CUDA driver library " + dir.resolve("missing.so") + " (set by -D"
                + DriverLibrary.LIBRARY_PROPERTY + ") could not be loaded"), lines);
    }
}
