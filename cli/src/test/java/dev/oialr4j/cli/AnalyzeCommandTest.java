package dev.oialr4j.cli;

import static dev.oialr4j.cli.MainTest.assertOneSentence;
import static dev.oialr4j.cli.MainTest.concat;
import static dev.oialr4j.cli.MainTest.images;
import static dev.oialr4j.cli.MainTest.labels;
import static dev.oialr4j.cli.MainTest.run;
import static dev.oialr4j.cli.MainTest.writeIdx;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.cli.MainTest.Result;
import dev.oialr4j.io.Json;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train --snapshots --checkpoint-every-epoch --oialr}, then {@code analyze} on the run (PNG heat maps
 * and curves that decode at the documented sizes), {@code train --resume}, and the commands' one-sentence
 * errors.
 */
class AnalyzeCommandTest {

    @TempDir
    static Path tmp;

    private static Path data;
    private static Path run;

    /** 256 training examples in batches of 32: 8 steps per epoch; OIALR converts after step 8. */
    private static String[] trainArgs(int epochs, Path out) {
        return new String[] {"train", "--data-dir", data.toString(), "--epochs", Integer.toString(epochs), "--batch",
            "32", "--hidden", "32,24", "--seed", "3", "--threads", "2", "--oialr", "--delay", "8", "--update-every",
            "4", "--cutoff", "0.3", "--rollout", "1", "--snapshots", "--checkpoint-every-epoch", "--out", out.toString()};
    }

    @BeforeAll
    static void trainOnce() throws IOException {
        data = tmp.resolve("fm");
        Files.createDirectories(data);
        writeIdx(data.resolve("train-images-idx3-ubyte.gz"), images(256, 1), false);
        writeIdx(data.resolve("train-labels-idx1-ubyte.gz"), labels(256), false);
        writeIdx(data.resolve("t10k-images-idx3-ubyte.gz"), images(64, 2), false);
        writeIdx(data.resolve("t10k-labels-idx1-ubyte.gz"), labels(64), false);
        run = tmp.resolve("run");
        Result r = run(trainArgs(3, run));
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void analyzeWritesDecodableHeatMapsAndCurves() throws IOException {
        Path out = tmp.resolve("pictures");
        Result r = run("analyze", run.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("epochs [1, 2, 3], lag 1"), r.out());
        for (String name : List.of("stability", "mixing_similarity")) {
            BufferedImage img = ImageIO.read(out.resolve(name + ".png").toFile());
            assertNotNull(img, name + ".png decodes");
            assertEquals(AnalysisCharts.HEAT_WIDTH, img.getWidth());
            assertEquals(AnalysisCharts.HEAT_HEIGHT, img.getHeight());
            assertTrue(distinctColours(img) > 20, name + ".png has content");
        }
        for (String name : List.of("accuracy", "trainable", "ranks")) {
            BufferedImage img = ImageIO.read(out.resolve(name + ".png").toFile());
            assertNotNull(img, name + ".png decodes");
            assertEquals(AnalysisCharts.LINE_WIDTH, img.getWidth());
            assertEquals(AnalysisCharts.LINE_HEIGHT, img.getHeight());
        }
        Map<String, Object> json = Json.parseObject(Files.readString(out.resolve("analysis.json")));
        assertEquals(List.of("layers.0", "layers.3", "layers.6"), json.get("layers"));
        assertEquals(List.of(1L, 2L, 3L), json.get("epochs"));
        // Epoch 2 compares the dense weights after epoch 1 with the factored ones after epoch 2: both exist.
        for (Object row : ((Map<?, ?>) json.get("basis_stability")).values()) {
            for (Object v : (List<?>) row) {
                double d = ((Number) v).doubleValue();
                assertTrue(d > -1 && d <= 1 + 1e-9, "stability in [-1, 1]: " + d);
            }
        }

        Result lag2 = run("analyze", run.toString(), "--lag", "2");
        assertEquals(0, lag2.code(), lag2.err());
        assertTrue(Files.isRegularFile(run.resolve("analysis/stability.png")));
    }

    private static int distinctColours(BufferedImage img) {
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) {
            for (int x = 0; x < img.getWidth(); x += 3) {
                seen.add(img.getRGB(x, y));
            }
        }
        return seen.size();
    }

    @Test
    void analyzeErrorsAreOneSentence() throws IOException {
        Result missing = run("analyze", tmp.resolve("nowhere").toString());
        assertEquals(1, missing.code());
        assertOneSentence(missing);
        assertTrue(missing.err().contains("does not exist"), missing.err());

        Path empty = Files.createDirectories(tmp.resolve("empty-run"));
        Result none = run("analyze", empty.toString());
        assertEquals(1, none.code());
        assertOneSentence(none);
        assertTrue(none.err().contains("no weight snapshots"), none.err());

        Result tooFew = run("analyze", run.toString(), "--lag", "4");
        assertEquals(1, tooFew.code());
        assertOneSentence(tooFew);
        assertTrue(tooFew.err().contains("needs at least 5 snapshots"), tooFew.err());

        Path broken = Files.createDirectories(tmp.resolve("broken/snapshots"));
        Files.write(broken.resolve("epoch-000.safetensors"), new byte[] {1, 2, 3});
        Files.write(broken.resolve("epoch-001.safetensors"), new byte[] {1, 2, 3});
        Result corrupt = run("analyze", tmp.resolve("broken").toString());
        assertEquals(1, corrupt.code());
        assertOneSentence(corrupt);
        assertTrue(corrupt.err().contains("epoch-000.safetensors is not a safetensors file"), corrupt.err());
    }

    @Test
    void resumeContinuesARunFromItsCheckpoint() throws IOException {
        // A run stopped after 2 of 3 epochs: train 3 epochs with a copy of the run's files as they were
        // after epoch 2 is not possible from the command line, so stop a 3-epoch run's twin early by
        // resuming a run whose checkpoint says 2 epochs were done.
        Path straight = tmp.resolve("straight");
        assertEquals(0, run(trainArgs(3, straight)).code());
        Path partial = tmp.resolve("partial");
        assertEquals(0, run(trainArgs(2, partial)).code());
        // Make the 2-epoch run a 3-epoch run that stopped: its recorded command line says 3 epochs.
        Path config = partial.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"--epochs\",\"2\"", "\"--epochs\",\"3\""));
        Result resumed = run("train", "--resume", partial.toString());
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.out().contains("resuming after epoch 2 (step 16)"), resumed.out());
        assertTrue(resumed.out().contains("epoch  3/3"), resumed.out());
        List<Long> epochs = Files.readAllLines(partial.resolve("metrics.jsonl")).stream()
                .map(Json::parseObject).filter(m -> "epoch".equals(m.get("type")))
                .map(m -> ((Number) m.get("epoch")).longValue()).toList();
        assertEquals(List.of(1L, 2L, 3L), epochs, "each epoch logged once");
        assertTrue(Files.isRegularFile(partial.resolve("snapshots/epoch-003.safetensors")));

        Result finished = run("train", "--resume", straight.toString());
        assertEquals(1, finished.code());
        assertOneSentence(finished);
        assertTrue(finished.err().contains("already finished"), finished.err());

        Result extra = run("train", "--resume", straight.toString(), "--epochs", "5");
        assertEquals(1, extra.code());
        assertOneSentence(extra);
        assertTrue(extra.err().contains("give no other options"), extra.err());

        Result notRun = run("train", "--resume", tmp.resolve("fm").toString());
        assertEquals(1, notRun.code());
        assertOneSentence(notRun);
        assertTrue(notRun.err().contains("not a run directory"), notRun.err());
    }

    @Test
    void snapshotsAreOffByDefault() throws IOException {
        Path plain = tmp.resolve("plain");
        String[] args = {"train", "--data-dir", data.toString(), "--epochs", "1", "--batch", "64", "--hidden", "16",
            "--threads", "2", "--out", plain.toString()};
        assertEquals(0, run(args).code());
        assertTrue(Files.notExists(plain.resolve("snapshots")));
        assertTrue(Files.notExists(plain.resolve("checkpoint")));
        Result r = run(concat(new String[] {"analyze"}, plain.toString()));
        assertEquals(1, r.code());
        assertOneSentence(r);
    }
}
