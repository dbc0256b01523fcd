package dev.oialr4j.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Checks the fatbin the build produced; skipped, with the reason, when the build had no nvcc. */
class KernelImageTest {

    // Assumed per test, not in @BeforeAll: surefire counts a class aborted there as 0 tests, not as skipped.
    private static byte[] fatbinOrSkip() {
        var fatbin = KernelImage.fatbin();
        Assumptions.assumeTrue(fatbin.isPresent(), "no fatbin was built (nvcc not found: the 'cuda' profile is"
                + " off); build with -Pcuda -Dnvcc.executable=/path/to/nvcc to test the kernels");
        return fatbin.get();
    }

    @Test
    void startsWithFatbinMagic() {
        byte[] image = fatbinOrSkip();
        assertTrue(image.length > 1024, "fatbin suspiciously small: " + image.length + " bytes");
        assertTrue(KernelImage.hasFatbinMagic(image), "fatbin does not start with 0xBA55ED50");
    }

    @Test
    void ptxDeclaresEveryKernel() {
        // The PTX is stored uncompressed (see kernels/pom.xml), so its text is in the file as it is.
        String text = new String(fatbinOrSkip(), StandardCharsets.ISO_8859_1);
        assertTrue(text.contains(".target sm_90"), "no compute_90 PTX in the fatbin");
        for (String name : KernelImage.KERNEL_NAMES) {
            assertTrue(text.contains(".entry " + name + "("), "PTX has no entry point " + name);
        }
    }

    @Test
    void magicCheckRejectsOtherData() {
        assertTrue(!KernelImage.hasFatbinMagic(new byte[] {0x7f, 'E', 'L', 'F'}));
        assertTrue(!KernelImage.hasFatbinMagic(new byte[2]));
    }
}
