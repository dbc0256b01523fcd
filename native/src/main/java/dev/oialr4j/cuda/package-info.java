/**
 * The CUDA backend: {@code java.lang.foreign} bindings to the CUDA driver ({@link dev.oialr4j.cuda.CudaDriver}),
 * cuBLAS ({@link dev.oialr4j.cuda.Cublas}) and cuSOLVER ({@link dev.oialr4j.cuda.Cusolver}); the kernels of
 * oialr4j-kernels behind typed launchers ({@link dev.oialr4j.cuda.CudaKernels}); the
 * {@link dev.oialr4j.cuda.CudaBackend} implementing the Backend SPI on device memory with a caching allocator
 * and one stream; the batched Σ SVD of OIALR update rounds ({@link dev.oialr4j.cuda.CudaSigmaSvd}); and the
 * {@link dev.oialr4j.backend.BackendProvider} that offers the backend to {@code Backends}.
 *
 * <p>Native code is sealed behind this package. Each library is looked up only when something asks for it (a
 * probe or a call), never when a class that the CPU path loads is initialised, so machines without a GPU never
 * touch native code, and a missing library is a reason string, not a crash. Every status is checked; a
 * failure becomes a {@link dev.oialr4j.cuda.CudaException}, {@link dev.oialr4j.cuda.CublasException} or
 * {@link dev.oialr4j.cuda.CusolverException} naming the call and the status.
 *
 * <p>See docs/cuda.md for the design, the GPU check and what has not been run on a GPU yet.
 */
package dev.oialr4j.cuda;
