package dev.oialr4j.data;

import java.util.Arrays;

/**
 * An in-memory classification data set: {@code size()} examples, each a normalised float vector of
 * {@code features()} values (row-major in {@link #featureShape()}, e.g. {@code [1, 28, 28]} for a
 * grey-scale image) and an integer label in {@code [0, numClasses)}.
 *
 * <p>The arrays are held, not copied, and {@link #images()} / {@link #labels()} return them as they are,
 * so that the data loader can gather batches without a copy of the whole set. Treat them as read-only.
 */
public final class Dataset {

    private final String name;
    private final float[] images;
    private final int[] labels;
    private final int numClasses;
    private final int[] featureShape;
    private final int features;

    /**
     * @param name         a short name for messages, e.g. {@code fashion-mnist/train}
     * @param images       {@code labels.length × product(featureShape)} values, example after example
     * @param labels       one label per example, each in {@code [0, numClasses)}
     * @param numClasses   number of classes
     * @param featureShape shape of one example, e.g. {@code {1, 28, 28}}
     */
    public Dataset(String name, float[] images, int[] labels, int numClasses, int... featureShape) {
        if (featureShape.length == 0) {
            throw new IllegalArgumentException("a data set needs a feature shape with at least one dimension");
        }
        long f = 1;
        for (int d : featureShape) {
            if (d <= 0) {
                throw new IllegalArgumentException("feature shape " + Arrays.toString(featureShape)
                        + " has a non-positive dimension");
            }
            f *= d;
        }
        if ((long) labels.length * f != images.length) {
            throw new IllegalArgumentException("data set " + name + ": " + images.length + " image values do not"
                    + " match " + labels.length + " labels of feature shape " + Arrays.toString(featureShape));
        }
        if (numClasses < 1) {
            throw new IllegalArgumentException("numClasses must be >= 1, got " + numClasses);
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= numClasses) {
                throw new IllegalArgumentException("data set " + name + ": label " + labels[i] + " of example " + i
                        + " is outside [0, " + numClasses + ")");
            }
        }
        this.name = name;
        this.images = images;
        this.labels = labels;
        this.numClasses = numClasses;
        this.featureShape = featureShape.clone();
        this.features = (int) f;
    }

    public String name() {
        return name;
    }

    /** Number of examples. */
    public int size() {
        return labels.length;
    }

    /** Values per example (the product of the feature shape). */
    public int features() {
        return features;
    }

    /** Shape of one example, e.g. {@code [1, 28, 28]}; a copy. */
    public int[] featureShape() {
        return featureShape.clone();
    }

    public int numClasses() {
        return numClasses;
    }

    /** All examples, {@code size() × features()} values; the held array, not a copy. */
    public float[] images() {
        return images;
    }

    /** All labels; the held array, not a copy. */
    public int[] labels() {
        return labels;
    }

    public int label(int i) {
        return labels[i];
    }

    /** Copies example {@code i} into {@code dst} at {@code offset}. */
    public void copyExample(int i, float[] dst, int offset) {
        System.arraycopy(images, i * features, dst, offset, features);
    }

    /** A new data set of the first {@code n} examples (copied); handy for quick runs and tests. */
    public Dataset head(int n) {
        if (n < 0 || n > size()) {
            throw new IllegalArgumentException("cannot take " + n + " examples of data set " + name + " with "
                    + size());
        }
        return new Dataset(name + "[:" + n + "]", Arrays.copyOf(images, n * features), Arrays.copyOf(labels, n),
                numClasses, featureShape);
    }

    @Override
    public String toString() {
        return "Dataset[" + name + ", " + size() + " examples of " + Arrays.toString(featureShape) + ", "
                + numClasses + " classes]";
    }
}
