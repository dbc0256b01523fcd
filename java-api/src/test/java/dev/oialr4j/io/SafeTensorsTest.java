package dev.oialr4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safetensors writer and reader: round trips, the exact bytes of a small file, and corrupt files. */
class SafeTensorsTest {

    @TempDir
    Path tmp;

    @Test
    void roundTripKeepsNamesOrderShapesValuesAndMetadata() {
        SplittableRandom rng = new SplittableRandom(11);
        Map<String, SafeTensors.Entry> in = new LinkedHashMap<>();
        float[] a = new float[3 * 5];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        a[0] = Float.NaN;
        a[1] = Float.NEGATIVE_INFINITY;
        a[2] = -0.0f;
        a[3] = Float.MIN_VALUE;
        double[] b = new double[7];
        for (int i = 0; i < b.length; i++) {
            b[i] = rng.nextDouble() * 1e-300;
        }
        in.put("layers.2.weight", new SafeTensors.F32(new int[] {3, 5}, a));
        in.put("layers.10.u", new SafeTensors.F64(new int[] {7, 1}, b));
        in.put("scalar", new SafeTensors.F32(new int[] {}, new float[] {42.5f}));
        in.put("empty", new SafeTensors.F32(new int[] {0, 4}, new float[0]));
        Map<String, String> meta = Map.of("epoch", "3", "note", "quote \" and \\ and ünïcode");
        Path p = tmp.resolve("x.safetensors");
        SafeTensors.write(p, in, meta);
        SafeTensors.Contents c = SafeTensors.read(p);
        assertEquals(List.copyOf(in.keySet()), List.copyOf(c.tensors().keySet()));
        assertEquals(meta, c.metadata());
        for (String name : in.keySet()) {
            SafeTensors.Entry want = in.get(name);
            SafeTensors.Entry got = c.tensor(name);
            assertEquals(want.dtype(), got.dtype(), name);
            assertArrayEquals(want.shape(), got.shape(), name);
            // Compare bit patterns: NaN, -0 and subnormals must survive.
            double[] w = want.toDoubles();
            double[] g = got.toDoubles();
            assertEquals(w.length, g.length);
            for (int i = 0; i < w.length; i++) {
                assertEquals(Double.doubleToRawLongBits(w[i]), Double.doubleToRawLongBits(g[i]), name + "[" + i + "]");
            }
        }
        // The header is padded to a multiple of 8 bytes, so the data section starts aligned.
        byte[] bytes = SafeTensors.toBytes(in, meta);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, n % 8);
    }

    /** A file assembled by hand from the published layout, read back; and our writer's bytes for it. */
    @Test
    void readsAndWritesTheDocumentedByteLayout() {
        String header = "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F64\",\"shape\":[1,1],\"data_offsets\":[8,16]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        byte[] file = new byte[8 + padded + 16];
        long len = padded;
        for (int i = 0; i < 8; i++) {
            file[i] = (byte) (len >>> (8 * i)); // little-endian u64
        }
        System.arraycopy(h, 0, file, 8, h.length);
        for (int i = h.length; i < padded; i++) {
            file[8 + i] = ' ';
        }
        int d = 8 + padded;
        putLe(file, d, Float.floatToRawIntBits(1.5f), 4);       // 1.5f = 0x3FC00000
        putLe(file, d + 4, Float.floatToRawIntBits(-2.0f), 4);  // -2f = 0xC0000000
        putLe(file, d + 8, Double.doubleToRawLongBits(0.1), 8);
        // Little-endian: the sign/exponent byte comes last.
        assertArrayEquals(new byte[] {0, 0, (byte) 0xC0, 0x3F, 0, 0, 0, (byte) 0xC0},
                java.util.Arrays.copyOfRange(file, d, d + 8));

        SafeTensors.Contents c = SafeTensors.fromBytes(file, "hand-built");
        assertArrayEquals(new float[] {1.5f, -2.0f}, c.tensor("a").toFloats());
        assertArrayEquals(new double[] {0.1}, c.tensor("b").toDoubles());
        assertArrayEquals(new int[] {1, 1}, c.tensor("b").shape());
        assertEquals(Map.of("k", "v"), c.metadata());

        Map<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        t.put("a", new SafeTensors.F32(new int[] {2}, new float[] {1.5f, -2.0f}));
        t.put("b", new SafeTensors.F64(new int[] {1, 1}, new double[] {0.1}));
        assertArrayEquals(file, SafeTensors.toBytes(t, Map.of("k", "v")));
    }

    private static void putLe(byte[] a, int at, long bits, int bytes) {
        for (int i = 0; i < bytes; i++) {
            a[at + i] = (byte) (bits >>> (8 * i));
        }
    }

    private static byte[] smallFile() {
        Map<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        t.put("w", new SafeTensors.F32(new int[] {2, 2}, new float[] {1, 2, 3, 4}));
        return SafeTensors.toBytes(t, Map.of());
    }

    private static String error(byte[] bytes) {
        return assertThrows(FormatException.class, () -> SafeTensors.fromBytes(bytes, "f.safetensors")).getMessage();
    }

    @Test
    void corruptFilesGiveOneClearSentence() {
        byte[] good = smallFile();
        assertTrue(error(new byte[5]).contains("fewer than the 8-byte header length"));
        byte[] truncatedData = java.util.Arrays.copyOf(good, good.length - 3);
        assertTrue(error(truncatedData).contains("out of range"), error(truncatedData));
        byte[] truncatedHeader = java.util.Arrays.copyOf(good, 20);
        assertTrue(error(truncatedHeader).contains("truncated"), error(truncatedHeader));
        byte[] hugeLength = good.clone();
        hugeLength[7] = 0x7f;
        assertTrue(error(hugeLength).contains("bad safetensors header length"));
        byte[] badJson = good.clone();
        badJson[8] = '[';
        assertTrue(error(badJson).contains("bad safetensors header"), error(badJson));
        String s = new String(good, StandardCharsets.ISO_8859_1);
        assertTrue(error(s.replace("[0,16]", "[0,12]").getBytes(StandardCharsets.ISO_8859_1)).contains("needs 16 bytes"));
        assertTrue(error(s.replace("[0,16]", "[8,24]").getBytes(StandardCharsets.ISO_8859_1)).contains("out of range"));
        assertTrue(error(s.replace("\"F32\"", "\"I64\"").getBytes(StandardCharsets.ISO_8859_1)).contains("only F32 and F64"));
        byte[] extra = java.util.Arrays.copyOf(good, good.length + 4);
        assertTrue(error(extra).contains("no tensor covers"), error(extra));
        for (String m : List.of(error(truncatedData), error(badJson), error(new byte[5]))) {
            assertTrue(m.startsWith("f.safetensors"), m);
            assertEquals(-1, m.indexOf('\n'), m);
        }
    }

    @Test
    void overlappingTensorsAreRefused() {
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        assertTrue(error(buf.array()).contains("overlaps"), error(buf.array()));
    }

    @Test
    void missingFileIsAnIoError() {
        assertThrows(java.io.UncheckedIOException.class, () -> SafeTensors.read(tmp.resolve("nope.safetensors")));
        assertTrue(Files.notExists(tmp.resolve("nope.safetensors")));
    }
}
