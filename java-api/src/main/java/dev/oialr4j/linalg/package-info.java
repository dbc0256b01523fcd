/**
 * Dense linear algebra that OIALR needs on the CPU: the reduced SVD ({@link dev.oialr4j.linalg.Svd}),
 * the thin QR with a non-negative diagonal of R ({@link dev.oialr4j.linalg.Qr}) and the polar factor
 * U Vᵀ ({@link dev.oialr4j.linalg.Polar}).
 *
 * <p>Everything works on plain row-major arrays so it can be used without tensors; float inputs are
 * widened and all arithmetic is done in double. Results are deterministic on a given JVM and CPU
 * (the same input gives bit-identical output), and singular vectors follow a fixed sign rule so that
 * callers comparing decompositions across time are not misled by arbitrary sign choices.
 *
 * <p>The SVD is Householder bidiagonalisation followed by implicit-shift QR on the bidiagonal
 * (Golub–Kahan, with relative deflation tests). The Givens rotations of the QR phase are recorded and
 * applied to the stored Uᵀ and Vᵀ in batches, strip by strip, so that each rotation works on
 * contiguous, cache-resident memory with the Vector API instead of streaming the whole matrix once
 * per sweep.
 */
package dev.oialr4j.linalg;
