// Elementwise kernels of the CUDA backend. Each kernel states the CPU operation it must match
// (dev.oialr4j.backend.Backend, implemented by CpuBackend); parity tests compare the two.
//
// Conventions for every kernel in this directory:
//  - extern "C" so the driver finds the entry point by its plain name (cuModuleGetFunction);
//  - grid-stride loops, so any grid size is correct and the launcher may cap the grid at a few
//    waves of the device instead of one thread per element;
//  - element counts are int (tensors are indexed by int on the Java side) but index arithmetic is
//    done in 64 bits, because rows * cols and i + stride can pass 2^31 before the bound check.
//
// Tensors are row-major float32; a "matrix" is the 2-D view [rows, cols] with the last dimension
// as columns.

// out[i, j] = max(x[i, j] + bias[j], 0).
// CPU reference: Backend.addRowVector(x, bias, out) followed by Backend.relu(out, out).
// Fusing the two saves one full read and write of the activation on the forward pass of every
// Linear + ReLU. out may alias x.
extern "C" __global__ void bias_relu_forward(const float* __restrict__ x,
                                             const float* __restrict__ bias,
                                             float* out, int rows, int cols) {
    const long long n = (long long)rows * cols;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float v = x[i] + bias[i % cols];
        out[i] = v > 0.0f ? v : 0.0f;
    }
}

// dx[i] = dy[i] where out[i] > 0, else 0; out is the forward result of bias_relu_forward.
// CPU reference: Backend.reluBackward(out, dy, dx). Testing the saved output rather than the
// pre-activation is equivalent (out > 0 exactly when x + bias > 0) and lets the forward pass
// overwrite its input. dx may alias dy.
extern "C" __global__ void bias_relu_backward(const float* __restrict__ out,
                                              const float* dy, float* dx, int n) {
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        dx[i] = out[i] > 0.0f ? dy[i] : 0.0f;
    }
}

// dbias[j] = sum over rows i of dx[i, j]: the bias gradient.
// CPU reference: Backend.sumRows(dx, dbias). One thread per column walks down its column, so
// the sum is formed in a fixed order (deterministic, no atomics) and neighbouring threads read
// neighbouring addresses (coalesced). Accumulates in double so that long columns (large
// batches) lose no precision.
extern "C" __global__ void bias_grad(const float* __restrict__ dx, float* __restrict__ dbias,
                                     int rows, int cols) {
    const int stride = blockDim.x * gridDim.x;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += stride) {
        double acc = 0.0;
        for (long long i = 0; i < rows; i++) {
            acc += dx[i * cols + j];
        }
        dbias[j] = (float)acc;
    }
}
