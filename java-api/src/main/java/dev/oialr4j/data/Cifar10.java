package dev.oialr4j.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * CIFAR-10 (Krizhevsky 2009) in its binary format ({@code cifar-10-batches-bin}): 32×32 colour images in
 * 10 classes, five training files {@code data_batch_1.bin .. data_batch_5.bin} of 10000 records and
 * {@code test_batch.bin}. A record is one label byte followed by 3072 pixel bytes: the 1024 red values of
 * the image row by row, then green, then blue, which is already the [3, 32, 32] (CHW) layout we use.
 */
public final class Cifar10 {

    public static final int NUM_CLASSES = 10;
    public static final int CHANNELS = 3;
    public static final int SIZE = 32;
    public static final int PIXELS = CHANNELS * SIZE * SIZE;
    public static final int RECORD = 1 + PIXELS;

    /** Class names in label order. */
    public static final List<String> CLASS_NAMES = List.of("airplane", "automobile", "bird", "cat", "deer", "dog",
            "frog", "horse", "ship", "truck");

    /** Per-channel statistics of the training images (after scaling to [0, 1]). */
    public static final ChannelNormalize TRAIN_STATISTICS = new ChannelNormalize(
            new float[] {0.4914f, 0.4822f, 0.4465f}, new float[] {0.2470f, 0.2435f, 0.2616f});

    private static final String TEST_FILE = "test_batch.bin";

    private Cifar10() {
    }

    /** The training ({@code train = true}, all five batches) or test split, normalised per channel. */
    public static Dataset load(Path dir, boolean train) {
        return load(dir, train, TRAIN_STATISTICS);
    }

    /**
     * Loads one split from {@code dir}, which is the {@code cifar-10-batches-bin} directory itself or a
     * directory containing it.
     */
    public static Dataset load(Path dir, boolean train, ChannelNormalize normalize) {
        if (normalize.channels() != CHANNELS) {
            throw new IllegalArgumentException("CIFAR-10 has 3 channels, but the normalisation has "
                    + normalize.channels());
        }
        Path root = resolve(dir);
        List<Path> files = train
                ? List.of(root.resolve("data_batch_1.bin"), root.resolve("data_batch_2.bin"),
                        root.resolve("data_batch_3.bin"), root.resolve("data_batch_4.bin"),
                        root.resolve("data_batch_5.bin"))
                : List.of(root.resolve(TEST_FILE));
        byte[][] contents = new byte[files.size()][];
        int records = 0;
        for (int f = 0; f < files.size(); f++) {
            contents[f] = read(files.get(f));
            records += contents[f].length / RECORD;
        }
        float[] images = new float[records * PIXELS];
        int[] labels = new int[records];
        int r = 0;
        for (int f = 0; f < files.size(); f++) {
            byte[] bytes = contents[f];
            for (int i = 0; i < bytes.length / RECORD; i++, r++) {
                int label = bytes[i * RECORD] & 0xFF;
                if (label >= NUM_CLASSES) {
                    throw new DataException(files.get(f) + ": record " + i + " has label " + label
                            + ", but CIFAR-10 labels are 0 to 9, so this is not a CIFAR-10 binary file.");
                }
                labels[r] = label;
                normalize.apply(bytes, i * RECORD + 1, images, r * PIXELS, SIZE * SIZE);
            }
        }
        return new Dataset("cifar10/" + (train ? "train" : "test"), images, labels, NUM_CLASSES, CHANNELS, SIZE, SIZE);
    }

    /** The directory holding the batch files: {@code dir} itself or its {@code cifar-10-batches-bin}. */
    static Path resolve(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new DataException("the CIFAR-10 directory " + dir + " does not exist.");
        }
        if (Files.exists(dir.resolve(TEST_FILE))) {
            return dir;
        }
        Path nested = dir.resolve("cifar-10-batches-bin");
        if (Files.isDirectory(nested) && Files.exists(nested.resolve(TEST_FILE))) {
            return nested;
        }
        throw new DataException(dir + " has no " + TEST_FILE + " (nor a cifar-10-batches-bin folder with one), so it"
                + " is not a CIFAR-10 binary directory.");
    }

    private static byte[] read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new DataException(file.getParent() + " has no " + file.getFileName()
                    + ", so the CIFAR-10 binary directory is incomplete.");
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new DataException("cannot read " + file + ": " + e.getMessage(), e);
        }
        if (bytes.length == 0 || bytes.length % RECORD != 0) {
            throw new DataException(file + " has " + bytes.length + " bytes, which is not a whole number of "
                    + RECORD + "-byte CIFAR-10 records (the file is truncated or not CIFAR-10).");
        }
        return bytes;
    }
}
