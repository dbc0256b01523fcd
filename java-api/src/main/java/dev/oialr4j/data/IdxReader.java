package dev.oialr4j.data;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reads IDX files of unsigned bytes, the format of MNIST and Fashion-MNIST: a big-endian magic number
 * ({@code 0x00000803} for images {@code [n][rows][cols]}, {@code 0x00000801} for labels {@code [n]}),
 * one big-endian 32-bit size per dimension, then the bytes. A file may be gzip-compressed; that is
 * recognised by its first two bytes ({@code 1f 8b}), not by its name, because renamed and
 * already-unpacked copies of these files are common.
 *
 * <p>A file must hold exactly what its header announces. Anything else (missing, empty, foreign magic,
 * too short, trailing bytes, corrupt compression) throws {@link DataException} with one sentence naming
 * the file; a partial result is never returned.
 */
public final class IdxReader {

    /** Magic number of an IDX file of unsigned bytes with three dimensions (images). */
    public static final int IMAGES_MAGIC = 0x00000803;
    /** Magic number of an IDX file of unsigned bytes with one dimension (labels). */
    public static final int LABELS_MAGIC = 0x00000801;

    // A header could claim gigabytes; the buffer grows only as the data actually arrives.
    private static final int INITIAL_BUFFER = 1 << 24;
    private static final int IO_BUFFER = 1 << 16;

    private IdxReader() {
    }

    /** The contents of an IDX image file: {@code count} images of {@code rows × cols} bytes, row-major. */
    public record Images(Path file, int count, int rows, int cols, byte[] pixels) {
        /** Pixels per image. */
        public int pixelsPerImage() {
            return rows * cols;
        }
    }

    /** The contents of an IDX label file: one unsigned byte per example. */
    public record Labels(Path file, byte[] values) {
        public int count() {
            return values.length;
        }

        /** Label {@code i} as an int in [0, 255]. */
        public int get(int i) {
            return values[i] & 0xFF;
        }
    }

    /** Reads an IDX image file ({@code 0x00000803}), gzip-compressed or raw. */
    public static Images readImages(Path file) {
        Source src = open(file);
        try (InputStream in = src.stream()) {
            int[] dims = readHeader(in, src, IMAGES_MAGIC, 3);
            long total = (long) dims[0] * dims[1] * dims[2];
            if (total > Integer.MAX_VALUE - 8) {
                throw new DataException(file + " declares " + dims[0] + " images of " + dims[1] + "x" + dims[2]
                        + " pixels, more than one Java array can hold.");
            }
            byte[] pixels = readBody(in, src, (int) total, "image bytes");
            return new Images(file, dims[0], dims[1], dims[2], pixels);
        } catch (IOException e) {
            throw failure(src, e);
        }
    }

    /** Reads an IDX label file ({@code 0x00000801}), gzip-compressed or raw. */
    public static Labels readLabels(Path file) {
        Source src = open(file);
        try (InputStream in = src.stream()) {
            int[] dims = readHeader(in, src, LABELS_MAGIC, 1);
            return new Labels(file, readBody(in, src, dims[0], "label bytes"));
        } catch (IOException e) {
            throw failure(src, e);
        }
    }

    /** An open file and whether it is gzip-compressed (which changes how a short read is reported). */
    private record Source(Path file, boolean gzip, InputStream stream) {
    }

    private static Source open(Path file) {
        if (!Files.exists(file)) {
            throw new DataException(file + " does not exist.");
        }
        if (Files.isDirectory(file)) {
            throw new DataException(file + " is a directory, not an IDX file.");
        }
        InputStream raw = null;
        try {
            raw = new BufferedInputStream(Files.newInputStream(file), IO_BUFFER);
            raw.mark(2);
            int b0 = raw.read();
            int b1 = raw.read();
            raw.reset();
            if (b0 == 0x1f && b1 == 0x8b) {
                try {
                    return new Source(file, true, new GZIPInputStream(raw, IO_BUFFER));
                } catch (IOException e) {
                    throw failure(new Source(file, true, raw), e);
                }
            }
            return new Source(file, false, raw);
        } catch (IOException e) {
            throw failure(new Source(file, false, raw), e);
        } catch (RuntimeException e) {
            closeQuietly(raw, e);
            throw e;
        }
    }

    private static int[] readHeader(InputStream in, Source src, int expectedMagic, int rank) throws IOException {
        byte[] header = new byte[4 + 4 * rank];
        int got = readUpTo(in, src, header, 0, header.length);
        if (got == 0) {
            throw new DataException(src.file() + " is empty" + (src.gzip() ? " after decompression." : "."));
        }
        if (got >= 4) {
            checkMagic(src.file(), readInt(header, 0), expectedMagic);
        }
        if (got < header.length) {
            throw new DataException(src.file() + " is truncated: expected a " + header.length
                    + "-byte IDX header, found " + got + " bytes.");
        }
        int[] dims = new int[rank];
        for (int d = 0; d < rank; d++) {
            dims[d] = readInt(header, 4 + 4 * d);
            if (dims[d] < 0) {
                throw new DataException(src.file() + " has a corrupt IDX header: dimension " + d + " is " + dims[d]
                        + ".");
            }
        }
        return dims;
    }

    private static void checkMagic(Path file, int magic, int expected) {
        if (magic == expected) {
            return;
        }
        String wanted = expected == IMAGES_MAGIC ? "an IDX image file" : "an IDX label file";
        String actual = magic == IMAGES_MAGIC ? " (that of an image file)"
                : magic == LABELS_MAGIC ? " (that of a label file)" : "";
        throw new DataException(String.format("%s is not %s: its magic number is 0x%08X%s, expected 0x%08X.",
                file, wanted, magic, actual, expected));
    }

    private static byte[] readBody(InputStream in, Source src, int expected, String what) throws IOException {
        byte[] out = new byte[Math.min(expected, INITIAL_BUFFER)];
        int filled = 0;
        while (filled < expected) {
            if (filled == out.length) {
                out = Arrays.copyOf(out, (int) Math.min(expected, 2L * out.length));
            }
            int got = readUpTo(in, src, out, filled, out.length - filled);
            filled += got;
            if (filled < out.length) {
                throw new DataException(src.file() + " is truncated: expected " + expected + " " + what
                        + ", found " + filled + ".");
            }
        }
        // Reading to the end also makes GZIPInputStream verify the CRC and length in the gzip trailer.
        long trailing = in.transferTo(OutputStream.nullOutputStream());
        if (trailing > 0) {
            throw new DataException(src.file() + " has " + trailing + " bytes of trailing data after the "
                    + expected + " " + what + " its header announces.");
        }
        return out;
    }

    /**
     * Reads until {@code len} bytes or the end of the data; returns how many were read. A gzip stream
     * that stops early ends in an EOFException rather than -1, which is the same condition here.
     */
    private static int readUpTo(InputStream in, Source src, byte[] buf, int off, int len) throws IOException {
        int total = 0;
        while (total < len) {
            int r;
            try {
                r = in.read(buf, off + total, len - total);
            } catch (EOFException e) {
                if (src.gzip()) {
                    return total;
                }
                throw e;
            }
            if (r < 0) {
                break;
            }
            total += r;
        }
        return total;
    }

    private static int readInt(byte[] b, int off) {
        return (b[off] & 0xFF) << 24 | (b[off + 1] & 0xFF) << 16 | (b[off + 2] & 0xFF) << 8 | (b[off + 3] & 0xFF);
    }

    private static DataException failure(Source src, IOException e) {
        closeQuietly(src.stream(), e);
        if (e instanceof ZipException) {
            return new DataException(src.file() + " is not a valid gzip file (" + e.getMessage() + ").", e);
        }
        if (e instanceof EOFException && src.gzip()) {
            return new DataException(src.file() + " is truncated: its gzip stream ends unexpectedly.", e);
        }
        return new DataException(src.file() + " could not be read: " + e.getMessage() + ".", e);
    }

    private static void closeQuietly(InputStream in, Throwable primary) {
        if (in == null) {
            return;
        }
        try {
            in.close();
        } catch (IOException closing) {
            primary.addSuppressed(closing);
        }
    }
}
