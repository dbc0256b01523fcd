package dev.oialr4j.linalg;

/**
 * An iterative decomposition hit its iteration limit. This is never expected for finite input; it is
 * thrown instead of returning a silently wrong result.
 */
public final class ConvergenceException extends ArithmeticException {

    public ConvergenceException(String message) {
        super(message);
    }
}
