/*
 * A stand-in for libcusolver with the functions oialr4j binds. gesvdj and gesvdjBatched compute the SVD
 * with a one-sided Jacobi iteration in double on "device" memory that is host memory (see fake_cuda.c),
 * so the Java callers (CudaSigmaSvd) can be checked for results, layouts and workspace handling without a
 * GPU. Arguments are validated as cuSOLVER documents (CUSOLVER_STATUS_INVALID_VALUE = 3). geqrf and orgqr
 * are not computed here: they answer CUSOLVER_STATUS_NOT_SUPPORTED (9), which checks the status mapping.
 */
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define OK 0
#define NOT_INIT 1
#define INVALID 3
#define NOT_SUPPORTED 9

typedef struct { int magic; void* stream; } handle_t;
typedef struct { double tol; int max_sweeps; int sort; int sweeps; double residual; } info_t;

/* FAKE_CUSOLVER_CREATE_FAILURES=n: the first n creations fail as on a full device (INTERNAL_ERROR). */
static int creates;
int cusolverDnCreate(handle_t** h) {
    const char* fail = getenv("FAKE_CUSOLVER_CREATE_FAILURES");
    if (fail && creates++ < atoi(fail)) return 7;
    *h = calloc(1, sizeof(handle_t)); (*h)->magic = 0x50; return OK;
}
int cusolverDnDestroy(handle_t* h) { if (!h || h->magic != 0x50) return NOT_INIT; h->magic = 0; free(h); return OK; }
int cusolverDnSetStream(handle_t* h, void* s) { if (!h || h->magic != 0x50) return NOT_INIT; h->stream = s; return OK; }
int cusolverDnCreateGesvdjInfo(info_t** i) { *i = calloc(1, sizeof(info_t)); (*i)->tol = 1e-7; (*i)->max_sweeps = 100; (*i)->sort = 1; return OK; }
int cusolverDnDestroyGesvdjInfo(info_t* i) { free(i); return OK; }
int cusolverDnXgesvdjSetTolerance(info_t* i, double tol) { if (!(tol >= 0)) return INVALID; i->tol = tol; return OK; }
int cusolverDnXgesvdjSetMaxSweeps(info_t* i, int s) { if (s <= 0) return INVALID; i->max_sweeps = s; return OK; }
int cusolverDnXgesvdjSetSortEig(info_t* i, int s) { i->sort = s; return OK; }
int cusolverDnXgesvdjGetSweeps(handle_t* h, info_t* i, int* s) { (void)h; *s = i->sweeps; return OK; }
int cusolverDnXgesvdjGetResidual(handle_t* h, info_t* i, double* r) { (void)h; *r = i->residual; return OK; }

/*
 * SVD of column-major m x n A (m >= n handled directly; m < n through the transpose). Writes S (p =
 * min(m, n), descending), U (m x p, ldu) and V (n x p, ldv): the economy factors, enough for the square
 * matrices oialr4j passes (full U and V are the same then).
 */
static int jacobi(int wantv, int m, int n, const float* A, int lda, float* S, float* U, int ldu, float* V, int ldv,
                  info_t* info) {
    int tr = m < n;
    int M = tr ? n : m, N = tr ? m : n;
    double* a = malloc(sizeof(double) * M * N);
    double* v = calloc((size_t)N * N, sizeof(double));
    for (int j = 0; j < N; j++)
        for (int i = 0; i < M; i++) a[(long)j * M + i] = tr ? A[(long)i * lda + j] : A[(long)j * lda + i];
    for (int j = 0; j < N; j++) v[(long)j * N + j] = 1;
    int sweep = 0;
    for (; sweep < info->max_sweeps; sweep++) {
        double off = 0;
        for (int p = 0; p < N - 1; p++) {
            for (int q = p + 1; q < N; q++) {
                double al = 0, be = 0, ga = 0;
                for (int i = 0; i < M; i++) {
                    double x = a[(long)p * M + i], y = a[(long)q * M + i];
                    al += x * x; be += y * y; ga += x * y;
                }
                if (ga == 0 || fabs(ga) <= 1e-15 * sqrt(al * be)) continue;
                off = fmax(off, fabs(ga) / sqrt(al * be));
                double zeta = (be - al) / (2 * ga);
                double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                double c = 1 / sqrt(1 + t * t), s = c * t;
                for (int i = 0; i < M; i++) {
                    double x = a[(long)p * M + i], y = a[(long)q * M + i];
                    a[(long)p * M + i] = c * x - s * y; a[(long)q * M + i] = s * x + c * y;
                }
                for (int i = 0; i < N; i++) {
                    double x = v[(long)p * N + i], y = v[(long)q * N + i];
                    v[(long)p * N + i] = c * x - s * y; v[(long)q * N + i] = s * x + c * y;
                }
            }
        }
        if (off < 1e-15) break;
    }
    info->sweeps = sweep + 1;
    double* sv = malloc(sizeof(double) * N);
    int* order = malloc(sizeof(int) * N);
    for (int j = 0; j < N; j++) {
        double s = 0;
        for (int i = 0; i < M; i++) s += a[(long)j * M + i] * a[(long)j * M + i];
        sv[j] = sqrt(s); order[j] = j;
    }
    for (int x = 0; x < N; x++)            /* selection sort, descending */
        for (int y = x + 1; y < N; y++)
            if (sv[order[y]] > sv[order[x]]) { int t = order[x]; order[x] = order[y]; order[y] = t; }
    /* Left vectors of the worked matrix are a_j / s_j, right ones are v_j; transposing swaps them. */
    for (int jj = 0; jj < N; jj++) {
        int j = order[jj];
        S[jj] = (float)sv[j];
        if (!wantv) continue;
        for (int i = 0; i < M; i++) {
            double u = sv[j] > 0 ? a[(long)j * M + i] / sv[j] : (i == jj ? 1 : 0);
            if (tr) V[(long)jj * ldv + i] = (float)u; else U[(long)jj * ldu + i] = (float)u;
        }
        for (int i = 0; i < N; i++) {
            if (tr) U[(long)jj * ldu + i] = (float)v[(long)j * N + i]; else V[(long)jj * ldv + i] = (float)v[(long)j * N + i];
        }
    }
    info->residual = 0;
    free(a); free(v); free(sv); free(order);
    return OK;
}

static int check(handle_t* h, int jobz, int m, int n, int lda, int ldu, int ldv) {
    if (!h || h->magic != 0x50) return NOT_INIT;
    if ((jobz != 0 && jobz != 1) || m < 0 || n < 0) return INVALID;
    int lm = m > 1 ? m : 1, ln = n > 1 ? n : 1;
    if (lda < lm || (jobz == 1 && (ldu < lm || ldv < ln))) return INVALID;
    return OK;
}

/* Matrices decomposed so far by gesvdj and gesvdjBatched, for the tests (not a cuSOLVER function). */
static int svd_matrices;
int fake_cusolver_svd_matrices(void) { return svd_matrices; }

int cusolverDnSgesvdj_bufferSize(handle_t* h, int jobz, int econ, int m, int n, const float* A, int lda,
                                 const float* S, const float* U, int ldu, const float* V, int ldv, int* lwork,
                                 info_t* info) {
    (void)A; (void)S; (void)U; (void)V; (void)info; (void)econ;
    int rc = check(h, jobz, m, n, lda, ldu, ldv);
    if (rc) return rc;
    *lwork = m * n + 7;
    return OK;
}
int cusolverDnSgesvdj(handle_t* h, int jobz, int econ, int m, int n, float* A, int lda, float* S, float* U, int ldu,
                      float* V, int ldv, float* work, int lwork, int* devInfo, info_t* info) {
    (void)econ;
    int rc = check(h, jobz, m, n, lda, ldu, ldv);
    if (rc) return rc;
    if (lwork < m * n + 7 || work == NULL) return INVALID;
    rc = jacobi(jobz, m, n, A, lda, S, U, ldu, V, ldv, info);
    *devInfo = 0;
    svd_matrices++;
    return rc;
}
int cusolverDnSgesvdjBatched_bufferSize(handle_t* h, int jobz, int m, int n, const float* A, int lda, const float* S,
                                        const float* U, int ldu, const float* V, int ldv, int* lwork, info_t* info,
                                        int batch) {
    (void)A; (void)S; (void)U; (void)V; (void)info;
    int rc = check(h, jobz, m, n, lda, ldu, ldv);
    if (rc) return rc;
    if (m > 32 || n > 32 || batch < 0) return INVALID;
    *lwork = batch * 64 + 3;
    return OK;
}
int cusolverDnSgesvdjBatched(handle_t* h, int jobz, int m, int n, float* A, int lda, float* S, float* U, int ldu,
                             float* V, int ldv, float* work, int lwork, int* devInfo, info_t* info, int batch) {
    int rc = check(h, jobz, m, n, lda, ldu, ldv);
    if (rc) return rc;
    if (m > 32 || n > 32 || batch < 0 || lwork < batch * 64 + 3 || work == NULL) return INVALID;
    int p = m < n ? m : n;
    for (int b = 0; b < batch; b++) {
        rc = jacobi(jobz, m, n, A + (long)b * lda * n, lda, S + (long)b * p, U + (long)b * ldu * m, ldu,
                    V + (long)b * ldv * n, ldv, info);
        if (rc) return rc;
        devInfo[b] = 0;
        svd_matrices++;
    }
    return OK;
}
int cusolverDnSgeqrf_bufferSize(handle_t* h, int m, int n, float* A, int lda, int* lwork) {
    (void)A;
    if (!h || h->magic != 0x50) return NOT_INIT;
    if (m < 0 || n < 0 || lda < (m > 1 ? m : 1)) return INVALID;
    *lwork = n * 32;
    return OK;
}
int cusolverDnSgeqrf(handle_t* h, int m, int n, float* A, int lda, float* tau, float* work, int lwork, int* info) {
    (void)h; (void)m; (void)n; (void)A; (void)lda; (void)tau; (void)work; (void)lwork; (void)info;
    return NOT_SUPPORTED;
}
int cusolverDnSorgqr_bufferSize(handle_t* h, int m, int n, int k, const float* A, int lda, const float* tau, int* lwork) {
    (void)A; (void)tau;
    if (!h || h->magic != 0x50) return NOT_INIT;
    if (m < 0 || n < 0 || n > m || k < 0 || k > n || lda < (m > 1 ? m : 1)) return INVALID;
    *lwork = n * 32;
    return OK;
}
int cusolverDnSorgqr(handle_t* h, int m, int n, int k, float* A, int lda, const float* tau, float* work, int lwork,
                     int* info) {
    (void)h; (void)m; (void)n; (void)k; (void)A; (void)lda; (void)tau; (void)work; (void)lwork; (void)info;
    return NOT_SUPPORTED;
}
