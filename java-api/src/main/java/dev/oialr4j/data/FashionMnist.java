package dev.oialr4j.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 28×28 grey-scale images of clothing in 10 classes, 60000
 * for training and 10000 for testing, stored as four IDX files. A copy ships in {@code data/fashion-mnist}
 * of the repository.
 */
public final class FashionMnist {

    public static final int NUM_CLASSES = 10;
    public static final int ROWS = 28;
    public static final int COLS = 28;

    /** Class names in label order. */
    public static final List<String> CLASS_NAMES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    /** Where the bundled copy lives, relative to the repository root. */
    public static final Path BUNDLED_DIRECTORY = Path.of("data", "fashion-mnist");

    private FashionMnist() {
    }

    /** Loads the training ({@code train = true}) or test split from {@code dir}, normalised with its statistics. */
    public static Dataset load(Path dir, boolean train) {
        return load(dir, train, Normalize.FASHION_MNIST);
    }

    /**
     * Loads one split from {@code dir}. Each file is looked up under its original name with {@code .gz}
     * first, then without (an unpacked copy); either may be compressed or not.
     */
    public static Dataset load(Path dir, boolean train, Normalize normalize) {
        if (!Files.isDirectory(dir)) {
            throw new DataException("the Fashion-MNIST directory " + dir + " does not exist.");
        }
        String prefix = train ? "train" : "t10k";
        Path images = find(dir, prefix + "-images-idx3-ubyte");
        Path labels = find(dir, prefix + "-labels-idx1-ubyte");
        Dataset raw = IdxDataset.load(images, labels, normalize, NUM_CLASSES);
        int[] shape = raw.featureShape();
        if (shape[1] != ROWS || shape[2] != COLS) {
            throw new DataException(images + " holds " + shape[1] + "x" + shape[2] + " images, but Fashion-MNIST"
                    + " images are " + ROWS + "x" + COLS + ".");
        }
        return new Dataset("fashion-mnist/" + (train ? "train" : "test"), raw.images(), raw.labels(), NUM_CLASSES,
                shape);
    }

    /**
     * Finds the bundled copy by walking up from {@code start} (typically the working directory) to the
     * first directory containing {@code data/fashion-mnist}.
     */
    public static Optional<Path> findBundled(Path start) {
        for (Path p = start.toAbsolutePath().normalize(); p != null; p = p.getParent()) {
            Path candidate = p.resolve(BUNDLED_DIRECTORY);
            if (Files.isDirectory(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    private static Path find(Path dir, String baseName) {
        Path gz = dir.resolve(baseName + ".gz");
        if (Files.exists(gz)) {
            return gz;
        }
        Path plain = dir.resolve(baseName);
        if (Files.exists(plain)) {
            return plain;
        }
        throw new DataException(dir + " has no " + baseName + ".gz (or unpacked " + baseName + "), so it is not a"
                + " Fashion-MNIST directory.");
    }
}
