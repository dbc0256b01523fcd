package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;

/**
 * A cuSOLVER dense handle and the factorisations oialr4j uses: Jacobi SVD ({@code gesvdj}, and
 * {@code gesvdjBatched} for many matrices of at most 32 × 32) and Householder QR ({@code geqrf} +
 * {@code orgqr}). Every {@code cusolverStatus_t} is checked and becomes a {@link CusolverException} naming
 * the call and the status. The library ({@code libcusolver.so.12}, falling back to {@code .11}) is loaded
 * on first use; {@link #loadFailure()} asks without throwing.
 *
 * <p>All matrices are column-major device memory, as cuSOLVER documents them; pointer arguments are device
 * addresses ({@code long}). Workspace sizes are in elements (floats). The {@code info} arguments are device
 * ints that the solver writes asynchronously; read them after synchronising the stream.
 */
public final class Cusolver implements AutoCloseable {

    /** {@code CUSOLVER_EIG_MODE_NOVECTOR}, {@code CUSOLVER_EIG_MODE_VECTOR}. */
    public static final int EIG_MODE_NOVECTOR = 0;
    public static final int EIG_MODE_VECTOR = 1;
    /** The largest m and n gesvdjBatched accepts. */
    public static final int BATCHED_MAX_DIM = 32;

    static final String LIBRARY_PROPERTY = "oialr4j.cusolver.library";
    static final List<String> SONAMES = List.of("libcusolver.so.12", "libcusolver.so.11");

    private final MemorySegment handle;
    private boolean closed;

    private Cusolver(MemorySegment handle) {
        this.handle = handle;
    }

    public static Optional<String> loadFailure() {
        return Optional.ofNullable(Lib.FAILURE);
    }

    public static Optional<String> libraryName() {
        return Optional.ofNullable(Lib.NAME);
    }

    /** {@code cusolverDnCreate} in the calling thread's current context. */
    public static Cusolver create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("cusolverDnCreate", call(lib("cusolverDnCreate").create(), out));
            return new Cusolver(out.get(ADDRESS, 0));
        }
    }

    public synchronized void setStream(MemorySegment stream) {
        check("cusolverDnSetStream", call(lib("cusolverDnSetStream").setStream(), handle, stream));
    }

    /** Parameters of the Jacobi SVD ({@code gesvdjInfo_t}): tolerance, sweep limit, sorting. */
    public static final class GesvdjParams implements AutoCloseable {
        private final MemorySegment info;
        private boolean closed;

        private GesvdjParams(MemorySegment info) {
            this.info = info;
        }

        /** {@code cusolverDnCreateGesvdjInfo} with the given tolerance and sweep limit, sorted descending. */
        public static GesvdjParams create(double tolerance, int maxSweeps) {
            MemorySegment info;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(ADDRESS);
                check("cusolverDnCreateGesvdjInfo", call(lib("cusolverDnCreateGesvdjInfo").createGesvdjInfo(), out));
                info = out.get(ADDRESS, 0);
            }
            var p = new GesvdjParams(info);
            check("cusolverDnXgesvdjSetTolerance", call(lib("cusolverDnXgesvdjSetTolerance").setTolerance(), info,
                    tolerance));
            check("cusolverDnXgesvdjSetMaxSweeps", call(lib("cusolverDnXgesvdjSetMaxSweeps").setMaxSweeps(), info,
                    maxSweeps));
            check("cusolverDnXgesvdjSetSortEig", call(lib("cusolverDnXgesvdjSetSortEig").setSortEig(), info, 1));
            return p;
        }

        MemorySegment info() {
            return info;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                check("cusolverDnDestroyGesvdjInfo", call(lib("cusolverDnDestroyGesvdjInfo").destroyGesvdjInfo(), info));
            }
        }
    }

    /** Sweeps the last non-batched gesvdj ran with {@code params}. */
    public synchronized int gesvdjSweeps(GesvdjParams params) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            check("cusolverDnXgesvdjGetSweeps", call(lib("cusolverDnXgesvdjGetSweeps").getSweeps(), handle,
                    params.info(), out));
            return out.get(JAVA_INT, 0);
        }
    }

    /** Residual ‖A − U S Vᵀ‖_F of the last non-batched gesvdj run with {@code params}. */
    public synchronized double gesvdjResidual(GesvdjParams params) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_DOUBLE);
            check("cusolverDnXgesvdjGetResidual", call(lib("cusolverDnXgesvdjGetResidual").getResidual(), handle,
                    params.info(), out));
            return out.get(JAVA_DOUBLE, 0);
        }
    }

    /** Workspace floats {@link #gesvdj} needs for these sizes. */
    public synchronized int gesvdjBufferSize(int jobz, boolean econ, int m, int n, long a, int lda, long s, long u,
            int ldu, long v, int ldv, GesvdjParams params) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment lwork = ar.allocate(JAVA_INT);
            check("cusolverDnSgesvdj_bufferSize", call(lib("cusolverDnSgesvdj_bufferSize").gesvdjBufferSize(), handle,
                    jobz, econ ? 1 : 0, m, n, dev(a), lda, dev(s), dev(u), ldu, dev(v), ldv, lwork, params.info()));
            return lwork.get(JAVA_INT, 0);
        }
    }

    /** {@code A = U diag(S) Vᵀ} of one column-major m × n matrix; A is overwritten. */
    public synchronized void gesvdj(int jobz, boolean econ, int m, int n, long a, int lda, long s, long u, int ldu,
            long v, int ldv, long work, int lwork, long info, GesvdjParams params) {
        check("cusolverDnSgesvdj", call(lib("cusolverDnSgesvdj").gesvdj(), handle, jobz, econ ? 1 : 0, m, n, dev(a),
                lda, dev(s), dev(u), ldu, dev(v), ldv, dev(work), lwork, dev(info), params.info()));
    }

    /** Workspace floats {@link #gesvdjBatched} needs. */
    public synchronized int gesvdjBatchedBufferSize(int jobz, int m, int n, long a, int lda, long s, long u, int ldu,
            long v, int ldv, GesvdjParams params, int batch) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment lwork = ar.allocate(JAVA_INT);
            check("cusolverDnSgesvdjBatched_bufferSize",
                    call(lib("cusolverDnSgesvdjBatched_bufferSize").gesvdjBatchedBufferSize(), handle, jobz, m, n,
                            dev(a), lda, dev(s), dev(u), ldu, dev(v), ldv, lwork, params.info(), batch));
            return lwork.get(JAVA_INT, 0);
        }
    }

    /**
     * SVDs of {@code batch} column-major m × n matrices (m, n ≤ 32) stored one after another
     * ({@code lda * n} floats apart); S, U and V likewise ({@code min(m, n)}, {@code ldu * m},
     * {@code ldv * n} apart). {@code info} holds {@code batch} ints.
     */
    public synchronized void gesvdjBatched(int jobz, int m, int n, long a, int lda, long s, long u, int ldu, long v,
            int ldv, long work, int lwork, long info, GesvdjParams params, int batch) {
        if (m > BATCHED_MAX_DIM || n > BATCHED_MAX_DIM) {
            throw new IllegalArgumentException("gesvdjBatched takes matrices of at most 32 x 32, got " + m + " x " + n);
        }
        check("cusolverDnSgesvdjBatched", call(lib("cusolverDnSgesvdjBatched").gesvdjBatched(), handle, jobz, m, n,
                dev(a), lda, dev(s), dev(u), ldu, dev(v), ldv, dev(work), lwork, dev(info), params.info(), batch));
    }

    public synchronized int geqrfBufferSize(int m, int n, long a, int lda) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment lwork = ar.allocate(JAVA_INT);
            check("cusolverDnSgeqrf_bufferSize", call(lib("cusolverDnSgeqrf_bufferSize").geqrfBufferSize(), handle, m,
                    n, dev(a), lda, lwork));
            return lwork.get(JAVA_INT, 0);
        }
    }

    /** Householder QR of a column-major m × n matrix in place; the reflector scalars go to tau. */
    public synchronized void geqrf(int m, int n, long a, int lda, long tau, long work, int lwork, long info) {
        check("cusolverDnSgeqrf", call(lib("cusolverDnSgeqrf").geqrf(), handle, m, n, dev(a), lda, dev(tau), dev(work),
                lwork, dev(info)));
    }

    public synchronized int orgqrBufferSize(int m, int n, int k, long a, int lda, long tau) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment lwork = ar.allocate(JAVA_INT);
            check("cusolverDnSorgqr_bufferSize", call(lib("cusolverDnSorgqr_bufferSize").orgqrBufferSize(), handle, m,
                    n, k, dev(a), lda, dev(tau), lwork));
            return lwork.get(JAVA_INT, 0);
        }
    }

    /** Forms the first n columns of Q from geqrf's output in place. */
    public synchronized void orgqr(int m, int n, int k, long a, int lda, long tau, long work, int lwork, long info) {
        check("cusolverDnSorgqr", call(lib("cusolverDnSorgqr").orgqr(), handle, m, n, k, dev(a), lda, dev(tau),
                dev(work), lwork, dev(info)));
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            check("cusolverDnDestroy", call(lib("cusolverDnDestroy").destroy(), handle));
        }
    }

    /** The symbolic name of a {@code cusolverStatus_t} (values from cusolver_common.h). */
    public static String statusName(int status) {
        return switch (status) {
            case 0 -> "CUSOLVER_STATUS_SUCCESS";
            case 1 -> "CUSOLVER_STATUS_NOT_INITIALIZED";
            case 2 -> "CUSOLVER_STATUS_ALLOC_FAILED";
            case 3 -> "CUSOLVER_STATUS_INVALID_VALUE";
            case 4 -> "CUSOLVER_STATUS_ARCH_MISMATCH";
            case 5 -> "CUSOLVER_STATUS_MAPPING_ERROR";
            case 6 -> "CUSOLVER_STATUS_EXECUTION_FAILED";
            case 7 -> "CUSOLVER_STATUS_INTERNAL_ERROR";
            case 8 -> "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
            case 9 -> "CUSOLVER_STATUS_NOT_SUPPORTED";
            case 10 -> "CUSOLVER_STATUS_ZERO_PIVOT";
            case 11 -> "CUSOLVER_STATUS_INVALID_LICENSE";
            default -> "cusolverStatus_t " + status;
        };
    }

    private static MemorySegment dev(long address) {
        return MemorySegment.ofAddress(address);
    }

    static void check(String call, int status) {
        if (status != 0) {
            throw new CusolverException(call, status);
        }
    }

    private static int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    private static Bindings lib(String call) {
        Bindings b = Lib.BINDINGS;
        if (b == null) {
            throw new CusolverException(call, CudaException.NOT_CALLED, Lib.FAILURE);
        }
        return b;
    }

    record Bindings(
            MethodHandle create,                  // cusolverDnCreate(cusolverDnHandle_t*)
            MethodHandle destroy,                 // cusolverDnDestroy(h)
            MethodHandle setStream,               // cusolverDnSetStream(h, cudaStream_t)
            MethodHandle createGesvdjInfo,        // cusolverDnCreateGesvdjInfo(gesvdjInfo_t*)
            MethodHandle destroyGesvdjInfo,       // cusolverDnDestroyGesvdjInfo(info)
            MethodHandle setTolerance,            // cusolverDnXgesvdjSetTolerance(info, double)
            MethodHandle setMaxSweeps,            // cusolverDnXgesvdjSetMaxSweeps(info, int)
            MethodHandle setSortEig,              // cusolverDnXgesvdjSetSortEig(info, int)
            MethodHandle getSweeps,               // cusolverDnXgesvdjGetSweeps(h, info, int*)
            MethodHandle getResidual,             // cusolverDnXgesvdjGetResidual(h, info, double*)
            MethodHandle gesvdjBufferSize,        // (h, jobz, econ, m, n, A, lda, S, U, ldu, V, ldv, int* lwork, info)
            MethodHandle gesvdj,                  // (h, jobz, econ, m, n, A, lda, S, U, ldu, V, ldv, work, lwork,
                                                  //  int* devInfo, info)
            MethodHandle gesvdjBatchedBufferSize, // (h, jobz, m, n, A, lda, S, U, ldu, V, ldv, int* lwork, info, batch)
            MethodHandle gesvdjBatched,           // (h, jobz, m, n, A, lda, S, U, ldu, V, ldv, work, lwork,
                                                  //  int* devInfo, info, batch)
            MethodHandle geqrfBufferSize,         // (h, m, n, A, lda, int* lwork)
            MethodHandle geqrf,                   // (h, m, n, A, lda, tau, work, lwork, int* devInfo)
            MethodHandle orgqrBufferSize,         // (h, m, n, k, A, lda, tau, int* lwork)
            MethodHandle orgqr) {                 // (h, m, n, k, A, lda, tau, work, lwork, int* devInfo)
    }

    /** Holder: loads the library on first use. */
    private static final class Lib {
        static final Bindings BINDINGS;
        static final String FAILURE;
        static final String NAME;

        static {
            var result = NativeLibrary.open(LIBRARY_PROPERTY, SONAMES, "cuSOLVER");
            Bindings b = null;
            String failure = result.failure();
            if (result.loaded() != null) {
                try {
                    b = link(result.loaded().lookup());
                } catch (NoSuchElementException e) {
                    failure = "the cuSOLVER library " + result.loaded().name()
                            + " lacks a function oialr4j needs (" + e.getMessage() + ")";
                }
            }
            BINDINGS = b;
            FAILURE = failure;
            NAME = b == null ? null : result.loaded().name();
        }

        private static Bindings link(SymbolLookup lib) {
            var A = ADDRESS;
            var I = JAVA_INT;
            return new Bindings(
                    NativeLibrary.bind(lib, "cusolverDnCreate", A),
                    NativeLibrary.bind(lib, "cusolverDnDestroy", A),
                    NativeLibrary.bind(lib, "cusolverDnSetStream", A, A),
                    NativeLibrary.bind(lib, "cusolverDnCreateGesvdjInfo", A),
                    NativeLibrary.bind(lib, "cusolverDnDestroyGesvdjInfo", A),
                    NativeLibrary.bind(lib, "cusolverDnXgesvdjSetTolerance", A, JAVA_DOUBLE),
                    NativeLibrary.bind(lib, "cusolverDnXgesvdjSetMaxSweeps", A, I),
                    NativeLibrary.bind(lib, "cusolverDnXgesvdjSetSortEig", A, I),
                    NativeLibrary.bind(lib, "cusolverDnXgesvdjGetSweeps", A, A, A),
                    NativeLibrary.bind(lib, "cusolverDnXgesvdjGetResidual", A, A, A),
                    NativeLibrary.bind(lib, "cusolverDnSgesvdj_bufferSize", A, I, I, I, I, A, I, A, A, I, A, I, A, A),
                    NativeLibrary.bind(lib, "cusolverDnSgesvdj", A, I, I, I, I, A, I, A, A, I, A, I, A, I, A, A),
                    NativeLibrary.bind(lib, "cusolverDnSgesvdjBatched_bufferSize", A, I, I, I, A, I, A, A, I, A, I, A,
                            A, I),
                    NativeLibrary.bind(lib, "cusolverDnSgesvdjBatched", A, I, I, I, A, I, A, A, I, A, I, A, I, A, A, I),
                    NativeLibrary.bind(lib, "cusolverDnSgeqrf_bufferSize", A, I, I, A, I, A),
                    NativeLibrary.bind(lib, "cusolverDnSgeqrf", A, I, I, A, I, A, A, I, A),
                    NativeLibrary.bind(lib, "cusolverDnSorgqr_bufferSize", A, I, I, I, A, I, A, A),
                    NativeLibrary.bind(lib, "cusolverDnSorgqr", A, I, I, I, A, I, A, A, I, A));
        }
    }
}
