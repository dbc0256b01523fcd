// Elementwise kernels. Each states the CPU operation it must match (dev.oialr4j.backend.Backend,
// implemented by CpuBackend); the parity tests compare the two.
#include "common.cuh"

// y = alpha * x + beta * y.  CPU: Backend.axpby (vector path: x*alpha + y*beta).
extern "C" __global__ void axpby(const float* __restrict__ x, float* y, float alpha, float beta, int n) {
    GRID_STRIDE_LOOP(i, n) { y[i] = x[i] * alpha + y[i] * beta; }
}

// out = a + b, out = a * b, out = alpha * x.  CPU: Backend.add / mul / scale. out may alias.
extern "C" __global__ void add(const float* a, const float* b, float* out, int n) {
    GRID_STRIDE_LOOP(i, n) { out[i] = a[i] + b[i]; }
}
extern "C" __global__ void mul(const float* a, const float* b, float* out, int n) {
    GRID_STRIDE_LOOP(i, n) { out[i] = a[i] * b[i]; }
}
extern "C" __global__ void scale(const float* x, float alpha, float* out, int n) {
    GRID_STRIDE_LOOP(i, n) { out[i] = x[i] * alpha; }
}

// out[i, j] = x[i, j] + bias[j].  CPU: Backend.addRowVector. out may alias x.
extern "C" __global__ void add_row_vector(const float* x, const float* __restrict__ bias, float* out,
                                          int rows, int cols) {
    GRID_STRIDE_LOOP(i, (long long)rows * cols) { out[i] = x[i] + bias[i % cols]; }
}

// Java's Math.max(v, 0f): NaN stays NaN and -0 becomes +0 (fmaxf would drop the NaN).
__device__ inline float relu_of(float v) { return v != v ? v : (v > 0.0f ? v : 0.0f); }

// out = max(x, 0); dx = dy where x > 0 else 0.  CPU: Backend.relu / reluBackward.
extern "C" __global__ void relu(const float* x, float* out, int n) {
    GRID_STRIDE_LOOP(i, n) { out[i] = relu_of(x[i]); }
}
extern "C" __global__ void relu_backward(const float* x, const float* dy, float* dx, int n) {
    GRID_STRIDE_LOOP(i, n) { dx[i] = x[i] > 0.0f ? dy[i] : 0.0f; }
}

// out[i, j] = max(x[i, j] + bias[j], 0): Linear + ReLU in one pass.
// CPU: Backend.addRowVector(x, bias, out) followed by Backend.relu(out, out). out may alias x.
extern "C" __global__ void bias_relu_forward(const float* x, const float* __restrict__ bias, float* out,
                                             int rows, int cols) {
    GRID_STRIDE_LOOP(i, (long long)rows * cols) {
        out[i] = relu_of(x[i] + bias[i % cols]);
    }
}

// dx = dy where out > 0, else 0; out is bias_relu_forward's result (out > 0 exactly when
// x + bias > 0, so the forward pass may overwrite its input). CPU: Backend.reluBackward.
extern "C" __global__ void bias_relu_backward(const float* __restrict__ out, const float* dy, float* dx,
                                              int n) {
    GRID_STRIDE_LOOP(i, n) { dx[i] = out[i] > 0.0f ? dy[i] : 0.0f; }
}

// GELU, tanh approximation, exactly as CpuBackend.gelu (its vector path):
//   inner = ((x*x*A + 1) * x) * C;  out = (x * 0.5) * (tanh(inner) + 1)
// with C = (float) sqrt(2/pi) and A = 0.044715f. CpuBackend takes tanh from its fixed exp
// polynomial (absolute error below 4e-7), tanhf differs from it in the last bits, so this matches
// to that tolerance, not bit for bit.
#define GELU_C 0.7978845608028654f
#define GELU_A 0.044715f
__device__ inline float gelu_tanh_of(float v) {
    const float inner = ((v * v) * GELU_A + 1.0f) * v * GELU_C;
    return (v * 0.5f) * (tanhf(inner) + 1.0f);
}
// d/dx [0.5 x (1 + t)] = 0.5 (1 + t) + 0.5 x (1 - t^2) C (1 + 3 A x^2), in CpuBackend's order.
__device__ inline float gelu_tanh_grad(float v) {
    const float v2 = v * v;
    const float t = tanhf((v2 * GELU_A + 1.0f) * v * GELU_C);
    const float sech2 = -(t * t) + 1.0f;
    return (t + 1.0f) * 0.5f + (v * 0.5f) * sech2 * (v2 * (3.0f * GELU_A) + 1.0f) * GELU_C;
}
extern "C" __global__ void gelu(const float* x, float* out, int n) {
    GRID_STRIDE_LOOP(i, n) { out[i] = gelu_tanh_of(x[i]); }
}
extern "C" __global__ void gelu_backward(const float* x, const float* dy, float* dx, int n) {
    GRID_STRIDE_LOOP(i, n) { dx[i] = gelu_tanh_grad(x[i]) * dy[i]; }
}
// out[i, j] = GELU(x[i, j] + bias[j]): Linear + GELU in one pass; the pre-activation is kept in
// pre (the backward pass needs it, unlike ReLU's). pre may alias x.
extern "C" __global__ void bias_gelu_forward(const float* x, const float* __restrict__ bias, float* pre,
                                             float* out, int rows, int cols) {
    GRID_STRIDE_LOOP(i, (long long)rows * cols) {
        const float v = x[i] + bias[i % cols];
        pre[i] = v;
        out[i] = gelu_tanh_of(v);
    }
}

// Inverted dropout with CounterRandom's generator (SplitMix64 finaliser of seed + (i+1) * golden):
// keep where (mix >> 40) >= threshold, threshold = ceil(p * 2^24) computed on the host, exactly
// as CpuBackend.dropout, so the mask is bit-identical to the CPU's.
extern "C" __global__ void dropout(const float* x, unsigned long long seed, long long threshold,
                                   float keepScale, float* mask, float* out, int n) {
    GRID_STRIDE_LOOP(i, n) {
        unsigned long long z = seed + (unsigned long long)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z = z ^ (z >> 31);
        const float m = (long long)(z >> 40) >= threshold ? keepScale : 0.0f;
        mask[i] = m;
        out[i] = x[i] * m;
    }
}

// out[c, r] = in[r, c] for a [rows, cols] matrix, through 32x32 shared tiles (padded by one
// column against bank conflicts) so both the read and the write are coalesced.
// Launch: block (32, 8), grid (ceil(cols/32), ceil(rows/32), batch); batch matrices follow each
// other at rows*cols elements.
extern "C" __global__ void transpose(const float* __restrict__ in, float* __restrict__ out, int rows,
                                     int cols) {
    __shared__ float tile[32][33];
    const long long base = (long long)blockIdx.z * rows * cols;
    const int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (int k = threadIdx.y; k < 32; k += 8) {
        const int r = r0 + k, c = c0 + threadIdx.x;
        if (r < rows && c < cols) tile[k][threadIdx.x] = in[base + (long long)r * cols + c];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += 8) {
        const int c = c0 + k, r = r0 + threadIdx.x;
        if (r < rows && c < cols) out[base + (long long)c * rows + r] = tile[threadIdx.x][k];
    }
}

// out[i, i] = values[i] for i < n on a zero-filled [n, n] matrix: Σ' = diag(σ[:n]) built on the
// device from the SVD's σ, without a host round trip.
extern "C" __global__ void set_diagonal(const float* __restrict__ values, float* __restrict__ out, int n) {
    GRID_STRIDE_LOOP(i, n) { out[i * ((long long)n + 1)] = values[i]; }
}
