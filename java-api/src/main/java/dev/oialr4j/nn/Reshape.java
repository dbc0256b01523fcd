package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;
import java.util.Arrays;

/**
 * Views every example as the given shape, keeping the batch dimension: e.g. flat Fashion-MNIST rows
 * [N, 784] as images [N, 1, 28, 28].
 */
public final class Reshape extends Module {

    private final int[] exampleShape;
    private final int exampleSize;

    public Reshape(int... exampleShape) {
        this.exampleShape = exampleShape.clone();
        int s = 1;
        for (int d : exampleShape) {
            if (d < 1) {
                throw new IllegalArgumentException("Reshape needs positive sizes, got " + Arrays.toString(exampleShape));
            }
            s *= d;
        }
        this.exampleSize = s;
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        int n = x.dims()[0];
        if ((long) n * exampleSize != x.value().size()) {
            throw new IllegalArgumentException("cannot view input " + x.value().shape() + " as " + n + " examples of "
                    + Arrays.toString(exampleShape));
        }
        int[] dims = new int[exampleShape.length + 1];
        dims[0] = n;
        System.arraycopy(exampleShape, 0, dims, 1, exampleShape.length);
        if (Arrays.equals(dims, x.dims())) {
            return x;
        }
        return ops.reshape(x, dims);
    }

    @Override
    public String toString() {
        return "Reshape" + Arrays.toString(exampleShape);
    }
}
