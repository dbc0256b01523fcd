package dev.oialr4j.tensor;

import java.util.Arrays;

/**
 * A dense, contiguous, row-major float32 tensor. A tensor is a shape over a {@link Storage}; reshaping
 * gives a view over the same storage. Arithmetic lives in {@code dev.oialr4j.backend.Backend}, not here.
 */
public final class Tensor {

    private final Shape shape;
    private final Storage storage;

    public Tensor(Storage storage, Shape shape) {
        if (storage.length() != shape.size()) {
            throw new IllegalArgumentException(
                    "storage of " + storage.length() + " elements does not fit shape " + shape);
        }
        this.storage = storage;
        this.shape = shape;
    }

    /** A host tensor of zeros. */
    public static Tensor zeros(int... dims) {
        Shape s = Shape.of(dims);
        return new Tensor(new HostStorage(new float[s.size()]), s);
    }

    /** A host tensor over {@code data} (not copied). */
    public static Tensor of(float[] data, int... dims) {
        return new Tensor(new HostStorage(data), Shape.of(dims));
    }

    /** A host scalar. */
    public static Tensor scalar(float v) {
        return of(new float[] {v});
    }

    public Shape shape() {
        return shape;
    }

    public int[] dims() {
        return shape.dims();
    }

    public int dim(int i) {
        return shape.dim(i);
    }

    public int rank() {
        return shape.rank();
    }

    public int size() {
        return shape.size();
    }

    /** Rows of the 2-D view (all but the last dimension). */
    public int rows() {
        return shape.rows();
    }

    /** Columns of the 2-D view (the last dimension). */
    public int cols() {
        return shape.cols();
    }

    public Storage storage() {
        return storage;
    }

    public Device device() {
        return storage.device();
    }

    public boolean isHost() {
        return storage instanceof HostStorage;
    }

    /** The backing array of a host tensor; throws for device tensors. */
    public float[] data() {
        if (storage instanceof HostStorage h) {
            return h.data();
        }
        throw new IllegalStateException("tensor lives on " + device() + "; copy it to the host first");
    }

    /** A view with another shape of the same size, sharing storage. */
    public Tensor reshape(int... dims) {
        Shape s = Shape.of(dims);
        if (s.size() != shape.size()) {
            throw new IllegalArgumentException("cannot reshape " + shape + " to " + s + ": sizes differ");
        }
        return new Tensor(storage, s);
    }

    /** Host element at a multi-index (slow; for tests and small reads). */
    public float get(int... index) {
        return data()[offset(index)];
    }

    /** Sets a host element at a multi-index (slow; for tests and small writes). */
    public void set(float v, int... index) {
        data()[offset(index)] = v;
    }

    private int offset(int[] index) {
        if (index.length != shape.rank()) {
            throw new IllegalArgumentException(
                    "index " + Arrays.toString(index) + " does not match shape " + shape);
        }
        int[] st = shape.strides();
        int off = 0;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape.dim(i)) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(index) + " out of " + shape);
            }
            off += index[i] * st[i];
        }
        return off;
    }

    /** A host copy of this host tensor. */
    public Tensor copy() {
        return new Tensor(new HostStorage(data().clone()), shape);
    }

    /** Throws unless this tensor has exactly the given shape. */
    public Tensor requireShape(String what, int... dims) {
        if (!Arrays.equals(shape.dims(), dims)) {
            throw new IllegalArgumentException(
                    what + " must have shape " + Arrays.toString(dims) + " but has " + shape);
        }
        return this;
    }

    @Override
    public String toString() {
        return "Tensor" + shape + "@" + device();
    }
}
