package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Conv2dOptions;
import java.util.random.RandomGenerator;

/**
 * A 2-D convolution over NCHW inputs: weight [out, in / groups, kh, kw], optional bias [out]. Its 2-D view
 * for OIALR is (out, in / groups · kh · kw).
 */
public final class Conv2d extends Module {

    private final int inChannels;
    private final int outChannels;
    private final int kernelH;
    private final int kernelW;
    private final Conv2dOptions options;
    private final Parameter weight;
    private final Parameter bias;

    /**
     * Kaiming-uniform initialisation like {@link Linear}: weight and bias uniform in ±1/sqrt(fan-in) with
     * fan-in = in / groups · kh · kw, drawn from {@code rng}.
     */
    public Conv2d(int in, int out, int kernel, Conv2dOptions options, boolean bias, RandomGenerator rng) {
        this(in, out, kernel, kernel, options, bias, rng);
    }

    public Conv2d(int in, int out, int kernelH, int kernelW, Conv2dOptions options, boolean bias,
            RandomGenerator rng) {
        if (in < 1 || out < 1 || kernelH < 1 || kernelW < 1) {
            throw new IllegalArgumentException("Conv2d needs positive sizes, got in=" + in + ", out=" + out
                    + ", kernel " + kernelH + "x" + kernelW);
        }
        if (in % options.groups() != 0 || out % options.groups() != 0) {
            throw new IllegalArgumentException("Conv2d: in=" + in + " and out=" + out + " must both be divisible by "
                    + options.groups() + " groups");
        }
        this.inChannels = in;
        this.outChannels = out;
        this.kernelH = kernelH;
        this.kernelW = kernelW;
        this.options = options;
        int fanIn = in / options.groups() * kernelH * kernelW;
        double bound = 1.0 / Math.sqrt(fanIn);
        this.weight = registerParameter("weight", Linear.uniform(rng, bound, out, in / options.groups(), kernelH,
                kernelW));
        this.bias = bias ? registerParameter("bias", Linear.uniform(rng, bound, out)) : null;
    }

    /** Wraps existing parameters (e.g. when a low-rank convolution is turned back into a dense one). */
    public Conv2d(Parameter weight, Parameter bias, Conv2dOptions options) {
        int[] d = weight.value().dims();
        if (d.length != 4) {
            throw new IllegalArgumentException("Conv2d weight must be [out, in/groups, kh, kw], got "
                    + weight.value().shape());
        }
        if (d[0] % options.groups() != 0) {
            throw new IllegalArgumentException("Conv2d weight " + weight.value().shape() + " does not fit "
                    + options.groups() + " groups");
        }
        if (bias != null && bias.value().size() != d[0]) {
            throw new IllegalArgumentException("bias " + bias.value().shape() + " does not match weight "
                    + weight.value().shape());
        }
        this.outChannels = d[0];
        this.inChannels = d[1] * options.groups();
        this.kernelH = d[2];
        this.kernelW = d[3];
        this.options = options;
        this.weight = registerParameter("weight", weight);
        this.bias = bias == null ? null : registerParameter("bias", bias);
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        return ops.conv().conv2d(x, weight, bias, options);
    }

    public Parameter weight() {
        return weight;
    }

    /** The bias, or null. */
    public Parameter bias() {
        return bias;
    }

    public int inChannels() {
        return inChannels;
    }

    public int outChannels() {
        return outChannels;
    }

    public int kernelH() {
        return kernelH;
    }

    public int kernelW() {
        return kernelW;
    }

    public Conv2dOptions options() {
        return options;
    }

    public int groups() {
        return options.groups();
    }

    /** Columns of the 2-D view of the kernel: in / groups · kh · kw. */
    public int patchSize() {
        return inChannels / options.groups() * kernelH * kernelW;
    }

    @Override
    public String toString() {
        Conv2dOptions o = options;
        return "Conv2d(" + inChannels + " -> " + outChannels + ", " + kernelH + "x" + kernelW
                + (o.strideH() != 1 || o.strideW() != 1 ? ", stride " + o.strideH() + "x" + o.strideW() : "")
                + (o.padH() != 0 || o.padW() != 0 ? ", padding " + o.padH() + "x" + o.padW() : "")
                + (o.dilationH() != 1 || o.dilationW() != 1 ? ", dilation " + o.dilationH() + "x" + o.dilationW() : "")
                + (o.groups() != 1 ? ", groups " + o.groups() : "") + (bias == null ? ", no bias" : "") + ")";
    }
}
