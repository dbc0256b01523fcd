package dev.oialr4j.backend;

/**
 * The hyper-parameters of a 2-D convolution that do not depend on the data: stride, zero padding and
 * dilation per spatial axis, and the number of groups.
 */
public record Conv2dOptions(int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, int groups) {

    public Conv2dOptions {
        if (strideH < 1 || strideW < 1 || dilationH < 1 || dilationW < 1 || padH < 0 || padW < 0 || groups < 1) {
            throw new IllegalArgumentException("convolution needs stride >= 1, dilation >= 1, padding >= 0 and"
                    + " groups >= 1, got stride " + strideH + "x" + strideW + ", padding " + padH + "x" + padW
                    + ", dilation " + dilationH + "x" + dilationW + ", groups " + groups);
        }
    }

    /** The same stride, padding and dilation on both axes. */
    public static Conv2dOptions of(int stride, int padding, int dilation, int groups) {
        return new Conv2dOptions(stride, stride, padding, padding, dilation, dilation, groups);
    }

    /** Stride 1, no padding, no dilation, one group. */
    public static final Conv2dOptions DEFAULT = of(1, 0, 1, 1);
}
