package dev.oialr4j.tensor;

/**
 * The memory behind a tensor. Host storage is a {@code float[]}; device backends supply their own
 * implementation holding a device pointer.
 */
public interface Storage {

    Device device();

    /** Number of float elements. */
    int length();
}
