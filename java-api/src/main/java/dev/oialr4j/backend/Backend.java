package dev.oialr4j.backend;

import dev.oialr4j.tensor.Device;
import dev.oialr4j.tensor.Tensor;

/**
 * The primitive operations every compute backend provides. Autograd functions, layers and optimizers
 * are written once against this interface. All tensors passed to one call live on this backend's
 * device. Matrix ops use the 2-D view of a tensor: the last dimension is the columns, all others are
 * folded into rows. Outputs are written into caller-provided tensors (which may alias an input where
 * the op says so), so the caller controls allocation.
 *
 * <p>Public entry points validate shapes and throw {@link IllegalArgumentException} naming both shapes.
 */
public interface Backend extends AutoCloseable {

    /** Short name, e.g. {@code cpu} or {@code cuda}. */
    String name();

    Device device();

    // ---- memory -------------------------------------------------------------------------------

    /** A new zero-filled tensor on this device. */
    Tensor zeros(int... dims);

    /** Copies host data to a new tensor on this device. */
    Tensor fromHost(float[] data, int... dims);

    /** Copies a tensor of this device to a new host array. */
    float[] toHost(Tensor t);

    /** Copies {@code src} into {@code dst} (same size; shapes may differ). */
    void copy(Tensor src, Tensor dst);

    void fill(Tensor t, float value);

    // ---- BLAS-like ----------------------------------------------------------------------------

    /**
     * C = alpha * op(A) * op(B) + beta * C on the 2-D views, where op(X) is X or Xᵀ. With beta = 0, C's
     * previous contents (even NaN) are ignored.
     */
    void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c);

    /** y = alpha * x + beta * y, elementwise. */
    void axpby(float alpha, Tensor x, float beta, Tensor y);

    // ---- elementwise ----------------------------------------------------------------------------

    /** out = a + b (out may alias a or b). */
    void add(Tensor a, Tensor b, Tensor out);

    /** out = a * b elementwise (out may alias a or b). */
    void mul(Tensor a, Tensor b, Tensor out);

    /** out = alpha * x (out may alias x). */
    void scale(Tensor x, float alpha, Tensor out);

    /** out[i, j] = x[i, j] + bias[j] on the 2-D view of x (out may alias x). */
    void addRowVector(Tensor x, Tensor bias, Tensor out);

    /** out = max(x, 0). */
    void relu(Tensor x, Tensor out);

    /** dx = dy where x > 0, else 0. */
    void reluBackward(Tensor x, Tensor dy, Tensor dx);

    /** out = GELU(x), tanh approximation. */
    void gelu(Tensor x, Tensor out);

    /** dx = dy * GELU'(x), tanh approximation. */
    void geluBackward(Tensor x, Tensor dy, Tensor dx);

    /**
     * Inverted dropout: draws a keep mask with probability {@code 1 - p} from a counter-based generator
     * keyed by {@code seed}, writes mask / (1 - p) into {@code mask} and x * mask into {@code out}.
     */
    void dropout(Tensor x, float p, long seed, Tensor mask, Tensor out);

    // ---- reductions -----------------------------------------------------------------------------

    /** out[j] = sum over rows i of x[i, j] (the bias gradient). */
    void sumRows(Tensor x, Tensor out);

    /** out[i] = sum over columns j of x[i, j]. */
    void sumCols(Tensor x, Tensor out);

    /**
     * Sum of all elements. Implementations may sum short runs in float (at most a few thousand elements
     * per partial sum) but combine the partial sums in double; the order is fixed, so the result does not
     * depend on the thread count.
     */
    double sum(Tensor x);

    /** Sum of squares of all elements, accumulated like {@link #sum}. */
    double sumSquares(Tensor x);

    /** Index of the largest element of each row of the 2-D view; ties go to the lowest index. */
    int[] argmaxRows(Tensor x);

    // ---- softmax and losses ---------------------------------------------------------------------

    /** Row-wise softmax, numerically stable. */
    void softmaxRows(Tensor x, Tensor out);

    /** Row-wise log-softmax, numerically stable. */
    void logSoftmaxRows(Tensor x, Tensor out);

    /**
     * Mean cross-entropy of {@code logits} (rows × classes) against integer {@code labels}, with label
     * smoothing {@code eps} (target = (1 - eps) one-hot + eps / classes). Writes the row softmax into
     * {@code probs} for the backward pass and returns the mean loss (accumulated in double).
     */
    double crossEntropy(Tensor logits, int[] labels, float smoothing, Tensor probs);

    /** dLogits = scale * (probs - target) with the same smoothing as the forward pass. */
    void crossEntropyBackward(Tensor probs, int[] labels, float smoothing, float scale, Tensor dLogits);

    // ---- optimizer updates ----------------------------------------------------------------------

    /**
     * One AdamW step on a parameter: decoupled weight decay {@code p -= lr * wd * p}, moments update and
     * {@code p -= lr * mHat / (sqrt(vHat) + eps)}, with bias corrections {@code 1 - beta^step}.
     */
    void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
            float eps, float weightDecay, long step);

    /**
     * One SGD step: {@code g = grad + wd * p}; with momentum {@code buf = momentum * buf + g} (buf = g on
     * the first step, signalled by {@code firstStep}); Nesterov uses {@code g + momentum * buf};
     * {@code p -= lr * update}. {@code buf} may be null when momentum is 0.
     */
    void sgdStep(Tensor param, Tensor grad, Tensor buf, float lr, float momentum, boolean nesterov,
            float weightDecay, boolean firstStep);

    @Override
    void close();
}
