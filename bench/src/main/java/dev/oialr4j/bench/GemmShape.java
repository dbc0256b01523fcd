package dev.oialr4j.bench;

/**
 * One GEMM problem as benchmarked: C (m x n) = op(A) (m x k) . op(B) (k x n), written
 * {@code MxNxK:TT} where the two letters are N (plain) or T (transposed) for A and B.
 */
record GemmShape(int m, int n, int k, boolean transA, boolean transB) {

    static GemmShape parse(String text) {
        String[] parts = text.split(":");
        String[] dims = parts[0].split("x");
        if (dims.length != 3 || parts.length != 2 || parts[1].length() != 2) {
            throw new IllegalArgumentException("GEMM shape must look like 256x1024x784:NT, got " + text);
        }
        return new GemmShape(Integer.parseInt(dims[0]), Integer.parseInt(dims[1]), Integer.parseInt(dims[2]),
                parts[1].charAt(0) == 'T', parts[1].charAt(1) == 'T');
    }

    /** Floating-point operations of one multiply: one multiply and one add per term. */
    double flops() {
        return 2.0 * m * n * k;
    }
}
