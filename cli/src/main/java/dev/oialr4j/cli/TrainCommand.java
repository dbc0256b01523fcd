package dev.oialr4j.cli;

import dev.oialr4j.oialr.OialrConfig;
import dev.oialr4j.train.EpochResult;
import dev.oialr4j.train.TrainResult;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code oialr4j train}: trains a classifier, dense or with OIALR, and logs to a run directory. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model on the bundled Fashion-MNIST data set (dense, or low-rank with --oialr).")
public final class TrainCommand implements Callable<Integer> {

    @Mixin
    RunOptions options;

    @Option(names = "--oialr", description = "Train with OIALR (see the OIALR options).")
    boolean oialr;

    @Mixin
    OialrOptions oialrOptions;

    @Mixin
    CheckpointOptions keep;

    @Option(names = "--resume", paramLabel = "RUN_DIR",
            description = "Continue the run in RUN_DIR from its checkpoint (saved with --checkpoint-every-epoch), with"
                    + " the settings it was started with; give no other options.")
    Path resume;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        if (resume != null) {
            return Resume.of(spec, resume).call();
        }
        // The parse result holds the whole command line; keep what follows the subcommand's name.
        java.util.List<String> all = spec.commandLine().getParseResult().originalArgs();
        int at = all.indexOf(spec.name());
        keep.originalArgs = java.util.List.copyOf(at >= 0 && spec.parent() != null ? all.subList(at + 1, all.size()) : all);
        options.validate();
        OialrConfig config = oialr ? oialrOptions.toConfig() : null;
        TrainingRun.Data data = TrainingRun.Data.load(options);
        Path dir = options.out != null ? options.out : TrainingRun.defaultDir("train");
        TrainingRun.Outcome o = TrainingRun.run(oialr ? "oialr" : "dense", options, config, data, dir, System.out, keep);
        TrainResult r = o.result();
        double meanEpoch = r.epochs().stream().mapToDouble(EpochResult::trainSeconds).average().orElse(0);
        System.out.printf("done: final test accuracy %.2f %% (best %.2f %%), %.1f s in all, %.1f s per epoch of"
                + " training, median step %.1f ms; results in %s%n", 100 * r.last().testAccuracy(),
                100 * r.bestAccuracy(), r.seconds(), meanEpoch, r.medianStepMillis(0, r.stepNanos().size()), dir);
        return 0;
    }

    /**
     * Rebuilds the command a run was started with from its config.json ("args") and points it at the
     * run's checkpoint, so the resumed run has exactly the original settings.
     */
    static final class Resume {
        private Resume() {
        }

        static TrainCommand of(picocli.CommandLine.Model.CommandSpec spec, Path dir) {
            if (spec.commandLine().getParseResult().matchedOptions().size() > 1) {
                throw new Main.UsageException("--resume takes the run's settings from " + dir.resolve("config.json")
                        + "; give no other options");
            }
            Path config = dir.resolve("config.json");
            if (!java.nio.file.Files.isRegularFile(config)) {
                throw new Main.UsageException("cannot resume: " + dir + " is not a run directory (no config.json)");
            }
            Path checkpoint = dev.oialr4j.train.Trainer.checkpointDir(dir);
            if (!java.nio.file.Files.isRegularFile(checkpoint.resolve(dev.oialr4j.io.Checkpoint.METADATA))) {
                throw new Main.UsageException("cannot resume: " + dir + " has no checkpoint (start runs with"
                        + " --checkpoint-every-epoch to make them resumable)");
            }
            java.util.Map<String, Object> c;
            try {
                c = dev.oialr4j.io.Json.parseObject(java.nio.file.Files.readString(config));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot read " + config + ": " + e.getMessage(), e);
            } catch (IllegalArgumentException e) {
                throw new Main.UsageException("cannot resume: " + config + " is not valid JSON (" + e.getMessage() + ")");
            }
            if (!(c.get("args") instanceof java.util.List<?> args)) {
                throw new Main.UsageException("cannot resume: " + config + " does not record the command line of the run");
            }
            TrainCommand original = new TrainCommand();
            picocli.CommandLine cl = new picocli.CommandLine(original);
            cl.parseArgs(args.stream().map(String::valueOf).toArray(String[]::new));
            original.spec = cl.getCommandSpec();
            original.keep.originalArgs = args.stream().map(String::valueOf).toList();
            original.keep.resumeCheckpoint = checkpoint;
            original.options.out = dir;
            return original;
        }
    }
}
