package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;

/**
 * A cuBLAS handle and the calls oialr4j makes with it. Every {@code cublasStatus_t} is checked; a failure
 * throws {@link CublasException} naming the call and the status. The library ({@code libcublas.so.13},
 * falling back to {@code .12}) is loaded on first use of this class's static state, never at class loading
 * of anything on the CPU path; {@link #loadFailure()} asks without throwing.
 *
 * <h2>Row-major tensors, column-major cuBLAS</h2>
 * cuBLAS reads matrices column-major; oialr4j tensors are row-major. A row-major {@code r × c} matrix
 * with leading dimension {@code ld} is, read column-major, its transpose ({@code c × r}, same {@code ld}).
 * So for row-major {@code C = op(A) op(B)} we ask cuBLAS for the column-major product
 * {@code Cᵀ = op(B)ᵀ op(A)ᵀ}: swap the operands (B first), keep each operand's transpose flag, and swap
 * m and n. No data moves. {@link #rowMajorGemm} does exactly that; the raw {@link #sgemm} and
 * {@link #gemmEx} take column-major arguments as cuBLAS documents them.
 *
 * <p>Scalars are passed by host pointer (cuBLAS's default pointer mode), from a buffer owned by the
 * handle; cuBLAS reads them before the call returns. Calls on one handle are serialised.
 */
public final class Cublas implements AutoCloseable {

    /** {@code CUBLAS_OP_N}, {@code CUBLAS_OP_T}. */
    public static final int OP_N = 0;
    public static final int OP_T = 1;
    /** {@code cudaDataType} {@code CUDA_R_32F}. */
    static final int CUDA_R_32F = 0;
    /** {@code cublasComputeType_t} {@code CUBLAS_COMPUTE_32F}: full fp32. */
    static final int COMPUTE_32F = 68;
    /** {@code CUBLAS_COMPUTE_32F_FAST_TF32}: fp32 in and out, tensor cores with TF32 inputs. */
    static final int COMPUTE_32F_FAST_TF32 = 77;
    /** {@code CUBLAS_GEMM_DEFAULT}. */
    static final int GEMM_DEFAULT = -1;

    /** System property naming another cuBLAS library (a path or soname); tests use a stand-in. */
    static final String LIBRARY_PROPERTY = "oialr4j.cublas.library";
    static final List<String> SONAMES = List.of("libcublas.so.13", "libcublas.so.12");

    private final MemorySegment handle;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment scalars;
    private boolean closed;

    private Cublas(MemorySegment handle) {
        this.handle = handle;
        this.scalars = arena.allocate(16, 16);
    }

    /** Empty when cuBLAS is loaded and linked; otherwise why not. */
    public static Optional<String> loadFailure() {
        return Optional.ofNullable(Lib.FAILURE);
    }

    /** The name or path the library was loaded from. */
    public static Optional<String> libraryName() {
        return Optional.ofNullable(Lib.NAME);
    }

    /** {@code cublasCreate_v2} in the calling thread's current context. */
    public static Cublas create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("cublasCreate_v2", call("cublasCreate_v2", lib("cublasCreate_v2").create(), out));
            return new Cublas(out.get(ADDRESS, 0));
        }
    }

    /** Work of this handle goes to {@code stream} from now on. */
    public synchronized void setStream(MemorySegment stream) {
        check("cublasSetStream_v2", call("cublasSetStream_v2", lib("cublasSetStream_v2").setStream(), handle, stream));
    }

    /** Column-major {@code C = alpha op(A) op(B) + beta C} with {@code op(A)} m × k, as cublasSgemm documents it. */
    public synchronized void sgemm(int transA, int transB, int m, int n, int k, float alpha, long a, int lda, long b,
            int ldb, float beta, long c, int ldc) {
        scalars.set(JAVA_FLOAT, 0, alpha);
        scalars.set(JAVA_FLOAT, 4, beta);
        int rc;
        try {
            rc = (int) lib("cublasSgemm_v2").sgemm().invokeExact(handle, transA, transB, m, n, k,
                    scalars.asSlice(0, 4), MemorySegment.ofAddress(a), lda, MemorySegment.ofAddress(b), ldb,
                    scalars.asSlice(4, 4), MemorySegment.ofAddress(c), ldc);
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
        check("cublasSgemm_v2", rc);
    }

    /**
     * {@code cublasGemmEx} on fp32 data with fp32 ({@code tf32 = false}) or TF32 tensor-core
     * ({@code tf32 = true}) compute; column-major like {@link #sgemm}.
     */
    public synchronized void gemmEx(int transA, int transB, int m, int n, int k, float alpha, long a, int lda, long b,
            int ldb, float beta, long c, int ldc, boolean tf32) {
        scalars.set(JAVA_FLOAT, 0, alpha);
        scalars.set(JAVA_FLOAT, 4, beta);
        int rc;
        try {
            rc = (int) lib("cublasGemmEx").gemmEx().invokeExact(handle, transA, transB, m, n, k,
                    scalars.asSlice(0, 4), MemorySegment.ofAddress(a), CUDA_R_32F, lda,
                    MemorySegment.ofAddress(b), CUDA_R_32F, ldb, scalars.asSlice(4, 4),
                    MemorySegment.ofAddress(c), CUDA_R_32F, ldc, tf32 ? COMPUTE_32F_FAST_TF32 : COMPUTE_32F,
                    GEMM_DEFAULT);
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
        check("cublasGemmEx", rc);
    }

    /** Column-major strided batched SGEMM: matrix i of A starts at {@code a + 4 * i * strideA} bytes, etc. */
    public synchronized void sgemmStridedBatched(int transA, int transB, int m, int n, int k, float alpha, long a,
            int lda, long strideA, long b, int ldb, long strideB, float beta, long c, int ldc, long strideC,
            int batch) {
        scalars.set(JAVA_FLOAT, 0, alpha);
        scalars.set(JAVA_FLOAT, 4, beta);
        int rc;
        try {
            rc = (int) lib("cublasSgemmStridedBatched").sgemmStridedBatched().invokeExact(handle, transA, transB,
                    m, n, k, scalars.asSlice(0, 4), MemorySegment.ofAddress(a), lda, strideA,
                    MemorySegment.ofAddress(b), ldb, strideB, scalars.asSlice(4, 4), MemorySegment.ofAddress(c), ldc,
                    strideC, batch);
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
        check("cublasSgemmStridedBatched", rc);
    }

    /**
     * Row-major {@code C[m, n] = alpha op(A) op(B) + beta C} with leading dimensions (row strides in
     * elements) lda, ldb, ldc, by the operand swap described in the class comment. With {@code tf32} the
     * product runs on TF32 tensor cores through GemmEx.
     */
    public void rowMajorGemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
            long b, int ldb, float beta, long c, int ldc, boolean tf32) {
        int opA = transA ? OP_T : OP_N;
        int opB = transB ? OP_T : OP_N;
        if (tf32) {
            gemmEx(opB, opA, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc, true);
        } else {
            sgemm(opB, opA, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
        }
    }

    /** Row-major strided batched GEMM, by the same swap; strides in elements. */
    public void rowMajorGemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, float alpha, long a,
            int lda, long strideA, long b, int ldb, long strideB, float beta, long c, int ldc, long strideC,
            int batch) {
        sgemmStridedBatched(transB ? OP_T : OP_N, transA ? OP_T : OP_N, n, m, k, alpha, b, ldb, strideB, a, lda,
                strideA, beta, c, ldc, strideC, batch);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            check("cublasDestroy_v2", call("cublasDestroy_v2", lib("cublasDestroy_v2").destroy(), handle));
        } finally {
            arena.close();
        }
    }

    /** The symbolic name of a {@code cublasStatus_t} (values from cublas_api.h). */
    public static String statusName(int status) {
        return switch (status) {
            case 0 -> "CUBLAS_STATUS_SUCCESS";
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "cublasStatus_t " + status;
        };
    }

    static void check(String call, int status) {
        if (status != 0) {
            throw new CublasException(call, status);
        }
    }

    private static int call(String name, MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    private static Bindings lib(String call) {
        Bindings b = Lib.BINDINGS;
        if (b == null) {
            throw new CublasException(call, Lib.FAILURE);
        }
        return b;
    }

    record Bindings(
            MethodHandle create,              // cublasCreate_v2(cublasHandle_t*)
            MethodHandle destroy,             // cublasDestroy_v2(cublasHandle_t)
            MethodHandle setStream,           // cublasSetStream_v2(cublasHandle_t, cudaStream_t)
            MethodHandle sgemm,               // cublasSgemm_v2(h, opA, opB, m, n, k, float* alpha, A, lda, B, ldb,
                                              //   float* beta, C, ldc)
            MethodHandle sgemmStridedBatched, // (h, opA, opB, m, n, k, alpha, A, lda, long long strideA, B, ldb,
                                              //   long long strideB, beta, C, ldc, long long strideC, int batch)
            MethodHandle gemmEx) {            // (h, opA, opB, m, n, k, void* alpha, A, cudaDataType, lda, B, type,
                                              //   ldb, void* beta, C, type, ldc, cublasComputeType_t, algo)
    }

    /** Holder: loads the library on first use. */
    private static final class Lib {
        static final Bindings BINDINGS;
        static final String FAILURE;
        static final String NAME;

        static {
            var result = NativeLibrary.open(LIBRARY_PROPERTY, SONAMES, "cuBLAS");
            Bindings b = null;
            String failure = result.failure();
            if (result.loaded() != null) {
                try {
                    b = link(result.loaded().lookup());
                } catch (NoSuchElementException e) {
                    failure = "the cuBLAS library " + result.loaded().name() + " lacks a function oialr4j needs ("
                            + e.getMessage() + ")";
                }
            }
            BINDINGS = b;
            FAILURE = failure;
            NAME = b == null ? null : result.loaded().name();
        }

        private static Bindings link(SymbolLookup lib) {
            return new Bindings(
                    NativeLibrary.bind(lib, "cublasCreate_v2", ADDRESS),
                    NativeLibrary.bind(lib, "cublasDestroy_v2", ADDRESS),
                    NativeLibrary.bind(lib, "cublasSetStream_v2", ADDRESS, ADDRESS),
                    NativeLibrary.bind(lib, "cublasSgemm_v2", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                            ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT),
                    NativeLibrary.bind(lib, "cublasSgemmStridedBatched", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                            JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS,
                            ADDRESS, JAVA_INT, JAVA_LONG, JAVA_INT),
                    NativeLibrary.bind(lib, "cublasGemmEx", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                            ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS,
                            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        }
    }
}
