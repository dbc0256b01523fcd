package dev.oialr4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --model resnet20}, {@code --data cifar10}, {@code --augment} and their errors. */
class ModelAndDataOptionsTest {

    record Result(int code, String out, String err) {
    }

    private static Result run(String... args) {
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

    private static void assertOneSentence(Result r) {
        String err = r.err().strip();
        assertFalse(err.isEmpty(), "expected an error message");
        assertEquals(1, err.lines().count(), "error must be one line, got:\n" + err);
        assertTrue(err.startsWith("oialr4j: "), err);
        assertFalse(err.contains("Exception"), "no exception names in user errors: " + err);
    }

    /** A CIFAR-10 binary directory with {@code perFile} random records in each of the six files. */
    private static Path cifar(Path root, int perFile) throws IOException {
        Path dir = Files.createDirectories(root.resolve("cifar-10-batches-bin"));
        SplittableRandom rng = new SplittableRandom(2);
        for (String name : new String[] {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                "data_batch_5.bin", "test_batch.bin"}) {
            byte[] b = new byte[perFile * 3073];
            for (int r = 0; r < perFile; r++) {
                b[r * 3073] = (byte) rng.nextInt(10);
                for (int i = 1; i < 3073; i++) {
                    b[r * 3073 + i] = (byte) rng.nextInt(256);
                }
            }
            Files.write(dir.resolve(name), b);
        }
        return dir;
    }

    @Test
    void cifar10WithoutADirectoryIsOneSentence(@TempDir Path tmp) {
        Result r = run("train", "--data", "cifar10", "--out", tmp.resolve("run").toString());
        assertEquals(1, r.code());
        assertOneSentence(r);
        assertTrue(r.err().contains("--data-dir"), r.err());
    }

    @Test
    void missingOrIncompleteCifar10DirectoryIsOneSentenceNamingIt(@TempDir Path tmp) throws IOException {
        Result missing = run("train", "--data", "cifar10", "--data-dir", tmp.resolve("nowhere").toString(), "--out",
                tmp.resolve("run").toString());
        assertEquals(1, missing.code());
        assertOneSentence(missing);
        assertTrue(missing.err().contains("nowhere"), missing.err());

        Path dir = cifar(tmp, 2);
        Files.delete(dir.resolve("data_batch_4.bin"));
        Result incomplete = run("train", "--data", "cifar10", "--data-dir", tmp.toString(), "--out",
                tmp.resolve("run2").toString());
        assertEquals(1, incomplete.code());
        assertOneSentence(incomplete);
        assertTrue(incomplete.err().contains("data_batch_4.bin"), incomplete.err());
    }

    @Test
    void unknownDataSetIsRejected(@TempDir Path tmp) {
        Result r = run("train", "--data", "imagenet", "--out", tmp.resolve("run").toString());
        assertEquals(1, r.code());
        assertOneSentence(r);
        assertTrue(r.err().contains("imagenet"), r.err());
    }

    @Test
    void resnet20TrainsOnCifar10WithAugmentation(@TempDir Path tmp) throws IOException {
        cifar(tmp, 4);
        Result r = run("train", "--model", "resnet20", "--data", "cifar10", "--data-dir", tmp.toString(), "--augment",
                "--epochs", "1", "--batch", "8", "--threads", "2", "--out", tmp.resolve("run").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("ResNet-20([3, 32, 32]"), r.out());
        assertTrue(r.out().contains("epoch  1/1"), r.out());
        String config = Files.readString(tmp.resolve("run/config.json"));
        assertTrue(config.contains("\"model\":\"resnet20\"") && config.contains("\"data_set\":\"cifar10\""), config);
    }

    @Test
    void resnet20WithOialrConvertsConvolutions(@TempDir Path tmp) throws IOException {
        cifar(tmp, 4);
        Result r = run("train", "--oialr", "--delay", "1", "--update-every", "1", "--model", "resnet20", "--data",
                "cifar10", "--data-dir", tmp.toString(), "--epochs", "1", "--batch", "10", "--threads", "2", "--out",
                tmp.resolve("run").toString());
        assertEquals(0, r.code(), r.err());
        String config = Files.readString(tmp.resolve("run/config.json"));
        assertTrue(config.contains("stage3.2.conv2") && config.contains("stem.0") && !config.contains("\"fc\""), config);
        assertTrue(r.out().contains("stage1.0.conv1="), r.out());
    }
}
