package dev.oialr4j.autograd;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.tensor.Tensor;
import java.util.Arrays;

/**
 * The differentiable operations. Each method computes its forward pass with the {@link Backend} and, when
 * an input needs a gradient, records its backward right beside it. Inputs that do not require a
 * gradient get none computed (a frozen weight costs no weight-gradient GEMM).
 */
public final class Ops {

    private final Tape tape;
    private final Backend be;
    private ConvOps conv;

    public Ops(Tape tape) {
        this.tape = tape;
        this.be = tape.backend();
    }

    public Tape tape() {
        return tape;
    }

    public Backend backend() {
        return be;
    }

    /** The image ops (convolution, pooling, batch norm) recording onto the same tape. */
    public ConvOps conv() {
        if (conv == null) {
            conv = new ConvOps(tape);
        }
        return conv;
    }

    /** y = op(a) · op(b) on the 2-D views; the result has shape (rows of op(a), cols of op(b)). */
    public Variable matmul(Variable a, boolean transA, Variable b, boolean transB) {
        Tensor av = a.value();
        Tensor bv = b.value();
        int m = transA ? av.cols() : av.rows();
        int n = transB ? bv.rows() : bv.cols();
        Tensor y = be.zeros(m, n);
        be.gemm(transA, transB, 1f, av, bv, 0f, y);
        return tape.record(y, dy -> {
            if (a.requiresGrad()) {
                // dA = dY · op(B)ᵀ, or its transpose when A was used transposed.
                Tape.GradTarget t = tape.gradTarget(a);
                Tensor ga = t.grad().reshape(av.rows(), av.cols());
                if (transA) {
                    be.gemm(transB, true, 1f, bv, dy, t.beta(), ga);
                } else {
                    be.gemm(false, !transB, 1f, dy, bv, t.beta(), ga);
                }
            }
            if (b.requiresGrad()) {
                Tape.GradTarget t = tape.gradTarget(b);
                Tensor gb = t.grad().reshape(bv.rows(), bv.cols());
                if (transB) {
                    be.gemm(true, transA, 1f, dy, av, t.beta(), gb);
                } else {
                    be.gemm(!transA, false, 1f, av, dy, t.beta(), gb);
                }
            }
        }, a, b);
    }

    /**
     * A dense layer: y = x · Wᵀ + b with W of shape (out, in), x of shape (..., in). The bias may be null.
     */
    public Variable linear(Variable x, Variable w, Variable bias) {
        Tensor xv = x.value();
        Tensor wv = w.value();
        int in = wv.dim(1);
        int out = wv.dim(0);
        if (xv.cols() != in) {
            throw new IllegalArgumentException("linear: input " + xv.shape() + " does not match weight "
                    + wv.shape() + " (expected last dimension " + in + ")");
        }
        if (bias != null && bias.value().size() != out) {
            throw new IllegalArgumentException("linear: bias " + bias.value().shape() + " does not match weight "
                    + wv.shape());
        }
        int rows = xv.rows();
        int[] outDims = xv.dims();
        outDims[outDims.length - 1] = out;
        Tensor y = be.zeros(outDims);
        Tensor y2 = y.reshape(rows, out);
        Tensor x2 = xv.reshape(rows, in);
        be.gemm(false, true, 1f, x2, wv, 0f, y2);
        if (bias != null) {
            be.addRowVector(y2, bias.value(), y2);
        }
        return tape.record(y, dy -> {
            Tensor dy2 = dy.reshape(rows, out);
            if (x.requiresGrad()) {
                Tape.GradTarget t = tape.gradTarget(x);
                be.gemm(false, false, 1f, dy2, wv, t.beta(), t.grad().reshape(rows, in));
            }
            if (w.requiresGrad()) {
                Tape.GradTarget t = tape.gradTarget(w);
                be.gemm(true, false, 1f, dy2, x2, t.beta(), t.grad());
            }
            if (bias != null && bias.requiresGrad()) {
                Tensor db = be.zeros(out);
                be.sumRows(dy2, db);
                tape.accumulate(bias, db);
            }
        }, x, w, bias);
    }

    /** A view of {@code x} with another shape of the same size; the gradient is reshaped back. */
    public Variable reshape(Variable x, int... dims) {
        Tensor y = x.value().reshape(dims);
        int[] original = x.dims();
        return tape.record(y, dy -> tape.accumulate(x, dy.reshape(original)), x);
    }

    /** out[i, j] = x[i, j] + b[j]. */
    public Variable addRowVector(Variable x, Variable b) {
        Tensor y = be.zeros(x.dims());
        be.addRowVector(x.value(), b.value(), y);
        int cols = x.value().cols();
        return tape.record(y, dy -> {
            tape.accumulate(x, dy);
            if (b.requiresGrad()) {
                Tensor db = be.zeros(cols);
                be.sumRows(dy, db);
                tape.accumulate(b, db);
            }
        }, x, b);
    }

    public Variable add(Variable a, Variable b) {
        requireSameShape("add", a, b);
        Tensor y = be.zeros(a.dims());
        be.add(a.value(), b.value(), y);
        return tape.record(y, dy -> {
            tape.accumulate(a, dy);
            tape.accumulate(b, dy);
        }, a, b);
    }

    public Variable mul(Variable a, Variable b) {
        requireSameShape("mul", a, b);
        Tensor y = be.zeros(a.dims());
        be.mul(a.value(), b.value(), y);
        return tape.record(y, dy -> {
            if (a.requiresGrad()) {
                Tensor g = be.zeros(a.dims());
                be.mul(dy, b.value(), g);
                tape.accumulate(a, g);
            }
            if (b.requiresGrad()) {
                Tensor g = be.zeros(b.dims());
                be.mul(dy, a.value(), g);
                tape.accumulate(b, g);
            }
        }, a, b);
    }

    public Variable scale(Variable x, float alpha) {
        Tensor y = be.zeros(x.dims());
        be.scale(x.value(), alpha, y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor g = be.zeros(x.dims());
                be.scale(dy, alpha, g);
                tape.accumulate(x, g);
            }
        }, x);
    }

    public Variable relu(Variable x) {
        Tensor y = be.zeros(x.dims());
        be.relu(x.value(), y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor g = be.zeros(x.dims());
                be.reluBackward(y, dy, g); // y > 0 exactly where x > 0
                tape.accumulate(x, g);
            }
        }, x);
    }

    public Variable gelu(Variable x) {
        Tensor y = be.zeros(x.dims());
        be.gelu(x.value(), y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor g = be.zeros(x.dims());
                be.geluBackward(x.value(), dy, g);
                tape.accumulate(x, g);
            }
        }, x);
    }

    /** Inverted dropout with a counter-based mask keyed by {@code seed}; identity when p = 0. */
    public Variable dropout(Variable x, float p, long seed) {
        if (p == 0f) {
            return x;
        }
        Tensor mask = be.zeros(x.dims());
        Tensor y = be.zeros(x.dims());
        be.dropout(x.value(), p, seed, mask, y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                Tensor g = be.zeros(x.dims());
                be.mul(dy, mask, g);
                tape.accumulate(x, g);
            }
        }, x);
    }

    /** Row-wise log-softmax over the last dimension. */
    public Variable logSoftmax(Variable x) {
        Tensor y = be.zeros(x.dims());
        be.logSoftmaxRows(x.value(), y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                // dx = dy - softmax(x) * rowsum(dy)
                Tensor p = be.zeros(x.dims());
                be.softmaxRows(x.value(), p);
                Tensor rowSum = be.zeros(x.value().rows());
                be.sumCols(dy, rowSum);
                float[] ps = be.toHost(p);
                float[] rs = be.toHost(rowSum);
                float[] ds = be.toHost(dy);
                int cols = x.value().cols();
                for (int i = 0; i < ps.length; i++) {
                    ps[i] = ds[i] - ps[i] * rs[i / cols];
                }
                tape.accumulate(x, be.fromHost(ps, x.dims()));
            }
        }, x);
    }

    /** Row-wise softmax over the last dimension. */
    public Variable softmax(Variable x) {
        Tensor y = be.zeros(x.dims());
        be.softmaxRows(x.value(), y);
        return tape.record(y, dy -> {
            if (x.requiresGrad()) {
                // dx = y * (dy - rowsum(dy * y))
                Tensor dyy = be.zeros(x.dims());
                be.mul(dy, y, dyy);
                Tensor rowSum = be.zeros(x.value().rows());
                be.sumCols(dyy, rowSum);
                float[] ys = be.toHost(y);
                float[] ds = be.toHost(dy);
                float[] rs = be.toHost(rowSum);
                int cols = x.value().cols();
                for (int i = 0; i < ys.length; i++) {
                    ys[i] = ys[i] * (ds[i] - rs[i / cols]);
                }
                tape.accumulate(x, be.fromHost(ys, x.dims()));
            }
        }, x);
    }

    /** Mean cross-entropy over rows of logits against integer labels, with label smoothing. */
    public Variable crossEntropy(Variable logits, int[] labels, float smoothing) {
        if (!(smoothing >= 0f && smoothing < 1f)) {
            throw new IllegalArgumentException("label smoothing must be in [0, 1), got " + smoothing);
        }
        Tensor probs = be.zeros(logits.dims());
        Tensor loss = be.zeros(1);
        // Loss and its gradient stay on the backend: nothing here waits for a device.
        be.crossEntropy(logits.value(), labels, smoothing, probs, loss);
        return tape.record(loss, dy -> {
            if (logits.requiresGrad()) {
                Tensor g = be.zeros(logits.dims());
                be.crossEntropyBackward(probs, labels, smoothing, dy, g);
                tape.accumulate(logits, g);
            }
        }, logits);
    }

    /** Mean squared error over all elements. */
    public Variable mse(Variable pred, Variable target) {
        requireSameShape("mse", pred, target);
        Tensor diff = be.zeros(pred.dims());
        be.copy(pred.value(), diff);
        be.axpby(-1f, target.value(), 1f, diff);
        int n = diff.size();
        double loss = be.sumSquares(diff) / n;
        return tape.record(be.fromHost(new float[] {(float) loss}), dy -> {
            float s = 2f * be.toHost(dy)[0] / n;
            if (pred.requiresGrad()) {
                Tensor g = be.zeros(pred.dims());
                be.scale(diff, s, g);
                tape.accumulate(pred, g);
            }
            if (target.requiresGrad()) {
                Tensor g = be.zeros(target.dims());
                be.scale(diff, -s, g);
                tape.accumulate(target, g);
            }
        }, pred, target);
    }

    /** Sum of all elements, as a scalar. */
    public Variable sum(Variable x) {
        double s = be.sum(x.value());
        return tape.record(be.fromHost(new float[] {(float) s}), dy -> {
            if (x.requiresGrad()) {
                Tensor g = be.zeros(x.dims());
                be.fill(g, be.toHost(dy)[0]);
                tape.accumulate(x, g);
            }
        }, x);
    }

    private static void requireSameShape(String op, Variable a, Variable b) {
        if (!Arrays.equals(a.dims(), b.dims())) {
            throw new IllegalArgumentException(op + ": shapes " + a.value().shape() + " and "
                    + b.value().shape() + " differ");
        }
    }
}
