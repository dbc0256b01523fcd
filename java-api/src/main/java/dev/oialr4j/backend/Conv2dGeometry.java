package dev.oialr4j.backend;

import java.util.Arrays;

/**
 * Every size of one 2-D convolution call: input {@code [batch, inChannels, height, width]} (NCHW, row-major),
 * weight {@code [outChannels, inChannels / groups, kernelH, kernelW]}, output
 * {@code [batch, outChannels, outHeight(), outWidth()]}.
 */
public record Conv2dGeometry(int batch, int inChannels, int height, int width, int outChannels, int kernelH,
        int kernelW, Conv2dOptions options) {

    /** Reads the sizes from the input and weight shapes and checks that they fit together. */
    public static Conv2dGeometry of(int[] x, int[] w, Conv2dOptions o) {
        if (x.length != 4 || w.length != 4) {
            throw new IllegalArgumentException("conv2d needs input [N, C, H, W] and weight [out, in/groups, kh, kw],"
                    + " got input " + Arrays.toString(x) + " and weight " + Arrays.toString(w));
        }
        int g = o.groups();
        if (x[1] % g != 0 || w[0] % g != 0 || w[1] * g != x[1]) {
            throw new IllegalArgumentException("conv2d: input " + Arrays.toString(x) + " and weight "
                    + Arrays.toString(w) + " do not fit " + g + " groups (need in = " + g + " x weight dim 1 and out"
                    + " divisible by groups)");
        }
        Conv2dGeometry geo = new Conv2dGeometry(x[0], x[1], x[2], x[3], w[0], w[2], w[3], o);
        if (geo.outHeight() < 1 || geo.outWidth() < 1) {
            throw new IllegalArgumentException("conv2d: kernel " + Arrays.toString(w) + " with " + o
                    + " does not fit input " + Arrays.toString(x));
        }
        return geo;
    }

    public int outHeight() {
        Conv2dOptions o = options;
        return (height + 2 * o.padH() - o.dilationH() * (kernelH - 1) - 1) / o.strideH() + 1;
    }

    public int outWidth() {
        Conv2dOptions o = options;
        return (width + 2 * o.padW() - o.dilationW() * (kernelW - 1) - 1) / o.strideW() + 1;
    }

    public int groups() {
        return options.groups();
    }

    /** Input channels per group. */
    public int inPerGroup() {
        return inChannels / options.groups();
    }

    /** Output channels per group. */
    public int outPerGroup() {
        return outChannels / options.groups();
    }

    /** Rows of one group's column matrix: (in / groups) · kh · kw. */
    public int patchSize() {
        return inPerGroup() * kernelH * kernelW;
    }

    public int[] inputDims() {
        return new int[] {batch, inChannels, height, width};
    }

    public int[] weightDims() {
        return new int[] {outChannels, inPerGroup(), kernelH, kernelW};
    }

    public int[] outputDims() {
        return new int[] {batch, outChannels, outHeight(), outWidth()};
    }

    /** Multiply-adds of the forward pass. */
    public long macs() {
        return (long) batch * outChannels * outHeight() * outWidth() * patchSize();
    }

    /**
     * Validates the image range [image0, image0 + images) and group index of a chunked convolution call
     * (every backend's im2col/col2im entry points share it).
     */
    public void checkImages(int image0, int images, int group) {
        if (image0 < 0 || images < 1 || image0 + images > batch || group < 0 || group >= groups()) {
            throw new IllegalArgumentException("images [" + image0 + ", " + (image0 + images) + ") of group " + group
                    + " are outside a batch of " + batch + " with " + groups() + " groups");
        }
    }
}
