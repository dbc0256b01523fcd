package dev.oialr4j.cuda;

/**
 * A CUDA driver call that did not return {@code CUDA_SUCCESS}, e.g.
 * {@code cuDeviceGetCount failed: CUDA_ERROR_NO_DEVICE (100)}.
 */
public final class CudaException extends RuntimeException {

    /** The {@code CUresult} of a call that could not be made at all (no driver). */
    public static final int NOT_CALLED = -1;

    private final String call;
    private final int status;

    /** A call that returned {@code status}, whose name is {@code statusName}. */
    public CudaException(String call, int status, String statusName) {
        super(call + " failed: " + statusName + " (" + status + ")");
        this.call = call;
        this.status = status;
    }

    /** A call that could not be made, for the given reason. */
    public CudaException(String call, String reason) {
        super(call + " failed: " + reason);
        this.call = call;
        this.status = NOT_CALLED;
    }

    /** The driver function, e.g. {@code cuInit}. */
    public String call() {
        return call;
    }

    /** The {@code CUresult} returned, or {@link #NOT_CALLED}. */
    public int status() {
        return status;
    }
}
