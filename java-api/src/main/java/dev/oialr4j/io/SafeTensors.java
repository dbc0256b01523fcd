package dev.oialr4j.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors file format for named tensors: an 8-byte little-endian header length N, N bytes of
 * UTF-8 JSON mapping each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets
 * into the data section that follows) plus an optional {@code "__metadata__"} map of strings, then the
 * raw little-endian data. We write F32 and F64 tensors, in the order given, packed without gaps, and pad
 * the header with spaces to a multiple of 8 bytes as the reference writer does.
 *
 * <pre>{@code
 * SafeTensors.write(path, Map.of("w", new SafeTensors.F32(new int[] {2, 3}, data)), Map.of("epoch", "3"));
 * SafeTensors.Contents c = SafeTensors.read(path);
 * float[] w = c.tensor("w").toFloats();
 * }</pre>
 */
public final class SafeTensors {

    /** Headers larger than this are refused: a corrupt length field should not allocate gigabytes. */
    static final long MAX_HEADER = 100L << 20;

    private static final String METADATA = "__metadata__";

    private SafeTensors() {
    }

    /** One stored tensor: its dtype name in the file, its shape and its values. */
    public sealed interface Entry permits F32, F64 {
        int[] shape();

        String dtype();

        int bytesPerElement();

        /** The values as float (an F64 entry is rounded). */
        float[] toFloats();

        /** The values as double (exact for both dtypes). */
        double[] toDoubles();

        default long elements() {
            long n = 1;
            for (int d : shape()) {
                n *= d;
            }
            return n;
        }
    }

    /** A float32 tensor. */
    public record F32(int[] shape, float[] data) implements Entry {
        public F32 {
            shape = shape.clone();
            checkSize(shape, data.length);
        }

        @Override
        public String dtype() {
            return "F32";
        }

        @Override
        public int bytesPerElement() {
            return 4;
        }

        @Override
        public float[] toFloats() {
            return data;
        }

        @Override
        public double[] toDoubles() {
            double[] out = new double[data.length];
            for (int i = 0; i < data.length; i++) {
                out[i] = data[i];
            }
            return out;
        }
    }

    /** A float64 tensor (used for double-precision masters, e.g. OIALR's bases in a checkpoint). */
    public record F64(int[] shape, double[] data) implements Entry {
        public F64 {
            shape = shape.clone();
            checkSize(shape, data.length);
        }

        @Override
        public String dtype() {
            return "F64";
        }

        @Override
        public int bytesPerElement() {
            return 8;
        }

        @Override
        public float[] toFloats() {
            float[] out = new float[data.length];
            for (int i = 0; i < data.length; i++) {
                out[i] = (float) data[i];
            }
            return out;
        }

        @Override
        public double[] toDoubles() {
            return data;
        }
    }

    private static void checkSize(int[] shape, int length) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n *= d;
        }
        if (n != length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n + " values but "
                    + length + " were given");
        }
    }

    /** A file's tensors (in header order) and its string metadata. */
    public record Contents(Map<String, Entry> tensors, Map<String, String> metadata) {
        public Contents {
            tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
            metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
        }

        /** The tensor {@code name}; throws naming the available tensors when it is missing. */
        public Entry tensor(String name) {
            Entry e = tensors.get(name);
            if (e == null) {
                throw new FormatException("no tensor named '" + name + "' (the file has " + tensors.size()
                        + " tensors" + (tensors.size() <= 20 ? ": " + tensors.keySet() : "") + ")");
            }
            return e;
        }
    }

    // ---- writing --------------------------------------------------------------------------------

    /** The bytes of a safetensors file holding {@code tensors} (in iteration order) and {@code metadata}. */
    public static byte[] toBytes(Map<String, ? extends Entry> tensors, Map<String, String> metadata) {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) {
            header.put(METADATA, new LinkedHashMap<>(metadata));
        }
        long offset = 0;
        for (var e : tensors.entrySet()) {
            if (e.getKey().equals(METADATA)) {
                throw new IllegalArgumentException("'" + METADATA + "' is reserved and cannot name a tensor");
            }
            Entry t = e.getValue();
            long bytes = t.elements() * t.bytesPerElement();
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", t.dtype());
            info.put("shape", t.shape());
            info.put("data_offsets", List.of(offset, offset + bytes));
            header.put(e.getKey(), info);
            offset += bytes;
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        if (8L + padded + offset > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensors too large for one safetensors file: " + offset + " bytes");
        }
        ByteBuffer buf = ByteBuffer.allocate(8 + padded + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(padded);
        buf.put(json);
        for (int i = json.length; i < padded; i++) {
            buf.put((byte) ' ');
        }
        for (Entry t : tensors.values()) {
            switch (t) {
                case F32 f -> buf.asFloatBuffer().put(f.data());
                case F64 d -> buf.asDoubleBuffer().put(d.data());
            }
            buf.position(buf.position() + (int) (t.elements() * t.bytesPerElement()));
        }
        return buf.array();
    }

    /**
     * Writes a safetensors file. The bytes go to a temporary file beside {@code path} that is then moved
     * into place, so a crash while writing never leaves a half-written file under the final name.
     */
    public static void write(Path path, Map<String, ? extends Entry> tensors, Map<String, String> metadata) {
        byte[] bytes = toBytes(tensors, metadata);
        try {
            Path parent = path.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            Path tmp = parent.resolve(path.getFileName() + ".tmp");
            Files.write(tmp, bytes);
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + path + ": " + e.getMessage(), e);
        }
    }

    // ---- reading --------------------------------------------------------------------------------

    /** Reads a safetensors file; a malformed file gives a {@link FormatException} naming it. */
    public static Contents read(Path path) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path + ": " + e.getMessage(), e);
        }
        return fromBytes(bytes, path.toString());
    }

    /** Parses the bytes of a safetensors file; {@code source} names it in error messages. */
    public static Contents fromBytes(byte[] bytes, String source) {
        if (bytes.length < 8) {
            throw new FormatException(source + " is not a safetensors file: it has " + bytes.length
                    + " bytes, fewer than the 8-byte header length");
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = buf.getLong(0);
        if (headerLength < 2 || headerLength > MAX_HEADER) {
            throw new FormatException(source + " has a bad safetensors header length " + headerLength
                    + " (expected 2 to " + MAX_HEADER + " bytes)");
        }
        if (8 + headerLength > bytes.length) {
            throw new FormatException(source + " is truncated: its header needs " + headerLength
                    + " bytes but only " + (bytes.length - 8) + " follow the length field");
        }
        int dataStart = 8 + (int) headerLength;
        long dataLength = bytes.length - dataStart;
        String text = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
        Map<String, Object> header;
        try {
            header = Json.parseObject(text.stripTrailing());
        } catch (IllegalArgumentException e) {
            throw new FormatException(source + " has a bad safetensors header: " + e.getMessage(), e);
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Entry> tensors = new LinkedHashMap<>();
        List<long[]> ranges = new ArrayList<>();
        for (var e : header.entrySet()) {
            String name = e.getKey();
            if (name.equals(METADATA)) {
                if (!(e.getValue() instanceof Map<?, ?> m)) {
                    throw new FormatException(source + " has a bad safetensors header: __metadata__ is not an object");
                }
                for (var me : m.entrySet()) {
                    if (!(me.getValue() instanceof String sv)) {
                        throw new FormatException(source + " has a bad safetensors header: metadata value of '"
                                + me.getKey() + "' is not a string");
                    }
                    metadata.put((String) me.getKey(), sv);
                }
                continue;
            }
            TensorInfo info = TensorInfo.of(name, e.getValue(), source);
            long expected = info.elements() * info.bytesPerElement();
            if (info.end() - info.begin() != expected) {
                throw new FormatException(source + ": tensor '" + name + "' of shape " + Arrays.toString(info.shape())
                        + " and dtype " + info.dtype() + " needs " + expected + " bytes but its offsets ["
                        + info.begin() + ", " + info.end() + "] span " + (info.end() - info.begin()));
            }
            if (info.end() > dataLength) {
                throw new FormatException(source + ": offsets [" + info.begin() + ", " + info.end() + "] of tensor '"
                        + name + "' are out of range; the data section has " + dataLength
                        + " bytes (the file may be truncated)");
            }
            ranges.add(new long[] {info.begin(), info.end()});
            ByteBuffer slice = ByteBuffer.wrap(bytes, dataStart + (int) info.begin(), (int) expected).slice()
                    .order(ByteOrder.LITTLE_ENDIAN);
            if (info.dtype().equals("F32")) {
                float[] d = new float[(int) info.elements()];
                slice.asFloatBuffer().get(d);
                tensors.put(name, new F32(info.shape(), d));
            } else {
                double[] d = new double[(int) info.elements()];
                slice.asDoubleBuffer().get(d);
                tensors.put(name, new F64(info.shape(), d));
            }
        }
        checkCoverage(ranges, dataLength, source);
        return new Contents(tensors, metadata);
    }

    /** The reference format requires the tensors to tile the data section: no overlaps, no holes. */
    private static void checkCoverage(List<long[]> ranges, long dataLength, String source) {
        ranges.sort((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
        long at = 0;
        for (long[] r : ranges) {
            if (r[0] != at) {
                throw new FormatException(source + ": tensor data " + (r[0] < at ? "overlaps" : "leaves a gap")
                        + " at byte " + Math.min(r[0], at) + " of the data section");
            }
            at = r[1];
        }
        if (at != dataLength) {
            throw new FormatException(source + " has " + (dataLength - at)
                    + " bytes after the last tensor that no tensor covers");
        }
    }

    private record TensorInfo(String dtype, int[] shape, long begin, long end) {
        int bytesPerElement() {
            return dtype.equals("F32") ? 4 : 8;
        }

        long elements() {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            return n;
        }

        static TensorInfo of(String name, Object value, String source) {
            String bad = source + " has a bad safetensors header: tensor '" + name + "' ";
            if (!(value instanceof Map<?, ?> m)) {
                throw new FormatException(bad + "is not described by an object");
            }
            if (!(m.get("dtype") instanceof String dtype)) {
                throw new FormatException(bad + "has no dtype");
            }
            if (!dtype.equals("F32") && !dtype.equals("F64")) {
                throw new FormatException(source + ": tensor '" + name + "' has dtype " + dtype
                        + "; only F32 and F64 are supported");
            }
            if (!(m.get("shape") instanceof List<?> dims)) {
                throw new FormatException(bad + "has no shape list");
            }
            int[] shape = new int[dims.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                if (!(dims.get(i) instanceof Long d) || d < 0 || d > Integer.MAX_VALUE) {
                    throw new FormatException(bad + "has a bad shape " + dims);
                }
                shape[i] = (int) (long) d;
                elements *= d;
                if (elements > Integer.MAX_VALUE) {
                    throw new FormatException(bad + "is too large: shape " + dims);
                }
            }
            if (!(m.get("data_offsets") instanceof List<?> off) || off.size() != 2
                    || !(off.get(0) instanceof Long b) || !(off.get(1) instanceof Long e) || b < 0 || e < b) {
                throw new FormatException(bad + "has bad data_offsets " + m.get("data_offsets"));
            }
            return new TensorInfo(dtype, shape, b, e);
        }
    }
}
