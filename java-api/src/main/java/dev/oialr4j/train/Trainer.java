package dev.oialr4j.train;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.data.Batch;
import dev.oialr4j.data.DataLoader;
import dev.oialr4j.data.Dataset;
import dev.oialr4j.io.RunDirectory;
import dev.oialr4j.nn.Module;
import dev.oialr4j.optim.GradClip;
import dev.oialr4j.optim.LrSchedule;
import dev.oialr4j.optim.Optimizer;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The supervised training loop for classifiers: per step forward, cross-entropy, backward, optional
 * global-norm clipping, learning rate from the schedule, optimizer update, then the callbacks' after-step
 * hook. Each epoch ends with an evaluation on the test set, one line on the console and one JSON line in
 * the run directory.
 *
 * <p>Step times are measured from the start of the forward pass to the end of the optimizer update;
 * time spent in callbacks is measured separately, so a callback's own cost (e.g. OIALR's update rounds)
 * is visible on its own.
 */
public final class Trainer {

    private final Module model;
    private final Backend backend;
    private final Optimizer optimizer;
    private final LrSchedule schedule;
    private final DataLoader train;
    private final Dataset test;
    private final int epochs;
    private final float labelSmoothing;
    private final double clipNorm;
    private final int evalBatch;
    private final RunDirectory run;
    private final PrintStream console;
    private final ProgressBar progress;
    private final List<TrainerCallback> callbacks;
    private final boolean snapshots;
    private final boolean checkpointEveryEpoch;

    private long globalStep;
    private int epochsDone;
    private final List<Long> stepNanos = new ArrayList<>();
    private final List<Long> callbackNanos = new ArrayList<>();
    private final List<Double> stepLosses = new ArrayList<>();

    private Trainer(Builder b) {
        this.model = Objects.requireNonNull(b.model, "model");
        this.backend = Objects.requireNonNull(b.backend, "backend");
        this.optimizer = Objects.requireNonNull(b.optimizer, "optimizer");
        this.schedule = b.schedule != null ? b.schedule : LrSchedule.constant(b.optimizer.lr());
        this.train = Objects.requireNonNull(b.train, "training data");
        this.test = b.test;
        this.epochs = b.epochs;
        this.labelSmoothing = b.labelSmoothing;
        this.clipNorm = b.clipNorm;
        this.evalBatch = b.evalBatch;
        this.run = b.run;
        this.console = b.console;
        this.progress = b.progress != null ? b.progress : new ProgressBar(System.err, false);
        this.callbacks = List.copyOf(b.callbacks);
        this.snapshots = b.snapshots;
        this.checkpointEveryEpoch = b.checkpointEveryEpoch;
        if ((snapshots || checkpointEveryEpoch) && run == null) {
            throw new IllegalArgumentException("snapshots and checkpoints need a run directory");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Trains for the configured epochs and returns the per-epoch results. After
     * {@link #restoreCheckpoint(java.nio.file.Path)} it runs only the epochs the checkpoint had not done.
     */
    public TrainResult fit() {
        List<EpochResult> history = new ArrayList<>();
        long fitStart = System.nanoTime();
        if (snapshots && epochsDone == 0) {
            writeSnapshot(0); // the initial weights, so epoch 1 can be compared with its start
        }
        for (int epoch = epochsDone + 1; epoch <= epochs; epoch++) {
            history.add(runEpoch(epoch));
        }
        double seconds = (System.nanoTime() - fitStart) / 1e9;
        return new TrainResult(history, seconds, List.copyOf(stepNanos), List.copyOf(callbackNanos),
                List.copyOf(stepLosses));
    }

    private EpochResult runEpoch(int epoch) {
        model.train(true);
        Tape tape = new Tape(backend);
        Ops ops = new Ops(tape);
        long epochStart = System.nanoTime();
        long epochCallbackNanos = 0;
        double lossSum = 0;
        int steps = 0;
        progress.start(String.format("epoch %d/%d", epoch, epochs), train.batchesPerEpoch());
        for (Batch b : train.epoch(epoch - 1)) {
            globalStep++;
            long c0 = System.nanoTime();
            for (TrainerCallback cb : callbacks) {
                cb.beforeStep(this, globalStep);
            }
            long t0 = System.nanoTime();
            // Every model parameter, optimised or not, starts the step without a gradient, so nothing
            // can accumulate stale gradients (layers may be swapped by callbacks between steps).
            List<Parameter> params = model.parameters();
            for (Parameter p : params) {
                p.zeroGrad();
            }
            optimizer.zeroGrad();
            Variable x = Variable.constant(Evaluation.toDevice(backend, b));
            Variable logits = model.forward(ops, x);
            Variable loss = ops.crossEntropy(logits, b.labels(), labelSmoothing);
            tape.backward(loss);
            if (clipNorm > 0) {
                GradClip.clipGlobalNorm(backend, optimizer.parameters(), clipNorm);
            }
            optimizer.setLr(schedule.lr(globalStep - 1));
            optimizer.step();
            double l = backend.toHost(loss.value())[0];
            long t1 = System.nanoTime();
            for (TrainerCallback cb : callbacks) {
                cb.afterOptimizerStep(this, globalStep);
            }
            long t2 = System.nanoTime();
            if (!Double.isFinite(l)) {
                throw new IllegalStateException("training diverged: loss is " + l + " at step " + globalStep
                        + " (epoch " + epoch + "); lower the learning rate or enable clipping");
            }
            stepNanos.add(t1 - t0);
            callbackNanos.add((t0 - c0) + (t2 - t1));
            epochCallbackNanos += (t0 - c0) + (t2 - t1);
            stepLosses.add(l);
            lossSum += l;
            steps++;
            progress.update(steps, lossSum / steps);
            if (run != null && globalStep % 50 == 0) {
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("type", "step");
                rec.put("step", globalStep);
                rec.put("epoch", epoch);
                rec.put("loss", l);
                rec.put("lr", optimizer.lr());
                run.appendMetrics(rec);
            }
        }
        progress.finish();
        double trainSeconds = (System.nanoTime() - epochStart) / 1e9;
        Evaluation eval = test == null ? null : Evaluation.of(model, test, backend, evalBatch);
        EpochResult result = new EpochResult(epoch, globalStep, steps == 0 ? Double.NaN : lossSum / steps,
                eval == null ? Double.NaN : eval.loss(), eval == null ? Double.NaN : eval.accuracy(),
                trainSeconds, epochCallbackNanos / 1e9, optimizer.lr());
        if (console != null) {
            console.println(result.consoleLine(epochs));
        }
        Map<String, Object> rec = result.toRecord();
        for (TrainerCallback cb : callbacks) {
            cb.afterEpoch(this, epoch, rec);
        }
        if (run != null) {
            run.appendMetrics(rec);
        }
        epochsDone = epoch;
        if (snapshots) {
            writeSnapshot(epoch);
        }
        if (checkpointEveryEpoch) {
            saveCheckpoint(checkpointDir(run.path()));
        }
        return result;
    }

    public Module model() {
        return model;
    }

    public Backend backend() {
        return backend;
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    /** Optimizer steps taken so far. */
    public long globalStep() {
        return globalStep;
    }

    public int epochs() {
        return epochs;
    }

    public int stepsPerEpoch() {
        return train.batchesPerEpoch();
    }

    /** Options; required: model, backend, optimizer, training data. */
    public static final class Builder {
        private Module model;
        private Backend backend;
        private Optimizer optimizer;
        private LrSchedule schedule;
        private DataLoader train;
        private Dataset test;
        private int epochs = 1;
        private float labelSmoothing;
        private double clipNorm;
        private int evalBatch = 1000;
        private RunDirectory run;
        private PrintStream console;
        private ProgressBar progress;
        private final List<TrainerCallback> callbacks = new ArrayList<>();
        private boolean snapshots;
        private boolean checkpointEveryEpoch;

        public Builder model(Module m) {
            this.model = m;
            return this;
        }

        public Builder backend(Backend b) {
            this.backend = b;
            return this;
        }

        public Builder optimizer(Optimizer o) {
            this.optimizer = o;
            return this;
        }

        public Builder schedule(LrSchedule s) {
            this.schedule = s;
            return this;
        }

        public Builder train(DataLoader loader) {
            this.train = loader;
            return this;
        }

        public Builder test(Dataset data) {
            this.test = data;
            return this;
        }

        public Builder epochs(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("epochs must be >= 1, got " + n);
            }
            this.epochs = n;
            return this;
        }

        public Builder labelSmoothing(float eps) {
            if (!(eps >= 0f && eps < 1f)) {
                throw new IllegalArgumentException("label smoothing must be in [0, 1), got " + eps);
            }
            this.labelSmoothing = eps;
            return this;
        }

        /** Global gradient-norm clipping; 0 disables it. */
        public Builder clipNorm(double maxNorm) {
            if (maxNorm < 0) {
                throw new IllegalArgumentException("clip norm must be >= 0, got " + maxNorm);
            }
            this.clipNorm = maxNorm;
            return this;
        }

        public Builder evalBatch(int n) {
            this.evalBatch = n;
            return this;
        }

        public Builder runDirectory(RunDirectory dir) {
            this.run = dir;
            return this;
        }

        /** Where per-epoch lines go; null for silence. */
        public Builder console(PrintStream out) {
            this.console = out;
            return this;
        }

        public Builder progress(ProgressBar bar) {
            this.progress = bar;
            return this;
        }

        public Builder callback(TrainerCallback cb) {
            this.callbacks.add(cb);
            return this;
        }

        /**
         * Whether to write every named parameter to {@code RUN/snapshots/epoch-NNN.safetensors} before
         * training (epoch 000) and after each epoch, for {@code oialr4j analyze}. Needs a run directory.
         */
        public Builder snapshots(boolean on) {
            this.snapshots = on;
            return this;
        }

        /** Whether to save a checkpoint to {@code RUN/checkpoint} after each epoch (the latest one is kept). */
        public Builder checkpointEveryEpoch(boolean on) {
            this.checkpointEveryEpoch = on;
            return this;
        }

        public Trainer build() {
            return new Trainer(this);
        }
    }

    // ---- snapshots, checkpoints and resuming ----------------------------------------------------

    /** The folder of a run directory's weight snapshots. */
    public static java.nio.file.Path snapshotDir(java.nio.file.Path runDir) {
        return runDir.resolve("snapshots");
    }

    /** The snapshot file of epoch {@code epoch} (0 = before training). */
    public static java.nio.file.Path snapshotFile(java.nio.file.Path runDir, int epoch) {
        return snapshotDir(runDir).resolve(String.format("epoch-%03d.safetensors", epoch));
    }

    /** The folder of a run directory's latest checkpoint. */
    public static java.nio.file.Path checkpointDir(java.nio.file.Path runDir) {
        return runDir.resolve("checkpoint");
    }

    private void writeSnapshot(int epoch) {
        TrainingState.writeSnapshot(model, backend, snapshotFile(run.path(), epoch), epoch, globalStep);
    }

    /** Epochs completed so far (including those done before a restored checkpoint). */
    public int epochsDone() {
        return epochsDone;
    }

    /**
     * Saves everything a resumed run needs into {@code dir} (see {@link TrainingState}). Call it between
     * epochs: a resumed run starts at the first batch of the next epoch.
     */
    public void saveCheckpoint(java.nio.file.Path dir) {
        TrainingState.capture(this, epochsDone).save(dir);
    }

    /**
     * Loads a checkpoint into this freshly built trainer (same model, optimizer, data, schedule and
     * callbacks as the run that saved it) so that {@link #fit()} continues where that run stopped; the
     * continuation is bit-identical to an uninterrupted run. Returns the epochs already done.
     */
    public int restoreCheckpoint(java.nio.file.Path dir) {
        return restoreCheckpoint(dev.oialr4j.io.Checkpoint.load(dir));
    }

    /** {@link #restoreCheckpoint(java.nio.file.Path)} from a checkpoint already loaded. */
    public int restoreCheckpoint(dev.oialr4j.io.Checkpoint checkpoint) {
        if (globalStep != 0 || epochsDone != 0) {
            throw new IllegalStateException("restore a checkpoint into a fresh trainer, not one that has trained");
        }
        return TrainingState.restore(this, checkpoint);
    }

    void resumeAt(int epochsDone, long globalStep) {
        this.epochsDone = epochsDone;
        this.globalStep = globalStep;
    }

    /** The training data loader. */
    public DataLoader trainLoader() {
        return train;
    }

    /** The callbacks, in the order they run. */
    public List<TrainerCallback> callbacks() {
        return callbacks;
    }
}
