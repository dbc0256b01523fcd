package dev.oialr4j.data;

/**
 * Maps an unsigned 8-bit pixel {@code p} to {@code (p / 255 - mean) / std}. Images are normalised once,
 * when a data set is loaded, so the training loop only ever sees ready floats.
 *
 * @param mean mean of the pixel values after scaling to [0, 1]
 * @param std  standard deviation of the pixel values after scaling to [0, 1]; must be positive
 */
public record Normalize(float mean, float std) {

    /** Fashion-MNIST's training-set statistics: the normalised training images have mean 0 and std 1. */
    public static final Normalize FASHION_MNIST = new Normalize(0.2860f, 0.3530f);

    /** Only scales pixels to [0, 1]; for data whose statistics are unknown. */
    public static final Normalize UNIT_RANGE = new Normalize(0f, 1f);

    public Normalize {
        if (!(std > 0f) || !Float.isFinite(std) || !Float.isFinite(mean)) {
            throw new IllegalArgumentException("Normalize needs a finite mean and a positive finite std, got mean "
                    + mean + " and std " + std);
        }
    }

    /** The normalised value of one pixel in [0, 255]. */
    public float apply(int pixel) {
        return (pixel / 255f - mean) / std;
    }

    /**
     * Normalises {@code count} unsigned bytes from {@code src} into {@code dst}. A byte has only 256
     * values, so a lookup table replaces the arithmetic and gives bit-identical results to {@link #apply}.
     */
    public void apply(byte[] src, int srcOffset, float[] dst, int dstOffset, int count) {
        float[] table = new float[256];
        for (int p = 0; p < 256; p++) {
            table[p] = apply(p);
        }
        for (int i = 0; i < count; i++) {
            dst[dstOffset + i] = table[src[srcOffset + i] & 0xFF];
        }
    }
}
