package dev.oialr4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CIFAR-10 binary reader on small files written here in that format, and the crop/flip augmentation. */
class Cifar10Test {

    @TempDir
    Path dir;

    /** Writes {@code records} random records to {@code name}; returns the bytes written. */
    private byte[] write(String name, int records, long seed) throws IOException {
        SplittableRandom rng = new SplittableRandom(seed);
        byte[] b = new byte[records * Cifar10.RECORD];
        for (int r = 0; r < records; r++) {
            b[r * Cifar10.RECORD] = (byte) rng.nextInt(10);
            for (int i = 1; i < Cifar10.RECORD; i++) {
                b[r * Cifar10.RECORD + i] = (byte) rng.nextInt(256);
            }
        }
        Files.write(dir.resolve(name), b);
        return b;
    }

    private byte[][] writeAll() throws IOException {
        byte[][] files = new byte[6][];
        for (int i = 1; i <= 5; i++) {
            files[i - 1] = write("data_batch_" + i + ".bin", i, i);
        }
        files[5] = write("test_batch.bin", 3, 99);
        return files;
    }

    @Test
    void readsLabelsAndChannelPlanesInOrderWithPerChannelNormalisation() throws IOException {
        byte[][] files = writeAll();
        Dataset train = Cifar10.load(dir, true);
        Dataset test = Cifar10.load(dir, false);
        assertEquals(1 + 2 + 3 + 4 + 5, train.size());
        assertEquals(3, test.size());
        assertArrayEquals(new int[] {3, 32, 32}, train.featureShape());
        float[] mean = Cifar10.TRAIN_STATISTICS.mean();
        float[] std = Cifar10.TRAIN_STATISTICS.std();
        int example = 0;
        for (int f = 0; f < 5; f++) {
            for (int r = 0; r < f + 1; r++, example++) {
                int base = r * Cifar10.RECORD;
                assertEquals(files[f][base] & 0xFF, train.label(example));
                // Spot checks of every channel: byte 1 + c·1024 + y·32 + x is channel c at (y, x).
                for (int c = 0; c < 3; c++) {
                    for (int[] yx : new int[][] {{0, 0}, {5, 17}, {31, 31}}) {
                        int p = files[f][base + 1 + c * 1024 + yx[0] * 32 + yx[1]] & 0xFF;
                        float expected = (p / 255f - mean[c]) / std[c];
                        assertEquals(expected, train.images()[example * 3072 + c * 1024 + yx[0] * 32 + yx[1]], 1e-6f);
                    }
                }
            }
        }
        assertEquals(files[5][2 * Cifar10.RECORD] & 0xFF, test.label(2));
    }

    @Test
    void findsTheBatchesInsideACifar10BatchesBinFolder() throws IOException {
        Path nested = Files.createDirectory(dir.resolve("cifar-10-batches-bin"));
        Files.write(nested.resolve("test_batch.bin"), new byte[2 * Cifar10.RECORD]);
        assertEquals(2, Cifar10.load(dir, false).size());
    }

    @Test
    void badDirectoriesAndFilesGiveOneSentenceNamingThem() throws IOException {
        DataException missing = assertThrows(DataException.class, () -> Cifar10.load(dir.resolve("nope"), true));
        assertTrue(missing.getMessage().contains("nope") && missing.getMessage().contains("does not exist"),
                missing.getMessage());

        DataException empty = assertThrows(DataException.class, () -> Cifar10.load(dir, false));
        assertTrue(empty.getMessage().contains("test_batch.bin"), empty.getMessage());

        write("test_batch.bin", 2, 1);
        DataException incomplete = assertThrows(DataException.class, () -> Cifar10.load(dir, true));
        assertTrue(incomplete.getMessage().contains("data_batch_1.bin"), incomplete.getMessage());

        Files.write(dir.resolve("test_batch.bin"), new byte[Cifar10.RECORD + 100]);
        DataException truncated = assertThrows(DataException.class, () -> Cifar10.load(dir, false));
        assertTrue(truncated.getMessage().contains("3173 bytes") && truncated.getMessage().contains("truncated"),
                truncated.getMessage());

        byte[] badLabel = new byte[2 * Cifar10.RECORD];
        badLabel[Cifar10.RECORD] = 10;
        Files.write(dir.resolve("test_batch.bin"), badLabel);
        DataException label = assertThrows(DataException.class, () -> Cifar10.load(dir, false));
        assertTrue(label.getMessage().contains("record 1 has label 10"), label.getMessage());
        for (DataException e : new DataException[] {missing, empty, incomplete, truncated, label}) {
            assertFalse(e.getMessage().contains("\n"), "one sentence: " + e.getMessage());
        }
    }

    @Test
    void cropAndFlipMoveEachImageByOneAllowedShiftAndAreSeeded() {
        int batch = 40;
        int c = 2;
        int h = 6;
        int w = 5;
        int pad = 2;
        SplittableRandom rng = new SplittableRandom(4);
        float[] original = new float[batch * c * h * w];
        for (int i = 0; i < original.length; i++) {
            original[i] = 1f + rng.nextInt(1000); // never 0, so padding is recognisable
        }
        float[] a = original.clone();
        float[] b = original.clone();
        RandomCropFlip aug = new RandomCropFlip(pad, true);
        aug.apply(a, batch, new int[] {c, h, w}, 77);
        aug.apply(b, batch, new int[] {c, h, w}, 77);
        assertArrayEquals(a, b, "same seed, same batch");
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < batch; i++) {
            String found = null;
            for (int dy = -pad; dy <= pad && found == null; dy++) {
                for (int dx = -pad; dx <= pad && found == null; dx++) {
                    for (boolean mirror : new boolean[] {false, true}) {
                        if (matches(original, a, i, c, h, w, dy, dx, mirror)) {
                            found = dy + "," + dx + "," + mirror;
                            break;
                        }
                    }
                }
            }
            assertTrue(found != null, "image " + i + " is a shifted (and maybe mirrored) copy with zero padding");
            seen.add(found);
        }
        assertTrue(seen.size() > 10, "40 images draw many different shifts, got " + seen);
        float[] other = original.clone();
        aug.apply(other, batch, new int[] {c, h, w}, 78);
        assertFalse(java.util.Arrays.equals(a, other), "another seed draws other crops");
        float[] id = original.clone();
        new RandomCropFlip(0, false).apply(id, batch, new int[] {c, h, w}, 5);
        assertArrayEquals(original, id, "no padding and no flip leave images alone");
    }

    @Test
    void theLoaderAugmentsTrainingBatchesReproducibly() {
        float[] images = new float[8 * 4 * 4];
        for (int i = 0; i < images.length; i++) {
            images[i] = i + 1;
        }
        Dataset ds = new Dataset("tiny", images, new int[8], 1, 1, 4, 4);
        DataLoader plain = DataLoader.builder(ds).batchSize(4).seed(3).build();
        DataLoader aug = DataLoader.builder(ds).batchSize(4).seed(3).augmentation(new RandomCropFlip(1, true)).build();
        Batch p = plain.epoch(0).iterator().next();
        Batch a1 = aug.epoch(0).iterator().next();
        Batch a2 = aug.epoch(0).iterator().next();
        Batch other = aug.epoch(1).iterator().next();
        assertArrayEquals(a1.x().data(), a2.x().data(), "the same epoch gives the same augmented batch");
        assertArrayEquals(p.labels(), a1.labels());
        assertFalse(java.util.Arrays.equals(p.x().data(), a1.x().data()), "augmentation changed the batch");
        assertFalse(java.util.Arrays.equals(a1.x().data(), other.x().data()), "another epoch, other draws");
    }

    private static boolean matches(float[] orig, float[] out, int i, int c, int h, int w, int dy, int dx,
            boolean mirror) {
        int size = c * h * w;
        for (int ch = 0; ch < c; ch++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int sy = y + dy;
                    int sx = (mirror ? w - 1 - x : x) + dx;
                    float expected = sy < 0 || sy >= h || sx < 0 || sx >= w ? 0f : orig[i * size + (ch * h + sy) * w + sx];
                    if (out[i * size + (ch * h + y) * w + x] != expected) {
                        return false;
                    }
                }
            }
        }
        return true;
    }
}
