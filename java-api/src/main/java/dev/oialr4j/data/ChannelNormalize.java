package dev.oialr4j.data;

import java.util.Arrays;

/**
 * Per-channel normalisation of 8-bit pixels: channel c maps p to {@code (p / 255 - mean[c]) / std[c]}.
 * Applied once at load time, like {@link Normalize}.
 */
public record ChannelNormalize(float[] mean, float[] std) {

    public ChannelNormalize {
        if (mean.length == 0 || mean.length != std.length) {
            throw new IllegalArgumentException("ChannelNormalize needs one mean and one std per channel, got "
                    + Arrays.toString(mean) + " and " + Arrays.toString(std));
        }
        for (int c = 0; c < mean.length; c++) {
            // Each channel is checked by the single-channel rule.
            new Normalize(mean[c], std[c]);
        }
        mean = mean.clone();
        std = std.clone();
    }

    public int channels() {
        return mean.length;
    }

    @Override
    public float[] mean() {
        return mean.clone();
    }

    @Override
    public float[] std() {
        return std.clone();
    }

    /**
     * Normalises one image of {@code channels() × planeSize} bytes (channel planes one after another) from
     * {@code src} into {@code dst}.
     */
    public void apply(byte[] src, int srcOffset, float[] dst, int dstOffset, int planeSize) {
        for (int c = 0; c < mean.length; c++) {
            new Normalize(mean[c], std[c]).apply(src, srcOffset + c * planeSize, dst, dstOffset + c * planeSize,
                    planeSize);
        }
    }
}
