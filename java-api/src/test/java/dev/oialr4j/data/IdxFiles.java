package dev.oialr4j.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Builds small IDX files for tests. */
final class IdxFiles {

    private IdxFiles() {
    }

    /** IDX image bytes: n images of rows × cols, pixel value (i * 7 + p) mod 256. */
    static byte[] images(int n, int rows, int cols) {
        ByteBuffer b = ByteBuffer.allocate(16 + n * rows * cols);
        b.putInt(IdxReader.IMAGES_MAGIC).putInt(n).putInt(rows).putInt(cols);
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < rows * cols; p++) {
                b.put((byte) pixel(i, p));
            }
        }
        return b.array();
    }

    static int pixel(int image, int p) {
        return (image * 7 + p) & 0xFF;
    }

    /** IDX label bytes: label i is i mod classes. */
    static byte[] labels(int n, int classes) {
        ByteBuffer b = ByteBuffer.allocate(8 + n);
        b.putInt(IdxReader.LABELS_MAGIC).putInt(n);
        for (int i = 0; i < n; i++) {
            b.put((byte) (i % classes));
        }
        return b.array();
    }

    static byte[] gzip(byte[] data) {
        var out = new ByteArrayOutputStream();
        try (var gz = new GZIPOutputStream(out)) {
            gz.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    static Path write(Path dir, String name, byte[] data) {
        try {
            return Files.write(dir.resolve(name), data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
