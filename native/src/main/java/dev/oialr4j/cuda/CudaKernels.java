package dev.oialr4j.cuda;

import dev.oialr4j.kernels.KernelImage;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * The kernels of oialr4j.fatbin (kernels/src/main/cuda), loaded into the current context, with one typed
 * launcher per kernel. Arguments are device addresses ({@code long}, 0 for a nullable pointer) and sizes;
 * launchers do not validate (the {@link CudaBackend} entry points do). All launches go to one stream.
 *
 * <p>Launch shapes: elementwise kernels use 256-thread blocks and a grid of at most 32 blocks per SM
 * (the kernels loop grid-stride); row kernels use one 256-thread block per row (kernels/common.cuh's
 * ROW_THREADS), at most 64 rows' worth of blocks per SM, looping over further rows; column kernels one
 * thread per column.
 */
public final class CudaKernels {

    static final int BLOCK = 256;
    static final int ROW_THREADS = 256;

    private final MemorySegment module;
    private final MemorySegment stream;
    private final Map<String, MemorySegment> functions = new HashMap<>();
    private final int maxElementwiseBlocks;
    private final int maxRowBlocks;
    private final int multiprocessors;
    private final Arena arena = Arena.ofShared();
    private final KernelArgs args = new KernelArgs(arena);

    private CudaKernels(MemorySegment module, MemorySegment stream, int multiprocessors) {
        this.module = module;
        this.stream = stream;
        this.maxElementwiseBlocks = Math.max(1, multiprocessors) * 32;
        this.maxRowBlocks = Math.max(1, multiprocessors) * 64;
        this.multiprocessors = Math.max(1, multiprocessors);
    }

    /** Loads the fatbin into the current context and resolves every kernel of {@link KernelImage#KERNEL_NAMES}. */
    static CudaKernels load(byte[] fatbin, MemorySegment stream, int multiprocessors) {
        MemorySegment module = CudaDriver.moduleLoadData(fatbin);
        var k = new CudaKernels(module, stream, multiprocessors);
        for (String name : KernelImage.KERNEL_NAMES) {
            k.functions.put(name, CudaDriver.moduleGetFunction(module, name));
        }
        return k;
    }

    void unload() {
        CudaDriver.moduleUnload(module);
        arena.close();
    }

    // ---- launch plumbing ------------------------------------------------------------------------

    private KernelArgs args() {
        return args.reset();
    }

    private void launch(String name, int gridX, int gridY, int gridZ, int blockX, int blockY) {
        MemorySegment fn = functions.get(name);
        if (fn == null) {
            throw new IllegalStateException("kernel " + name + " is not in the loaded module");
        }
        CudaDriver.launchKernel(fn, gridX, gridY, gridZ, blockX, blockY, 1, 0, stream, args.array());
    }

    private void elementwise(String name, long n) {
        if (n > 0) {
            launch(name, (int) Math.min((n + BLOCK - 1) / BLOCK, maxElementwiseBlocks), 1, 1, BLOCK, 1);
        }
    }

    private void perRow(String name, int rows) {
        if (rows > 0) {
            launch(name, Math.min(rows, maxRowBlocks), 1, 1, ROW_THREADS, 1);
        }
    }

    private void perColumn(String name, int cols) {
        if (cols > 0) {
            launch(name, (cols + BLOCK - 1) / BLOCK, 1, 1, BLOCK, 1);
        }
    }

    // ---- elementwise.cu -------------------------------------------------------------------------

    public synchronized void axpby(long x, long y, float alpha, float beta, int n) {
        args().ptr(x).ptr(y).f32(alpha).f32(beta).i32(n);
        elementwise("axpby", n);
    }

    public synchronized void add(long a, long b, long out, int n) {
        args().ptr(a).ptr(b).ptr(out).i32(n);
        elementwise("add", n);
    }

    public synchronized void mul(long a, long b, long out, int n) {
        args().ptr(a).ptr(b).ptr(out).i32(n);
        elementwise("mul", n);
    }

    public synchronized void scale(long x, float alpha, long out, int n) {
        args().ptr(x).f32(alpha).ptr(out).i32(n);
        elementwise("scale", n);
    }

    public synchronized void addRowVector(long x, long bias, long out, int rows, int cols) {
        args().ptr(x).ptr(bias).ptr(out).i32(rows).i32(cols);
        elementwise("add_row_vector", (long) rows * cols);
    }

    public synchronized void relu(long x, long out, int n) {
        args().ptr(x).ptr(out).i32(n);
        elementwise("relu", n);
    }

    public synchronized void reluBackward(long x, long dy, long dx, int n) {
        args().ptr(x).ptr(dy).ptr(dx).i32(n);
        elementwise("relu_backward", n);
    }

    public synchronized void biasRelu(long x, long bias, long out, int rows, int cols) {
        args().ptr(x).ptr(bias).ptr(out).i32(rows).i32(cols);
        elementwise("bias_relu_forward", (long) rows * cols);
    }

    public synchronized void biasReluBackward(long out, long dy, long dx, int n) {
        args().ptr(out).ptr(dy).ptr(dx).i32(n);
        elementwise("bias_relu_backward", n);
    }

    public synchronized void gelu(long x, long out, int n) {
        args().ptr(x).ptr(out).i32(n);
        elementwise("gelu", n);
    }

    public synchronized void geluBackward(long x, long dy, long dx, int n) {
        args().ptr(x).ptr(dy).ptr(dx).i32(n);
        elementwise("gelu_backward", n);
    }

    public synchronized void biasGelu(long x, long bias, long pre, long out, int rows, int cols) {
        args().ptr(x).ptr(bias).ptr(pre).ptr(out).i32(rows).i32(cols);
        elementwise("bias_gelu_forward", (long) rows * cols);
    }

    /** {@code threshold = ceil(p · 2^24)}, {@code keepScale = 1 / (1 - p)}, as CpuBackend.dropout computes them. */
    public synchronized void dropout(long x, long seed, long threshold, float keepScale, long mask, long out, int n) {
        args().ptr(x).i64(seed).i64(threshold).f32(keepScale).ptr(mask).ptr(out).i32(n);
        elementwise("dropout", n);
    }

    /** out[b][c, r] = in[b][r, c] for {@code batch} row-major [rows, cols] matrices. */
    public synchronized void transpose(long in, long out, int rows, int cols, int batch) {
        if ((long) rows * cols * batch == 0) {
            return;
        }
        args().ptr(in).ptr(out).i32(rows).i32(cols);
        launch("transpose", (cols + 31) / 32, (rows + 31) / 32, batch, 32, 8);
    }

    /** out[i, i] = values[i] on a zero-filled n × n matrix. */
    public synchronized void setDiagonal(long values, long out, int n) {
        args().ptr(values).ptr(out).i32(n);
        elementwise("set_diagonal", n);
    }

    // ---- reductions.cu --------------------------------------------------------------------------

    public synchronized void biasGrad(long x, long out, int rows, int cols) {
        args().ptr(x).ptr(out).i32(rows).i32(cols);
        perColumn("bias_grad", cols);
    }

    /** Rows per partial sum of {@link #columnPartials}. */
    public static final int COLUMN_CHUNK = 64;

    /** Stage one of the two-stage column sums (mode 0: x; mode 1: layer-norm dγ and dβ); partials are doubles. */
    public synchronized void columnPartials(long x, long dy, long mean, long rstd, long partial, long partial2,
            int rows, int cols, int mode) {
        args().ptr(x).ptr(dy).ptr(mean).ptr(rstd).ptr(partial).ptr(partial2).i32(rows).i32(cols).i32(COLUMN_CHUNK)
                .i32(mode);
        elementwise("column_partials", (long) ((rows + COLUMN_CHUNK - 1) / COLUMN_CHUNK) * cols);
    }

    /** Stage two: out[j] (and out2[j] when not 0) = Σ over chunks, in order. */
    public synchronized void columnFinish(long partial, long partial2, long out, long out2, int chunks, int cols) {
        args().ptr(partial).ptr(partial2).ptr(out).ptr(out2).i32(chunks).i32(cols);
        elementwise("column_finish", cols);
    }

    public synchronized void sumCols(long x, long out, int rows, int cols) {
        args().ptr(x).ptr(out).i32(rows).i32(cols);
        perRow("sum_cols", rows);
    }

    /** Elements per partial sum of {@link #blockSums} (CpuBackend's block). */
    public static final int SUM_BLOCK = 4096;

    /** partial[b] = (squared) sum of block b; {@code ceil(n / 4096)} doubles. */
    public synchronized void blockSums(long x, long partial, int n, boolean squares) {
        int blocks = (n + SUM_BLOCK - 1) / SUM_BLOCK;
        args().ptr(x).ptr(partial).i32(n).i32(squares ? 1 : 0);
        if (blocks > 0) {
            launch("block_sums", Math.min(blocks, maxRowBlocks), 1, 1, ROW_THREADS, 1);
        }
    }

    public synchronized void sumPartials(long partial, long total, int count) {
        args().ptr(partial).ptr(total).i32(count);
        launch("sum_partials", 1, 1, 1, 1, 1);
    }

    public synchronized void argmaxRows(long x, long out, int rows, int cols) {
        args().ptr(x).ptr(out).i32(rows).i32(cols);
        perRow("argmax_rows", rows);
    }

    /** correct[0] += rows where argmax == label (int counters; zero it first). */
    public synchronized void countCorrect(long argmax, long labels, long correct, int rows) {
        args().ptr(argmax).ptr(labels).ptr(correct).i32(rows);
        elementwise("count_correct", rows);
    }

    // ---- softmax.cu -----------------------------------------------------------------------------

    public synchronized void softmaxRows(long x, long out, int rows, int cols, boolean log) {
        args().ptr(x).ptr(out).i32(rows).i32(cols).i32(log ? 1 : 0);
        perRow("softmax_rows", rows);
    }

    public synchronized void crossEntropyForward(long logits, long labels, float smoothing, long probs, long rowLoss,
            int rows, int cols) {
        args().ptr(logits).ptr(labels).f32(smoothing).ptr(probs).ptr(rowLoss).i32(rows).i32(cols);
        perRow("cross_entropy_forward", rows);
    }

    /** dLogits = s (probs - target), s = dy[0] / rows when dy is not 0, else {@code scale}. */
    public synchronized void crossEntropyBackward(long probs, long labels, float smoothing, float scale, long dy,
            long dLogits, int rows, int cols) {
        args().ptr(probs).ptr(labels).f32(smoothing).f32(scale).ptr(dy).ptr(dLogits).i32(rows).i32(cols);
        elementwise("cross_entropy_backward", (long) rows * cols);
    }

    /** loss[0] = (float) (Σ rowLoss[r] in row order / rows). */
    public synchronized void meanRowLoss(long rowLoss, long loss, int rows) {
        args().ptr(rowLoss).ptr(loss).i32(rows);
        launch("mean_row_loss", 1, 1, 1, 1, 1);
    }

    public synchronized void softmaxBackward(long y, long dy, long dx, int rows, int cols) {
        args().ptr(y).ptr(dy).ptr(dx).i32(rows).i32(cols);
        perRow("softmax_backward", rows);
    }

    /** See attention_softmax in softmax.cu; {@code keyMask} is a device byte array [batch, keys] or 0. */
    public synchronized void attentionSoftmax(long scores, long out, long keyMask, float scale, int rows, int keys,
            int queries, int heads, boolean causal) {
        args().ptr(scores).ptr(out).ptr(keyMask).f32(scale).i32(rows).i32(keys).i32(queries).i32(heads)
                .i32(causal ? 1 : 0);
        perRow("attention_softmax", rows);
    }

    public synchronized void attentionSoftmaxBackward(long y, long dy, long dScores, float scale, int rows, int keys) {
        args().ptr(y).ptr(dy).ptr(dScores).f32(scale).i32(rows).i32(keys);
        perRow("attention_softmax_backward", rows);
    }

    // ---- norm.cu --------------------------------------------------------------------------------

    public synchronized void layerNormForward(long x, long gamma, long beta, long y, long mean, long rstd, int rows,
            int cols, float eps) {
        args().ptr(x).ptr(gamma).ptr(beta).ptr(y).ptr(mean).ptr(rstd).i32(rows).i32(cols).f32(eps);
        perRow("layernorm_forward", rows);
    }

    public synchronized void layerNormBackward(long x, long gamma, long dy, long mean, long rstd, long dx, int rows,
            int cols) {
        args().ptr(x).ptr(gamma).ptr(dy).ptr(mean).ptr(rstd).ptr(dx).i32(rows).i32(cols);
        perRow("layernorm_backward", rows);
    }

    public synchronized void layerNormParamGrads(long x, long dy, long mean, long rstd, long dgamma, long dbeta,
            int rows, int cols) {
        args().ptr(x).ptr(dy).ptr(mean).ptr(rstd).ptr(dgamma).ptr(dbeta).i32(rows).i32(cols);
        perColumn("layernorm_param_grads", cols);
    }

    public synchronized void batchNormForward(long x, long gamma, long beta, long y, long mean, long invstd,
            long runningMean, long runningVar, int n, int channels, int hw, float eps, float momentum) {
        args().ptr(x).ptr(gamma).ptr(beta).ptr(y).ptr(mean).ptr(invstd).ptr(runningMean).ptr(runningVar).i32(n)
                .i32(channels).i32(hw).f32(eps).f32(momentum);
        perRow("batchnorm_forward", channels);
    }

    public synchronized void batchNormBackward(long x, long gamma, long dy, long mean, long invstd, long dx,
            long dgamma, long dbeta, int n, int channels, int hw) {
        args().ptr(x).ptr(gamma).ptr(dy).ptr(mean).ptr(invstd).ptr(dx).ptr(dgamma).ptr(dbeta).i32(n).i32(channels)
                .i32(hw);
        perRow("batchnorm_backward", channels);
    }

    // ---- optim.cu -------------------------------------------------------------------------------

    public synchronized void adamw(long p, long g, long m, long v, int n, float beta1, float beta2, float b1c,
            float b2c, float decay, float stepSize, float invSqrtBc2, float eps) {
        args().ptr(p).ptr(g).ptr(m).ptr(v).i32(n).f32(beta1).f32(beta2).f32(b1c).f32(b2c).f32(decay).f32(stepSize)
                .f32(invSqrtBc2).f32(eps);
        elementwise("adamw_step", n);
    }

    public synchronized void sgd(long p, long g, long buf, int n, float lr, float momentum, boolean nesterov,
            float weightDecay, boolean firstStep) {
        args().ptr(p).ptr(g).ptr(buf).i32(n).f32(lr).f32(momentum).i32(nesterov ? 1 : 0).f32(weightDecay)
                .i32(firstStep ? 1 : 0);
        elementwise("sgd_step", n);
    }

    // ---- conv.cu --------------------------------------------------------------------------------

    public synchronized void im2col(long x, long col, int channels, int height, int width, int kh, int kw, int stride,
            int pad, int dilation, int outH, int outW) {
        args().ptr(x).ptr(col).i32(channels).i32(height).i32(width).i32(kh).i32(kw).i32(stride).i32(pad).i32(dilation)
                .i32(outH).i32(outW);
        elementwise("im2col", (long) channels * kh * kw * outH * outW);
    }

    public synchronized void col2im(long col, long dx, int channels, int height, int width, int kh, int kw, int stride,
            int pad, int dilation, int outH, int outW) {
        args().ptr(col).ptr(dx).i32(channels).i32(height).i32(width).i32(kh).i32(kw).i32(stride).i32(pad).i32(dilation)
                .i32(outH).i32(outW);
        elementwise("col2im", (long) channels * height * width);
    }

    // ---- spatial.cu -----------------------------------------------------------------------------

    /** Sizes of one convolution, as the spatial kernels take them. */
    record ConvDims(int inChannels, int height, int width, int kh, int kw, int strideH, int strideW, int padH,
            int padW, int dilH, int dilW, int outH, int outW, int inPerGroup) {
    }

    private KernelArgs convArgs(long in, long out, ConvDims d, int image0, int images, int group) {
        return args().ptr(in).ptr(out).i32(d.inChannels()).i32(d.height()).i32(d.width()).i32(d.kh()).i32(d.kw())
                .i32(d.strideH()).i32(d.strideW()).i32(d.padH()).i32(d.padW()).i32(d.dilH()).i32(d.dilW())
                .i32(d.outH()).i32(d.outW()).i32(image0).i32(images).i32(group).i32(d.inPerGroup());
    }

    /** The SPI's im2col: the column matrix of images [image0, image0 + images) and one group. */
    public synchronized void im2colNchw(long x, long cols, ConvDims d, int image0, int images, int group) {
        convArgs(x, cols, d, image0, images, group);
        elementwise("im2col_nchw", (long) d.inPerGroup() * d.kh() * d.kw() * images * d.outH() * d.outW());
    }

    /** The SPI's col2im: adds the column matrix back onto dx. */
    public synchronized void col2imNchw(long cols, long dx, ConvDims d, int image0, int images, int group) {
        convArgs(cols, dx, d, image0, images, group);
        elementwise("col2im_nchw", (long) images * d.inPerGroup() * d.height() * d.width());
    }

    public synchronized void addChannelBias(long y, long bias, int n, int channels, int hw) {
        args().ptr(y).ptr(bias).i32(n).i32(channels).i32(hw);
        elementwise("add_channel_bias", (long) n * channels * hw);
    }

    /** mode 0 max, 1 average. */
    public synchronized void pool2d(long x, long y, int planes, int h, int w, int kh, int kw, int sh, int sw, int ph,
            int pw, int oh, int ow, int mode) {
        args().ptr(x).ptr(y).i32(planes).i32(h).i32(w).i32(kh).i32(kw).i32(sh).i32(sw).i32(ph).i32(pw).i32(oh).i32(ow)
                .i32(mode);
        elementwise("pool2d_forward", (long) planes * oh * ow);
    }

    /** mode 0 max ({@code x} needed), 1 average ({@code x} may be 0). */
    public synchronized void pool2dBackward(long x, long dy, long dx, int planes, int h, int w, int kh, int kw, int sh,
            int sw, int ph, int pw, int oh, int ow, int mode) {
        args().ptr(x).ptr(dy).ptr(dx).i32(planes).i32(h).i32(w).i32(kh).i32(kw).i32(sh).i32(sw).i32(ph).i32(pw)
                .i32(oh).i32(ow).i32(mode);
        elementwise("pool2d_backward", (long) planes * h * w);
    }

    public synchronized void globalAvgPool(long x, long y, int planes, int hw) {
        args().ptr(x).ptr(y).i32(planes).i32(hw);
        perRow("global_avg_pool", planes);
    }

    public synchronized void globalAvgPoolBackward(long dy, long dx, int planes, int hw) {
        args().ptr(dy).ptr(dx).i32(planes).i32(hw);
        elementwise("global_avg_pool_backward", (long) planes * hw);
    }

    /**
     * Slices per channel for the batch-norm kernels: enough (channel, slice) blocks for about four per
     * multiprocessor, each slice at least {@code minSliceElements} elements, at most {@code count} slices.
     */
    int batchNormSplits(long count, int channels, int minSliceElements) {
        long byWork = Math.max(1, count / Math.max(1, minSliceElements));
        long bySms = Math.max(1, (4L * multiprocessors + channels - 1) / channels);
        return (int) Math.max(1, Math.min(Math.min(byWork, bySms), Math.min(count, Integer.MAX_VALUE / Math.max(1, channels))));
    }

    /**
     * Batch norm forward (see spatial.cu); {@code sums} and {@code squares} are device scratch of
     * {@code channels · splits} doubles each, used in training only (0 in evaluation is fine).
     */
    public synchronized void batchNorm2d(long x, long gamma, long beta, long runMean, long runVar, boolean training,
            float momentum, float eps, long y, long saveMean, long saveInvStd, int n, int channels, int hw,
            long sums, long squares, int splits) {
        int blocks = Math.min(channels * splits, maxRowBlocks);
        if (training) {
            args().ptr(x).ptr(0L).ptr(sums).i32(n).i32(channels).i32(hw).i32(splits);
            launch("batchnorm2d_partials", blocks, 1, 1, ROW_THREADS, 1);
            args().ptr(x).ptr(sums).ptr(squares).i32(n).i32(channels).i32(hw).i32(splits);
            launch("batchnorm2d_partials", blocks, 1, 1, ROW_THREADS, 1);
        }
        args().ptr(x).ptr(gamma).ptr(beta).ptr(runMean).ptr(runVar).i32(training ? 1 : 0).f32(momentum).f32(eps)
                .ptr(y).ptr(saveMean).ptr(saveInvStd).ptr(training ? sums : 0L).ptr(training ? squares : 0L).i32(n)
                .i32(channels).i32(hw).i32(splits);
        launch("batchnorm2d_apply", blocks, 1, 1, ROW_THREADS, 1);
    }

    /** Batch norm backward (see spatial.cu); {@code sumDy}, {@code sumDyX}: scratch of channels · splits doubles. */
    public synchronized void batchNorm2dBackward(long x, long dy, long gamma, long saveMean, long saveInvStd,
            boolean training, long dx, long dGamma, long dBeta, int n, int channels, int hw, long sumDy, long sumDyX,
            int splits) {
        int blocks = Math.min(channels * splits, maxRowBlocks);
        args().ptr(x).ptr(dy).ptr(saveMean).ptr(sumDy).ptr(sumDyX).i32(n).i32(channels).i32(hw).i32(splits);
        launch("batchnorm2d_backward_partials", blocks, 1, 1, ROW_THREADS, 1);
        args().ptr(x).ptr(dy).ptr(gamma).ptr(saveMean).ptr(saveInvStd).i32(training ? 1 : 0).ptr(sumDy).ptr(sumDyX)
                .ptr(dx).ptr(dGamma).ptr(dBeta).i32(n).i32(channels).i32(hw).i32(splits);
        launch("batchnorm2d_backward_apply", blocks, 1, 1, ROW_THREADS, 1);
    }

    // ---- transformer.cu -------------------------------------------------------------------------

    /** In place: x += mask row (r % queries) (mask may be 0), then softmax per row. */
    public synchronized void maskedSoftmaxRows(long x, long mask, int rows, int cols, int queries) {
        args().ptr(x).ptr(mask).i32(rows).i32(cols).i32(Math.max(1, queries));
        perRow("masked_softmax_rows", rows);
    }

    /** In place: g = (g - rowsum(p ⊙ g)) ⊙ p. */
    public synchronized void softmaxBackwardInPlace(long p, long g, int rows, int cols) {
        args().ptr(p).ptr(g).i32(rows).i32(cols);
        perRow("softmax_backward_inplace", rows);
    }

    /**
     * out (contiguous, shape {@code dims}, at most 6 axes) = in[base + Σ idx_i · strides_i], offsets and strides
     * in elements.
     */
    public synchronized void stridedCopy(long in, long out, long base, int[] dims, long[] strides) {
        if (dims.length > 6 || strides.length != dims.length) {
            throw new IllegalArgumentException("stridedCopy takes at most 6 axes with one stride each, got "
                    + dims.length + " axes and " + strides.length + " strides");
        }
        int[] d = {1, 1, 1, 1, 1, 1};
        long[] s = new long[6];
        long total = 1;
        for (int i = 0; i < dims.length; i++) {
            d[6 - dims.length + i] = dims[i];
            s[6 - dims.length + i] = strides[i];
            total *= dims[i];
        }
        KernelArgs a = args().ptr(in).ptr(out).i64(base);
        for (int v : d) {
            a.i32(v);
        }
        for (long v : s) {
            a.i64(v);
        }
        elementwise("strided_copy", total);
    }

    public synchronized void addNarrowed(long src, long dst, int outer, int n, int len, int inner, int start) {
        args().ptr(src).ptr(dst).i32(outer).i32(n).i32(len).i32(inner).i32(start);
        elementwise("add_narrowed", (long) outer * len * inner);
    }

    public synchronized void dropPathMask(float p, long seed, float keep, long mask, int n) {
        args().f32(p).i64(seed).f32(keep).ptr(mask).i32(n);
        elementwise("drop_path_mask", n);
    }

    public synchronized void scaleSamples(long x, long scale, long out, int samples, int per) {
        args().ptr(x).ptr(scale).ptr(out).i32(samples).i32(per);
        elementwise("scale_samples", (long) samples * per);
    }
}
