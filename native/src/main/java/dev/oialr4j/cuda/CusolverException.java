package dev.oialr4j.cuda;

/**
 * A cuSOLVER call that did not return {@code CUSOLVER_STATUS_SUCCESS}, or one whose {@code devInfo} output
 * reported a failure (status {@link #INFO_FAILED}), e.g.
 * {@code cusolverDnSgesvdj failed: CUSOLVER_STATUS_INVALID_VALUE (3)}.
 */
public final class CusolverException extends RuntimeException {

    /** Status of a call that returned success but reported a failure in its {@code info} output. */
    public static final int INFO_FAILED = -2;

    private final String call;
    private final int status;

    public CusolverException(String call, int status) {
        super(call + " failed: " + Cusolver.statusName(status) + " (" + status + ")");
        this.call = call;
        this.status = status;
    }

    /** A call that could not be made, or whose info output reported a failure; {@code reason} says which. */
    public CusolverException(String call, int status, String reason) {
        super(call + " failed: " + reason);
        this.call = call;
        this.status = status;
    }

    public String call() {
        return call;
    }

    /** The {@code cusolverStatus_t}, {@link #INFO_FAILED} or {@link CudaException#NOT_CALLED}. */
    public int status() {
        return status;
    }
}
