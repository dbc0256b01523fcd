package dev.oialr4j.data;

/**
 * A random change applied to each training batch in place (images [batch, ...featureShape], already
 * normalised). The draws come only from {@code seed}, which the {@link DataLoader} derives from its own
 * seed, the epoch and the batch number, so a run is reproducible.
 */
@FunctionalInterface
public interface Augmentation {

    void apply(float[] images, int batch, int[] featureShape, long seed);
}
