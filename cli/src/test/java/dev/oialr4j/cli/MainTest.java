package dev.oialr4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPOutputStream;
import dev.oialr4j.backend.Backends;
import dev.oialr4j.tensor.Device;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line's contract: user errors give one sentence and a non-zero exit, no stack trace; a
 * small training run works end to end and is reproducible for a seed.
 */
class MainTest {

    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static void assertOneSentence(Result r) {
        String err = r.err().strip();
        assertFalse(err.isEmpty(), "expected an error message");
        assertEquals(1, err.lines().count(), "error must be one line, got:\n" + err);
        assertTrue(err.startsWith("oialr4j: "), err);
        assertFalse(err.contains("Exception"), "no exception names in user errors: " + err);
    }

    @Test
    void everyHelpTextRendersWithoutFormatWarnings() {
        // picocli treats descriptions as format strings: a lone '%' prints a warning and the raw text.
        for (String[] args : List.of(new String[] {"--help"}, new String[] {"train", "--help"},
                new String[] {"compare", "--help"}, new String[] {"analyze", "--help"})) {
            Result r = run(args);
            assertEquals(0, r.code(), String.join(" ", args));
            assertFalse(r.err().contains("WARN") || r.out().contains("WARN"), String.join(" ", args) + ":\n" + r.err());
            assertTrue(r.out().startsWith("Usage: oialr4j"), r.out());
        }
    }

    @Test
    void unknownFlagIsAUsageError() {
        Result r = run("train", "--no-such-flag");
        assertEquals(2, r.code());
        assertOneSentence(r);
        assertTrue(r.err().contains("--no-such-flag"), r.err());
    }

    @Test
    void cudaWithoutGpuIsOneSentenceAndNonZeroExit(@TempDir Path tmp) {
        Assumptions.assumeTrue(Backends.unavailableReason(Device.cuda(0)).isPresent(),
                "this machine has a usable GPU, so --device cuda would train");
        for (String command : List.of("train", "compare")) {
            Result r = run(command, "--device", "cuda", "--epochs", "1", "--out", tmp.resolve(command).toString());
            assertEquals(1, r.code(), r.err());
            assertOneSentence(r);
            assertTrue(r.err().startsWith("oialr4j: device cuda:0 is not available: "), r.err());
            assertFalse(Files.exists(tmp.resolve(command)), "nothing is written before the device is checked");
        }
    }

    @Test
    void unknownDeviceIsRejected() {
        Result r = run("train", "--device", "tpu");
        assertEquals(1, r.code());
        assertOneSentence(r);
        assertTrue(r.err().contains("unknown device 'tpu'"), r.err());
    }

    @Test
    void badNumberIsAUsageError() {
        Result r = run("train", "--epochs", "ten");
        assertEquals(2, r.code());
        assertOneSentence(r);
    }

    @Test
    void invalidValuesAreRejected(@TempDir Path tmp) {
        for (String[] args : List.of(new String[] {"--epochs", "0"}, new String[] {"--lr", "-1"},
                new String[] {"--model", "resnet999"}, new String[] {"--optimizer", "lion"},
                new String[] {"--dropout", "1.5"}, new String[] {"--hidden", "0,5"})) {
            String[] full = new String[args.length + 3];
            full[0] = "train";
            System.arraycopy(args, 0, full, 1, args.length);
            full[args.length + 1] = "--out";
            full[args.length + 2] = tmp.resolve("run").toString();
            Result r = run(full);
            assertEquals(1, r.code(), String.join(" ", args));
            assertOneSentence(r);
        }
    }

    @Test
    void missingDataDirectoryIsOneSentence(@TempDir Path tmp) {
        Result r = run("train", "--data-dir", tmp.resolve("nowhere").toString(), "--out", tmp.resolve("run").toString());
        assertEquals(1, r.code());
        assertOneSentence(r);
        assertTrue(r.err().contains("nowhere"), r.err());
    }

    @Test
    void truncatedIdxFileIsOneSentenceNamingTheFile(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("fm");
        Files.createDirectories(dir);
        writeIdx(dir.resolve("train-images-idx3-ubyte.gz"), images(20, 0), true);
        writeIdx(dir.resolve("train-labels-idx1-ubyte.gz"), labels(20), false);
        writeIdx(dir.resolve("t10k-images-idx3-ubyte.gz"), images(10, 0), false);
        writeIdx(dir.resolve("t10k-labels-idx1-ubyte.gz"), labels(10), false);
        Result r = run("train", "--data-dir", dir.toString(), "--out", tmp.resolve("run").toString());
        assertEquals(1, r.code());
        assertOneSentence(r);
        assertTrue(r.err().contains("train-images-idx3-ubyte.gz"), r.err());
    }

    @Test
    void smallRunTrainsWritesLogsAndIsReproducible(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("fm");
        Files.createDirectories(dir);
        writeIdx(dir.resolve("train-images-idx3-ubyte.gz"), images(256, 1), false);
        writeIdx(dir.resolve("train-labels-idx1-ubyte.gz"), labels(256), false);
        writeIdx(dir.resolve("t10k-images-idx3-ubyte.gz"), images(64, 2), false);
        writeIdx(dir.resolve("t10k-labels-idx1-ubyte.gz"), labels(64), false);
        String[] common = {"train", "--data-dir", dir.toString(), "--epochs", "2", "--batch", "32",
            "--hidden", "32,16", "--seed", "7", "--threads", "2"};
        Result a = run(concat(common, "--out", tmp.resolve("a").toString()));
        Result b = run(concat(common, "--out", tmp.resolve("b").toString()));
        assertEquals(0, a.code(), a.err());
        assertEquals(0, b.code(), b.err());
        assertTrue(a.out().contains("epoch  2/2"), a.out());
        assertEquals(losses(a.out()), losses(b.out()), "same seed must print identical losses");
        assertTrue(Files.readAllLines(tmp.resolve("a/metrics.jsonl")).stream()
                .anyMatch(l -> l.contains("\"type\":\"epoch\"") && l.contains("\"test_accuracy\"")));
        assertTrue(Files.readString(tmp.resolve("a/summary.json")).contains("final_test_accuracy"));
        assertTrue(Files.readString(tmp.resolve("a/config.json")).contains("\"seed\":7"));
    }

    @Test
    void visionTransformerTrainsWithOialrByName(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("fm");
        Files.createDirectories(dir);
        writeIdx(dir.resolve("train-images-idx3-ubyte.gz"), images(128, 3), false);
        writeIdx(dir.resolve("train-labels-idx1-ubyte.gz"), labels(128), false);
        writeIdx(dir.resolve("t10k-images-idx3-ubyte.gz"), images(32, 4), false);
        writeIdx(dir.resolve("t10k-labels-idx1-ubyte.gz"), labels(32), false);
        Result r = run("train", "--data-dir", dir.toString(), "--model", "vit-small", "--epochs", "1", "--batch", "32",
                "--threads", "2", "--oialr", "--delay", "2", "--update-every", "1", "--exclude", "blocks.0.fc1",
                "--out", tmp.resolve("vit").toString());
        assertEquals(0, r.code(), r.err());
        String config = Files.readString(tmp.resolve("vit/config.json"));
        assertTrue(config.contains("VisionTransformer("), config);
        String summary = Files.readString(tmp.resolve("vit/summary.json"));
        assertTrue(summary.contains("blocks.3.attn.qkv") && !summary.contains("blocks.0.fc1\""), summary);

        Result bad = run("train", "--data-dir", dir.toString(), "--model", "vit-small", "--batch", "32", "--oialr",
                "--include", "blocks.9.fc1", "--out", tmp.resolve("bad").toString());
        assertEquals(1, bad.code());
        assertOneSentence(bad);
        assertTrue(bad.err().contains("blocks.9.fc1"), bad.err());
        Result tooBig = run("train", "--data-dir", dir.toString(), "--model", "vit-small", "--batch", "256",
                "--out", tmp.resolve("big").toString());
        assertEquals(1, tooBig.code());
        assertOneSentence(tooBig);
    }

    private static List<String> losses(String out) {
        Matcher m = Pattern.compile("train loss (\\S+)\\s+test loss (\\S+)\\s+test acc\\s+(\\S+)").matcher(out);
        List<String> found = new java.util.ArrayList<>();
        while (m.find()) {
            found.add(m.group(1) + "/" + m.group(2) + "/" + m.group(3));
        }
        assertEquals(2, found.size(), out);
        return found;
    }

    static String[] concat(String[] a, String... b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** Class-dependent blobs so a small network can learn something. */
    static byte[] images(int n, long seed) {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(seed);
        byte[] body = new byte[16 + n * 784];
        header(body, 0x00000803, n);
        putInt(body, 8, 28);
        putInt(body, 12, 28);
        for (int i = 0; i < n; i++) {
            int cls = i % 10;
            for (int p = 0; p < 784; p++) {
                int v = (p / 78 == cls ? 200 : 20) + rng.nextInt(40);
                body[16 + i * 784 + p] = (byte) v;
            }
        }
        return body;
    }

    static byte[] labels(int n) {
        byte[] body = new byte[8 + n];
        header(body, 0x00000801, n);
        for (int i = 0; i < n; i++) {
            body[8 + i] = (byte) (i % 10);
        }
        return body;
    }

    private static void header(byte[] b, int magic, int n) {
        putInt(b, 0, magic);
        putInt(b, 4, n);
    }

    private static void putInt(byte[] b, int off, int v) {
        b[off] = (byte) (v >>> 24);
        b[off + 1] = (byte) (v >>> 16);
        b[off + 2] = (byte) (v >>> 8);
        b[off + 3] = (byte) v;
    }

    static void writeIdx(Path p, byte[] content, boolean truncate) throws IOException {
        byte[] data = truncate ? java.util.Arrays.copyOf(content, content.length / 2) : content;
        try (OutputStream os = new GZIPOutputStream(Files.newOutputStream(p))) {
            os.write(data);
        }
    }
}
