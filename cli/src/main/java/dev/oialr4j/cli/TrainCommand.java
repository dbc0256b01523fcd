package dev.oialr4j.cli;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.Backends;
import dev.oialr4j.data.DataLoader;
import dev.oialr4j.data.Dataset;
import dev.oialr4j.data.FashionMnist;
import dev.oialr4j.io.RunDirectory;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.models.Mlp;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.LrSchedule;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.optim.Sgd;
import dev.oialr4j.tensor.Device;
import dev.oialr4j.train.EpochResult;
import dev.oialr4j.train.ProgressBar;
import dev.oialr4j.train.TrainResult;
import dev.oialr4j.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code oialr4j train}: trains a classifier on Fashion-MNIST and logs to a run directory. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model on the bundled Fashion-MNIST data set.")
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--model", defaultValue = "mlp", description = "Model: mlp (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--epochs", defaultValue = "10", description = "Epochs (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--batch", defaultValue = "128", description = "Batch size (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", defaultValue = "1e-3", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for initialisation, data order and dropout (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", description = "Run directory (default runs/train-<timestamp>).")
    Path out;

    @Option(names = "--hidden", defaultValue = "1024,1024,1024", split = ",",
            description = "Hidden layer sizes of the MLP (default ${DEFAULT-VALUE}).")
    int[] hidden;

    @Option(names = "--optimizer", defaultValue = "adamw", description = "adamw or sgd (default ${DEFAULT-VALUE}).")
    String optimizer;

    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum (default ${DEFAULT-VALUE}).")
    double momentum;

    @Option(names = "--nesterov", description = "Use Nesterov momentum with SGD.")
    boolean nesterov;

    @Option(names = "--weight-decay", defaultValue = "0.05", description = "Weight decay on weight matrices (default ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--dropout", defaultValue = "0.2", description = "Dropout after each hidden layer (default ${DEFAULT-VALUE}).")
    float dropout;

    @Option(names = "--label-smoothing", defaultValue = "0.1", description = "Label smoothing (default ${DEFAULT-VALUE}).")
    float labelSmoothing;

    @Option(names = "--warmup", defaultValue = "1", description = "Warm-up length in epochs for the cosine schedule (default ${DEFAULT-VALUE}).")
    double warmupEpochs;

    @Option(names = "--clip", defaultValue = "0", description = "Global gradient-norm clipping, 0 = off (default ${DEFAULT-VALUE}).")
    double clip;

    @Option(names = "--threads", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--data-dir", description = "Folder with the four Fashion-MNIST IDX files (default: the bundled data/fashion-mnist).")
    Path dataDir;

    @Override
    public Integer call() {
        validate();
        Path dir = dataDir != null ? dataDir : FashionMnist.findBundled(Path.of("").toAbsolutePath())
                .or(() -> FashionMnist.findBundled(Path.of(System.getProperty("oialr4j.home", "."))))
                .orElseThrow(() -> new Main.UsageException("the bundled data set was not found under data/fashion-mnist;"
                        + " run from the repository or pass --data-dir"));
        if (!Files.isDirectory(dir)) {
            throw new Main.UsageException("data directory " + dir + " does not exist");
        }
        Dataset trainSet = FashionMnist.load(dir, true);
        Dataset testSet = FashionMnist.load(dir, false);
        int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        Path runDir = out != null ? out : Path.of("runs", "train-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));

        try (Backend backend = Backends.create(Device.CPU, nThreads);
                RunDirectory run = RunDirectory.create(runDir)) {
            Module net = Mlp.builder().inputs(trainSet.features()).hidden(hidden).outputs(trainSet.numClasses())
                    .dropout(dropout).seed(seed).build();
            net.to(backend);
            List<ParamGroup> groups = ParamGroup.decayMatricesOnly(net.parameters(), weightDecay);
            Optimizer opt = optimizer.equals("sgd") ? new Sgd(backend, groups, lr, momentum, nesterov)
                    : new AdamW(backend, groups, lr);
            DataLoader loader = DataLoader.builder(trainSet).batchSize(batch).shuffle(true).seed(seed)
                    .dropLast(true).build();
            long total = (long) loader.batchesPerEpoch() * epochs;
            long warmup = Math.min(total, Math.round(warmupEpochs * loader.batchesPerEpoch()));
            LrSchedule schedule = LrSchedule.cosineWithWarmup(lr, warmup, total, 0.0);

            Map<String, Object> config = new LinkedHashMap<>();
            config.put("command", "train");
            config.put("model", model);
            config.put("hidden", hidden);
            config.put("epochs", epochs);
            config.put("batch", batch);
            config.put("lr", lr);
            config.put("optimizer", optimizer);
            config.put("weight_decay", weightDecay);
            config.put("dropout", dropout);
            config.put("label_smoothing", labelSmoothing);
            config.put("warmup_steps", warmup);
            config.put("seed", seed);
            config.put("threads", nThreads);
            config.put("data", dir.toString());
            config.put("parameters", net.parameterCount());
            config.put("java", Runtime.version().toString());
            run.writeConfig(config);

            System.out.printf("%s, %d parameters, %s, %d threads; train %d, test %d examples; run dir %s%n",
                    net, net.parameterCount(), optimizer, nThreads, trainSet.size(), testSet.size(), runDir);
            Trainer trainer = Trainer.builder().model(net).backend(backend).optimizer(opt).schedule(schedule)
                    .train(loader).test(testSet).epochs(epochs).labelSmoothing(labelSmoothing).clipNorm(clip)
                    .runDirectory(run).console(System.out).progress(ProgressBar.forTerminal(System.err))
                    .build();
            TrainResult result = trainer.fit();
            EpochResult last = result.last();
            double meanEpoch = result.epochs().stream().mapToDouble(EpochResult::trainSeconds).average().orElse(0);
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("final_test_accuracy", last.testAccuracy());
            summary.put("best_test_accuracy", result.bestAccuracy());
            summary.put("final_test_loss", last.testLoss());
            summary.put("epochs", epochs);
            summary.put("steps", last.globalStep());
            summary.put("seconds", result.seconds());
            summary.put("mean_epoch_train_seconds", meanEpoch);
            summary.put("median_step_ms", result.medianStepMillis(0, result.stepNanos().size()));
            run.writeSummary(summary);
            System.out.printf("done: final test accuracy %.2f %% (best %.2f %%), %.1f s in all, %.1f s per epoch"
                    + " of training, median step %.1f ms; results in %s%n", 100 * last.testAccuracy(),
                    100 * result.bestAccuracy(), result.seconds(), meanEpoch,
                    result.medianStepMillis(0, result.stepNanos().size()), runDir);
        }
        return 0;
    }

    private void validate() {
        if (!model.equals("mlp")) {
            throw new Main.UsageException("unknown model '" + model + "' (available: mlp)");
        }
        if (!optimizer.equals("adamw") && !optimizer.equals("sgd")) {
            throw new Main.UsageException("unknown optimizer '" + optimizer + "' (expected adamw or sgd)");
        }
        if (epochs < 1) {
            throw new Main.UsageException("--epochs must be at least 1, got " + epochs);
        }
        if (batch < 1) {
            throw new Main.UsageException("--batch must be at least 1, got " + batch);
        }
        if (!(lr > 0) || !Double.isFinite(lr)) {
            throw new Main.UsageException("--lr must be a positive number, got " + lr);
        }
        if (threads != null && threads < 1) {
            throw new Main.UsageException("--threads must be at least 1, got " + threads);
        }
        if (hidden.length == 0 || Arrays.stream(hidden).anyMatch(h -> h < 1)) {
            throw new Main.UsageException("--hidden needs positive sizes, got " + Arrays.toString(hidden));
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new Main.UsageException("--dropout must be in [0, 1), got " + dropout);
        }
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
            throw new Main.UsageException("--label-smoothing must be in [0, 1), got " + labelSmoothing);
        }
        if (weightDecay < 0 || warmupEpochs < 0 || clip < 0 || momentum < 0 || momentum >= 1) {
            throw new Main.UsageException("--weight-decay, --warmup and --clip must be >= 0 and --momentum in [0, 1)");
        }
    }
}
