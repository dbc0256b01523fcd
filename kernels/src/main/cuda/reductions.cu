// Reductions. Each states the CPU operation it must match and how close it is.
#include "common.cuh"

// out[j] = sum over rows i of x[i, j]: the bias gradient. CPU: Backend.sumRows, which adds in
// float, row by row, per column. One thread per column walks down its column in the same order,
// so the result is bit-identical to the CPU's; neighbouring threads read neighbouring addresses.
extern "C" __global__ void bias_grad(const float* __restrict__ x, float* __restrict__ out, int rows,
                                     int cols) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += blockDim.x * gridDim.x) {
        float acc = 0.0f;
        for (long long i = 0; i < rows; i++) acc += x[i * cols + j];
        out[j] = acc;
    }
}

// out[i] = sum over columns j of x[i, j], accumulated in double. CPU: Backend.sumCols, which
// sums in float vector lanes then double; they agree to float rounding. One block per row.
extern "C" __global__ void sum_cols(const float* __restrict__ x, float* __restrict__ out, int rows, int cols) {
    __shared__ double scratch[ROW_THREADS / 32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* row = x + (long long)r * cols;
        double acc = 0.0;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) acc += row[j];
        acc = block_sum_double(acc, scratch);
        if (threadIdx.x == 0) out[r] = (float)acc;
    }
}

// Partial sums (or sums of squares) of x over blocks of 4096 elements, in double: partial[b] for
// elements [4096 b, 4096 (b + 1)). CPU: Backend.sum / sumSquares, which use the same blocks.
// One thread block per 4096-element block; sum_partials adds them up in block order.
#define SUM_BLOCK 4096
extern "C" __global__ void block_sums(const float* __restrict__ x, double* __restrict__ partial, int n,
                                      int squares) {
    __shared__ double scratch[ROW_THREADS / 32];
    const int blocks = (n + SUM_BLOCK - 1) / SUM_BLOCK;
    for (int b = blockIdx.x; b < blocks; b += gridDim.x) {
        const long long from = (long long)b * SUM_BLOCK;
        const long long to = min((long long)n, from + SUM_BLOCK);
        double acc = 0.0;
        for (long long i = from + threadIdx.x; i < to; i += blockDim.x) {
            const double v = x[i];
            acc += squares ? v * v : v;
        }
        acc = block_sum_double(acc, scratch);
        if (threadIdx.x == 0) partial[b] = acc;
    }
}

// total[0] = partial[0] + partial[1] + ... in index order (one thread: deterministic, and the
// partials are few: one per 4096 elements). Launch with one block of one thread.
extern "C" __global__ void sum_partials(const double* __restrict__ partial, double* __restrict__ total,
                                        int count) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double s = 0.0;
        for (int i = 0; i < count; i++) s += partial[i];
        total[0] = s;
    }
}

// Which of two candidates a row's argmax keeps, by CpuBackend.argmaxRows' sequential rule: the
// first NaN wins over any number; otherwise the larger value; ties go to the lower index.
__device__ inline bool argmax_better(float v, int i, float bv, int bi) {
    const bool vn = isnan(v), bn = isnan(bv);
    if (vn != bn) return vn;
    if (vn) return i < bi;
    return v > bv || (v == bv && i < bi);
}

// out[i] = index of the largest element of row i. CPU: Backend.argmaxRows (identical answers).
// One block per row.
extern "C" __global__ void argmax_rows(const float* __restrict__ x, int* __restrict__ out, int rows, int cols) {
    __shared__ float sv[ROW_THREADS];
    __shared__ int si[ROW_THREADS];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* row = x + (long long)r * cols;
        float bv = NAN;
        int bi = 0x7fffffff;
        bool have = false;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            if (!have || argmax_better(row[j], j, bv, bi)) { bv = row[j]; bi = j; have = true; }
        }
        sv[threadIdx.x] = bv;
        si[threadIdx.x] = have ? bi : 0x7fffffff;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) {
                const int oi = si[threadIdx.x + s];
                if (oi != 0x7fffffff && (si[threadIdx.x] == 0x7fffffff
                        || argmax_better(sv[threadIdx.x + s], oi, sv[threadIdx.x], si[threadIdx.x]))) {
                    sv[threadIdx.x] = sv[threadIdx.x + s];
                    si[threadIdx.x] = oi;
                }
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) out[r] = si[0] == 0x7fffffff ? 0 : si[0];
        __syncthreads();
    }
}

// correct[0] += number of rows whose argmax equals labels[row]; argmax from argmax_rows.
// The accuracy of a batch without copying the predictions to the host.
extern "C" __global__ void count_correct(const int* __restrict__ argmax, const int* __restrict__ labels,
                                         int* correct, int rows) {
    int mine = 0;
    GRID_STRIDE_LOOP(i, rows) { mine += argmax[i] == labels[i]; }
    for (int o = 16; o > 0; o >>= 1) mine += __shfl_down_sync(0xffffffffu, mine, o);
    if ((threadIdx.x & 31) == 0 && mine != 0) atomicAdd(correct, mine);
}

// Column sums over many rows in two stages, for row counts where one thread per column (bias_grad,
// layernorm_param_grads) would leave the GPU nearly idle: stage one gives every (chunk of `chunk`
// rows, column) pair a thread that sums its run in double into partial[c, j] (mode 0: x; mode 1:
// dy * xhat into partial and dy into partial2, xhat = (x - mean[r]) * rstd[r] as layernorm_backward);
// stage two (column_finish) adds the partials of each column in chunk order. Deterministic; agrees
// with the sequential float sums to float rounding, not bit for bit.
extern "C" __global__ void column_partials(const float* __restrict__ x, const float* __restrict__ dy,
                                           const float* __restrict__ mean, const float* __restrict__ rstd,
                                           double* __restrict__ partial, double* __restrict__ partial2, int rows,
                                           int cols, int chunk, int mode) {
    const int chunks = (rows + chunk - 1) / chunk;
    GRID_STRIDE_LOOP(t, (long long)chunks * cols) {
        const int j = (int)(t % cols);
        const int c = (int)(t / cols);
        const int r1 = min(rows, (c + 1) * chunk);
        double a = 0.0, b = 0.0;
        for (int r = c * chunk; r < r1; r++) {
            const long long i = (long long)r * cols + j;
            if (mode == 0) {
                a += x[i];
            } else {
                const float xh = (x[i] - mean[r]) * rstd[r];
                a += (double)dy[i] * xh;
                b += dy[i];
            }
        }
        partial[t] = a;
        if (mode != 0) partial2[t] = b;
    }
}

// out[j] = sum over chunks of partial[c, j] (and out2 from partial2 when not null), in chunk order.
extern "C" __global__ void column_finish(const double* __restrict__ partial, const double* __restrict__ partial2,
                                         float* __restrict__ out, float* __restrict__ out2, int chunks, int cols) {
    GRID_STRIDE_LOOP(j, cols) {
        double a = 0.0, b = 0.0;
        for (int c = 0; c < chunks; c++) {
            a += partial[(long long)c * cols + j];
            if (out2 != nullptr) b += partial2[(long long)c * cols + j];
        }
        out[j] = (float)a;
        if (out2 != nullptr) out2[j] = (float)b;
    }
}
