// The convolution, pooling and batch-norm ops of the Backend SPI on NCHW tensors, written to match
// CpuConv (backend/CpuConv.java) operation for operation where the order is fixed: the pooling
// kernels and their gradients are bit for bit, batch-norm statistics are summed in double in another
// order (float rounding).
#include "common.cuh"

// cols (patchSize x images * outH * outW) of images [image0, image0 + images), group `group`:
// row (c, ki, kj) with c the channel inside the group, column (image, oh, ow); padding reads 0.
extern "C" __global__ void im2col_nchw(const float* __restrict__ x, float* __restrict__ cols, int inChannels,
                                       int height, int width, int kh, int kw, int strideH, int strideW, int padH,
                                       int padW, int dilH, int dilW, int outH, int outW, int image0, int images,
                                       int group, int inPerGroup) {
    const long long ohw = (long long)outH * outW;
    const long long ld = images * ohw;
    const long long total = (long long)inPerGroup * kh * kw * ld;
    GRID_STRIDE_LOOP(i, total) {
        const long long col = i % ld, row = i / ld;
        const int im = (int)(col / ohw);
        const int oy = (int)(col % ohw / outW), ox = (int)(col % outW);
        const int kj = (int)(row % kw), ki = (int)(row / kw % kh), c = (int)(row / ((long long)kw * kh));
        const int iy = oy * strideH - padH + ki * dilH, ix = ox * strideW - padW + kj * dilW;
        const long long plane = ((long long)(image0 + im) * inChannels + (long long)group * inPerGroup + c) * height;
        cols[i] = (iy >= 0 && iy < height && ix >= 0 && ix < width) ? x[(plane + iy) * width + ix] : 0.0f;
    }
}

// The adjoint of im2col_nchw: dx[n, c, iy, ix] += the column entries copied from there, gathered by
// one thread per input element of the images and group (no atomics), taps in (ki, kj) order.
extern "C" __global__ void col2im_nchw(const float* __restrict__ cols, float* __restrict__ dx, int inChannels,
                                       int height, int width, int kh, int kw, int strideH, int strideW, int padH,
                                       int padW, int dilH, int dilW, int outH, int outW, int image0, int images,
                                       int group, int inPerGroup) {
    const long long ohw = (long long)outH * outW;
    const long long ld = images * ohw;
    const long long total = (long long)images * inPerGroup * height * width;
    GRID_STRIDE_LOOP(i, total) {
        const int ix = (int)(i % width), iy = (int)(i / width % height);
        const int c = (int)(i / ((long long)width * height) % inPerGroup);
        const int im = (int)(i / ((long long)width * height * inPerGroup));
        float acc = 0.0f;
        for (int ki = 0; ki < kh; ki++) {
            const int ty = iy + padH - ki * dilH;
            if (ty < 0 || ty % strideH != 0) continue;
            const int oy = ty / strideH;
            if (oy >= outH) continue;
            for (int kj = 0; kj < kw; kj++) {
                const int tx = ix + padW - kj * dilW;
                if (tx < 0 || tx % strideW != 0) continue;
                const int ox = tx / strideW;
                if (ox >= outW) continue;
                const long long row = ((long long)c * kh + ki) * kw + kj;
                acc += cols[row * ld + im * ohw + (long long)oy * outW + ox];
            }
        }
        const long long at = (((long long)(image0 + im) * inChannels + (long long)group * inPerGroup + c) * height + iy)
                * width + ix;
        dx[at] += acc;
    }
}

// y[n, c, :] += bias[c] on [n, channels, hw].
extern "C" __global__ void add_channel_bias(float* __restrict__ y, const float* __restrict__ bias, int n,
                                            int channels, int hw) {
    GRID_STRIDE_LOOP(i, (long long)n * channels * hw) { y[i] += bias[i / hw % channels]; }
}

// Offset inside the plane of the first maximum (scan order) of window (i, j); padding is skipped,
// a NaN wins over a number (CpuConv.argmax).
__device__ inline int pool_argmax(const float* __restrict__ x, int h, int w, int kh, int kw, int sh, int sw, int ph,
                                  int pw, int i, int j) {
    const int h0 = i * sh - ph, w0 = j * sw - pw;
    int best = -1;
    float bv = -INFINITY;
    for (int a = max(0, h0); a < min(h, h0 + kh); a++) {
        for (int b = max(0, w0); b < min(w, w0 + kw); b++) {
            const int off = a * w + b;
            const float v = x[off];
            if (best < 0 || v > bv || (isnan(v) && !isnan(bv))) {
                bv = v;
                best = off;
            }
        }
    }
    return best;
}

// mode 0: max pooling, mode 1: average pooling (divisor kh * kw). One thread per output.
extern "C" __global__ void pool2d_forward(const float* __restrict__ x, float* __restrict__ y, int planes, int h,
                                          int w, int kh, int kw, int sh, int sw, int ph, int pw, int oh, int ow,
                                          int mode) {
    const float inv = 1.0f / (kh * kw);
    GRID_STRIDE_LOOP(o, (long long)planes * oh * ow) {
        const int j = (int)(o % ow), i = (int)(o / ow % oh);
        const float* px = x + o / ((long long)oh * ow) * h * w;
        if (mode == 0) {
            y[o] = px[pool_argmax(px, h, w, kh, kw, sh, sw, ph, pw, i, j)];
        } else {
            const int h0 = i * sh - ph, w0 = j * sw - pw;
            float s = 0.0f;
            for (int a = max(0, h0); a < min(h, h0 + kh); a++)
                for (int b = max(0, w0); b < min(w, w0 + kw); b++) s += px[a * w + b];
            y[o] = s * inv;
        }
    }
}

// dx (overwritten) of pool2d_forward, one thread per input element, gathering the windows that
// contain it in output scan order (the order CpuConv adds them in, so the sums are the same bits).
extern "C" __global__ void pool2d_backward(const float* __restrict__ x, const float* __restrict__ dy,
                                           float* __restrict__ dx, int planes, int h, int w, int kh, int kw, int sh,
                                           int sw, int ph, int pw, int oh, int ow, int mode) {
    const float inv = 1.0f / (kh * kw);
    GRID_STRIDE_LOOP(e, (long long)planes * h * w) {
        const int b = (int)(e % w), a = (int)(e / w % h);
        const long long p = e / ((long long)h * w);
        const float* px = x == nullptr ? nullptr : x + p * h * w;
        const float* pdy = dy + p * oh * ow;
        const int self = a * w + b;
        // Windows i with i * sh - ph <= a < i * sh - ph + kh.
        const int ti = a + ph - kh, tj = b + pw - kw;
        const int iLo = ti < 0 ? 0 : ti / sh + 1, iHi = min(oh - 1, (a + ph) / sh);
        const int jLo = tj < 0 ? 0 : tj / sw + 1, jHi = min(ow - 1, (b + pw) / sw);
        float acc = 0.0f;
        for (int i = iLo; i <= iHi; i++) {
            const int h0 = i * sh - ph;
            if (a < h0 || a >= h0 + kh) continue;
            for (int j = jLo; j <= jHi; j++) {
                const int w0 = j * sw - pw;
                if (b < w0 || b >= w0 + kw) continue;
                if (mode == 0) {
                    if (pool_argmax(px, h, w, kh, kw, sh, sw, ph, pw, i, j) == self) acc += pdy[i * ow + j];
                } else {
                    acc += pdy[i * ow + j] * inv;
                }
            }
        }
        dx[e] = acc;
    }
}

// y[p] = mean of plane p (hw elements), summed in double. One block per plane.
extern "C" __global__ void global_avg_pool(const float* __restrict__ x, float* __restrict__ y, int planes, int hw) {
    __shared__ double scratch[ROW_THREADS / 32];
    for (int p = blockIdx.x; p < planes; p += gridDim.x) {
        double s = 0.0;
        for (int k = threadIdx.x; k < hw; k += blockDim.x) s += x[(long long)p * hw + k];
        s = block_sum_double(s, scratch);
        if (threadIdx.x == 0) y[p] = (float)(s / hw);
    }
}

// dx[p, :] = dy[p] / hw.
extern "C" __global__ void global_avg_pool_backward(const float* __restrict__ dy, float* __restrict__ dx,
                                                    int planes, int hw) {
    GRID_STRIDE_LOOP(i, (long long)planes * hw) { dx[i] = dy[i / hw] / hw; }
}

// Batch norm over x [N, C, HW] as CpuConv.batchNorm, in (channel, slice) blocks so that a layer with
// few channels still fills the device: block b = c * splits + s covers the elements
// [s * count / splits, (s + 1) * count / splits) of channel c, count = N * HW, element e of a channel
// sitting at image e / hw, position e % hw. Each stage writes one double partial per block; the next
// stage adds a channel's partials in slice order, so the result does not depend on the grid.
//
// Training: batchnorm2d_partials twice (sum of x, then the sum of squared deviations from the mean
// the second pass rebuilds from the first pass's partials), then batchnorm2d_apply. Evaluation:
// batchnorm2d_apply alone, on the running statistics.

// Calls f(i) for the flat index i of every element of block (c, s)'s slice that this thread owns
// (a block-stride walk without a division per element).
template <typename F>
__device__ inline void bn_slice(int c, int s, int splits, int channels, int hw, long long count, F f) {
    const long long from = count * s / splits, to = count * (s + 1) / splits;
    long long e = from + threadIdx.x;
    if (e >= to) return;
    long long image = e / hw;
    int k = (int)(e - image * hw);
    const long long imageStep = blockDim.x / hw;
    const int kStep = blockDim.x % hw;
    for (; e < to; e += blockDim.x) {
        f((image * channels + c) * hw + k);
        image += imageStep;
        k += kStep;
        if (k >= hw) {
            k -= hw;
            image++;
        }
    }
}

// Sum of channel c's partials, in slice order.
__device__ inline double bn_channel_total(const double* __restrict__ partial, int c, int splits) {
    double t = 0.0;
    for (int j = 0; j < splits; j++) t += partial[(long long)c * splits + j];
    return t;
}

// out[b] = Σ x over block b's slice when sums == nullptr; otherwise Σ (x - (float) mean)^2 with
// mean = (Σ over sums' partials of the channel) / count.
extern "C" __global__ void batchnorm2d_partials(const float* __restrict__ x, const double* __restrict__ sums,
                                                double* __restrict__ out, int n, int channels, int hw,
                                                int splits) {
    __shared__ double scratch[ROW_THREADS / 32];
    const long long count = (long long)n * hw;
    for (int b = blockIdx.x; b < channels * splits; b += gridDim.x) {
        const int c = b / splits, s = b % splits;
        double acc = 0.0;
        if (sums == nullptr) {
            bn_slice(c, s, splits, channels, hw, count, [&](long long i) { acc += x[i]; });
        } else {
            const float meanF = (float)(bn_channel_total(sums, c, splits) / count);
            bn_slice(c, s, splits, channels, hw, count, [&](long long i) {
                const float d = x[i] - meanF;
                acc += (double)d * d;
            });
        }
        acc = block_sum_double(acc, scratch);
        if (threadIdx.x == 0) out[b] = acc;
    }
}

// y = x * scale + shift (one fused multiply-add, as the CPU's vector body), scale = (float)(gamma *
// invStd), shift = (float)(beta - mean * gamma * invStd), on the batch statistics of the two
// partials arrays in training (and the running statistics moved toward the mean and the unbiased
// variance, by the channel's slice-0 block), on the running statistics in evaluation (the partials
// are then unused and may be null).
extern "C" __global__ void batchnorm2d_apply(const float* __restrict__ x, const float* __restrict__ gamma,
                                             const float* __restrict__ beta, float* runMean, float* runVar,
                                             int training, float momentum, float eps, float* __restrict__ y,
                                             float* __restrict__ saveMean, float* __restrict__ saveInvStd,
                                             const double* __restrict__ sums, const double* __restrict__ squares,
                                             int n, int channels, int hw, int splits) {
    const long long count = (long long)n * hw;
    for (int b = blockIdx.x; b < channels * splits; b += gridDim.x) {
        const int c = b / splits, s = b % splits;
        double mean, var;
        if (training) {
            mean = bn_channel_total(sums, c, splits) / count;
            var = bn_channel_total(squares, c, splits) / count;
        } else {
            mean = runMean[c];
            var = runVar[c];
        }
        const double invStd = 1.0 / sqrt(var + (double)eps);
        const float scale = (float)(gamma[c] * invStd);
        const float shift = (float)(beta[c] - mean * gamma[c] * invStd);
        bn_slice(c, s, splits, channels, hw, count, [&](long long i) { y[i] = fmaf(x[i], scale, shift); });
        if (s == 0 && threadIdx.x == 0) {
            if (training) {
                const double unbiased = count > 1 ? var * count / (count - 1) : var;
                runMean[c] = (float)((1.0 - momentum) * runMean[c] + momentum * mean);
                runVar[c] = (float)((1.0 - momentum) * runVar[c] + momentum * unbiased);
            }
            saveMean[c] = (float)mean;
            saveInvStd[c] = (float)invStd;
        }
    }
}

// Stage one of the batch-norm gradients: sumDy[b] = Σ dy and sumDyX[b] = Σ dy (x - mean) over block
// b's slice (mean as saved by the forward pass, subtracted in float as the CPU does).
extern "C" __global__ void batchnorm2d_backward_partials(const float* __restrict__ x, const float* __restrict__ dy,
                                                         const float* __restrict__ saveMean,
                                                         double* __restrict__ sumDy, double* __restrict__ sumDyX,
                                                         int n, int channels, int hw, int splits) {
    __shared__ double scratch[ROW_THREADS / 32];
    const long long count = (long long)n * hw;
    for (int b = blockIdx.x; b < channels * splits; b += gridDim.x) {
        const int c = b / splits, s = b % splits;
        const float meanF = saveMean[c];
        double sdy = 0.0, sdyx = 0.0;
        bn_slice(c, s, splits, channels, hw, count, [&](long long i) {
            sdy += dy[i];
            sdyx += (double)dy[i] * (double)(x[i] - meanF);
        });
        sdy = block_sum_double(sdy, scratch);
        sdyx = block_sum_double(sdyx, scratch);
        if (threadIdx.x == 0) {
            sumDy[b] = sdy;
            sumDyX[b] = sdyx;
        }
    }
}

// Stage two, as CpuConv.batchNormBackward: dGamma = invStd Σ dy (x - mean), dBeta = Σ dy (written by
// the slice-0 block); dx (nullable) = a dy + (x b + shift) with a = gamma invStd and, in training,
// b = -gamma invStd^2 mean(dy xhat), shift = -gamma invStd mean(dy) + gamma invStd^2 mean(dy xhat) mean.
extern "C" __global__ void batchnorm2d_backward_apply(const float* __restrict__ x, const float* __restrict__ dy,
                                                      const float* __restrict__ gamma,
                                                      const float* __restrict__ saveMean,
                                                      const float* __restrict__ saveInvStd, int training,
                                                      const double* __restrict__ sumDy,
                                                      const double* __restrict__ sumDyX, float* __restrict__ dx,
                                                      float* __restrict__ dGamma, float* __restrict__ dBeta, int n,
                                                      int channels, int hw, int splits) {
    const long long count = (long long)n * hw;
    for (int b = blockIdx.x; b < channels * splits; b += gridDim.x) {
        const int c = b / splits, s = b % splits;
        const double mean = saveMean[c], invStd = saveInvStd[c];
        const double sdy = bn_channel_total(sumDy, c, splits);
        const double dg = bn_channel_total(sumDyX, c, splits) * invStd;
        if (s == 0 && threadIdx.x == 0) {
            dGamma[c] = (float)dg;
            dBeta[c] = (float)sdy;
        }
        if (dx == nullptr) continue;
        const double gi = gamma[c] * invStd;
        const double mdy = sdy / count, mdyx = dg / count;
        const float a = (float)gi;
        const float bx = training ? (float)(-gi * invStd * mdyx) : 0.0f;
        const float shift = training ? (float)(-gi * mdy + gi * invStd * mdyx * mean) : 0.0f;
        bn_slice(c, s, splits, channels, hw, count, [&](long long i) { dx[i] = dy[i] * a + fmaf(x[i], bx, shift); });
    }
}
