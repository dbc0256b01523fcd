package dev.oialr4j.io;

/** A file this library reads is not in the expected format; the message names the file and the problem. */
public final class FormatException extends RuntimeException {

    public FormatException(String message) {
        super(message);
    }

    public FormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
