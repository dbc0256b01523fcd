package dev.oialr4j.backend;

import dev.oialr4j.tensor.Device;
import java.util.Optional;

/**
 * A backend found at run time through {@link java.util.ServiceLoader}. Native backends implement this
 * in their own jar so that {@code oialr4j-api} never links against native code.
 */
public interface BackendProvider {

    /** The device type this provider serves. */
    Device.Type deviceType();

    /**
     * Empty when the backend can run here; otherwise one sentence saying why not (no driver, no GPU,
     * missing kernels). Must not throw and must not load native code eagerly at class loading.
     */
    Optional<String> unavailableReason();

    /** Creates the backend for {@code device}; only called when {@link #unavailableReason()} is empty. */
    Backend create(Device device);
}
