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
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.CpuBackend;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Sgd} on Parameters against a double-precision SGD (L2 weight decay added to the gradient,
 * buf = g on the first step, Nesterov g + momentum * buf). Tolerance: 1e-6 (|p| + lr * 20 * steps), 20
 * bounding |update| for gradients in [-1, 1] and momentum at most 0.9.
 */
class SgdTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    @ParameterizedTest(name = "momentum={0} nesterov={1}")
    @CsvSource({"0,false", "0.9,false", "0.5,true", "0.9,true"})
    void matchesDoubleReference(double momentum, boolean nesterov) {
        Parameter w = param("w", 11, 6, 9);
        Parameter b = param("b", 12, 9);
        double wd = 0.05;
        double lr = 0.1;
        Sgd opt = new Sgd(be, List.of(new ParamGroup("decay", List.of(w), wd, 1.0),
                new ParamGroup("no_decay", List.of(b), 0.0, 2.0)), lr, momentum, nesterov);
        assertEquals((float) momentum, opt.momentum());
        double[][] p = {toDouble(values(w)), toDouble(values(b))};
        double[][] buf = {new double[p[0].length], new double[p[1].length]};
        Parameter[] ps = {w, b};
        double[] wds = {wd, 0};
        double[] lrs = {lr, 2 * lr};
        int steps = 5;
        for (int s = 0; s < steps; s++) {
            float[][] g = {uniform(300 + s, p[0].length, -1, 1), uniform(400 + s, p[1].length, -1, 1)};
            setGrad(be, w, g[0]);
            setGrad(be, b, g[1]);
            opt.step();
            for (int k = 0; k < 2; k++) {
                float[] got = ps[k].value().data();
                for (int i = 0; i < got.length; i++) {
                    double gi = g[k][i] + (float) wds[k] * p[k][i];
                    double update = gi;
                    if (momentum != 0) {
                        buf[k][i] = s == 0 ? gi : (float) momentum * buf[k][i] + gi;
                        update = nesterov ? gi + (float) momentum * buf[k][i] : buf[k][i];
                    }
                    p[k][i] -= (float) lrs[k] * update;
                    assertEquals(p[k][i], got[i], 1e-6 * (Math.abs(p[k][i]) + lrs[k] * 20 * (s + 1)),
                            ps[k].name() + "[" + i + "] after step " + (s + 1));
                }
                if (momentum == 0) {
                    assertNull(opt.state(ps[k]), "plain SGD keeps no state");
                } else {
                    ParamState.Momentum st = assertInstanceOf(ParamState.Momentum.class, opt.state(ps[k]));
                    float[] gotBuf = st.buf.data();
                    for (int i = 0; i < gotBuf.length; i++) {
                        assertEquals(buf[k][i], gotBuf[i], 1e-6 * 20 * (s + 1), "buf[" + i + "]");
                    }
                }
            }
        }
    }

    @Test
    void firstStepSetsTheBufferToTheDecayedGradient() {
        Parameter w = param("w", 13, 4, 5);
        float wd = 0.1f;
        Sgd opt = new Sgd(be, List.of(new ParamGroup("g", List.of(w), wd, 1.0)), 0.1, 0.9, false);
        float[] p0 = values(w);
        float[] g = uniform(14, 20, -1, 1);
        setGrad(be, w, g);
        assertNull(opt.state(w));
        opt.step();
        float[] buf = ((ParamState.Momentum) opt.state(w)).buf.data();
        for (int i = 0; i < 20; i++) {
            float expected = g[i] + wd * p0[i]; // exactly what the kernel computes in float
            assertEquals(expected, buf[i], "buf[" + i + "] after the first step");
            assertEquals(p0[i] - 0.1f * expected, w.value().data()[i], "p[" + i + "] after the first step");
        }
        // a buffer dropped from outside (null) restarts the momentum: buf = g again
        ((ParamState.Momentum) opt.state(w)).buf = null;
        float[] p1 = values(w);
        float[] g2 = uniform(15, 20, -1, 1);
        setGrad(be, w, g2);
        opt.step();
        float[] buf2 = ((ParamState.Momentum) opt.state(w)).buf.data();
        for (int i = 0; i < 20; i++) {
            assertEquals(g2[i] + wd * p1[i], buf2[i], "restarted buf[" + i + "]");
        }
    }

    @Test
    void constructorValidation() {
        List<ParamGroup> g = List.of(new ParamGroup("g", List.of(param("p", 1, 2)), 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new Sgd(be, g, 0.1, 1.0, false));
        assertThrows(IllegalArgumentException.class, () -> new Sgd(be, g, 0.1, -0.5, false));
        assertThrows(IllegalArgumentException.class, () -> new Sgd(be, g, 0.1, 0.0, true));
        assertThrows(IllegalArgumentException.class, () -> new Sgd(be, g, -0.1, 0.0, false));
        assertThrows(IllegalArgumentException.class, () -> new ParamGroup("bad", List.of(), -0.1, 1));
        assertThrows(IllegalArgumentException.class, () -> new ParamGroup("bad", List.of(), 0, -1));
    }

    @Test
    void zeroLearningRateLeavesParametersBitIdentical() {
        Parameter w = param("w", 16, 3, 3);
        float[] before = values(w);
        Sgd opt = new Sgd(be, List.of(new ParamGroup("g", List.of(w), 0.0, 1.0)), 0.0, 0.9, true);
        setGrad(be, w, uniform(17, 9, -1, 1));
        opt.step();
        assertArrayEquals(before, w.value().data());
    }
}
