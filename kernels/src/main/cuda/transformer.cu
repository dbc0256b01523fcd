// The transformer ops of the Backend SPI that are not GEMMs (those go to cuBLAS): the attention
// softmax with an additive mask and its backward, axis permutation, token slices, and the
// per-sample stochastic-depth scale. Written after CpuAttention (backend/CpuAttention.java).
#include "common.cuh"

// CpuAttention.expNonPositive, the same operations in the same order (explicit fmaf; the build's
// --fmad=false keeps the plain products separate), so the exponentials are the CPU's bits.
__device__ inline float exp_non_positive(float x) {
    if (x < -87.3f) return 0.0f;
    const float n = x * 1.44269504088896341f + 12582912.0f - 12582912.0f;
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float y = fmaf(r, 1.9875691500e-4f, 1.3981999507e-3f);
    y = fmaf(y, r, 8.3334519073e-3f);
    y = fmaf(y, r, 4.1665795894e-2f);
    y = fmaf(y, r, 1.6666665459e-1f);
    y = fmaf(y, r, 5.0000001201e-1f);
    y = fmaf(y, r * r, r + 1.0f);
    return y * __int_as_float(((int)n + 127) << 23);
}

// In place, per row of [rows, cols]: x += mask row (r % queries) when mask is not null, then the
// stable softmax: max in float, exponentials as the CPU, z summed in double, x = e * (float)(1 / z).
extern "C" __global__ void masked_softmax_rows(float* __restrict__ x, const float* __restrict__ mask, int rows,
                                               int cols, int queries) {
    __shared__ double dscratch[ROW_THREADS / 32];
    __shared__ float fscratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        float* row = x + (long long)r * cols;
        const float* m = mask == nullptr ? nullptr : mask + (long long)(r % queries) * cols;
        float mx = -INFINITY;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            const float v = m == nullptr ? row[j] : row[j] + m[j];
            row[j] = v;
            mx = fmaxf(mx, v);
        }
        mx = block_max_float(mx, fscratch);
        double z = 0.0;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            const float e = exp_non_positive(row[j] - mx);
            row[j] = e;
            z += e;
        }
        z = block_sum_double(z, dscratch);
        const float inv = (float)(1.0 / z);
        for (int j = threadIdx.x; j < cols; j += blockDim.x) row[j] *= inv;
    }
}

// In place on the score gradient g (rows of cols): g = (g - dot) * p with dot = sum_j p_j g_j in
// double, rounded to float (CpuAttention.softmaxBackwardRow).
extern "C" __global__ void softmax_backward_inplace(const float* __restrict__ p, float* __restrict__ g, int rows,
                                                    int cols) {
    __shared__ double dscratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long off = (long long)r * cols;
        double dot = 0.0;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) dot += p[off + j] * g[off + j];
        const float d = (float)block_sum_double(dot, dscratch);
        for (int j = threadIdx.x; j < cols; j += blockDim.x) g[off + j] = (g[off + j] - d) * p[off + j];
    }
}

// out (contiguous, dims d0..d5, unused leading dims 1) = in[base + sum_i idx_i * s_i]: axis
// permutation, token slices and the strided gathers of the convolution.
extern "C" __global__ void strided_copy(const float* __restrict__ in, float* __restrict__ out, long long base,
                                        int d0, int d1, int d2, int d3, int d4, int d5, long long s0, long long s1,
                                        long long s2, long long s3, long long s4, long long s5) {
    const long long total = (long long)d0 * d1 * d2 * d3 * d4 * d5;
    GRID_STRIDE_LOOP(i, total) {
        long long rem = i;
        long long src = base;
        src += rem % d5 * s5; rem /= d5;
        src += rem % d4 * s4; rem /= d4;
        src += rem % d3 * s3; rem /= d3;
        src += rem % d2 * s2; rem /= d2;
        src += rem % d1 * s1; rem /= d1;
        src += rem * s0;
        out[i] = in[src];
    }
}

// dst[:, start : start + len, :] += src on (outer, n, inner) / (outer, len, inner).
extern "C" __global__ void add_narrowed(const float* __restrict__ src, float* __restrict__ dst, int outer, int n,
                                        int len, int inner, int start) {
    const long long w = (long long)len * inner;
    GRID_STRIDE_LOOP(i, (long long)outer * w) {
        const long long o = i / w, j = i % w;
        dst[(o * n + start) * inner + j] += src[i];
    }
}

// mask[b] = keep when CounterRandom.uniform(seed, b) >= p else 0 (the same SplitMix64 draw).
extern "C" __global__ void drop_path_mask(float p, unsigned long long seed, float keep, float* __restrict__ mask,
                                          int n) {
    GRID_STRIDE_LOOP(i, n) {
        unsigned long long z = seed + (unsigned long long)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z = z ^ (z >> 31);
        const float u = (float)(z >> 40) * 0x1.0p-24f;
        mask[i] = u >= p ? keep : 0.0f;
    }
}

// out[i] = x[i] * scale[i / per] (out may alias x).
extern "C" __global__ void scale_samples(const float* x, const float* __restrict__ scale, float* out, int samples,
                                         int per) {
    GRID_STRIDE_LOOP(i, (long long)samples * per) { out[i] = x[i] * scale[i / per]; }
}
