package dev.oialr4j.data;

import dev.oialr4j.backend.CounterRandom;
import dev.oialr4j.tensor.Tensor;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * Cuts a {@link Dataset} into mini-batches, optionally shuffled. Shuffling is reproducible: epoch
 * {@code e} is permuted by a generator seeded from {@code (seed, e)} alone, so the order of an epoch does
 * not depend on how many epochs ran before it or on who else draws random numbers (a resumed run sees
 * the same batches).
 *
 * <pre>{@code
 * var loader = DataLoader.builder(train).batchSize(128).shuffle(true).seed(42).build();
 * for (int epoch = 0; epoch < epochs; epoch++) {
 *     for (Batch b : loader.epoch(epoch)) { ... }
 * }
 * }</pre>
 *
 * <p>With {@link Builder#reuseBuffers(boolean) reuseBuffers(true)} every full batch of one iteration is
 * written into the same arrays, saving an allocation per step; a batch is then only valid until the
 * iterator's next {@code next()}. The default allocates each batch afresh.
 */
public final class DataLoader implements Iterable<Batch> {

    private final Dataset dataset;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;
    private final boolean dropLast;
    private final boolean keepShape;
    private final boolean reuseBuffers;
    private final Augmentation augmentation;
    private int nextEpoch;

    private DataLoader(Builder b) {
        this.dataset = b.dataset;
        this.batchSize = b.batchSize;
        this.shuffle = b.shuffle;
        this.seed = b.seed;
        this.dropLast = b.dropLast;
        this.keepShape = b.keepShape;
        this.reuseBuffers = b.reuseBuffers;
        this.augmentation = b.augmentation;
    }

    public static Builder builder(Dataset dataset) {
        return new Builder(dataset);
    }

    public Dataset dataset() {
        return dataset;
    }

    public int batchSize() {
        return batchSize;
    }

    /** Batches per epoch: a last, smaller batch counts unless drop-last is on. */
    public int batchesPerEpoch() {
        int n = dataset.size();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** The batches of epoch {@code epoch} (0-based); iterating it twice gives the same batches. */
    public Iterable<Batch> epoch(int epoch) {
        if (epoch < 0) {
            throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        }
        return () -> new BatchIterator(order(epoch), epoch);
    }

    /**
     * The batches of the next epoch: the first call iterates epoch 0, the next epoch 1, and so on. Use
     * {@link #epoch(int)} where the epoch number is known (e.g. when resuming).
     */
    @Override
    public Iterator<Batch> iterator() {
        int epoch = nextEpoch++;
        return new BatchIterator(order(epoch), epoch);
    }

    /** The example indices of epoch {@code epoch} in visiting order (all of them, before drop-last). */
    public int[] order(int epoch) {
        int n = dataset.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (shuffle) {
            RandomGenerator rng = new SplittableRandom(epochSeed(seed, epoch));
            // Fisher-Yates: every permutation equally likely.
            for (int i = n - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }

    /**
     * Derives the seed of one epoch. Adding the epoch to the seed would make epoch 1 of seed 41 equal
     * epoch 0 of seed 42, so both go through a 64-bit mixing function (the SplitMix64 finaliser).
     */
    static long epochSeed(long seed, int epoch) {
        return CounterRandom.mix(CounterRandom.finalise(seed), epoch);
    }

    private final class BatchIterator implements Iterator<Batch> {
        private final int[] order;
        private final int end;
        private final int epoch;
        private int pos;
        private float[] fullX;
        private int[] fullLabels;

        BatchIterator(int[] order, int epoch) {
            this.order = order;
            this.epoch = epoch;
            this.end = dropLast ? order.length / batchSize * batchSize : order.length;
        }

        @Override
        public boolean hasNext() {
            return pos < end;
        }

        @Override
        public Batch next() {
            if (!hasNext()) {
                throw new NoSuchElementException("epoch has no more batches");
            }
            int b = Math.min(batchSize, end - pos);
            int features = dataset.features();
            float[] x;
            int[] labels;
            if (reuseBuffers && b == batchSize) {
                if (fullX == null) {
                    fullX = new float[batchSize * features];
                    fullLabels = new int[batchSize];
                }
                x = fullX;
                labels = fullLabels;
            } else {
                x = new float[b * features];
                labels = new int[b];
            }
            for (int r = 0; r < b; r++) {
                int idx = order[pos + r];
                dataset.copyExample(idx, x, r * features);
                labels[r] = dataset.label(idx);
            }
            if (augmentation != null) {
                long batchSeed = CounterRandom.mix(CounterRandom.mix(CounterRandom.finalise(seed ^ AUGMENT_SALT), epoch),
                        pos / batchSize);
                augmentation.apply(x, b, dataset.featureShape(), batchSeed);
            }
            pos += b;
            return new Batch(Tensor.of(x, dims(b)), labels);
        }

        private int[] dims(int b) {
            if (!keepShape) {
                return new int[] {b, dataset.features()};
            }
            int[] shape = dataset.featureShape();
            int[] dims = new int[shape.length + 1];
            dims[0] = b;
            System.arraycopy(shape, 0, dims, 1, shape.length);
            return dims;
        }
    }

    /** Keeps augmentation draws apart from the shuffling draws of the same seed. */
    private static final long AUGMENT_SALT = 0x41554731L;

    /** Options of a {@link DataLoader}; defaults: batch 64, shuffled with seed 0, keep the last small batch. */
    public static final class Builder {
        private final Dataset dataset;
        private int batchSize = 64;
        private boolean shuffle = true;
        private long seed;
        private boolean dropLast;
        private boolean keepShape;
        private boolean reuseBuffers;
        private Augmentation augmentation;

        private Builder(Dataset dataset) {
            this.dataset = Objects.requireNonNull(dataset, "dataset");
        }

        public Builder batchSize(int batchSize) {
            if (batchSize < 1) {
                throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
            }
            this.batchSize = batchSize;
            return this;
        }

        /** Whether each epoch visits the examples in a seeded random order (else in data set order). */
        public Builder shuffle(boolean shuffle) {
            this.shuffle = shuffle;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Whether to skip the last batch of an epoch when it is smaller than the batch size. */
        public Builder dropLast(boolean dropLast) {
            this.dropLast = dropLast;
            return this;
        }

        /**
         * Whether {@code x} keeps the example shape ({@code [batch, 1, 28, 28]}, for convolutions) instead
         * of the flat {@code [batch, features]} that dense layers want.
         */
        public Builder keepShape(boolean keepShape) {
            this.keepShape = keepShape;
            return this;
        }

        /** Whether full batches of one iteration share their arrays (see the class comment). */
        public Builder reuseBuffers(boolean reuseBuffers) {
            this.reuseBuffers = reuseBuffers;
            return this;
        }

        /** A random change applied to every batch (training data only), seeded from the loader's seed. */
        public Builder augmentation(Augmentation augmentation) {
            this.augmentation = augmentation;
            return this;
        }

        public DataLoader build() {
            return new DataLoader(this);
        }
    }

    /** The shuffling seed (recorded in checkpoints so a resume with another seed is refused). */
    public long seed() {
        return seed;
    }

    public boolean shuffles() {
        return shuffle;
    }
}
