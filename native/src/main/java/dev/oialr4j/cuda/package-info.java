/**
 * The CUDA backend: {@code java.lang.foreign} bindings to the CUDA driver API and the
 * {@link dev.oialr4j.backend.BackendProvider} that offers the backend to {@code Backends}.
 *
 * <p>Native code is sealed behind this package. The driver library is looked up only when something asks
 * for CUDA (a probe or a call), never when a class that the CPU path loads is initialised, so machines
 * without a GPU never touch native code. Every driver status is checked; a failure becomes a
 * {@link dev.oialr4j.cuda.CudaException} naming the call and the status.
 *
 * <p>State: only device discovery is bound so far. The backend's operations are not implemented, and
 * the provider says so instead of pretending to work.
 */
package dev.oialr4j.cuda;
