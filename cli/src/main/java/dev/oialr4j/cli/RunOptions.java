package dev.oialr4j.cli;

import dev.oialr4j.backend.Backends;
import dev.oialr4j.tensor.Device;
import dev.oialr4j.nn.models.Models;
import java.nio.file.Path;
import java.util.Arrays;
import picocli.CommandLine.Option;

/** Options shared by {@code train} and {@code compare}: model, data, optimizer, schedule, threads. */
public final class RunOptions {

    @Option(names = "--model", defaultValue = "mlp",
            description = "Model: mlp, resnet20, vit-small or vit-mini (default ${DEFAULT-VALUE}). --hidden and --dropout"
                    + " apply to the MLP; the others use their presets.")
    String model;

    @Option(names = "--data", defaultValue = "fashion-mnist",
            description = "Data set: fashion-mnist (bundled) or cifar10 (needs --data-dir; default ${DEFAULT-VALUE}).")
    String data;

    @Option(names = "--augment",
            description = "Random crop (zero padding --crop-padding) and horizontal flip of training images.")
    boolean augment;

    @Option(names = "--crop-padding", defaultValue = "4",
            description = "Padding of the random crop with --augment, in pixels (default ${DEFAULT-VALUE}).")
    int cropPadding;

    @Option(names = "--epochs", defaultValue = "10", description = "Epochs (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--batch", defaultValue = "256", description = "Batch size (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", defaultValue = "2e-3", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--seed", defaultValue = "0",
            description = "Seed for initialisation, data order and dropout (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", description = "Run directory (default runs/<command>-<timestamp>).")
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

    @Option(names = "--weight-decay", defaultValue = "0.05",
            description = "Weight decay on weight matrices (default ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--dropout", defaultValue = "0.2",
            description = "Dropout after each hidden layer (default ${DEFAULT-VALUE}).")
    float dropout;

    @Option(names = "--label-smoothing", defaultValue = "0.1", description = "Label smoothing (default ${DEFAULT-VALUE}).")
    float labelSmoothing;

    @Option(names = "--warmup", defaultValue = "1",
            description = "Warm-up length in epochs for the cosine schedule (default ${DEFAULT-VALUE}).")
    double warmupEpochs;

    @Option(names = "--clip", defaultValue = "0",
            description = "Global gradient-norm clipping, 0 = off (default ${DEFAULT-VALUE}).")
    double clip;

    @Option(names = "--stability-lag", defaultValue = "0",
            description = "Log basis stability and mixing similarity against the weights this many epochs back;"
                    + " 0 = off (default ${DEFAULT-VALUE}). Costs an SVD and a QR per dense layer per epoch.")
    int stabilityLag;

    @Option(names = "--threads", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--device", defaultValue = "cpu",
            description = "Where to train: cpu, cuda or cuda:N (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--data-dir",
            description = "Folder with the four Fashion-MNIST IDX files (default: the bundled data/fashion-mnist),"
                    + " or with CIFAR-10's binary batches (cifar-10-batches-bin) for --data cifar10.")
    Path dataDir;

    int threadCount() {
        return threads != null ? threads : Runtime.getRuntime().availableProcessors();
    }

    /** The parsed --device; valid after {@link #validate()}. */
    Device device() {
        return Device.parse(device);
    }

    void validate() {
        Device d;
        try {
            d = Device.parse(device);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
        // Before any data is read: a missing GPU is reported at once, in one sentence.
        Backends.unavailableReason(d).ifPresent(reason -> {
            throw new Backends.UnavailableException(reason);
        });
        if (!Models.NAMES.contains(model)) {
            throw new Main.UsageException("unknown model '" + model + "' (available: " + String.join(", ", Models.NAMES)
                    + ")");
        }
        if (!data.equals("fashion-mnist") && !data.equals("cifar10")) {
            throw new Main.UsageException("unknown data set '" + data + "' (expected fashion-mnist or cifar10)");
        }
        if (cropPadding < 0) {
            throw new Main.UsageException("--crop-padding must be >= 0, got " + cropPadding);
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
        if (stabilityLag < 0) {
            throw new Main.UsageException("--stability-lag must be >= 0, got " + stabilityLag);
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
