/*
 * A stand-in for libcublas with the functions oialr4j binds, computing GEMMs with naive column-major loops
 * on "device" memory that is host memory (see fake_cuda.c). It validates its arguments the way cuBLAS
 * documents (negative sizes, leading dimensions smaller than the stored rows, unknown operations or types
 * give CUBLAS_STATUS_INVALID_VALUE = 7), so the row-major/column-major operand swap of the Java side is
 * checked for both results and leading dimensions.
 */
#include <stdlib.h>
#include <stdint.h>

#define OK 0
#define INVALID 7
#define NOT_INIT 1

typedef struct { int magic; void* stream; } handle_t;

int cublasCreate_v2(handle_t** h) { *h = calloc(1, sizeof(handle_t)); (*h)->magic = 0x5eed; return OK; }
int cublasDestroy_v2(handle_t* h) { if (!h || h->magic != 0x5eed) return NOT_INIT; h->magic = 0; free(h); return OK; }
int cublasSetStream_v2(handle_t* h, void* s) { if (!h || h->magic != 0x5eed) return NOT_INIT; h->stream = s; return OK; }

static int max1(int v) { return v > 1 ? v : 1; }

/* Column-major C = alpha op(A) op(B) + beta C; op(A) is m x k. */
static int gemm(handle_t* h, int ta, int tb, int m, int n, int k, float alpha, const float* A, int lda,
                const float* B, int ldb, float beta, float* C, int ldc) {
    if (!h || h->magic != 0x5eed) return NOT_INIT;
    if (ta < 0 || ta > 1 || tb < 0 || tb > 1 || m < 0 || n < 0 || k < 0) return INVALID;
    if (lda < max1(ta ? k : m) || ldb < max1(tb ? n : k) || ldc < max1(m)) return INVALID;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            double acc = 0;
            for (int p = 0; p < k; p++) {
                float a = ta ? A[(long)i * lda + p] : A[(long)p * lda + i];
                float b = tb ? B[(long)p * ldb + j] : B[(long)j * ldb + p];
                acc += (double)a * b;
            }
            float* c = &C[(long)j * ldc + i];
            *c = beta == 0.0f ? (float)(alpha * acc) : (float)(alpha * acc + beta * (double)*c);
        }
    }
    return OK;
}

int cublasSgemm_v2(handle_t* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* A, int lda,
                   const float* B, int ldb, const float* beta, float* C, int ldc) {
    return gemm(h, ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
}

int cublasSgemmStridedBatched(handle_t* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* A,
                              int lda, long long sa, const float* B, int ldb, long long sb, const float* beta,
                              float* C, int ldc, long long sc, int batch) {
    if (batch < 0) return INVALID;
    for (int i = 0; i < batch; i++) {
        int rc = gemm(h, ta, tb, m, n, k, *alpha, A + i * sa, lda, B + i * sb, ldb, *beta, C + i * sc, ldc);
        if (rc != OK) return rc;
    }
    return OK;
}

/* Only fp32 data (CUDA_R_32F = 0) with CUBLAS_COMPUTE_32F (68) or CUBLAS_COMPUTE_32F_FAST_TF32 (77). */
static int last_compute_type;
int cublasGemmEx(handle_t* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int at, int lda,
                 const void* B, int bt, int ldb, const void* beta, void* C, int ct, int ldc, int compute, int algo) {
    if (at != 0 || bt != 0 || ct != 0 || (compute != 68 && compute != 77) || algo != -1) return INVALID;
    last_compute_type = compute;
    return gemm(h, ta, tb, m, n, k, *(const float*)alpha, A, lda, B, ldb, *(const float*)beta, C, ldc);
}
/* For the tests (not a cuBLAS function). */
int fake_cublas_last_compute_type(void) { return last_compute_type; }
