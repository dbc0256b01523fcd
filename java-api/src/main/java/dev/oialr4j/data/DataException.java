package dev.oialr4j.data;

/**
 * A data file or directory that cannot be used. The message is one sentence for the user that names the
 * file and what is wrong with it, so callers (the CLI) can print it as it is.
 */
public final class DataException extends RuntimeException {

    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
