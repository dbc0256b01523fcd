package dev.oialr4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxDatasetTest {

    @TempDir
    Path dir;

    @Test
    void loadsAndNormalises() {
        Path images = IdxFiles.write(dir, "img.gz", IdxFiles.gzip(IdxFiles.images(6, 2, 3)));
        Path labels = IdxFiles.write(dir, "lab", IdxFiles.labels(6, 4));
        var norm = new Normalize(0.5f, 0.25f);
        Dataset d = IdxDataset.load(images, labels, norm, 0);
        assertEquals(6, d.size());
        assertEquals(6, d.features());
        assertEquals(4, d.numClasses(), "largest label + 1");
        assertArrayEquals(new int[] {1, 2, 3}, d.featureShape());
        for (int i = 0; i < 6; i++) {
            assertEquals(i % 4, d.label(i));
            for (int p = 0; p < 6; p++) {
                double expected = (IdxFiles.pixel(i, p) / 255.0 - 0.5) / 0.25;
                assertEquals(expected, d.images()[i * 6 + p], 1e-5);
            }
        }
    }

    @Test
    void defaultScalesToUnitRange() {
        Dataset d = IdxDataset.load(IdxFiles.write(dir, "i", IdxFiles.images(2, 1, 200)),
                IdxFiles.write(dir, "l", IdxFiles.labels(2, 2)));
        float min = Float.MAX_VALUE;
        float max = -Float.MAX_VALUE;
        for (float v : d.images()) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertEquals(0f, min);
        assertEquals(206 / 255f, max, 1e-6, "largest pixel is (1 * 7 + 199)");
    }

    @Test
    void countMismatchNamesBothFiles() {
        Path images = IdxFiles.write(dir, "train-images-idx3-ubyte", IdxFiles.images(5, 2, 2));
        Path labels = IdxFiles.write(dir, "train-labels-idx1-ubyte", IdxFiles.labels(4, 2));
        var e = assertThrows(DataException.class, () -> IdxDataset.load(images, labels));
        assertEquals(images + " holds 5 images but " + labels + " holds 4 labels.", e.getMessage());
    }

    @Test
    void labelOutsideTheDeclaredClasses() {
        Path images = IdxFiles.write(dir, "i", IdxFiles.images(12, 1, 1));
        Path labels = IdxFiles.write(dir, "l", IdxFiles.labels(12, 12));
        var e = assertThrows(DataException.class,
                () -> IdxDataset.load(images, labels, Normalize.UNIT_RANGE, 10));
        assertEquals(labels + " contains label 11, outside the 10 classes expected.", e.getMessage());
    }

    @Test
    void fashionMnistLayoutLoadsGzOrUnpacked() throws Exception {
        IdxFiles.write(dir, "train-images-idx3-ubyte.gz", IdxFiles.gzip(IdxFiles.images(7, 28, 28)));
        IdxFiles.write(dir, "train-labels-idx1-ubyte.gz", IdxFiles.gzip(IdxFiles.labels(7, 10)));
        // An unpacked test split (no .gz suffix, raw bytes) is found too.
        IdxFiles.write(dir, "t10k-images-idx3-ubyte", IdxFiles.images(3, 28, 28));
        IdxFiles.write(dir, "t10k-labels-idx1-ubyte", IdxFiles.labels(3, 10));
        Dataset train = FashionMnist.load(dir, true);
        Dataset test = FashionMnist.load(dir, false);
        assertEquals("fashion-mnist/train", train.name());
        assertEquals(7, train.size());
        assertEquals(3, test.size());
        assertEquals(10, train.numClasses());
        assertArrayEquals(new int[] {1, 28, 28}, train.featureShape());
        assertEquals(Normalize.FASHION_MNIST.apply(IdxFiles.pixel(2, 5)), train.images()[2 * 784 + 5]);
        Files.delete(dir.resolve("t10k-labels-idx1-ubyte"));
        var e = assertThrows(DataException.class, () -> FashionMnist.load(dir, false));
        assertEquals(dir + " has no t10k-labels-idx1-ubyte.gz (or unpacked t10k-labels-idx1-ubyte), so it is not a"
                + " Fashion-MNIST directory.", e.getMessage());
    }

    @Test
    void fashionMnistRejectsOtherImageSizes() {
        IdxFiles.write(dir, "train-images-idx3-ubyte.gz", IdxFiles.images(2, 32, 32));
        IdxFiles.write(dir, "train-labels-idx1-ubyte.gz", IdxFiles.labels(2, 10));
        var e = assertThrows(DataException.class, () -> FashionMnist.load(dir, true));
        assertEquals(dir.resolve("train-images-idx3-ubyte.gz") + " holds 32x32 images, but Fashion-MNIST images"
                + " are 28x28.", e.getMessage());
    }

    @Test
    void missingDirectory() {
        Path missing = dir.resolve("nope");
        var e = assertThrows(DataException.class, () -> FashionMnist.load(missing, true));
        assertEquals("the Fashion-MNIST directory " + missing + " does not exist.", e.getMessage());
    }

    @Test
    void datasetHeadAndValidation() {
        var d = new Dataset("d", new float[] {0, 1, 2, 3, 4, 5}, new int[] {0, 1, 0}, 2, 2);
        var h = d.head(2);
        assertEquals(2, h.size());
        assertArrayEquals(new float[] {0, 1, 2, 3}, h.images());
        assertThrows(IllegalArgumentException.class, () -> new Dataset("bad", new float[5], new int[3], 2, 2));
        assertThrows(IllegalArgumentException.class, () -> new Dataset("bad", new float[6], new int[] {0, 2, 0}, 2, 2));
        assertThrows(IllegalArgumentException.class, () -> new Normalize(0f, 0f));
    }
}
