package dev.oialr4j.cuda;

/** A cuBLAS call that did not return {@code CUBLAS_STATUS_SUCCESS}, e.g. {@code cublasSgemm_v2 failed: CUBLAS_STATUS_INVALID_VALUE (7)}. */
public final class CublasException extends RuntimeException {

    private final String call;
    private final int status;

    public CublasException(String call, int status) {
        super(call + " failed: " + Cublas.statusName(status) + " (" + status + ")");
        this.call = call;
        this.status = status;
    }

    /** A call that could not be made, for the given reason (no cuBLAS library). */
    public CublasException(String call, String reason) {
        super(call + " failed: " + reason);
        this.call = call;
        this.status = CudaException.NOT_CALLED;
    }

    public String call() {
        return call;
    }

    /** The {@code cublasStatus_t}, or {@link CudaException#NOT_CALLED}. */
    public int status() {
        return status;
    }
}
