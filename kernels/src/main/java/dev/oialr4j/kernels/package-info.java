/**
 * The compiled CUDA kernels of oialr4j as a class-path resource. The CUDA C sources live in
 * {@code src/main/cuda}; the build compiles them with nvcc into one fatbin (SASS for sm_80 and sm_90
 * plus PTX), which {@link dev.oialr4j.kernels.KernelImage} hands to the CUDA backend for loading with
 * {@code cuModuleLoadData}. This package holds no native code itself, so it is safe on any machine.
 */
package dev.oialr4j.kernels;
