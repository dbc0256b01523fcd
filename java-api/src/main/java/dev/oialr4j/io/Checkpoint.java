package dev.oialr4j.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * A training checkpoint on disk: a folder with {@code state.safetensors} (every tensor) and
 * {@code state.json} (everything else: counters, settings, which tensor is what). Owners of state write
 * into named {@link Section}s, so the model, the optimizer and each callback keep apart.
 *
 * <p>The JSON file is written last and records the size and CRC-32 of the tensor file, so a checkpoint
 * whose writing was interrupted, or whose two files come from different saves, is refused on loading
 * instead of resuming from mixed state.
 */
public final class Checkpoint {

    public static final String TENSORS = "state.safetensors";
    public static final String METADATA = "state.json";

    private final Map<String, SafeTensors.Entry> tensors;
    private final Map<String, Object> meta;

    private Checkpoint(Map<String, SafeTensors.Entry> tensors, Map<String, Object> meta) {
        this.tensors = tensors;
        this.meta = meta;
    }

    public static Checkpoint empty() {
        return new Checkpoint(new LinkedHashMap<>(), new LinkedHashMap<>());
    }

    /** The section {@code name} (created when writing; must exist when reading). */
    public Section section(String name) {
        if (name.isEmpty() || name.contains("/")) {
            throw new IllegalArgumentException("section names must be non-empty without '/': '" + name + "'");
        }
        return new Section(name);
    }

    public boolean hasSection(String name) {
        return meta.containsKey(name);
    }

    /** The names of the sections that hold JSON state, in the order they were written. */
    public java.util.List<String> sectionNames() {
        return java.util.List.copyOf(meta.keySet());
    }

    /** All tensors, keyed {@code section/name}. */
    public Map<String, SafeTensors.Entry> tensors() {
        return Collections.unmodifiableMap(tensors);
    }

    /** A named part of a checkpoint: tensors under {@code section/...} and a JSON object of its own. */
    public final class Section {
        private final String name;

        private Section(String name) {
            this.name = name;
        }

        public String name() {
            return name;
        }

        /** The section's JSON object (created empty on first use). */
        @SuppressWarnings("unchecked")
        public Map<String, Object> meta() {
            return (Map<String, Object>) meta.computeIfAbsent(name, k -> new LinkedHashMap<String, Object>());
        }

        public void put(String key, Object value) {
            meta().put(key, value);
        }

        /** The JSON value {@code key}; throws naming the section when it is missing. */
        public Object get(String key) {
            Object v = meta().get(key);
            if (v == null && !meta().containsKey(key)) {
                throw new FormatException("checkpoint section '" + name + "' has no entry '" + key + "'");
            }
            return v;
        }

        public long getLong(String key) {
            if (!(get(key) instanceof Number n)) {
                throw new FormatException("checkpoint entry " + name + "." + key + " is not a number");
            }
            return n.longValue();
        }

        public boolean getBoolean(String key) {
            if (!(get(key) instanceof Boolean b)) {
                throw new FormatException("checkpoint entry " + name + "." + key + " is not true or false");
            }
            return b;
        }

        public void putTensor(String key, SafeTensors.Entry value) {
            tensors.put(name + "/" + key, value);
        }

        public boolean hasTensor(String key) {
            return tensors.containsKey(name + "/" + key);
        }

        /** The tensor {@code key}, which must have {@code shape}; throws naming both shapes otherwise. */
        public SafeTensors.Entry tensor(String key, int... shape) {
            SafeTensors.Entry e = tensors.get(name + "/" + key);
            if (e == null) {
                throw new FormatException("checkpoint has no tensor '" + name + "/" + key + "'");
            }
            if (!java.util.Arrays.equals(e.shape(), shape)) {
                throw new FormatException("checkpoint tensor '" + name + "/" + key + "' has shape "
                        + java.util.Arrays.toString(e.shape()) + " but " + java.util.Arrays.toString(shape)
                        + " is expected here");
            }
            return e;
        }

        /** Keys of this section's tensors (without the section prefix), in file order. */
        public java.util.List<String> tensorKeys() {
            String p = name + "/";
            return tensors.keySet().stream().filter(k -> k.startsWith(p)).map(k -> k.substring(p.length())).toList();
        }
    }

    // ---- files ----------------------------------------------------------------------------------

    /** Writes the two files into {@code dir} (created if needed), the JSON file last. */
    public void save(Path dir) {
        byte[] bytes = SafeTensors.toBytes(tensors, Map.of("format", "oialr4j-checkpoint"));
        CRC32 crc = new CRC32();
        crc.update(bytes);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("format", "oialr4j-checkpoint/1");
        doc.put("tensor_file_bytes", (long) bytes.length);
        doc.put("tensor_file_crc32", crc.getValue());
        doc.putAll(meta);
        try {
            Files.createDirectories(dir);
            atomicWrite(dir.resolve(TENSORS), bytes);
            atomicWrite(dir.resolve(METADATA), (Json.write(doc) + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void atomicWrite(Path p, byte[] bytes) throws IOException {
        Path tmp = p.resolveSibling(p.getFileName() + ".tmp");
        Files.write(tmp, bytes);
        Files.move(tmp, p, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Loads a checkpoint folder written by {@link #save}; a damaged or mismatched one gives one sentence. */
    public static Checkpoint load(Path dir) {
        Path json = dir.resolve(METADATA);
        Path st = dir.resolve(TENSORS);
        if (!Files.isRegularFile(json) || !Files.isRegularFile(st)) {
            throw new FormatException("no checkpoint in " + dir + " (expected " + METADATA + " and " + TENSORS + ")");
        }
        Map<String, Object> doc;
        byte[] bytes;
        try {
            doc = Json.parseObject(Files.readString(json, StandardCharsets.UTF_8));
            bytes = Files.readAllBytes(st);
        } catch (IllegalArgumentException e) {
            throw new FormatException(json + " is not valid JSON: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint " + dir + ": " + e.getMessage(), e);
        }
        if (!"oialr4j-checkpoint/1".equals(doc.get("format"))) {
            throw new FormatException(json + " is not an oialr4j checkpoint (format " + doc.get("format") + ")");
        }
        CRC32 crc = new CRC32();
        crc.update(bytes);
        if (!(doc.get("tensor_file_bytes") instanceof Number n) || n.longValue() != bytes.length
                || !(doc.get("tensor_file_crc32") instanceof Number c) || c.longValue() != crc.getValue()) {
            throw new FormatException("checkpoint " + dir + " is inconsistent: " + TENSORS
                    + " does not match the size and checksum recorded in " + METADATA);
        }
        SafeTensors.Contents contents = SafeTensors.fromBytes(bytes, st.toString());
        Map<String, Object> meta = new LinkedHashMap<>(doc);
        meta.remove("format");
        meta.remove("tensor_file_bytes");
        meta.remove("tensor_file_crc32");
        return new Checkpoint(new LinkedHashMap<>(contents.tensors()), meta);
    }
}
