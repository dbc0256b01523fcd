package dev.oialr4j.tensor;

/** Element types. Only float32 is implemented; the enum exists so storage code states what it holds. */
public enum DType {
    FLOAT32(4);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }
}
