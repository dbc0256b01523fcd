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

    @Override
    public Integer call() {
        options.validate();
        OialrConfig config = oialr ? oialrOptions.toConfig() : null;
        TrainingRun.Data data = TrainingRun.Data.load(options);
        Path dir = options.out != null ? options.out : TrainingRun.defaultDir("train");
        TrainingRun.Outcome o = TrainingRun.run(oialr ? "oialr" : "dense", options, config, data, dir, System.out);
        TrainResult r = o.result();
        double meanEpoch = r.epochs().stream().mapToDouble(EpochResult::trainSeconds).average().orElse(0);
        System.out.printf("done: final test accuracy %.2f %% (best %.2f %%), %.1f s in all, %.1f s per epoch of"
                + " training, median step %.1f ms; results in %s%n", 100 * r.last().testAccuracy(),
                100 * r.bestAccuracy(), r.seconds(), meanEpoch, r.medianStepMillis(0, r.stepNanos().size()), dir);
        return 0;
    }
}
