// LayerNorm (over the last dimension) and BatchNorm (over N, H, W per channel of NCHW), forward
// and backward, with statistics in double. Variances are biased (divide by the count), as in
// training-mode normalisation; rstd = 1 / sqrt(var + eps).
#include "common.cuh"

// y = (x - mean) * rstd * gamma + beta per row of [rows, cols]; saves mean and rstd per row.
// gamma and beta are nullable (no affine transform). One block per row.
extern "C" __global__ void layernorm_forward(const float* __restrict__ x, const float* __restrict__ gamma,
                                             const float* __restrict__ beta, float* __restrict__ y,
                                             float* __restrict__ mean, float* __restrict__ rstd, int rows, int cols,
                                             float eps) {
    __shared__ double scratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long off = (long long)r * cols;
        double s = 0.0;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) s += x[off + j];
        const double mu = block_sum_double(s, scratch) / cols;
        double v = 0.0;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            const double d = x[off + j] - mu;
            v += d * d;
        }
        const double var = block_sum_double(v, scratch) / cols;
        const float rs = (float)(1.0 / sqrt(var + (double)eps));
        const float m = (float)mu;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            float h = (x[off + j] - m) * rs;
            if (gamma != nullptr) h = h * gamma[j];
            if (beta != nullptr) h = h + beta[j];
            y[off + j] = h;
        }
        if (threadIdx.x == 0) {
            mean[r] = m;
            rstd[r] = rs;
        }
    }
}

// dx = rstd * (g - mean_j(g) - xhat * mean_j(g * xhat)) with g = dy * gamma, xhat = (x - mean) * rstd.
// dgamma / dbeta are column sums of dy * xhat and dy: layernorm_param_grads.
extern "C" __global__ void layernorm_backward(const float* __restrict__ x, const float* __restrict__ gamma,
                                              const float* __restrict__ dy, const float* __restrict__ mean,
                                              const float* __restrict__ rstd, float* __restrict__ dx, int rows,
                                              int cols) {
    __shared__ double scratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long off = (long long)r * cols;
        const float m = mean[r], rs = rstd[r];
        double sg = 0.0, sgx = 0.0;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            const float g = gamma != nullptr ? dy[off + j] * gamma[j] : dy[off + j];
            const float xh = (x[off + j] - m) * rs;
            sg += g;
            sgx += (double)g * xh;
        }
        const float mg = (float)(block_sum_double(sg, scratch) / cols);
        const float mgx = (float)(block_sum_double(sgx, scratch) / cols);
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            const float g = gamma != nullptr ? dy[off + j] * gamma[j] : dy[off + j];
            const float xh = (x[off + j] - m) * rs;
            dx[off + j] = rs * (g - mg - xh * mgx);
        }
    }
}

// dgamma[j] = sum_r dy[r, j] * xhat[r, j], dbeta[j] = sum_r dy[r, j] (either output nullable).
// One thread per column, rows in order (deterministic).
extern "C" __global__ void layernorm_param_grads(const float* __restrict__ x, const float* __restrict__ dy,
                                                 const float* __restrict__ mean, const float* __restrict__ rstd,
                                                 float* __restrict__ dgamma, float* __restrict__ dbeta, int rows,
                                                 int cols) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += blockDim.x * gridDim.x) {
        double gg = 0.0, gb = 0.0;
        for (int r = 0; r < rows; r++) {
            const long long i = (long long)r * cols + j;
            const float xh = (x[i] - mean[r]) * rstd[r];
            gg += (double)dy[i] * xh;
            gb += dy[i];
        }
        if (dgamma != nullptr) dgamma[j] = (float)gg;
        if (dbeta != nullptr) dbeta[j] = (float)gb;
    }
}

// BatchNorm in training mode on NCHW (hw = H * W; hw = 1 for [N, C] inputs): per channel c the
// mean and biased variance over N * hw values; y = (x - mean) * invstd * gamma + beta. Saves
// mean and invstd, and updates the running statistics when runningMean is not null:
//   running = (1 - momentum) * running + momentum * batch   (running var uses the unbiased var).
// One block per channel.
extern "C" __global__ void batchnorm_forward(const float* __restrict__ x, const float* __restrict__ gamma,
                                             const float* __restrict__ beta, float* __restrict__ y,
                                             float* __restrict__ mean, float* __restrict__ invstd,
                                             float* runningMean, float* runningVar, int n, int channels, int hw,
                                             float eps, float momentum) {
    __shared__ double scratch[ROW_THREADS / 32];
    const long long count = (long long)n * hw;
    for (int c = blockIdx.x; c < channels; c += gridDim.x) {
        double s = 0.0;
        for (long long k = threadIdx.x; k < count; k += blockDim.x) {
            const long long i = (k / hw * channels + c) * hw + k % hw;
            s += x[i];
        }
        const double mu = block_sum_double(s, scratch) / count;
        double v = 0.0;
        for (long long k = threadIdx.x; k < count; k += blockDim.x) {
            const double d = x[(k / hw * channels + c) * hw + k % hw] - mu;
            v += d * d;
        }
        const double var = block_sum_double(v, scratch) / count;
        const float is = (float)(1.0 / sqrt(var + (double)eps));
        const float m = (float)mu;
        const float g = gamma != nullptr ? gamma[c] : 1.0f;
        const float b = beta != nullptr ? beta[c] : 0.0f;
        for (long long k = threadIdx.x; k < count; k += blockDim.x) {
            const long long i = (k / hw * channels + c) * hw + k % hw;
            y[i] = (x[i] - m) * is * g + b;
        }
        if (threadIdx.x == 0) {
            mean[c] = m;
            invstd[c] = is;
            if (runningMean != nullptr) {
                const double unbiased = count > 1 ? var * count / (count - 1) : var;
                runningMean[c] = (float)((1.0 - momentum) * runningMean[c] + momentum * mu);
                runningVar[c] = (float)((1.0 - momentum) * runningVar[c] + momentum * unbiased);
            }
        }
    }
}

// BatchNorm backward (training mode): with xhat = (x - mean) * invstd and the per-channel sums
// dbeta = sum dy, dgamma = sum dy * xhat,
//   dx = gamma * invstd * (dy - dbeta / count - xhat * dgamma / count).
// Writes dgamma and dbeta (nullable). One block per channel.
extern "C" __global__ void batchnorm_backward(const float* __restrict__ x, const float* __restrict__ gamma,
                                              const float* __restrict__ dy, const float* __restrict__ mean,
                                              const float* __restrict__ invstd, float* __restrict__ dx,
                                              float* __restrict__ dgamma, float* __restrict__ dbeta, int n,
                                              int channels, int hw) {
    __shared__ double scratch[ROW_THREADS / 32];
    const long long count = (long long)n * hw;
    for (int c = blockIdx.x; c < channels; c += gridDim.x) {
        const float m = mean[c], is = invstd[c];
        double sb = 0.0, sg = 0.0;
        for (long long k = threadIdx.x; k < count; k += blockDim.x) {
            const long long i = (k / hw * channels + c) * hw + k % hw;
            const float xh = (x[i] - m) * is;
            sb += dy[i];
            sg += (double)dy[i] * xh;
        }
        sb = block_sum_double(sb, scratch);
        sg = block_sum_double(sg, scratch);
        const float g = gamma != nullptr ? gamma[c] : 1.0f;
        const float mb = (float)(sb / count), mgx = (float)(sg / count);
        for (long long k = threadIdx.x; k < count; k += blockDim.x) {
            const long long i = (k / hw * channels + c) * hw + k % hw;
            const float xh = (x[i] - m) * is;
            dx[i] = g * is * (dy[i] - mb - xh * mgx);
        }
        if (threadIdx.x == 0) {
            if (dgamma != nullptr) dgamma[c] = (float)sg;
            if (dbeta != nullptr) dbeta[c] = (float)sb;
        }
    }
}
