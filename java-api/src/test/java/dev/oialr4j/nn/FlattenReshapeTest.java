package dev.oialr4j.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** Flatten and Reshape keep the batch dimension, the values, and route the gradient back. */
class FlattenReshapeTest {

    @Test
    void flattenAndReshapeAreViewsWithGradients() {
        try (CpuBackend be = new CpuBackend(1)) {
            float[] data = new float[2 * 3 * 2 * 2];
            for (int i = 0; i < data.length; i++) {
                data[i] = i;
            }
            Tape tape = new Tape(be);
            Ops ops = new Ops(tape);
            Variable x = new Variable(Tensor.of(data.clone(), 2, 3, 2, 2), true);
            Variable flat = new Flatten().forward(ops, x);
            assertArrayEquals(new int[] {2, 12}, flat.dims());
            assertArrayEquals(data, flat.value().data());
            Variable back = new Reshape(3, 4).forward(ops, flat);
            assertArrayEquals(new int[] {2, 3, 4}, back.dims());
            Tensor w = be.zeros(2, 3, 4);
            for (int i = 0; i < 24; i++) {
                w.data()[i] = 2 * i + 1;
            }
            tape.backward(ops.sum(ops.mul(back, Variable.constant(w))));
            assertArrayEquals(new int[] {2, 3, 2, 2}, x.grad().dims());
            assertArrayEquals(w.data(), x.grad().data(), "d/dx Σ w·x = w, in x's shape");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Reshape(5).forward(new Ops(new Tape(be)), Variable.constant(Tensor.zeros(2, 12))));
            assertTrue(e.getMessage().contains("[2, 12]") && e.getMessage().contains("[5]"), e.getMessage());
        }
    }
}
