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

    /**
     * Empty when {@link #create} can make a backend for {@code device}'s type here; otherwise the sentence it
     * would throw. Probes the providers (the first probe may load native libraries) but creates nothing.
     */
    public static java.util.Optional<String> unavailableReason(Device device) {
        if (device.type() == Device.Type.CPU) {
            return java.util.Optional.empty();
        }
        List<String> reasons = new ArrayList<>();
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
            if (p.deviceType() != device.type()) {
                continue;
            }
            var reason = p.unavailableReason();
            if (reason.isEmpty()) {
                return java.util.Optional.empty();
            }
            reasons.add(reason.get());
        }
        return java.util.Optional.of(unavailableMessage(device, reasons));
    }

    private static String unavailableMessage(Device device, List<String> reasons) {
        if (reasons.isEmpty()) {
            return "device " + device + " was requested but no backend for it is on"
                    + " the class path (the oialr4j-native jar provides cuda).";
        }
        return "device " + device + " is not available: " + String.join("; ", reasons);
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
        throw new UnavailableException(unavailableMessage(device, reasons));
    }
}
