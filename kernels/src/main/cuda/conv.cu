// im2col / col2im for convolution as GEMM, on one NCHW image at a time (the launcher loops over
// the batch or offsets the pointers). col is [C * kh * kw, outH * outW] row-major: row
// (c, ky, kx), column (oy, ox) holds x[c, oy * stride - pad + ky * dilation, ox * stride - pad + kx * dilation]
// or 0 outside the image. Then conv = W[outC, C kh kw] * col.
#include "common.cuh"

extern "C" __global__ void im2col(const float* __restrict__ x, float* __restrict__ col, int channels, int height,
                                  int width, int kh, int kw, int stride, int pad, int dilation, int outH, int outW) {
    const long long total = (long long)channels * kh * kw * outH * outW;
    GRID_STRIDE_LOOP(i, total) {
        const int ox = (int)(i % outW);
        const int oy = (int)(i / outW % outH);
        const long long row = i / ((long long)outW * outH);
        const int kx = (int)(row % kw), ky = (int)(row / kw % kh), c = (int)(row / ((long long)kw * kh));
        const int iy = oy * stride - pad + ky * dilation, ix = ox * stride - pad + kx * dilation;
        col[i] = (iy >= 0 && iy < height && ix >= 0 && ix < width)
                ? x[((long long)c * height + iy) * width + ix] : 0.0f;
    }
}

// dx[c, iy, ix] = sum of the col entries im2col copied from (c, iy, ix): the adjoint of im2col.
// One thread per image element gathers its contributions (no atomics, deterministic order).
extern "C" __global__ void col2im(const float* __restrict__ col, float* __restrict__ dx, int channels, int height,
                                  int width, int kh, int kw, int stride, int pad, int dilation, int outH, int outW) {
    const long long total = (long long)channels * height * width;
    const long long plane = (long long)outH * outW;
    GRID_STRIDE_LOOP(i, total) {
        const int ix = (int)(i % width);
        const int iy = (int)(i / width % height);
        const int c = (int)(i / ((long long)width * height));
        float acc = 0.0f;
        for (int ky = 0; ky < kh; ky++) {
            const int ty = iy + pad - ky * dilation;
            if (ty < 0 || ty % stride != 0) continue;
            const int oy = ty / stride;
            if (oy >= outH) continue;
            for (int kx = 0; kx < kw; kx++) {
                const int tx = ix + pad - kx * dilation;
                if (tx < 0 || tx % stride != 0) continue;
                const int ox = tx / stride;
                if (ox >= outW) continue;
                const long long row = ((long long)c * kh + ky) * kw + kx;
                acc += col[row * plane + (long long)oy * outW + ox];
            }
        }
        dx[i] = acc;
    }
}
