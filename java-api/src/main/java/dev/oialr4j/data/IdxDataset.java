package dev.oialr4j.data;

import java.nio.file.Path;

/** Builds a {@link Dataset} from a pair of IDX files (images and labels), MNIST style. */
public final class IdxDataset {

    private IdxDataset() {
    }

    /**
     * Loads images scaled to [0, 1] (no mean/std shift: a generic pair of files has no known statistics)
     * with as many classes as the largest label plus one.
     */
    public static Dataset load(Path imagesFile, Path labelsFile) {
        return load(imagesFile, labelsFile, Normalize.UNIT_RANGE, 0);
    }

    /**
     * Loads images normalised with {@code normalize}.
     *
     * @param numClasses the number of classes, or 0 to use the largest label plus one
     */
    public static Dataset load(Path imagesFile, Path labelsFile, Normalize normalize, int numClasses) {
        // Labels first: they are small, and a mismatch is then reported before the large read.
        IdxReader.Labels labels = IdxReader.readLabels(labelsFile);
        IdxReader.Images images = IdxReader.readImages(imagesFile);
        if (images.count() != labels.count()) {
            throw new DataException(imagesFile + " holds " + images.count() + " images but " + labelsFile
                    + " holds " + labels.count() + " labels.");
        }
        int n = labels.count();
        int[] y = new int[n];
        int maxLabel = -1;
        for (int i = 0; i < n; i++) {
            y[i] = labels.get(i);
            maxLabel = Math.max(maxLabel, y[i]);
        }
        int classes = numClasses > 0 ? numClasses : maxLabel + 1;
        if (maxLabel >= classes) {
            throw new DataException(labelsFile + " contains label " + maxLabel + ", outside the " + classes
                    + " classes expected.");
        }
        float[] x = new float[images.pixels().length];
        normalize.apply(images.pixels(), 0, x, 0, x.length);
        String name = imagesFile.getFileName() + "+" + labelsFile.getFileName();
        return new Dataset(name, x, y, Math.max(classes, 1), 1, images.rows(), images.cols());
    }
}
