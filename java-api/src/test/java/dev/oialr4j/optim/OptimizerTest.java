package dev.oialr4j.optim;

import static dev.oialr4j.optim.OptimTestSupport.param;
import static dev.oialr4j.optim.OptimTestSupport.setGrad;
import static dev.oialr4j.optim.OptimTestSupport.uniform;
import static dev.oialr4j.optim.OptimTestSupport.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Behaviour shared by the optimizers: which parameters move, groups, replacement of a parameter. */
class OptimizerTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    static Optimizer make(String kind, List<ParamGroup> groups, double lr) {
        return switch (kind) {
            case "adamw" -> new AdamW(be, groups, lr);
            case "sgd" -> new Sgd(be, groups, lr, 0.0, false);
            case "momentum" -> new Sgd(be, groups, lr, 0.9, false);
            case "nesterov" -> new Sgd(be, groups, lr, 0.9, true);
            default -> throw new IllegalArgumentException(kind);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"adamw", "sgd", "momentum", "nesterov"})
    void stepOnlyUpdatesParametersThatRequireAndHaveAGradient(String kind) {
        Parameter fresh = param("fresh", 1, 3, 4);
        Parameter never = param("never", 2, 3, 4);
        Parameter stale = param("stale", 3, 3, 4);
        Parameter frozen = param("frozen", 4, 3, 4);
        List<Parameter> all = List.of(fresh, never, stale, frozen);
        Optimizer opt = make(kind, List.of(new ParamGroup("all", all, 0.1, 1.0)), 0.1);
        setGrad(be, fresh, uniform(5, 12, -1, 1));
        setGrad(be, stale, uniform(6, 12, -1, 1));
        stale.zeroGrad();
        setGrad(be, frozen, uniform(7, 12, -1, 1));
        frozen.setRequiresGrad(false);
        assertTrue(fresh.hasGrad());
        assertFalse(never.hasGrad());
        assertFalse(stale.hasGrad());
        assertNotNull(stale.grad(), "a zeroed parameter keeps its buffer");
        assertFalse(frozen.hasGrad());
        float[][] before = {values(fresh), values(never), values(stale), values(frozen)};
        for (int k = 0; k < 3; k++) {
            opt.step();
        }
        assertFalse(Arrays.equals(before[0], fresh.value().data()), "the parameter with a gradient moves");
        for (int i = 1; i < 4; i++) {
            assertArrayEquals(before[i], all.get(i).value().data(), all.get(i).name() + " must not change");
            assertNull(opt.state(all.get(i)), all.get(i).name() + " gets no state");
        }
        // zeroGrad on the optimizer marks every gradient stale
        opt.zeroGrad();
        float[] moved = values(fresh);
        opt.step();
        assertArrayEquals(moved, fresh.value().data());
    }

    /** A two-layer perceptron trained through Ops and Tape. */
    private static final class Mlp {
        final Parameter w1 = param("w1", 21, 8, 5);
        final Parameter b1 = param("b1", 22, 8);
        final Parameter w2 = param("w2", 23, 3, 8);
        final Parameter b2 = param("b2", 24, 3);
        final List<Parameter> params = List.of(w1, b1, w2, b2);
        final Tensor x = Tensor.of(uniform(25, 16 * 5, -1, 1), 16, 5);
        final int[] labels = new SplittableRandom(26).ints(16, 0, 3).toArray();

        double trainStep(Optimizer opt) {
            Tape tape = new Tape(be);
            Ops ops = new Ops(tape);
            opt.zeroGrad();
            Variable h = ops.relu(ops.linear(Variable.constant(x), w1, b1));
            Variable loss = ops.crossEntropy(ops.linear(h, w2, b2), labels, 0.1f);
            tape.backward(loss);
            opt.step();
            return loss.value().data()[0];
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"adamw", "sgd", "momentum", "nesterov"})
    void frozenParameterIsBitIdenticalWhileTheOthersTrain(String kind) {
        Mlp m = new Mlp();
        Optimizer opt = make(kind, ParamGroup.decayMatricesOnly(m.params, 0.1), 0.05);
        m.w1.setRequiresGrad(false);
        float[] w1 = values(m.w1);
        float[][] others = {values(m.b1), values(m.w2), values(m.b2)};
        double first = m.trainStep(opt);
        double last = first;
        for (int s = 0; s < 30; s++) {
            last = m.trainStep(opt);
        }
        assertArrayEquals(w1, m.w1.value().data(), "frozen w1 must be bit-identical");
        assertNull(m.w1.grad(), "a frozen parameter gets no gradient");
        assertNull(opt.state(m.w1));
        List<Parameter> trained = List.of(m.b1, m.w2, m.b2);
        for (int i = 0; i < 3; i++) {
            assertFalse(Arrays.equals(others[i], trained.get(i).value().data()), trained.get(i).name() + " trains");
        }
        assertTrue(last < first, "loss decreases: " + first + " -> " + last);

        // freezing w2 mid-training (after it has state) stops it too
        m.w2.setRequiresGrad(false);
        float[] w2 = values(m.w2);
        float[] b2 = values(m.b2);
        for (int s = 0; s < 3; s++) {
            m.trainStep(opt);
        }
        assertArrayEquals(w2, m.w2.value().data(), "w2 frozen after training is bit-identical");
        assertFalse(Arrays.equals(b2, m.b2.value().data()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"adamw", "sgd", "momentum"})
    void weightDecayAppliesOnlyToItsGroup(String kind) {
        // With zero gradients the only change is weight decay: p (1 - lr wd) for AdamW (decoupled) and
        // p - lr wd p for SGD (L2 in the gradient; momentum's first buffer is wd p).
        Parameter a = param("a", 31, 4, 4);
        Parameter b = param("b", 32, 4, 4);
        Parameter c = param("c", 33, 4);
        float lr = 0.1f;
        float wd = 0.5f;
        Optimizer opt = make(kind, List.of(new ParamGroup("decay", List.of(a), wd, 1.0),
                new ParamGroup("no_decay", List.of(b, c), 0.0, 1.0)), lr);
        float[][] before = {values(a), values(b), values(c)};
        for (Parameter p : List.of(a, b, c)) {
            setGrad(be, p, new float[p.value().size()]);
        }
        opt.step();
        for (int i = 0; i < 16; i++) {
            assertEquals(before[0][i] * (1 - 0.05), a.value().data()[i], 1e-6, "decayed a[" + i + "]");
        }
        assertArrayEquals(before[1], b.value().data(), "b is in the group without decay");
        assertArrayEquals(before[2], c.value().data(), "c is in the group without decay");

        // decayMatricesOnly: rank >= 2 decays, vectors do not
        List<ParamGroup> split = ParamGroup.decayMatricesOnly(List.of(a, b, c), 0.2);
        assertEquals(List.of(a, b), split.get(0).parameters());
        assertEquals(0.2, split.get(0).weightDecay());
        assertEquals(List.of(c), split.get(1).parameters());
        assertEquals(0.0, split.get(1).weightDecay());
    }

    @ParameterizedTest
    @ValueSource(strings = {"adamw", "sgd"})
    void lrScaleAndBaseLrApplyPerGroup(String kind) {
        // AdamW's first step moves each coordinate by lr * sign(g); plain SGD by lr * g.
        Parameter a = param("a", 41, 10);
        Parameter b = param("b", 42, 10);
        ParamGroup ga = new ParamGroup("a", List.of(a), 0, 1.0);
        ParamGroup gb = new ParamGroup("b", List.of(b), 0, 0.25);
        Optimizer opt = make(kind, List.of(ga, gb), 0.1);
        opt.setLr(0.2);
        assertEquals(0.2, opt.lr());
        float[] g = uniform(43, 10, 0.5, 1);
        float[] a0 = values(a);
        float[] b0 = values(b);
        setGrad(be, a, g);
        setGrad(be, b, g);
        opt.step();
        for (int i = 0; i < 10; i++) {
            double unit = kind.equals("adamw") ? 1 : g[i];
            assertEquals(a0[i] - 0.2 * unit, a.value().data()[i], 1e-6);
            assertEquals(b0[i] - 0.05 * unit, b.value().data()[i], 1e-6);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"adamw", "momentum"})
    void replaceParameterKeepsTheSlotAndDropsOldState(String kind) {
        Parameter p1 = param("p1", 51, 3, 4);
        Parameter p2 = param("p2", 52, 3, 4);
        Parameter p3 = param("p3", 53, 4);
        Parameter other = param("other", 54, 2);
        ParamGroup g1 = new ParamGroup("g1", List.of(p1, p2, p3), 0.01, 1.0);
        ParamGroup g2 = new ParamGroup("g2", List.of(other), 0.0, 1.0);
        Optimizer opt = make(kind, List.of(g1, g2), 0.01);
        for (Parameter p : List.of(p1, p2, p3, other)) {
            setGrad(be, p, uniform(55, p.value().size(), -1, 1));
        }
        opt.step();
        ParamState s1 = opt.state(p1);
        assertNotNull(opt.state(p2));
        Parameter q = param("q", 56, 3, 2); // a different shape, as when a rank changes
        assertSame(g1, opt.replaceParameter(p2, q));
        assertEquals(List.of(p1, q, p3), g1.parameters(), "same group, same position");
        assertNull(opt.state(p2), "old state dropped");
        assertNull(opt.state(q));
        assertSame(s1, opt.state(p1), "other state kept");
        assertSame(g1, opt.groupOf(q));
        assertNull(opt.groupOf(p2));
        assertSame(g2, opt.groupOf(other));
        setGrad(be, q, uniform(57, 6, -1, 1));
        float[] p2Before = values(p2);
        opt.step();
        ParamState sq = opt.state(q);
        assertNotNull(sq, "the replacement is optimised");
        if (sq instanceof ParamState.Adam adam) {
            assertEquals(1, adam.step);
            assertArrayEquals(new int[] {3, 2}, adam.m.dims());
        } else {
            assertArrayEquals(new int[] {3, 2}, ((ParamState.Momentum) sq).buf.dims());
        }
        assertArrayEquals(p2Before, p2.value().data(), "the replaced parameter is no longer updated");
        assertThrows(IllegalArgumentException.class, () -> opt.replaceParameter(p2, q));
    }
}
