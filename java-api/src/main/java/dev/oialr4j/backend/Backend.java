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

    /**
     * {@link #crossEntropy(Tensor, int[], float, Tensor)} with the mean loss left in the one-element tensor
     * {@code loss} of this backend (as a float) instead of returned: a backend that runs its work
     * asynchronously (CUDA) overrides this so that a training step does not wait for its forward pass.
     */
    default void crossEntropy(Tensor logits, int[] labels, float smoothing, Tensor probs, Tensor loss) {
        if (loss.size() != 1) {
            throw new IllegalArgumentException("crossEntropy loss must have one element, got " + loss.shape());
        }
        fill(loss, (float) crossEntropy(logits, labels, smoothing, probs));
    }

    /**
     * {@link #crossEntropyBackward(Tensor, int[], float, float, Tensor)} with scale = dy[0] / rows (in float),
     * {@code dy} being the loss's one-element gradient on this backend; an asynchronous backend reads it on
     * the device instead of waiting for it.
     */
    default void crossEntropyBackward(Tensor probs, int[] labels, float smoothing, Tensor dy, Tensor dLogits) {
        if (dy.size() != 1) {
            throw new IllegalArgumentException("crossEntropyBackward dy must have one element, got " + dy.shape());
        }
        crossEntropyBackward(probs, labels, smoothing, toHost(dy)[0] / probs.rows(), dLogits);
    }

    // ---- convolution, pooling, batch norm ------------------------------------------------------

    /**
     * Unfolds images {@code [image0, image0 + images)} of {@code x} (NCHW) for group {@code group} into the
     * column matrix {@code cols} of shape (patchSize, images · outH · outW): row (c, ki, kj) with c the channel
     * inside the group, column (image, oh, ow); padding reads as zero.
     */
    void im2col(Tensor x, Conv2dGeometry g, int image0, int images, int group, Tensor cols);

    /** The adjoint of {@link #im2col}: adds every column entry back onto the input position it came from. */
    void col2im(Tensor cols, Conv2dGeometry g, int image0, int images, int group, Tensor dx);

    /** y = conv2d(x, w) + bias (bias per output channel, may be null), shapes as in {@code g}. */
    void conv2d(Tensor x, Tensor w, Tensor bias, Conv2dGeometry g, Tensor y);

    /**
     * Gradients of {@link #conv2d} without the bias: {@code dx} (overwritten) and
     * {@code dw = dwBeta · dw + dW}; either output may be null to skip it. The result must not depend on
     * the thread count.
     */
    void conv2dBackward(Tensor x, Tensor w, Tensor dy, Conv2dGeometry g, Tensor dx, Tensor dw, float dwBeta);

    /** Max pooling; padding never wins. */
    void maxPool2d(Tensor x, Pool2dGeometry g, Tensor y);

    /** dx (overwritten) gets each dy at the first position (in scan order) holding its window's maximum. */
    void maxPool2dBackward(Tensor x, Tensor dy, Pool2dGeometry g, Tensor dx);

    /** Average pooling; the divisor is always kh · kw (padding counts as zeros). */
    void avgPool2d(Tensor x, Pool2dGeometry g, Tensor y);

    /** dx (overwritten) of {@link #avgPool2d}. */
    void avgPool2dBackward(Tensor dy, Pool2dGeometry g, Tensor dx);

    /** y[n, c] = mean of x[n, c, :, :] for x of shape [N, C, H, W]. */
    void globalAvgPool(Tensor x, Tensor y);

    /** dx[n, c, h, w] = dy[n, c] / (H · W). */
    void globalAvgPoolBackward(Tensor dy, Tensor dx);

    /**
     * Batch normalisation over (N, H, W) per channel of x [N, C, H, W]: y = γ (x − μ) / sqrt(σ² + eps) + β.
     * Training: μ and σ² (biased) are the batch statistics, accumulated in double, and the running
     * statistics move by {@code momentum} toward μ and the unbiased batch variance. Evaluation: the running
     * statistics are used and left unchanged. {@code saveMean} and {@code saveInvStd} (C each) receive the μ
     * and 1 / sqrt(σ² + eps) that were used, for the backward pass.
     */
    void batchNorm2d(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, boolean training,
            float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd);

    /**
     * Gradients of {@link #batchNorm2d}: dγ and dβ (overwritten) and dx (overwritten, may be null). In
     * training mode μ and σ² depend on x and the full batch-statistics gradient is used; in evaluation mode
     * the normalisation is a fixed affine map.
     */
    void batchNorm2dBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd, boolean training,
            Tensor dx, Tensor dGamma, Tensor dBeta);

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

    // ---- layer norm, attention ----------------------------------------------------------------

    /**
     * Layer normalisation over the last dimension: out = (x - mean) * rstd * gamma + beta per row, with
     * rstd = 1 / sqrt(var + eps) (biased variance). Writes each row's mean and rstd (one element per row)
     * for the backward pass.
     */
    void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out, Tensor mean, Tensor rstd);

    /**
     * Backward of {@link #layerNorm}: writes dx, and dGamma = Σ_rows dy ⊙ x̂ and dBeta = Σ_rows dy with
     * x̂ = (x - mean) * rstd. Gradients are overwritten, not accumulated.
     */
    void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dGamma,
            Tensor dBeta);

    /**
     * C[b] = alpha * op(A[b]) · op(B[b]) + beta * C[b] for every b of the first dimension of the 3-D
     * tensors A, B and C (a strided batched GEMM; with beta = 0, C's contents are ignored).
     */
    void batchedGemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c);

    /**
     * Scaled dot-product attention on (batch, tokens, headDim) tensors: probs[b] = softmax(scale · q[b] ·
     * k[b]ᵀ + mask) row-wise (numerically stable), out[b] = probs[b] · v[b]. {@code mask} is null or an
     * additive (queries × keys) matrix shared by the batch whose blocked entries are -∞; every query must
     * keep at least one key. {@code probs} (batch, queries, keys) is kept for the backward pass.
     */
    void attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale, Tensor probs, Tensor out);

    /**
     * Backward of {@link #attention}: from the saved {@code probs} and dOut writes dq, dk and dv
     * (overwritten). A masked entry has probability 0 and so passes no gradient.
     */
    void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor probs, Tensor dOut, float scale, Tensor dq,
            Tensor dk, Tensor dv);

    /**
     * Multi-head self-attention straight from a fused projection: {@code qkv} is (batch, tokens, 3 · heads
     * · d), its last dimension read as (q | k | v), each split into heads of d columns; per sample and head
     * the same computation as {@link #attention}, with the heads' outputs written side by side into
     * {@code out} (batch, tokens, heads · d). {@code probs} is (batch · heads, tokens, tokens), entry
     * b · heads + h. No head is ever copied out of the projection.
     */
    void multiHeadAttention(Tensor qkv, int heads, Tensor mask, float scale, Tensor probs, Tensor out);

    /** Backward of {@link #multiHeadAttention}: writes the whole of dQkv (same layout as qkv). */
    void multiHeadAttentionBackward(Tensor qkv, int heads, Tensor probs, Tensor dOut, float scale, Tensor dQkv);

    /** out = x with its axes permuted: out's axis i is x's axis perm[i] (out has the permuted shape). */
    void permute(Tensor x, int[] perm, Tensor out);

    /**
     * Validates a {@link #permute} call for every backend: perm is a permutation of x's axes and out has
     * x's dimensions in that order; throws {@link IllegalArgumentException} naming the shapes otherwise.
     */
    static void checkPermute(Tensor x, int[] perm, Tensor out) {
        int r = x.rank();
        if (perm.length != r) {
            throw new IllegalArgumentException("permute: " + perm.length + " axes given for input " + x.shape());
        }
        int[] xd = x.dims();
        boolean[] seen = new boolean[r];
        int[] od = new int[r];
        for (int i = 0; i < r; i++) {
            if (perm[i] < 0 || perm[i] >= r || seen[perm[i]]) {
                throw new IllegalArgumentException("permute: " + java.util.Arrays.toString(perm)
                        + " is not a permutation of " + r + " axes (input " + x.shape() + ")");
            }
            seen[perm[i]] = true;
            od[i] = xd[perm[i]];
        }
        if (!java.util.Arrays.equals(od, out.dims())) {
            throw new IllegalArgumentException("permute: output " + out.shape() + " must be "
                    + java.util.Arrays.toString(od) + " for input " + x.shape() + " and axes "
                    + java.util.Arrays.toString(perm));
        }
    }

    /** out = x[:, start : start + len, :] on 3-D tensors x (outer, n, inner) and out (outer, len, inner). */
    void narrow(Tensor x, int start, Tensor out);

    /** dst[:, start : start + len, :] += src on 3-D tensors src (outer, len, inner) and dst (outer, n, inner). */
    void addNarrowed(Tensor src, int start, Tensor dst);

    /**
     * Per-sample stochastic-depth scale: mask[b] = 1 / (1 - p) when the counter-based draw
     * {@link CounterRandom#uniform}(seed, b) is at least p, else 0, for every element b of {@code mask}.
     */
    void dropPathMask(float p, long seed, Tensor mask);

    /** out[b, ...] = x[b, ...] * scale[b], where b runs over x's first dimension (out may alias x). */
    void scaleSamples(Tensor x, Tensor scale, Tensor out);

    @Override
    void close();
}
