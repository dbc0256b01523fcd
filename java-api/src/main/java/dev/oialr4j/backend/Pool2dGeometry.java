package dev.oialr4j.backend;

import java.util.Arrays;

/**
 * Sizes of one 2-D pooling call: input {@code [batch, channels, height, width]}, a {@code kernelH × kernelW}
 * window moved by the stride over the input padded by {@code padH, padW} on each side. Max pooling treats
 * padding as −∞; average pooling counts it as zeros (the divisor is always kh · kw).
 */
public record Pool2dGeometry(int batch, int channels, int height, int width, int kernelH, int kernelW, int strideH,
        int strideW, int padH, int padW) {

    public Pool2dGeometry {
        if (kernelH < 1 || kernelW < 1 || strideH < 1 || strideW < 1 || padH < 0 || padW < 0
                || 2 * padH > kernelH || 2 * padW > kernelW) {
            throw new IllegalArgumentException("pooling needs kernel >= 1, stride >= 1 and 0 <= padding <= kernel / 2,"
                    + " got kernel " + kernelH + "x" + kernelW + ", stride " + strideH + "x" + strideW + ", padding "
                    + padH + "x" + padW);
        }
    }

    /** A square window on an NCHW input shape. */
    public static Pool2dGeometry of(int[] x, int kernel, int stride, int padding) {
        if (x.length != 4) {
            throw new IllegalArgumentException("pooling needs an input [N, C, H, W], got " + Arrays.toString(x));
        }
        Pool2dGeometry g = new Pool2dGeometry(x[0], x[1], x[2], x[3], kernel, kernel, stride, stride, padding, padding);
        if (g.outHeight() < 1 || g.outWidth() < 1) {
            throw new IllegalArgumentException("pooling window " + kernel + "x" + kernel + " does not fit input "
                    + Arrays.toString(x));
        }
        return g;
    }

    public int outHeight() {
        return (height + 2 * padH - kernelH) / strideH + 1;
    }

    public int outWidth() {
        return (width + 2 * padW - kernelW) / strideW + 1;
    }

    public int[] inputDims() {
        return new int[] {batch, channels, height, width};
    }

    public int[] outputDims() {
        return new int[] {batch, channels, outHeight(), outWidth()};
    }
}
