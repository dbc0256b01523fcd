package dev.oialr4j.data;

import dev.oialr4j.tensor.Tensor;

/**
 * One mini-batch: inputs {@code x} with the batch as the first dimension and the matching labels.
 *
 * @param x      host tensor {@code [batch, features]} (or {@code [batch, ...featureShape]})
 * @param labels one label per row of {@code x}
 */
public record Batch(Tensor x, int[] labels) {

    public Batch {
        if (x.dim(0) != labels.length) {
            throw new IllegalArgumentException("batch of shape " + x.shape() + " does not match " + labels.length
                    + " labels");
        }
    }

    /** Number of examples in this batch. */
    public int size() {
        return labels.length;
    }
}
