package dev.oialr4j.backend;

/**
 * Single-precision GEMM on host arrays: C = alpha * op(A) * op(B) + beta * C, row-major with leading
 * dimensions. Placeholder-free simple version; the tuned kernel replaces the body.
 */
public final class CpuGemm {

    private final Parallel parallel;

    public CpuGemm(Parallel parallel) {
        this.parallel = parallel;
    }

    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
            float[] a, int offA, int lda, float[] b, int offB, int ldb,
            float beta, float[] c, int offC, int ldc) {
        parallel.forRange(m, 4, (from, to) -> {
            float[] row = new float[n];
            for (int i = from; i < to; i++) {
                java.util.Arrays.fill(row, 0f);
                for (int p = 0; p < k; p++) {
                    float av = transA ? a[offA + p * lda + i] : a[offA + i * lda + p];
                    if (av == 0f) {
                        continue;
                    }
                    if (transB) {
                        for (int j = 0; j < n; j++) {
                            row[j] += av * b[offB + j * ldb + p];
                        }
                    } else {
                        int bo = offB + p * ldb;
                        for (int j = 0; j < n; j++) {
                            row[j] += av * b[bo + j];
                        }
                    }
                }
                int co = offC + i * ldc;
                for (int j = 0; j < n; j++) {
                    c[co + j] = beta == 0f ? alpha * row[j] : alpha * row[j] + beta * c[co + j];
                }
            }
        });
    }
}
