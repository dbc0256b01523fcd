package dev.oialr4j.cli;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.Backends;
import dev.oialr4j.data.Cifar10;
import dev.oialr4j.data.DataLoader;
import dev.oialr4j.data.RandomCropFlip;
import dev.oialr4j.data.Dataset;
import dev.oialr4j.data.FashionMnist;
import dev.oialr4j.io.Checkpoint;
import dev.oialr4j.io.RunDirectory;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.models.Mlp;
import dev.oialr4j.nn.models.Models;
import dev.oialr4j.oialr.Oialr;
import dev.oialr4j.oialr.OialrConfig;
import dev.oialr4j.oialr.StabilityMetrics;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.LrSchedule;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.optim.Sgd;
import dev.oialr4j.train.EpochResult;
import dev.oialr4j.train.ProgressBar;
import dev.oialr4j.train.TrainResult;
import dev.oialr4j.train.Trainer;
import dev.oialr4j.train.TrainerCallback;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One training run from command-line options: data, model, optimizer, schedule, optional OIALR. */
final class TrainingRun {

    /** The data sets, loaded once and shared by the runs of a comparison. */
    record Data(Path dir, Dataset train, Dataset test) {
        static Data load(RunOptions o) {
            if (o.data.equals("cifar10")) {
                if (o.dataDir == null) {
                    throw new Main.UsageException("--data cifar10 needs --data-dir pointing at the cifar-10-batches-bin"
                            + " folder (CIFAR-10 is not bundled)");
                }
                if (!Files.isDirectory(o.dataDir)) {
                    throw new Main.UsageException("the CIFAR-10 directory " + o.dataDir + " does not exist");
                }
                return new Data(o.dataDir, Cifar10.load(o.dataDir, true), Cifar10.load(o.dataDir, false));
            }
            Path dir = o.dataDir != null ? o.dataDir : FashionMnist.findBundled(Path.of("").toAbsolutePath())
                    .or(() -> FashionMnist.findBundled(Path.of(System.getProperty("oialr4j.home", "."))))
                    .orElseThrow(() -> new Main.UsageException("the bundled data set was not found under"
                            + " data/fashion-mnist; run from the repository or pass --data-dir"));
            if (!Files.isDirectory(dir)) {
                throw new Main.UsageException("data directory " + dir + " does not exist");
            }
            return new Data(dir, FashionMnist.load(dir, true), FashionMnist.load(dir, false));
        }
    }

    /** What a run produced. {@code oialr} is null for a dense run. */
    record Outcome(String label, TrainResult result, Oialr oialr, Module model, Path runDir) {
    }

    private TrainingRun() {
    }

    static Path defaultDir(String command) {
        return Path.of("runs", command + "-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    }

    static Outcome run(String label, RunOptions o, OialrConfig oialrConfig, Data data, Path runDir, PrintStream console) {
        return run(label, o, oialrConfig, data, runDir, console, CheckpointOptions.none());
    }

    static Outcome run(String label, RunOptions o, OialrConfig oialrConfig, Data data, Path runDir, PrintStream console,
            CheckpointOptions ck) {
        int threads = o.threadCount();
        Checkpoint resume = ck.resumeCheckpoint == null ? null : Checkpoint.load(ck.resumeCheckpoint);
        int epochsDone = resume == null ? 0 : (int) resume.section("trainer").getLong("epochs_done");
        if (resume != null && epochsDone >= o.epochs) {
            throw new Main.UsageException("the run in " + runDir + " has already finished its " + o.epochs
                    + " epochs; there is nothing to resume");
        }
        try (Backend backend = Backends.create(o.device(), threads);
                RunDirectory run = resume == null ? RunDirectory.create(runDir) : RunDirectory.resume(runDir, epochsDone)) {
            Module net = buildModel(o, data);
            net.to(backend);
            List<ParamGroup> groups = ParamGroup.decayMatricesOnly(net.parameters(), o.weightDecay);
            Optimizer opt = o.optimizer.equals("sgd") ? new Sgd(backend, groups, o.lr, o.momentum, o.nesterov)
                    : new AdamW(backend, groups, o.lr);
            DataLoader.Builder lb = DataLoader.builder(data.train()).batchSize(o.batch).shuffle(true).seed(o.seed)
                    .dropLast(true);
            if (o.augment) {
                lb.augmentation(new RandomCropFlip(o.cropPadding, true));
            }
            DataLoader loader = lb.build();
            if (loader.batchesPerEpoch() == 0) {
                throw new Main.UsageException("--batch " + o.batch + " is larger than the " + data.train().size()
                        + " training examples, so an epoch would have no step");
            }
            long total = (long) loader.batchesPerEpoch() * o.epochs;
            long warmup = Math.min(total, Math.round(o.warmupEpochs * loader.batchesPerEpoch()));
            LrSchedule schedule = LrSchedule.cosineWithWarmup(o.lr, warmup, total, 0.0);
            Oialr oialr = oialrConfig == null ? null : new Oialr(oialrConfig);
            if (oialr != null) {
                checkSelection(net, oialrConfig);
                if (oialrConfig.delay() >= total) {
                    console.printf("note: --delay %d is not below the run's %d steps, so no layer will be converted%n",
                            oialrConfig.delay(), total);
                }
            }

            Map<String, Object> config = new LinkedHashMap<>();
            config.put("label", label);
            config.put("model", o.model);
            config.put("data_set", o.data);
            config.put("augment", o.augment ? "crop " + o.cropPadding + " + flip" : "none");
            config.put("hidden", o.hidden);
            config.put("architecture", net.toString());
            config.put("epochs", o.epochs);
            config.put("batch", o.batch);
            config.put("lr", o.lr);
            config.put("optimizer", o.optimizer);
            config.put("weight_decay", o.weightDecay);
            config.put("dropout", o.dropout);
            config.put("label_smoothing", o.labelSmoothing);
            config.put("warmup_steps", warmup);
            config.put("seed", o.seed);
            config.put("stability_lag", o.stabilityLag);
            config.put("threads", threads);
            config.put("device", backend.device().toString());
            config.put("data", data.dir().toString());
            config.put("parameters", net.parameterCount());
            config.put("java", Runtime.version().toString());
            config.put("snapshots", ck.snapshots);
            config.put("checkpoint_every_epoch", ck.checkpointEveryEpoch);
            if (!ck.originalArgs.isEmpty()) {
                config.put("args", ck.originalArgs);
            }
            if (oialrConfig != null) {
                Map<String, Object> oc = new LinkedHashMap<>();
                oc.put("delay", oialrConfig.delay());
                oc.put("update_every", oialrConfig.updateEvery());
                oc.put("cutoff", oialrConfig.rankRule().cutoffFraction());
                oc.put("max_cut", oialrConfig.rankRule().maxCutFraction());
                oc.put("min_rank", oialrConfig.rankRule().minRankFraction());
                oc.put("rollout", oialrConfig.rolloutFraction());
                oc.put("state_policy", oialrConfig.statePolicy().name().toLowerCase());
                oc.put("keep_first", oialrConfig.keepFirstDense());
                oc.put("layers", Oialr.select(net, oialrConfig).stream().map(Oialr.Candidate::name).toList());
                config.put("oialr", oc);
            }
            if (resume == null) {
                run.writeConfig(config); // a resumed run keeps the config.json it was started with
            }

            console.printf("[%s] %s, %d parameters, %s, %d threads; train %d, test %d examples; run dir %s%n", label,
                    net, net.parameterCount(), o.optimizer, threads, data.train().size(), data.test().size(), runDir);
            Trainer.Builder tb = Trainer.builder().model(net).backend(backend).optimizer(opt).schedule(schedule)
                    .train(loader).test(data.test()).epochs(o.epochs).labelSmoothing(o.labelSmoothing)
                    .clipNorm(o.clip).runDirectory(run).console(console).progress(ProgressBar.forTerminal(System.err));
            if (o.stabilityLag > 0) {
                tb.callback(new StabilityMetrics(o.stabilityLag));
            }
            if (oialr != null) {
                tb.callback(oialr);
                tb.callback(new TrainerCallback() {
                    @Override
                    public void afterEpoch(Trainer t, int epoch, Map<String, Object> record) {
                        console.printf("          ranks %s  trainable %.2f %%  stored %.2f %%%n", oialr.ranks(),
                                oialr.trainablePercent(t.model()), oialr.storedPercent(t.model()));
                    }
                });
            }
            tb.snapshots(ck.snapshots).checkpointEveryEpoch(ck.checkpointEveryEpoch);
            Trainer trainer = tb.build();
            if (resume != null) {
                trainer.restoreCheckpoint(resume);
                console.printf("[%s] resuming after epoch %d (step %d) from %s%n", label, epochsDone,
                        trainer.globalStep(), ck.resumeCheckpoint);
            }
            TrainResult result = trainer.fit();
            Map<String, Object> summary = summary(result, oialr, net);
            if (resume != null) {
                // The accuracy and timing fields above cover the epochs this process ran.
                summary.put("resumed_after_epoch", epochsDone);
            }
            run.writeSummary(summary);
            return new Outcome(label, result, oialr, net, runDir);
        }
    }

    /** Fails with one sentence when the OIALR settings convert no layer of {@code net}. */
    static void checkSelection(Module net, OialrConfig config) {
        List<Oialr.Candidate> selected;
        try {
            selected = Oialr.select(net, config);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
        if (selected.isEmpty()) {
            throw new Main.UsageException("OIALR selects no layer of this model (Linear and Conv2d layers need an aspect ratio below "
                    + config.maxAspectRatio() + " and the classifier stays dense); check --hidden, --include and --exclude");
        }
    }

    /** The model the options describe (also used to check settings before any training starts). */
    static Module buildModel(RunOptions o, Data data) {
        if (o.model.equals("mlp")) {
            return Mlp.builder().inputs(data.train().features()).hidden(o.hidden)
                    .outputs(data.train().numClasses()).dropout(o.dropout).seed(o.seed).build();
        }
        int[] shape = data.train().featureShape();
        if (shape.length != 3) {
            throw new Main.UsageException("--model " + o.model + " needs image data (channels, height, width), but "
                    + data.train().name() + " has examples of shape " + java.util.Arrays.toString(shape));
        }
        try {
            return Models.byName(o.model, shape, data.train().numClasses(), o.seed);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
    }

    static Map<String, Object> summary(TrainResult result, Oialr oialr, Module net) {
        EpochResult last = result.last();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("final_test_accuracy", last.testAccuracy());
        s.put("best_test_accuracy", result.bestAccuracy());
        s.put("final_test_loss", last.testLoss());
        s.put("steps", last.globalStep());
        s.put("seconds", result.seconds());
        s.put("mean_epoch_train_seconds",
                result.epochs().stream().mapToDouble(EpochResult::trainSeconds).average().orElse(Double.NaN));
        s.put("median_step_ms", result.medianStepMillis(0, result.stepNanos().size()));
        if (oialr != null) {
            s.putAll(oialr.report(net));
        }
        return s;
    }
}
