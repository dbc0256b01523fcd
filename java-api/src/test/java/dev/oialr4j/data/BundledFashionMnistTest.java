package dev.oialr4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Checks the copy of Fashion-MNIST in the repository's data/ directory. */
class BundledFashionMnistTest {

    // Surefire runs with the module directory (java-api/) as the working directory.
    private static final Path DIR = Path.of("..").resolve(FashionMnist.BUNDLED_DIRECTORY);

    // Assumed per test, not in @BeforeAll: surefire counts a class aborted there as 0 tests, not as skipped.
    private static Dataset loadOrSkip(boolean train) {
        Assumptions.assumeTrue(Files.isDirectory(DIR),
                "bundled Fashion-MNIST not found at " + DIR.toAbsolutePath().normalize() + "; skipping");
        return FashionMnist.load(DIR, train);
    }

    @Test
    void trainingSplit() {
        Dataset train = loadOrSkip(true);
        assertEquals(60_000, train.size());
        assertArrayEquals(new int[] {1, 28, 28}, train.featureShape());
        // The classes are balanced: 6000 images each.
        assertArrayEquals(counts(6000), histogram(train));
        // Normalize.FASHION_MNIST holds the training set's statistics, so the result is standardised.
        double sum = 0;
        double sumSq = 0;
        for (float v : train.images()) {
            sum += v;
            sumSq += (double) v * v;
        }
        double n = train.images().length;
        double mean = sum / n;
        assertEquals(0.0, mean, 2e-3, "mean after normalisation");
        assertEquals(1.0, Math.sqrt(sumSq / n - mean * mean), 2e-3, "std after normalisation");
    }

    @Test
    void testSplit() {
        Dataset test = loadOrSkip(false);
        assertEquals(10_000, test.size());
        assertArrayEquals(counts(1000), histogram(test));
    }

    private static int[] histogram(Dataset d) {
        int[] h = new int[d.numClasses()];
        for (int y : d.labels()) {
            h[y]++;
        }
        return h;
    }

    private static int[] counts(int each) {
        int[] c = new int[FashionMnist.NUM_CLASSES];
        java.util.Arrays.fill(c, each);
        return c;
    }
}
