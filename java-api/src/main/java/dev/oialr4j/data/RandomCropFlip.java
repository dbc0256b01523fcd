package dev.oialr4j.data;

import dev.oialr4j.backend.CounterRandom;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The standard augmentation for small images: pad by {@code padding} pixels on each side, take a random
 * crop of the original size (a shift by −padding..padding in each direction; padding shows as 0, which
 * after normalisation is the mean colour), and mirror left-right with probability 1/2 when {@code flip}.
 * Works on [C, H, W] images.
 */
public record RandomCropFlip(int padding, boolean flip) implements Augmentation {

    public RandomCropFlip {
        if (padding < 0) {
            throw new IllegalArgumentException("crop padding must be >= 0, got " + padding);
        }
    }

    @Override
    public void apply(float[] images, int batch, int[] featureShape, long seed) {
        if (featureShape.length != 3) {
            throw new IllegalArgumentException("random crop and flip need [C, H, W] images, got "
                    + Arrays.toString(featureShape));
        }
        int c = featureShape[0];
        int h = featureShape[1];
        int w = featureShape[2];
        int size = c * h * w;
        float[] copy = new float[size];
        for (int i = 0; i < batch; i++) {
            SplittableRandom rng = new SplittableRandom(CounterRandom.mix(seed, i));
            int dy = padding == 0 ? 0 : rng.nextInt(2 * padding + 1) - padding;
            int dx = padding == 0 ? 0 : rng.nextInt(2 * padding + 1) - padding;
            boolean mirror = flip && rng.nextBoolean();
            if (dy == 0 && dx == 0 && !mirror) {
                continue;
            }
            int off = i * size;
            System.arraycopy(images, off, copy, 0, size);
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    int sy = y + dy;
                    int dst = off + (ch * h + y) * w;
                    if (sy < 0 || sy >= h) {
                        Arrays.fill(images, dst, dst + w, 0f);
                        continue;
                    }
                    for (int x = 0; x < w; x++) {
                        int sx = (mirror ? w - 1 - x : x) + dx;
                        images[dst + x] = sx < 0 || sx >= w ? 0f : copy[(ch * h + sy) * w + sx];
                    }
                }
            }
        }
    }
}
