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
 * <p>The SVD is Householder bidiagonalisation followed, from 64 columns, by divide and conquer on the
 * bidiagonal (secular equations with weights recomputed from the roots, merges as matrix products;
 * {@link dev.oialr4j.linalg.Gemm}), whose vectors are then lifted through the reflectors. Smaller
 * bidiagonals, and the leaves of the divide and conquer, use implicit-shift QR (Golub–Kahan, with
 * relative deflation tests), whose Givens rotations are recorded and applied in batches, strip by
 * strip, on contiguous, cache-resident memory. {@link dev.oialr4j.linalg.Svd#leading} forms only the
 * leading singular vectors that a caller keeps.
 */
package dev.oialr4j.linalg;
