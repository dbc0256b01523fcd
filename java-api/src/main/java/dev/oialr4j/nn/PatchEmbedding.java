package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.TransformerOps;
import dev.oialr4j.autograd.Variable;
import java.util.random.RandomGenerator;

/**
 * Cuts images into non-overlapping patch × patch tiles and projects each flattened tile with a Linear
 * {@code proj} (the same map as a stride-patch convolution): (batch, C·H·W) or (batch, C, H, W) images
 * become (batch, tiles, width) tokens.
 */
public final class PatchEmbedding extends Module {

    private final int channels;
    private final int height;
    private final int width;
    private final int patch;
    private final int dim;

    public PatchEmbedding(int channels, int height, int width, int patch, int dim, RandomGenerator rng) {
        if (channels < 1 || patch < 1 || height % patch != 0 || width % patch != 0 || height < 1 || width < 1) {
            throw new IllegalArgumentException(channels + "×" + height + "×" + width + " images do not split into "
                    + patch + "×" + patch + " patches");
        }
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.patch = patch;
        this.dim = dim;
        registerModule("proj", new Linear(channels * patch * patch, dim, true, rng));
    }

    public int tiles() {
        return (height / patch) * (width / patch);
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        Variable tiles = new TransformerOps(ops).patchify(x, channels, height, width, patch);
        return children().get("proj").forward(ops, tiles);
    }

    @Override
    public String toString() {
        return "PatchEmbedding(" + channels + "×" + height + "×" + width + ", patch " + patch + " -> " + dim + ")";
    }
}
