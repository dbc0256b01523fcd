package dev.oialr4j.optim;

import static dev.oialr4j.optim.OptimTestSupport.param;
import static dev.oialr4j.optim.OptimTestSupport.setGrad;
import static dev.oialr4j.optim.OptimTestSupport.toDouble;
import static dev.oialr4j.optim.OptimTestSupport.uniform;
import static dev.oialr4j.optim.OptimTestSupport.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link AdamW} on Parameters against a double-precision AdamW (decoupled decay p -= lr wd p, bias
 * corrected moments). Tolerances: parameters 1e-6 |p| + 1e-5 lr per step taken; moments 1e-5 of the
 * same moving average taken over |g| (m) or 1e-5 relative (v).
 */
class AdamWTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    /** Double-precision AdamW state of one parameter. */
    private static final class Ref {
        final double[] p;
        final double[] m;
        final double[] mAbs;
        final double[] v;
        long step;

        Ref(float[] p0) {
            p = toDouble(p0);
            m = new double[p0.length];
            mAbs = new double[p0.length];
            v = new double[p0.length];
        }

        void update(float[] g, double lr, double b1, double b2, double eps, double wd) {
            step++;
            for (int i = 0; i < p.length; i++) {
                p[i] -= lr * wd * p[i];
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                mAbs[i] = b1 * mAbs[i] + (1 - b1) * Math.abs(g[i]);
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                double mHat = m[i] / (1 - Math.pow(b1, step));
                double vHat = v[i] / (1 - Math.pow(b2, step));
                p[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
            }
        }

        void check(String what, Parameter param, ParamState.Adam s, double lrMax) {
            float[] got = param.value().data();
            float[] gm = s.m.data();
            float[] gv = s.v.data();
            assertEquals(step, s.step, what + " step count");
            for (int i = 0; i < p.length; i++) {
                assertEquals(p[i], got[i], 1e-6 * Math.abs(p[i]) + 1e-5 * lrMax * step, what + " p[" + i + "]");
                assertEquals(m[i], gm[i], 1e-5 * mAbs[i] + 1e-12, what + " m[" + i + "]");
                assertEquals(v[i], gv[i], 1e-5 * v[i] + 1e-15, what + " v[" + i + "]");
            }
        }
    }

    @Test
    void matchesDoubleReferenceOverSeveralStepsWithGroupsAndChangingLr() {
        Parameter w = param("w", 1, 7, 19);
        Parameter b = param("b", 2, 19);
        ParamGroup decay = new ParamGroup("decay", List.of(w), 0.1, 1.0);
        ParamGroup noDecay = new ParamGroup("no_decay", List.of(b), 0.0, 0.5);
        double b1 = 0.8;
        double b2 = 0.99;
        double eps = 1e-6;
        AdamW opt = new AdamW(be, List.of(decay, noDecay), 0.01, b1, b2, eps);
        Ref rw = new Ref(values(w));
        Ref rb = new Ref(values(b));
        double[] lrs = {0.01, 0.02, 0.005, 0.01, 0.03, 0.001, 0.01};
        for (int s = 0; s < lrs.length; s++) {
            float[] gw = uniform(100 + s, w.value().size(), -2, 2);
            float[] gb = uniform(200 + s, b.value().size(), -0.1, 0.1);
            setGrad(be, w, gw);
            setGrad(be, b, gb);
            opt.setLr(lrs[s]);
            opt.step();
            // the optimizer runs in float: compare with the float-rounded hyper-parameters it uses
            rw.update(gw, (float) lrs[s], (float) b1, (float) b2, (float) eps, (float) 0.1);
            rb.update(gb, (float) (lrs[s] * 0.5), (float) b1, (float) b2, (float) eps, 0);
            rw.check("w after step " + (s + 1), w, (ParamState.Adam) opt.state(w), 0.03);
            rb.check("b after step " + (s + 1), b, (ParamState.Adam) opt.state(b), 0.03);
        }
    }

    @Test
    void stateExposesMomentsAndCountsOnlyAppliedSteps() {
        Parameter p = param("p", 3, 4, 6);
        Parameter idle = param("idle", 4, 5);
        AdamW opt = new AdamW(be, List.of(new ParamGroup("all", List.of(p, idle), 0.0, 1.0)), 1e-3);
        assertEquals(0.9f, opt.beta1());
        assertEquals(0.999f, opt.beta2());
        assertNull(opt.state(p), "no state before the first update");
        float[] g = uniform(5, 24, -1, 1);
        setGrad(be, p, g);
        opt.step();
        ParamState.Adam s = assertInstanceOf(ParamState.Adam.class, opt.state(p));
        assertEquals(1, s.step);
        assertArrayEquals(p.dims(), s.m.dims());
        assertArrayEquals(p.dims(), s.v.dims());
        for (int i = 0; i < g.length; i++) {
            // the kernel uses the float betas: 1 - 0.9f and 1 - 0.999f
            double m1 = (1 - (double) 0.9f) * g[i];
            double v1 = (1 - (double) 0.999f) * g[i] * g[i];
            assertEquals(m1, s.m.data()[i], 1e-6 * Math.abs(m1));
            assertEquals(v1, s.v.data()[i], 1e-6 * v1);
        }
        assertNull(opt.state(idle), "a parameter without a gradient gets no state");
        assertEquals(1, opt.allState().size());

        // no fresh gradient: nothing moves and the step count stays
        opt.zeroGrad();
        float[] before = values(p);
        opt.step();
        assertArrayEquals(before, p.value().data());
        assertEquals(1, s.step);

        for (int k = 2; k <= 4; k++) {
            setGrad(be, p, uniform(5 + k, 24, -1, 1));
            opt.step();
            assertSame(s, opt.state(p), "state object is kept between steps");
            assertEquals(k, s.step);
        }

        // state replaced from outside is used: zero moments with step 0 behave like a fresh start
        s.m = be.zeros(4, 6);
        s.v = be.zeros(4, 6);
        s.step = 0;
        Parameter twin = new Parameter("twin", p.value().copy());
        AdamW opt2 = new AdamW(be, List.of(new ParamGroup("all", List.of(twin), 0.0, 1.0)), 1e-3);
        float[] g2 = uniform(50, 24, -1, 1);
        setGrad(be, p, g2);
        setGrad(be, twin, g2);
        opt.step();
        opt2.step();
        assertEquals(1, s.step);
        assertArrayEquals(twin.value().data(), p.value().data());
        assertArrayEquals(((ParamState.Adam) opt2.state(twin)).m.data(), s.m.data());
        assertArrayEquals(((ParamState.Adam) opt2.state(twin)).v.data(), s.v.data());
    }

    @Test
    void stateOfTheWrongShapeIsRejected() {
        Parameter p = param("p", 6, 3, 4);
        AdamW opt = new AdamW(be, List.of(new ParamGroup("all", List.of(p), 0.0, 1.0)), 1e-3);
        setGrad(be, p, uniform(7, 12, -1, 1));
        opt.step();
        p.setValue(Tensor.zeros(2, 4));
        setGrad(be, p, uniform(8, 8, -1, 1));
        IllegalStateException e = assertThrows(IllegalStateException.class, opt::step);
        assertEquals(true, e.getMessage().contains("[3, 4]") && e.getMessage().contains("[2, 4]"), e.getMessage());
        // dropping the state makes it start afresh with the new shape
        opt.setState(p, null);
        opt.step();
        ParamState.Adam s = (ParamState.Adam) opt.state(p);
        assertEquals(1, s.step);
        assertArrayEquals(new int[] {2, 4}, s.m.dims());
    }

    @Test
    void constructorValidation() {
        Parameter p = param("p", 9, 3);
        List<ParamGroup> g = List.of(new ParamGroup("g", List.of(p), 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(be, g, 1e-3, 1.0, 0.999, 1e-8));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(be, g, 1e-3, 0.9, 1.0, 1e-8));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(be, g, 1e-3, -0.1, 0.999, 1e-8));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(be, g, 1e-3, 0.9, 0.999, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(be, g, -1e-3));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(be, g, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(be,
                List.of(new ParamGroup("a", List.of(p), 0, 1), new ParamGroup("b", List.of(p), 0, 1)), 1e-3));
        assertEquals(g, new AdamW(be, g, 1e-3).groups());
    }
}
