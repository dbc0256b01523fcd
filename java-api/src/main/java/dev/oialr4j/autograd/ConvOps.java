package dev.oialr4j.autograd;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.Conv2dGeometry;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.Pool2dGeometry;
import dev.oialr4j.tensor.Tensor;

/**
 * The differentiable image ops on NCHW tensors: convolution, max / average / global average pooling and
 * batch normalisation. Like {@link Ops}, each forward runs on the {@link Backend} and records its backward
 * beside it; inputs that need no gradient get none computed.
 */
public final class ConvOps {

    private final Tape tape;
    private final Backend be;

    public ConvOps(Tape tape) {
        this.tape = tape;
        this.be = tape.backend();
    }

    /** y = conv2d(x, w) + b with x [N, C, H, W], w [out, C / groups, kh, kw], b [out] or null. */
    public Variable conv2d(Variable x, Variable w, Variable bias, Conv2dOptions options) {
        Conv2dGeometry g = Conv2dGeometry.of(x.dims(), w.dims(), options);
        if (bias != null && bias.value().size() != g.outChannels()) {
            throw new IllegalArgumentException("conv2d: bias " + bias.value().shape() + " does not match weight "
                    + w.value().shape());
        }
        Tensor y = be.zeros(g.outputDims());
        be.conv2d(x.value(), w.value(), bias == null ? null : bias.value(), g, y);
        return tape.record(y, dy -> {
            Tensor dx = null;
            Tape.GradTarget wt = null;
            if (x.requiresGrad()) {
                dx = be.zeros(g.inputDims());
            }
            if (w.requiresGrad()) {
                wt = tape.gradTarget(w);
            }
            if (dx != null || wt != null) {
                be.conv2dBackward(x.value(), w.value(), dy, g, dx, wt == null ? null : wt.grad(),
                        wt == null ? 0f : wt.beta());
            }
            if (dx != null) {
                tape.accumulate(x, dx);
            }
            if (bias != null && bias.requiresGrad()) {
                int planes = g.batch() * g.outChannels();
                Tensor perPlane = be.zeros(planes);
                be.sumCols(dy.reshape(planes, g.outHeight() * g.outWidth()), perPlane);
                Tensor db = be.zeros(g.outChannels());
                be.sumRows(perPlane.reshape(g.batch(), g.outChannels()), db);
                tape.accumulate(bias, db);
            }
        }, x, w, bias);
    }

    /** Max pooling with a square window; padding never wins. */
    public Variable maxPool2d(Variable x, int kernel, int stride, int padding) {
        Pool2dGeometry g = Pool2dGeometry.of(x.dims(), kernel, stride, padding);
        Tensor y = be.zeros(g.outputDims());
        be.maxPool2d(x.value(), g, y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor dx = be.zeros(g.inputDims());
                be.maxPool2dBackward(x.value(), dy, g, dx);
                tape.accumulate(x, dx);
            }
        }, x);
    }

    /** Average pooling with a square window; padding counts as zeros. */
    public Variable avgPool2d(Variable x, int kernel, int stride, int padding) {
        Pool2dGeometry g = Pool2dGeometry.of(x.dims(), kernel, stride, padding);
        Tensor y = be.zeros(g.outputDims());
        be.avgPool2d(x.value(), g, y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor dx = be.zeros(g.inputDims());
                be.avgPool2dBackward(dy, g, dx);
                tape.accumulate(x, dx);
            }
        }, x);
    }

    /** [N, C, H, W] → [N, C], the mean over each feature map. */
    public Variable globalAvgPool(Variable x) {
        if (x.value().rank() != 4) {
            throw new IllegalArgumentException("globalAvgPool needs an input [N, C, H, W], got " + x.value().shape());
        }
        int[] d = x.dims();
        Tensor y = be.zeros(d[0], d[1]);
        be.globalAvgPool(x.value(), y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor dx = be.zeros(d);
                be.globalAvgPoolBackward(dy, dx);
                tape.accumulate(x, dx);
            }
        }, x);
    }

    /**
     * Batch normalisation per channel of x [N, C, H, W] with affine γ, β. In training mode the batch
     * statistics normalise and {@code runningMean} / {@code runningVar} (plain tensors, not parameters) are
     * updated in place; in evaluation mode the running statistics normalise.
     */
    public Variable batchNorm2d(Variable x, Variable gamma, Variable beta, Tensor runningMean, Tensor runningVar,
            boolean training, float momentum, float eps) {
        if (x.value().rank() != 4) {
            throw new IllegalArgumentException("batchNorm2d needs an input [N, C, H, W], got " + x.value().shape());
        }
        int c = x.dims()[1];
        Tensor y = be.zeros(x.dims());
        Tensor mean = be.zeros(c);
        Tensor invStd = be.zeros(c);
        be.batchNorm2d(x.value(), gamma.value(), beta.value(), runningMean, runningVar, training, momentum, eps, y,
                mean, invStd);
        return tape.record(y, dy -> {
            Tensor dx = x.requiresGrad() ? be.zeros(x.dims()) : null;
            Tensor dGamma = be.zeros(c);
            Tensor dBeta = be.zeros(c);
            be.batchNorm2dBackward(x.value(), dy, gamma.value(), mean, invStd, training, dx, dGamma, dBeta);
            if (dx != null) {
                tape.accumulate(x, dx);
            }
            tape.accumulate(gamma, dGamma);
            tape.accumulate(beta, dBeta);
        }, x, gamma, beta);
    }
}
