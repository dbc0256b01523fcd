package dev.oialr4j.nn.models;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.TransformerOps;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.nn.Dropout;
import dev.oialr4j.nn.LayerNorm;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.PatchEmbedding;
import dev.oialr4j.nn.Sequential;
import dev.oialr4j.nn.TransformerBlock;
import dev.oialr4j.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * A vision transformer: patch embedding, an optional class token, learned positional embeddings, a stack
 * of pre-norm {@link TransformerBlock}s, a final LayerNorm and a Linear classifier on the class token (or
 * on the mean of the tokens without one).
 *
 * <p>Qualified layer names, for OIALR's include/exclude lists: {@code patchEmbed.proj},
 * {@code blocks.<i>.attn.qkv}, {@code blocks.<i>.attn.proj}, {@code blocks.<i>.fc1},
 * {@code blocks.<i>.fc2}, {@code head}; parameters {@code classToken} and {@code positions}. The head is
 * registered last, so OIALR's default rule (every Linear but the last) keeps the classifier dense.
 */
public final class VisionTransformer extends Module {

    private final Config config;
    private final Parameter classToken;
    private final Parameter positions;

    /** The knobs of a vision transformer. */
    public record Config(int channels, int height, int width, int patch, int depth, int heads, int dim,
            double mlpRatio, boolean classToken, float dropout, float dropPath, int classes, long seed) {
    }

    private VisionTransformer(Config c) {
        this.config = c;
        SplittableRandom rng = new SplittableRandom(c.seed());
        PatchEmbedding embed = registerModule("patchEmbed",
                new PatchEmbedding(c.channels(), c.height(), c.width(), c.patch(), c.dim(), rng));
        int tokens = embed.tiles() + (c.classToken() ? 1 : 0);
        // Small normal initialisation (std 0.02) for the token and positions, as is usual for ViTs.
        this.classToken = c.classToken() ? registerParameter("classToken", normal(rng, 0.02, c.dim())) : null;
        this.positions = registerParameter("positions", normal(rng, 0.02, tokens, c.dim()));
        registerModule("drop", new Dropout(c.dropout(), rng.nextLong()));
        Module[] blocks = new Module[c.depth()];
        for (int i = 0; i < c.depth(); i++) {
            // Stochastic depth grows linearly with depth, from 0 at the first block to dropPath at the last.
            float dp = c.depth() == 1 ? c.dropPath() : c.dropPath() * i / (c.depth() - 1);
            blocks[i] = new TransformerBlock(c.dim(), c.heads(), c.mlpRatio(), c.dropout(), dp, rng.nextLong(), rng);
        }
        registerModule("blocks", new Sequential(blocks));
        registerModule("norm", new LayerNorm(c.dim()));
        registerModule("head", new Linear(c.dim(), c.classes(), true, rng));
    }

    private static Tensor normal(SplittableRandom rng, double std, int... dims) {
        Tensor t = Tensor.zeros(dims);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            double g;
            do {
                g = rng.nextGaussian();
            } while (Math.abs(g) > 2); // truncated at two standard deviations
            d[i] = (float) (g * std);
        }
        return t;
    }

    /** Defaults of {@link #small()}. */
    public static Builder builder() {
        return small();
    }

    /**
     * The paper's CIFAR-10 model: 32×32×3 images, patch 8 (16 tokens plus the class token), depth 6,
     * 6 heads, width 768, MLP ratio 4.
     */
    public static Builder mini() {
        return new Builder().image(3, 32, 32).patch(8).depth(6).heads(6).dim(768).mlpRatio(4).classToken(true)
                .dropout(0f).dropPath(0.1f);
    }

    /**
     * A model that trains in minutes per epoch on a 2-core CPU: 28×28×1 images (Fashion-MNIST), patch 4
     * (49 tokens plus the class token), depth 4, 4 heads, width 128, MLP ratio 2.
     */
    public static Builder small() {
        return new Builder().image(1, 28, 28).patch(4).depth(4).heads(4).dim(128).mlpRatio(2).classToken(true)
                .dropout(0f).dropPath(0f);
    }

    public Config config() {
        return config;
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        Config c = config;
        int batch = x.dims()[0];
        if ((long) batch * c.channels() * c.height() * c.width() != x.value().size()) {
            throw new IllegalArgumentException("VisionTransformer: input " + x.value().shape() + " is not a batch of "
                    + c.channels() + "×" + c.height() + "×" + c.width() + " images");
        }
        TransformerOps t = new TransformerOps(ops);
        var ch = children();
        Variable h = ch.get("patchEmbed").forward(ops, x); // (B, tiles, D)
        if (classToken != null) {
            h = t.prependToken(h, classToken);
        }
        int tokens = h.dims()[1];
        h = ops.reshape(ops.addRowVector(ops.reshape(h, batch, tokens * c.dim()), positions), batch, tokens, c.dim());
        h = ch.get("drop").forward(ops, h);
        h = ch.get("blocks").forward(ops, h);
        // LayerNorm works per token, so normalising only the pooled token gives the same features.
        Variable pooled = classToken != null ? ops.reshape(t.narrow(h, 1, 0, 1), batch, c.dim()) : t.meanTokens(h);
        return ch.get("head").forward(ops, ch.get("norm").forward(ops, pooled));
    }

    @Override
    public String toString() {
        Config c = config;
        return "VisionTransformer(" + c.channels() + "×" + c.height() + "×" + c.width() + ", patch " + c.patch()
                + ", depth " + c.depth() + ", " + c.heads() + " heads, width " + c.dim() + ", MLP ratio " + c.mlpRatio()
                + (c.classToken() ? ", class token" : ", mean pooling") + ", " + c.classes() + " classes)";
    }

    /** Options; start from {@link #mini()} or {@link #small()}. */
    public static final class Builder {
        private int channels;
        private int height;
        private int width;
        private int patch;
        private int depth;
        private int heads;
        private int dim;
        private double mlpRatio;
        private boolean classToken;
        private float dropout;
        private float dropPath;
        private int classes = 10;
        private long seed;

        private Builder() {
        }

        public Builder image(int channels, int height, int width) {
            this.channels = channels;
            this.height = height;
            this.width = width;
            return this;
        }

        public Builder patch(int patch) {
            this.patch = patch;
            return this;
        }

        public Builder depth(int depth) {
            this.depth = depth;
            return this;
        }

        public Builder heads(int heads) {
            this.heads = heads;
            return this;
        }

        /** Token width (embedding dimension). */
        public Builder dim(int dim) {
            this.dim = dim;
            return this;
        }

        public Builder mlpRatio(double ratio) {
            this.mlpRatio = ratio;
            return this;
        }

        public Builder classToken(boolean on) {
            this.classToken = on;
            return this;
        }

        public Builder dropout(float p) {
            this.dropout = p;
            return this;
        }

        /** Stochastic depth of the last block; earlier blocks get linearly less. */
        public Builder dropPath(float p) {
            this.dropPath = p;
            return this;
        }

        public Builder classes(int classes) {
            this.classes = classes;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public int patch() {
            return patch;
        }

        public VisionTransformer build() {
            if (channels < 1 || height < 1 || width < 1) {
                throw new IllegalArgumentException("image size must be positive, got " + channels + "×" + height + "×"
                        + width);
            }
            if (patch < 1 || height % patch != 0 || width % patch != 0) {
                throw new IllegalArgumentException(height + "×" + width + " images do not split into " + patch + "×"
                        + patch + " patches");
            }
            if (depth < 1 || heads < 1 || dim < 1 || dim % heads != 0) {
                throw new IllegalArgumentException("depth " + depth + ", heads " + heads + " and width " + dim
                        + " must be positive with the width a multiple of the heads");
            }
            if (!(mlpRatio > 0) || classes < 1) {
                throw new IllegalArgumentException("MLP ratio and classes must be positive, got " + mlpRatio + " and "
                        + classes);
            }
            if (!(dropout >= 0 && dropout < 1) || !(dropPath >= 0 && dropPath < 1)) {
                throw new IllegalArgumentException("dropout and drop path must be in [0, 1), got " + dropout + " and "
                        + dropPath);
            }
            return new VisionTransformer(new Config(channels, height, width, patch, depth, heads, dim, mlpRatio,
                    classToken, dropout, dropPath, classes, seed));
        }
    }
}
