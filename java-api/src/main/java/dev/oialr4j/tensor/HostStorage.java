package dev.oialr4j.tensor;

/** Host memory: a plain float array, row-major. */
public record HostStorage(float[] data) implements Storage {

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public int length() {
        return data.length;
    }
}
