// Fused optimizer updates: one pass over param, grad and state instead of one kernel per term.
#include "common.cuh"

// AdamW, exactly CpuBackend.adamwStep's vector path (the host computes the per-step constants the
// same way: decay = 1 - lr wd, stepSize = lr / (1 - beta1^t), invSqrtBc2 = 1 / sqrt(1 - beta2^t)):
//   m = m beta1 + g (1 - beta1);  v = v beta2 + (g g)(1 - beta2)
//   p = p decay - (m / (sqrt(v) invSqrtBc2 + eps)) stepSize
extern "C" __global__ void adamw_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                      float* __restrict__ v, int n, float beta1, float beta2, float b1c, float b2c,
                                      float decay, float stepSize, float invSqrtBc2, float eps) {
    GRID_STRIDE_LOOP(i, n) {
        const float gi = g[i];
        const float mi = m[i] * beta1 + gi * b1c;
        const float vi = v[i] * beta2 + (gi * gi) * b2c;
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) * invSqrtBc2 + eps;
        p[i] = p[i] * decay - (mi / denom) * stepSize;
    }
}

// SGD, exactly CpuBackend.sgdStep: g = grad + wd p; with momentum (buf != null)
// buf = first ? g : momentum buf + g, update = nesterov ? g + momentum buf : buf; p -= lr update.
extern "C" __global__ void sgd_step(float* __restrict__ p, const float* __restrict__ grad, float* __restrict__ buf,
                                    int n, float lr, float momentum, int nesterov, float weightDecay, int firstStep) {
    GRID_STRIDE_LOOP(i, n) {
        float g = grad[i] + weightDecay * p[i];
        if (buf != nullptr) {
            const float b = firstStep ? g : momentum * buf[i] + g;
            buf[i] = b;
            g = nesterov ? g + momentum * b : b;
        }
        p[i] = p[i] - lr * g;
    }
}
