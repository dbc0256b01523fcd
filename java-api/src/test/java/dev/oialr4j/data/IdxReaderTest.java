package dev.oialr4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class IdxReaderTest {

    @TempDir
    Path dir;

    private static void assertOneSentenceNaming(DataException e, Path file) {
        String m = e.getMessage();
        assertTrue(m.startsWith(file.toString()), "message should start with the file: " + m);
        assertTrue(m.endsWith("."), "message should be a sentence: " + m);
        assertTrue(!m.contains("\n"), "message should be one line: " + m);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void readsImagesRawAndGzipWhateverTheName(boolean gzip) {
        byte[] data = IdxFiles.images(5, 3, 4);
        // The name deliberately says the opposite of the content: detection is by magic bytes.
        Path f = IdxFiles.write(dir, gzip ? "images.idx" : "images.gz", gzip ? IdxFiles.gzip(data) : data);
        IdxReader.Images img = IdxReader.readImages(f);
        assertEquals(5, img.count());
        assertEquals(3, img.rows());
        assertEquals(4, img.cols());
        assertArrayEquals(Arrays.copyOfRange(data, 16, data.length), img.pixels());
        assertEquals(IdxFiles.pixel(4, 11), img.pixels()[4 * 12 + 11] & 0xFF);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void readsLabelsRawAndGzip(boolean gzip) {
        byte[] data = IdxFiles.labels(300, 10);
        Path f = IdxFiles.write(dir, "labels", gzip ? IdxFiles.gzip(data) : data);
        IdxReader.Labels labels = IdxReader.readLabels(f);
        assertEquals(300, labels.count());
        for (int i = 0; i < 300; i++) {
            assertEquals(i % 10, labels.get(i));
        }
    }

    @Test
    void readsLabelsAbove127AsUnsigned() {
        byte[] data = IdxFiles.labels(1, 1);
        data[8] = (byte) 200;
        assertEquals(200, IdxReader.readLabels(IdxFiles.write(dir, "l", data)).get(0));
    }

    @Test
    void missingFile() {
        Path f = dir.resolve("train-images-idx3-ubyte.gz");
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertEquals(f + " does not exist.", e.getMessage());
    }

    @Test
    void emptyFile() {
        Path f = IdxFiles.write(dir, "empty", new byte[0]);
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertEquals(f + " is empty.", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void truncatedImages(boolean gzip) {
        byte[] full = IdxFiles.images(10, 28, 28);
        byte[] cut = Arrays.copyOf(full, 16 + 1234);
        Path f = IdxFiles.write(dir, "train-images-idx3-ubyte.gz", gzip ? IdxFiles.gzip(cut) : cut);
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertEquals(f + " is truncated: expected 7840 image bytes, found 1234.", e.getMessage());
    }

    @Test
    void truncatedHeader() {
        byte[] cut = Arrays.copyOf(IdxFiles.images(2, 2, 2), 10);
        Path f = IdxFiles.write(dir, "images", cut);
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertEquals(f + " is truncated: expected a 16-byte IDX header, found 10 bytes.", e.getMessage());
    }

    @Test
    void truncatedLabels() {
        byte[] cut = Arrays.copyOf(IdxFiles.labels(100, 10), 8 + 60);
        Path f = IdxFiles.write(dir, "labels", cut);
        var e = assertThrows(DataException.class, () -> IdxReader.readLabels(f));
        assertEquals(f + " is truncated: expected 100 label bytes, found 60.", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void trailingDataIsASizeMismatch(boolean gzip) {
        byte[] full = IdxFiles.images(2, 2, 2);
        byte[] longer = Arrays.copyOf(full, full.length + 3);
        Path f = IdxFiles.write(dir, "images", gzip ? IdxFiles.gzip(longer) : longer);
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertEquals(f + " has 3 bytes of trailing data after the 8 image bytes its header announces.",
                e.getMessage());
    }

    @Test
    void wrongMagic() {
        byte[] data = IdxFiles.images(1, 1, 1);
        data[3] = 0x04;
        Path f = IdxFiles.write(dir, "images", data);
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertEquals(f + " is not an IDX image file: its magic number is 0x00000804, expected 0x00000803.",
                e.getMessage());
    }

    @Test
    void labelsGivenAsImagesSaysWhatTheFileIs() {
        Path f = IdxFiles.write(dir, "train-labels-idx1-ubyte", IdxFiles.labels(3, 2));
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertEquals(f + " is not an IDX image file: its magic number is 0x00000801 (that of a label file),"
                + " expected 0x00000803.", e.getMessage());
    }

    @Test
    void textFileIsRejectedByMagic() {
        Path f = IdxFiles.write(dir, "notes.txt", "hello world, not data".getBytes());
        var e = assertThrows(DataException.class, () -> IdxReader.readLabels(f));
        assertOneSentenceNaming(e, f);
        assertTrue(e.getMessage().contains("is not an IDX label file"), e.getMessage());
    }

    @Test
    void corruptGzipData() {
        byte[] gz = IdxFiles.gzip(IdxFiles.images(20, 28, 28));
        // Overwrite the deflate stream just after the 10-byte gzip header with bytes no valid stream starts with.
        for (int i = 10; i < 40; i++) {
            gz[i] = (byte) 0xFF;
        }
        Path f = IdxFiles.write(dir, "train-images-idx3-ubyte.gz", gz);
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertOneSentenceNaming(e, f);
        assertTrue(e.getMessage().contains("is not a valid gzip file"), e.getMessage());
    }

    @Test
    void gzipChecksumMismatch() {
        byte[] gz = IdxFiles.gzip(IdxFiles.labels(50, 10));
        gz[gz.length - 8] ^= 0x01; // the CRC-32 in the gzip trailer
        Path f = IdxFiles.write(dir, "labels.gz", gz);
        var e = assertThrows(DataException.class, () -> IdxReader.readLabels(f));
        assertOneSentenceNaming(e, f);
        assertTrue(e.getMessage().contains("is not a valid gzip file"), e.getMessage());
    }

    @Test
    void gzipCutInTheMiddle() {
        byte[] gz = IdxFiles.gzip(IdxFiles.images(50, 28, 28));
        Path f = IdxFiles.write(dir, "images.gz", Arrays.copyOf(gz, gz.length / 2));
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertOneSentenceNaming(e, f);
        assertTrue(e.getMessage().contains("is truncated: expected 39200 image bytes, found "), e.getMessage());
    }

    @Test
    void gzipMissingItsTrailer() {
        byte[] gz = IdxFiles.gzip(IdxFiles.labels(50, 10));
        Path f = IdxFiles.write(dir, "labels.gz", Arrays.copyOf(gz, gz.length - 8));
        var e = assertThrows(DataException.class, () -> IdxReader.readLabels(f));
        assertEquals(f + " is truncated: its gzip stream ends unexpectedly.", e.getMessage());
    }

    @Test
    void directoryIsNotAFile() {
        var e = assertThrows(DataException.class, () -> IdxReader.readLabels(dir));
        assertEquals(dir + " is a directory, not an IDX file.", e.getMessage());
    }

    @Test
    void negativeDimensionInHeader() {
        byte[] data = IdxFiles.images(1, 1, 1);
        data[8] = (byte) 0x80;
        Path f = IdxFiles.write(dir, "images", data);
        var e = assertThrows(DataException.class, () -> IdxReader.readImages(f));
        assertOneSentenceNaming(e, f);
        assertTrue(e.getMessage().contains("corrupt IDX header"), e.getMessage());
    }
}
