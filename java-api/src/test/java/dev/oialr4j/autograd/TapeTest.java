package dev.oialr4j.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The tape's bookkeeping: what gets recorded, when gradients accumulate or are overwritten, and what is
 * released after backward. Gradient values are checked against double sums with tolerance 1e-5
 * relative (float32 GEMM accumulation over a few rows).
 */
class TapeTest {

    private static CpuBackend be;
    private Tape tape;
    private Ops ops;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    @BeforeEach
    void newTape() {
        tape = new Tape(be);
        ops = new Ops(tape);
    }

    static float[] uniform(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (2 * r.nextDouble() - 1);
        }
        return a;
    }

    static Parameter param(String name, long seed, int... dims) {
        int n = 1;
        for (int d : dims) {
            n *= d;
        }
        return new Parameter(name, Tensor.of(uniform(seed, n), dims));
    }

    static Variable constant(long seed, int... dims) {
        int n = 1;
        for (int d : dims) {
            n *= d;
        }
        return Variable.constant(Tensor.of(uniform(seed, n), dims));
    }

    /** sum(p * c): its gradient with respect to p is exactly c. */
    Variable dot(Parameter p, Variable c) {
        return ops.sum(ops.mul(p, c));
    }

    @Test
    void backwardNeedsAScalar() {
        Parameter p = param("p", 1, 2, 3);
        Variable y = ops.mul(p, constant(2, 2, 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tape.backward(y));
        assertTrue(e.getMessage().contains("[2, 3]"), e.getMessage());
        assertFalse(p.hasGrad());
        // a 1-element loss of any rank is fine
        Variable s = ops.sum(y);
        tape.backward(s);
        assertTrue(p.hasGrad());
    }

    @Test
    void backwardOnALossWithoutGradientThrowsAndClears() {
        Variable c = constant(3, 4);
        Variable loss = ops.sum(c);
        assertFalse(loss.requiresGrad());
        assertThrows(IllegalStateException.class, () -> tape.backward(loss));
        assertEquals(0, tape.size());
    }

    @Test
    void noGradScopesRecordNothingAndNest() {
        Parameter w = param("w", 4, 3, 5);
        Variable x = constant(5, 2, 5);
        assertTrue(tape.recording());
        try (Tape.Scope outer = tape.noGrad()) {
            Variable y = ops.relu(ops.linear(x, w, null));
            assertFalse(y.requiresGrad());
            assertFalse(tape.recording());
            try (Tape.Scope inner = tape.noGrad()) {
                assertFalse(ops.sum(ops.mul(w, w)).requiresGrad());
                inner.close(); // closing twice is harmless
            }
            assertFalse(tape.recording(), "still inside the outer scope");
            assertFalse(ops.gelu(ops.linear(x, w, null)).requiresGrad());
            assertEquals(0, tape.size());
            outer.close();
        }
        assertTrue(tape.recording());
        // the double closes above must not have unbalanced the depth
        try (Tape.Scope again = tape.noGrad()) {
            ops.linear(x, w, null);
            assertEquals(0, tape.size());
        }
        Variable y = ops.linear(x, w, null);
        assertTrue(y.requiresGrad());
        assertEquals(1, tape.size());
        assertNull(w.grad(), "nothing computed a gradient");
    }

    @Test
    void parameterGradientsAccumulateUntilZeroGradThenAreOverwritten() {
        Parameter p = param("p", 6, 3, 4);
        Variable c1 = constant(7, 3, 4);
        Variable c2 = constant(8, 3, 4);
        Variable c3 = constant(9, 3, 4);
        tape.backward(dot(p, c1));
        assertArrayEquals(c1.value().data(), p.grad().data());
        Tensor buffer = p.grad();
        tape.backward(dot(p, c2));
        float[] got = p.grad().data();
        for (int i = 0; i < got.length; i++) {
            assertEquals(c1.value().data()[i] + c2.value().data()[i], got[i], "accumulated [" + i + "]");
        }
        p.zeroGrad();
        assertFalse(p.hasGrad());
        assertSame(buffer, p.grad(), "the buffer is kept for reuse");
        tape.backward(dot(p, c3));
        assertTrue(p.hasGrad());
        assertSame(buffer, p.grad());
        assertArrayEquals(c3.value().data(), p.grad().data(), "overwritten after zeroGrad, not added");
    }

    @Test
    void gemmGradientsAccumulateAndOverwriteToo() {
        // loss = sum(x Wᵀ + b): dW[o, i] = sum_r x[r, i], db[o] = rows
        int rows = 5;
        int in = 4;
        int out = 3;
        Parameter w = param("w", 10, out, in);
        Parameter b = param("b", 11, out);
        Variable x = constant(12, rows, in);
        double[] colSum = new double[in];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < in; i++) {
                colSum[i] += x.value().data()[r * in + i];
            }
        }
        for (int pass = 1; pass <= 3; pass++) {
            if (pass == 3) {
                w.zeroGrad();
                b.zeroGrad();
            }
            tape.backward(ops.sum(ops.linear(x, w, b)));
            int times = pass == 3 ? 1 : pass;
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < in; i++) {
                    double expected = times * colSum[i];
                    assertEquals(expected, w.grad().data()[o * in + i], 1e-5 * (1 + Math.abs(expected)),
                            "dW pass " + pass);
                }
                assertEquals(times * rows, b.grad().data()[o], 1e-5, "db pass " + pass);
            }
        }
    }

    @Test
    void opsOnConstantsOnlyRecordNothing() {
        Variable a = constant(13, 4, 3);
        Variable b = constant(14, 4, 3);
        Variable w = constant(15, 2, 3);
        Parameter frozen = param("frozen", 16, 2, 3);
        frozen.setRequiresGrad(false);
        Variable y = ops.add(ops.mul(a, b), ops.scale(a, 2f));
        y = ops.relu(ops.gelu(y));
        Variable z = ops.linear(y, w, null);
        Variable z2 = ops.linear(y, frozen, null);
        Variable loss = ops.crossEntropy(ops.add(z, z2), new int[] {0, 1, 0, 1}, 0.1f);
        Variable loss2 = ops.mse(ops.softmax(z), ops.logSoftmax(z2));
        for (Variable v : new Variable[] {y, z, z2, loss, loss2}) {
            assertFalse(v.requiresGrad());
        }
        assertEquals(0, tape.size());
        assertThrows(IllegalStateException.class, () -> tape.backward(loss));
        assertNull(frozen.grad());
    }

    @Test
    void intermediateGradientsAreReleasedAfterBackward() {
        Parameter w1 = param("w1", 17, 6, 4);
        Parameter b1 = param("b1", 18, 6);
        Parameter w2 = param("w2", 19, 3, 6);
        Variable input = new Variable(Tensor.of(uniform(20, 5 * 4), 5, 4), true); // a non-parameter leaf
        Variable h1 = ops.linear(input, w1, b1);
        Variable h2 = ops.relu(h1);
        Variable h3 = ops.dropout(h2, 0.2f, 99L);
        Variable logits = ops.linear(h3, w2, null);
        Variable loss = ops.crossEntropy(logits, new int[] {0, 1, 2, 0, 1}, 0f);
        assertEquals(5, tape.size());
        tape.backward(loss);
        assertEquals(0, tape.size(), "backward consumes the tape");
        for (Variable v : new Variable[] {h1, h2, h3, logits, loss}) {
            assertNull(v.grad(), "intermediate " + v + " keeps no gradient");
        }
        assertTrue(w1.hasGrad());
        assertTrue(b1.hasGrad());
        assertTrue(w2.hasGrad());
        assertNotNull(input.grad(), "a leaf variable that requires a gradient keeps it");
    }

    @Test
    void frozenParameterGetsNoGradientButTheInputDoes() {
        Parameter w = param("w", 21, 3, 4);
        w.setRequiresGrad(false);
        Variable x = new Variable(Tensor.of(uniform(22, 8), 2, 4), true);
        Variable loss = ops.sum(ops.linear(x, w, null));
        assertEquals(2, tape.size());
        tape.backward(loss);
        assertNull(w.grad());
        assertFalse(w.hasGrad());
        // d sum(x Wᵀ) / dx[r, i] = sum_o W[o, i]
        for (int r = 0; r < 2; r++) {
            for (int i = 0; i < 4; i++) {
                double s = 0;
                for (int o = 0; o < 3; o++) {
                    s += w.value().data()[o * 4 + i];
                }
                assertEquals(s, x.grad().data()[r * 4 + i], 1e-6);
            }
        }
    }

    @Test
    void clearDropsRecordedOps() {
        Parameter p = param("p", 23, 4);
        ops.sum(ops.mul(p, p));
        assertEquals(2, tape.size());
        tape.clear();
        assertEquals(0, tape.size());
        assertNull(p.grad());
    }
}
