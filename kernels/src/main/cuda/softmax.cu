// Row softmax, log-softmax, cross-entropy with label smoothing, attention softmax. One block of
// ROW_THREADS threads per row; the max is taken in float, the normaliser z in double, like
// CpuBackend (which sums sequentially: the two agree to float rounding, not bit for bit).
#include "common.cuh"

// out = softmax(x) or log-softmax(x) per row. CPU: Backend.softmaxRows / logSoftmaxRows:
//   softmax:  out = (float) exp(x - max) * (float) (1 / z)
//   log:      out = (float) ((x - max) - log z)        (x - max in float, the rest in double)
extern "C" __global__ void softmax_rows(const float* __restrict__ x, float* __restrict__ out, int rows,
                                        int cols, int logOut) {
    __shared__ double dscratch[ROW_THREADS / 32];
    __shared__ float fscratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* row = x + (long long)r * cols;
        float* orow = out + (long long)r * cols;
        float mx = -INFINITY;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) mx = fmaxf(mx, row[j]);
        mx = block_max_float(mx, fscratch);
        double z = 0.0;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) z += exp((double)(row[j] - mx));
        z = block_sum_double(z, dscratch);
        if (logOut) {
            const double logZ = log(z);
            for (int j = threadIdx.x; j < cols; j += blockDim.x) orow[j] = (float)((double)(row[j] - mx) - logZ);
        } else {
            const float inv = (float)(1.0 / z);
            for (int j = threadIdx.x; j < cols; j += blockDim.x) orow[j] = (float)exp((double)(row[j] - mx)) * inv;
        }
    }
}

// Cross-entropy with label smoothing eps, per row (CPU: Backend.crossEntropy):
//   nll = -((x[label] - max) - log z),  uniform = -(sum_j (x_j - max) / cols - log z),
//   rowLoss = (1 - eps) nll + eps uniform  (double),  probs = (float) (exp(x - max) / z).
// The mean over rows is formed on the host from rowLoss, in row order like the CPU.
extern "C" __global__ void cross_entropy_forward(const float* __restrict__ logits, const int* __restrict__ labels,
                                                 float smoothing, float* __restrict__ probs,
                                                 double* __restrict__ rowLoss, int rows, int cols) {
    __shared__ double dscratch[ROW_THREADS / 32];
    __shared__ float fscratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* row = logits + (long long)r * cols;
        float* prow = probs + (long long)r * cols;
        float mx = -INFINITY;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) mx = fmaxf(mx, row[j]);
        mx = block_max_float(mx, fscratch);
        double z = 0.0, shifted = 0.0;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            const double s = (double)(row[j] - mx);
            z += exp(s);
            shifted += s;
        }
        z = block_sum_double(z, dscratch);
        shifted = block_sum_double(shifted, dscratch);
        const double logZ = log(z);
        if (threadIdx.x == 0) {
            const double nll = -((double)(row[labels[r]] - mx) - logZ);
            const double uniform = -(shifted / cols - logZ);
            rowLoss[r] = (1.0 - (double)smoothing) * nll + (double)smoothing * uniform;
        }
        const double inv = 1.0 / z;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) prow[j] = (float)(exp((double)(row[j] - mx)) * inv);
    }
}

// loss[0] = (float)(sum of rowLoss in row order / rows), the mean cross_entropy_forward's caller
// reports (CpuBackend adds the rows in the same order). One block of one thread.
extern "C" __global__ void mean_row_loss(const double* __restrict__ rowLoss, float* __restrict__ loss, int rows) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double total = 0.0;
        for (int r = 0; r < rows; r++) total += rowLoss[r];
        loss[0] = (float)(total / rows);
    }
}

// dLogits = scale * (probs - target), target = eps / cols + (j == label ? 1 - eps : 0), in float
// exactly as CpuBackend.crossEntropyBackward (bit-identical).
// With dy != nullptr the scale is dy[0] / rows (float), read on the device: the loss's upstream gradient.
extern "C" __global__ void cross_entropy_backward(const float* __restrict__ probs, const int* __restrict__ labels,
                                                  float smoothing, float scale, const float* __restrict__ dy,
                                                  float* __restrict__ dLogits, int rows, int cols) {
    if (dy != nullptr) scale = dy[0] / (float)rows;
    const float off = smoothing / (float)cols;
    GRID_STRIDE_LOOP(i, (long long)rows * cols) {
        const int r = (int)(i / cols), j = (int)(i % cols);
        const float target = off + (j == labels[r] ? 1.0f - smoothing : 0.0f);
        dLogits[i] = scale * (probs[i] - target);
    }
}

// dx = y * (dy - sum_j dy_j y_j) per row: the softmax backward given the forward output y.
extern "C" __global__ void softmax_backward(const float* __restrict__ y, const float* __restrict__ dy,
                                            float* __restrict__ dx, int rows, int cols) {
    __shared__ double dscratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long off = (long long)r * cols;
        double dot = 0.0;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) dot += (double)dy[off + j] * y[off + j];
        dot = block_sum_double(dot, dscratch);
        const float d = (float)dot;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) dx[off + j] = y[off + j] * (dy[off + j] - d);
    }
}

// Attention probabilities: out[r, j] = softmax_j(scale * scores[r, j]) over the keys that row r
// may see. scores is [batch * heads * queries, keys] row-major. With causal != 0, query q
// (= r % queries) sees keys j <= q + (keys - queries) (the usual alignment when the keys include
// a prefix). keyMask (nullable) is [batch, keys], 0 = padding: key j of batch b = r / (heads *
// queries) is hidden when keyMask[b * keys + j] == 0. Hidden entries get probability 0; a row
// with every key hidden gets all zeros rather than NaN.
extern "C" __global__ void attention_softmax(const float* __restrict__ scores, float* __restrict__ out,
                                             const unsigned char* __restrict__ keyMask, float scale, int rows,
                                             int keys, int queries, int heads, int causal) {
    __shared__ double dscratch[ROW_THREADS / 32];
    __shared__ float fscratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long off = (long long)r * keys;
        const int q = r % queries;
        const int b = r / (heads * queries);
        const int lastKey = causal ? q + (keys - queries) : keys - 1;
        float mx = -INFINITY;
        for (int j = threadIdx.x; j < keys; j += blockDim.x) {
            const bool visible = j <= lastKey && (keyMask == nullptr || keyMask[(long long)b * keys + j] != 0);
            if (visible) mx = fmaxf(mx, scores[off + j] * scale);
        }
        mx = block_max_float(mx, fscratch);
        double z = 0.0;
        for (int j = threadIdx.x; j < keys; j += blockDim.x) {
            const bool visible = j <= lastKey && (keyMask == nullptr || keyMask[(long long)b * keys + j] != 0);
            if (visible) z += exp((double)(scores[off + j] * scale - mx));
        }
        z = block_sum_double(z, dscratch);
        const float inv = z > 0.0 ? (float)(1.0 / z) : 0.0f;
        for (int j = threadIdx.x; j < keys; j += blockDim.x) {
            const bool visible = j <= lastKey && (keyMask == nullptr || keyMask[(long long)b * keys + j] != 0);
            out[off + j] = visible ? (float)exp((double)(scores[off + j] * scale - mx)) * inv : 0.0f;
        }
    }
}

// dScores = scale * y * (dy - sum_j dy_j y_j): backward of attention_softmax (hidden entries have
// y = 0 and so get no gradient).
extern "C" __global__ void attention_softmax_backward(const float* __restrict__ y, const float* __restrict__ dy,
                                                      float* __restrict__ dScores, float scale, int rows, int keys) {
    __shared__ double dscratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long off = (long long)r * keys;
        double dot = 0.0;
        for (int j = threadIdx.x; j < keys; j += blockDim.x) dot += (double)dy[off + j] * y[off + j];
        dot = block_sum_double(dot, dscratch);
        const float d = (float)dot;
        for (int j = threadIdx.x; j < keys; j += blockDim.x) dScores[off + j] = scale * (y[off + j] * (dy[off + j] - d));
    }
}
