package dev.oialr4j.nn.models;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.nn.BatchNorm2d;
import dev.oialr4j.nn.Conv2d;
import dev.oialr4j.nn.GlobalAvgPool;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.Reshape;
import dev.oialr4j.nn.Sequential;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The CIFAR-style residual network of He et al. (2016): a 3×3 stem convolution, three stages of basic
 * blocks (two 3×3 convolutions with batch norm, ReLU, and a residual connection), global average pooling
 * and a Linear classifier. With n blocks per stage the depth is 6n + 2 (ResNet-8: n = 1, ResNet-20: n = 3).
 * The second and third stages halve the resolution in their first block; where a block changes shape the
 * shortcut is a strided 1×1 convolution with batch norm.
 *
 * <p>Inputs are [N, C, H, W], or flat [N, C·H·W] rows, which the model views as images first. Layers are
 * named {@code stem.conv}, {@code stage1.0.conv1}, {@code stage2.0.shortcut.conv}, ..., {@code fc}.
 */
public final class ResNet extends Module {

    private final int[] inputShape;
    private final int depth;
    private final int[] widths;
    private final int classes;
    private final Reshape view;
    private final Sequential stem;
    private final List<Sequential> stages = new ArrayList<>();
    private final GlobalAvgPool pool;
    private final Linear fc;

    private ResNet(Builder b) {
        this.inputShape = new int[] {b.channels, b.height, b.width};
        this.depth = b.depth;
        this.widths = b.widths.clone();
        this.classes = b.classes;
        SplittableRandom rng = new SplittableRandom(b.seed);
        this.view = new Reshape(inputShape);
        this.stem = registerModule("stem", new Sequential(
                new Conv2d(b.channels, widths[0], 3, Conv2dOptions.of(1, 1, 1, 1), false, rng),
                new BatchNorm2d(widths[0])));
        int blocks = (depth - 2) / 6;
        int in = widths[0];
        for (int s = 0; s < widths.length; s++) {
            List<Module> list = new ArrayList<>();
            for (int i = 0; i < blocks; i++) {
                int stride = s > 0 && i == 0 ? 2 : 1;
                list.add(new BasicBlock(in, widths[s], stride, rng));
                in = widths[s];
            }
            stages.add(registerModule("stage" + (s + 1), new Sequential(list)));
        }
        this.pool = new GlobalAvgPool();
        this.fc = registerModule("fc", new Linear(in, classes, true, rng));
    }

    /** ResNet-20 for images of the given shape. */
    public static ResNet resnet20(int channels, int height, int width, int classes, long seed) {
        return builder().input(channels, height, width).depth(20).classes(classes).seed(seed).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        Variable h = ops.relu(stem.forward(ops, view.forward(ops, x)));
        for (Sequential stage : stages) {
            h = stage.forward(ops, h);
        }
        // Looked up, not the field: OIALR may have replaced the classifier when asked to by name.
        return children().get("fc").forward(ops, pool.forward(ops, h));
    }

    public int depth() {
        return depth;
    }

    public Linear classifier() {
        return fc;
    }

    @Override
    public String toString() {
        return "ResNet-" + depth + "(" + Arrays.toString(inputShape) + " -> " + Arrays.toString(widths) + " -> "
                + classes + ")";
    }

    /**
     * Two 3×3 convolutions with batch norm; y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). The
     * children are looked up at every forward pass, so OIALR may swap a convolution for a low-rank one.
     */
    public static final class BasicBlock extends Module {

        public BasicBlock(int in, int out, int stride, SplittableRandom rng) {
            registerModule("conv1", new Conv2d(in, out, 3, Conv2dOptions.of(stride, 1, 1, 1), false, rng));
            registerModule("bn1", new BatchNorm2d(out));
            registerModule("conv2", new Conv2d(out, out, 3, Conv2dOptions.of(1, 1, 1, 1), false, rng));
            registerModule("bn2", new BatchNorm2d(out));
            if (stride != 1 || in != out) {
                registerModule("shortcut", new Sequential(
                        new Conv2d(in, out, 1, Conv2dOptions.of(stride, 0, 1, 1), false, rng), new BatchNorm2d(out)));
            }
        }

        @Override
        public Variable forward(Ops ops, Variable x) {
            var c = children();
            Variable h = ops.relu(c.get("bn1").forward(ops, c.get("conv1").forward(ops, x)));
            h = c.get("bn2").forward(ops, c.get("conv2").forward(ops, h));
            Module shortcut = c.get("shortcut");
            Variable s = shortcut == null ? x : shortcut.forward(ops, x);
            return ops.relu(ops.add(h, s));
        }
    }

    /** Options; defaults: ResNet-20 for 28×28 grey images, 16/32/64 channels, 10 classes, seed 0. */
    public static final class Builder {
        private int channels = 1;
        private int height = 28;
        private int width = 28;
        private int depth = 20;
        private int[] widths = {16, 32, 64};
        private int classes = 10;
        private long seed;

        public Builder input(int channels, int height, int width) {
            this.channels = channels;
            this.height = height;
            this.width = width;
            return this;
        }

        /** 6n + 2: 8, 14, 20, 32, 44, 56, ... */
        public Builder depth(int depth) {
            this.depth = depth;
            return this;
        }

        /** Channels of the three stages. */
        public Builder widths(int... widths) {
            this.widths = widths.clone();
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

        public ResNet build() {
            if (depth < 8 || (depth - 2) % 6 != 0) {
                throw new IllegalArgumentException("ResNet depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), got "
                        + depth);
            }
            if (widths.length != 3 || Arrays.stream(widths).anyMatch(w -> w < 1)) {
                throw new IllegalArgumentException("ResNet needs three positive stage widths, got "
                        + Arrays.toString(widths));
            }
            if (channels < 1 || height < 4 || width < 4 || classes < 1) {
                throw new IllegalArgumentException("ResNet needs positive channels and classes and images of at least"
                        + " 4x4, got " + channels + "x" + height + "x" + width + " and " + classes + " classes");
            }
            return new ResNet(this);
        }
    }
}
