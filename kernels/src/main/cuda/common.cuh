// Shared helpers of the oialr4j kernels.
//
// Conventions for every kernel in this directory:
//  - extern "C" so the driver finds the entry point by its plain name (cuModuleGetFunction);
//  - grid-stride loops, so any grid size is correct and the launcher may cap the grid at a few
//    waves of the device instead of one thread per element;
//  - element counts are passed as int (tensors are indexed by int on the Java side) but index
//    arithmetic is 64-bit, because rows * cols and i + stride can pass 2^31 before the bound check;
//  - the build passes --fmad=false: a*b+c is not contracted to an FMA, so the float arithmetic is
//    the same sequence of correctly rounded operations as the Java reference (CpuBackend), which
//    is what makes results bit-identical where the operation order is the same;
//  - row ops (softmax, norms, argmax) use one block of ROW_THREADS threads per row.
//
// Tensors are row-major float32; a "matrix" is the 2-D view [rows, cols] with the last dimension
// as columns.
#pragma once

#define ROW_THREADS 256

#define GRID_STRIDE_LOOP(i, n)                                                              \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)blockDim.x * gridDim.x)

// Sum of a double over the block; every thread gets the result. scratch holds blockDim.x / 32
// doubles. Warp shuffles first, then one warp over the warp sums: a fixed order for a given block
// size, so results are deterministic.
__device__ inline double block_sum_double(double v, double* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? scratch[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0) scratch[0] = v;
    }
    __syncthreads();
    return scratch[0];
}

// Maximum of a float over the block (NaN-free inputs assumed, like the CPU reference's Math.max
// would propagate NaN; fmaxf ignores it, see softmax.cu). scratch holds blockDim.x / 32 floats.
__device__ inline float block_max_float(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? scratch[lane] : -INFINITY;
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
        if (lane == 0) scratch[0] = v;
    }
    __syncthreads();
    return scratch[0];
}
