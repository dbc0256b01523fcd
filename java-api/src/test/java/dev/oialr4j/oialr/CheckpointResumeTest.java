package dev.oialr4j.oialr;

import static dev.oialr4j.oialr.OialrTestSupport.nextGaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.data.DataLoader;
import dev.oialr4j.data.Dataset;
import dev.oialr4j.io.FormatException;
import dev.oialr4j.io.RunDirectory;
import dev.oialr4j.io.SafeTensors;
import dev.oialr4j.nn.models.Mlp;
import dev.oialr4j.oialr.OialrTestSupport.Opt;
import dev.oialr4j.optim.LrSchedule;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamState;
import dev.oialr4j.train.Trainer;
import dev.oialr4j.train.TrainerCallback;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Checkpoints and resuming: a run interrupted after N epochs and resumed from its checkpoint ends with
 * bit-identical parameters, optimizer state and OIALR state to the same run done straight through; dense
 * and with OIALR, interrupted before the conversion and after it (with update rounds on both sides).
 */
class CheckpointResumeTest {

    private static CpuBackend be;

    /** 96 examples, batches of 16: 6 steps per epoch; 4 epochs = 24 steps. */
    private static final int EPOCHS = 4;
    private static final int STEPS_PER_EPOCH = 6;
    /** Conversion after step 8 (epoch 2), rounds at 8, 11, 14, 17, 20, 23. */
    private static final long DELAY = 8;
    private static final long EVERY = 3;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    private static Dataset data(long seed, int n) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] x = new float[n * 16];
        int[] y = new int[n];
        for (int e = 0; e < n; e++) {
            double s = 0;
            for (int j = 0; j < 16; j++) {
                x[e * 16 + j] = (float) nextGaussian(rng);
                s += (j % 3 - 1) * x[e * 16 + j];
            }
            y[e] = s > 0.5 ? 0 : s > 0 ? 1 : s > -0.5 ? 2 : 3;
        }
        return new Dataset("synthetic", x, y, 4, 16);
    }

    /** Everything one run is built from; a fresh one for each run, as a restarted process would. */
    private final class Run {
        final Mlp model = Mlp.builder().inputs(16).hidden(24, 20).outputs(4).dropout(0.1f).seed(3).build();
        final Optimizer opt;
        final Oialr oialr;
        final Trainer trainer;
        final Path dir;

        Run(Opt which, boolean withOialr, Path dir, TrainerCallback extra) {
            this(which, withOialr, dir, extra, -1);
        }

        /** {@code resumeAfter} ≥ 0: reopen the run directory of a run interrupted after that many epochs. */
        Run(Opt which, boolean withOialr, Path dir, TrainerCallback extra, int resumeAfter) {
            this.dir = dir;
            opt = which.create(be, model, which == Opt.ADAMW ? 3e-3 : 0.05, 0.01);
            oialr = withOialr ? new Oialr(OialrConfig.builder().delay(DELAY).updateEvery(EVERY).cutoffFraction(0.3)
                    .rolloutFraction(0.5).build()) : null;
            DataLoader loader = DataLoader.builder(data(5, 96)).batchSize(16).shuffle(true).seed(9).build();
            Trainer.Builder b = Trainer.builder().model(model).backend(be).optimizer(opt)
                    .schedule(LrSchedule.cosineWithWarmup(opt.lr(), 4, EPOCHS * STEPS_PER_EPOCH, 0.0))
                    .train(loader).test(data(6, 32)).epochs(EPOCHS).labelSmoothing(0.05f)
                    .runDirectory(resumeAfter < 0 ? RunDirectory.create(dir) : RunDirectory.resume(dir, resumeAfter)).checkpointEveryEpoch(true);
            if (oialr != null) {
                b.callback(oialr);
                b.callback(new StabilityMetrics(2));
            }
            if (extra != null) {
                b.callback(extra);
            }
            trainer = b.build();
        }
    }

    /** Stops a run (as a crash would) at the start of the first step after {@code epochs} epochs. */
    private static TrainerCallback crashAfter(int epochs) {
        return new TrainerCallback() {
            @Override
            public void beforeStep(Trainer t, long step) {
                if (step == (long) epochs * STEPS_PER_EPOCH + 1) {
                    throw new Interrupted();
                }
            }
        };
    }

    private static final class Interrupted extends RuntimeException {
    }

    @ParameterizedTest(name = "{0}, oialr={1}, interrupted after epoch {2}")
    @CsvSource({"ADAMW, false, 2", "SGD_MOMENTUM, false, 1", "ADAMW, true, 1", "ADAMW, true, 2",
            "SGD_MOMENTUM, true, 2", "ADAMW, true, 3"})
    void resumedRunIsBitIdenticalToAStraightRun(Opt which, boolean withOialr, int interruptAfter) {
        Run straight = new Run(which, withOialr, tmp.resolve("straight"), null);
        straight.trainer.fit();

        Path dir = tmp.resolve("interrupted");
        Run first = new Run(which, withOialr, dir, crashAfter(interruptAfter));
        assertThrows(Interrupted.class, first.trainer::fit);
        if (withOialr && interruptAfter >= 2) {
            assertTrue(first.oialr.converted() && first.oialr.rounds() >= 2, "the checkpoint is taken after the"
                    + " conversion and at least one later round");
        }

        Run resumed = new Run(which, withOialr, dir, null, interruptAfter);
        assertEquals(interruptAfter, resumed.trainer.restoreCheckpoint(Trainer.checkpointDir(dir)));
        assertEquals((long) interruptAfter * STEPS_PER_EPOCH, resumed.trainer.globalStep());
        resumed.trainer.fit();
        assertEquals(straight.trainer.globalStep(), resumed.trainer.globalStep());

        assertSameState(straight, resumed);
        // The epoch lines after the resume match the straight run's (timings aside), stability metrics
        // against epochs from before the interruption included.
        List<Map<String, Object>> a = epochLines(straight.dir);
        List<Map<String, Object>> b = epochLines(dir);
        assertEquals(EPOCHS, b.size(), "each epoch logged once");
        for (int e = 0; e < EPOCHS; e++) {
            for (String key : List.of("epoch", "step", "train_loss", "test_loss", "test_accuracy", "ranks",
                    "trainable_pct", "basis_stability", "mixing_similarity", "update_rounds")) {
                assertEquals(a.get(e).get(key), b.get(e).get(key), key + " of epoch " + (e + 1));
            }
        }
        if (withOialr) {
            assertNotNull(b.get(EPOCHS - 1).get("basis_stability"));
            assertTrue(straight.oialr.converted());
            assertTrue(straight.oialr.rounds() > first.oialr.rounds(), "rounds ran after the resume too");
            assertEquals(straight.oialr.rounds(), resumed.oialr.rounds());
            assertEquals(straight.oialr.ranks(), resumed.oialr.ranks());
            assertEquals(straight.oialr.trainablePercent(straight.model), resumed.oialr.trainablePercent(resumed.model));
            assertTrue(straight.oialr.ranks().values().stream().anyMatch(r -> r < 16), "some rank was cut: "
                    + straight.oialr.ranks());
        }
    }

    /** A small conv net with batch norm, its trainer writing a checkpoint every epoch into dir. */
    private static Trainer convRun(Path dir, TrainerCallback extra, int resumeAfter, java.util.function.Consumer<
            dev.oialr4j.nn.BatchNorm2d> seeBatchNorm) {
        SplittableRandom rng = new SplittableRandom(4);
        var bn = new dev.oialr4j.nn.BatchNorm2d(3);
        seeBatchNorm.accept(bn);
        var model = new dev.oialr4j.nn.Sequential(new dev.oialr4j.nn.Reshape(1, 4, 4),
                new dev.oialr4j.nn.Conv2d(1, 3, 3, dev.oialr4j.backend.Conv2dOptions.of(1, 1, 1, 1), true, rng), bn,
                new dev.oialr4j.nn.ReLU(), new dev.oialr4j.nn.Flatten(), new dev.oialr4j.nn.Linear(48, 4, true, rng));
        Optimizer opt = Opt.ADAMW.create(be, model, 3e-3, 0.01);
        DataLoader loader = DataLoader.builder(data(5, 96)).batchSize(16).shuffle(true).seed(9).build();
        Trainer.Builder b = Trainer.builder().model(model).backend(be).optimizer(opt)
                .schedule(LrSchedule.cosineWithWarmup(opt.lr(), 4, EPOCHS * STEPS_PER_EPOCH, 0.0))
                .train(loader).test(data(6, 32)).epochs(EPOCHS)
                .runDirectory(resumeAfter < 0 ? RunDirectory.create(dir) : RunDirectory.resume(dir, resumeAfter))
                .checkpointEveryEpoch(true);
        if (extra != null) {
            b.callback(extra);
        }
        return b.build();
    }

    @Test
    void batchNormRunningStatisticsAreCheckpointed() {
        var straightBn = new dev.oialr4j.nn.BatchNorm2d[1];
        Trainer straight = convRun(tmp.resolve("conv-straight"), null, -1, bn -> straightBn[0] = bn);
        straight.fit();

        Path dir = tmp.resolve("conv-interrupted");
        Trainer first = convRun(dir, crashAfter(2), -1, bn -> { });
        assertThrows(Interrupted.class, first::fit);
        var resumedBn = new dev.oialr4j.nn.BatchNorm2d[1];
        Trainer resumed = convRun(dir, null, 2, bn -> resumedBn[0] = bn);
        resumed.restoreCheckpoint(Trainer.checkpointDir(dir));
        // Restored before any further step: the statistics of the interrupted run, not the initial 0 and 1.
        assertFalse(resumedBn[0].runningMean().data()[0] == 0f, "running mean restored");
        resumed.fit();
        assertArrayEquals(straightBn[0].runningMean().data(), resumedBn[0].runningMean().data(), 0f);
        assertArrayEquals(straightBn[0].runningVar().data(), resumedBn[0].runningVar().data(), 0f);
        // Evaluation uses the running statistics, so the logged test losses only match if they were restored.
        List<Map<String, Object>> a = epochLines(tmp.resolve("conv-straight"));
        List<Map<String, Object>> b = epochLines(dir);
        for (int e = 0; e < EPOCHS; e++) {
            assertEquals(a.get(e).get("test_loss"), b.get(e).get("test_loss"), "test loss of epoch " + (e + 1));
        }
    }

    /** Parameters (names, shapes, bits) and optimizer states (by parameter name) are identical. */
    private static void assertSameState(Run a, Run b) {
        Map<String, Parameter> pa = a.model.namedParameters();
        Map<String, Parameter> pb = b.model.namedParameters();
        assertEquals(List.copyOf(pa.keySet()), List.copyOf(pb.keySet()));
        for (String name : pa.keySet()) {
            Parameter x = pa.get(name);
            Parameter y = pb.get(name);
            assertArrayEquals(x.dims(), y.dims(), name);
            assertArrayEquals(be.toHost(x.value()), be.toHost(y.value()), name + " differs after resuming");
            assertEquals(x.requiresGrad(), y.requiresGrad(), name);
            ParamState sx = a.opt.state(x);
            ParamState sy = b.opt.state(y);
            assertEquals(sx == null, sy == null, name);
            if (sx instanceof ParamState.Adam ax) {
                ParamState.Adam ay = (ParamState.Adam) sy;
                assertEquals(ax.step, ay.step, name);
                assertArrayEquals(be.toHost(ax.m), be.toHost(ay.m), name);
                assertArrayEquals(be.toHost(ax.v), be.toHost(ay.v), name);
            } else if (sx instanceof ParamState.Momentum mx) {
                assertArrayEquals(be.toHost(mx.buf), be.toHost(((ParamState.Momentum) sy).buf), name);
            }
        }
        assertEquals(a.opt.parameters().size(), b.opt.parameters().size());
    }

    /** The comparison above can fail: without the checkpoint's dropout counters the runs part ways. */
    @Test
    void droppingTheDropoutCountersChangesTheResult() {
        Run straight = new Run(Opt.ADAMW, false, tmp.resolve("s"), null);
        straight.trainer.fit();
        Path dir = tmp.resolve("i");
        assertThrows(Interrupted.class, new Run(Opt.ADAMW, false, dir, crashAfter(2)).trainer::fit);
        Run resumed = new Run(Opt.ADAMW, false, dir, null);
        resumed.trainer.restoreCheckpoint(Trainer.checkpointDir(dir));
        resumed.model.namedModules().values().forEach(m -> {
            if (m instanceof dev.oialr4j.nn.Dropout d) {
                d.setCalls(0);
            }
        });
        resumed.trainer.fit();
        float[] a = be.toHost(straight.model.namedParameters().get("layers.0.weight").value());
        float[] b = be.toHost(resumed.model.namedParameters().get("layers.0.weight").value());
        assertFalse(java.util.Arrays.equals(a, b));
    }

    @Test
    void checkpointHoldsOialrStateAndDoubleBases() {
        Path dir = tmp.resolve("r");
        assertThrows(Interrupted.class, new Run(Opt.ADAMW, true, dir, crashAfter(3)).trainer::fit);
        SafeTensors.Contents c = SafeTensors.read(Trainer.checkpointDir(dir).resolve("state.safetensors"));
        assertEquals("F64", c.tensor("oialr/layers.0/u").dtype());
        assertEquals(16, c.tensor("oialr/layers.0/v").shape()[0]);
        assertEquals("F32", c.tensor("model/layers.0.sigma").dtype());
        assertNotNull(c.tensor("optimizer/layers.0.sigma/m"));
        Map<String, Object> meta = dev.oialr4j.io.Json.parseObject(readString(Trainer.checkpointDir(dir).resolve("state.json")));
        Map<?, ?> o = (Map<?, ?>) meta.get("oialr");
        assertEquals(true, o.get("converted"));
        long rounds = ((Number) o.get("rounds")).longValue();
        // Rounds at 8, 11, 14, 17 by step 18; the next one is at 20.
        assertEquals(4, rounds);
        assertEquals(20L, o.get("next_round_step"));
        assertEquals(3L, ((Map<?, ?>) meta.get("trainer")).get("epochs_done"));
    }

    @Test
    void mismatchedOrDamagedCheckpointsAreRefusedWithOneSentence() throws Exception {
        Path dir = tmp.resolve("m");
        assertThrows(Interrupted.class, new Run(Opt.ADAMW, true, dir, crashAfter(2)).trainer::fit);
        Path ck = Trainer.checkpointDir(dir);

        Run dense = new Run(Opt.ADAMW, false, tmp.resolve("m2"), null);
        String m1 = assertThrows(FormatException.class, () -> dense.trainer.restoreCheckpoint(ck)).getMessage();
        assertTrue(m1.startsWith("cannot resume: the checkpoint has 'oialr' state that no callback"), m1);

        Run sgd = new Run(Opt.SGD_MOMENTUM, true, tmp.resolve("m3"), null);
        String m2 = assertThrows(FormatException.class, () -> sgd.trainer.restoreCheckpoint(ck)).getMessage();
        assertTrue(m2.contains("AdamW state but this run uses Sgd"), m2);

        Path denseDir = tmp.resolve("m5");
        assertThrows(Interrupted.class, new Run(Opt.ADAMW, false, denseDir, crashAfter(1)).trainer::fit);
        Mlp wider = Mlp.builder().inputs(16).hidden(24, 22).outputs(4).dropout(0.1f).seed(3).build();
        Trainer other = Trainer.builder().model(wider).backend(be)
                .optimizer(Opt.ADAMW.create(be, wider, 3e-3, 0.01))
                .train(DataLoader.builder(data(5, 96)).batchSize(16).shuffle(true).seed(9).build()).epochs(EPOCHS)
                .build();
        String m5 = assertThrows(FormatException.class,
                () -> other.restoreCheckpoint(Trainer.checkpointDir(denseDir))).getMessage();
        assertEquals("cannot resume: parameter 'layers.3.weight' has shape [20, 24] in the checkpoint but [22, 24]"
                + " in this model", m5);
        assertThrows(IllegalArgumentException.class, () -> Trainer.builder().model(wider).backend(be)
                .optimizer(Opt.ADAMW.create(be, wider, 1e-3, 0)).train(DataLoader.builder(data(5, 16)).build())
                .snapshots(true).build(), "snapshots need a run directory");

        byte[] bytes = Files.readAllBytes(ck.resolve("state.safetensors"));
        bytes[bytes.length - 1] ^= 1;
        Files.write(ck.resolve("state.safetensors"), bytes);
        Run again = new Run(Opt.ADAMW, true, tmp.resolve("m4"), null);
        String m3 = assertThrows(FormatException.class, () -> again.trainer.restoreCheckpoint(ck)).getMessage();
        assertTrue(m3.contains("is inconsistent"), m3);

        String m4 = assertThrows(FormatException.class,
                () -> again.trainer.restoreCheckpoint(tmp.resolve("nowhere"))).getMessage();
        assertTrue(m4.startsWith("no checkpoint in"), m4);
    }

    /** The epoch lines of a run's metrics.jsonl. */
    private static List<Map<String, Object>> epochLines(Path dir) {
        return readString(dir.resolve("metrics.jsonl")).lines().map(dev.oialr4j.io.Json::parseObject)
                .filter(m -> "epoch".equals(m.get("type"))).toList();
    }

    private static String readString(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
