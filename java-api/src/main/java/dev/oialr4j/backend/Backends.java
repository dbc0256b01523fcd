package dev.oialr4j.backend;

import dev.oialr4j.tensor.Device;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/** Finds a backend for a device: the CPU backend directly, others through {@link BackendProvider}. */
public final class Backends {

    private Backends() {
    }

    /** Thrown when a requested device cannot be used here; its message is one sentence for the user. */
    public static final class UnavailableException extends RuntimeException {
        public UnavailableException(String message) {
            super(message);
        }
    }

    public static Backend create(Device device, int cpuThreads) {
        if (device.type() == Device.Type.CPU) {
            return new CpuBackend(cpuThreads);
        }
        List<String> reasons = new ArrayList<>();
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
            if (p.deviceType() != device.type()) {
                continue;
            }
            var reason = p.unavailableReason();
            if (reason.isEmpty()) {
                return p.create(device);
            }
            reasons.add(reason.get());
        }
        if (reasons.isEmpty()) {
            throw new UnavailableException("device " + device + " was requested but no backend for it is on"
                    + " the class path (the oialr4j-native jar provides cuda).");
        }
        throw new UnavailableException("device " + device + " is not available: " + String.join("; ", reasons));
    }
}
