package dev.oialr4j.lowrank;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.nn.Conv2d;
import dev.oialr4j.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link LowRankConv2d} against a naive double-precision convolution with the kernel U Σ Vᵀ formed in double.
 * Tolerances: forward 1e-5 relative (2-norm), Σ gradient 2e-3 relative against central differences.
 */
class LowRankConv2dTest {

    private static CpuBackend be;

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void tearDown() {
        be.close();
    }

    /** One random low-rank kernel: sizes and factors in double, plus the layer built from them. */
    record Case(int n, int c, int h, int w, int out, int k, int r, Conv2dOptions o, double[] u, double[] s,
            double[] v, double[] b, double[] x) {

        static Case random(long seed, int n, int c, int h, int w, int out, int k, int r, Conv2dOptions o) {
            SplittableRandom rng = new SplittableRandom(seed);
            int patch = c * k * k;
            return new Case(n, c, h, w, out, k, r, o, gen(rng, out * r), gen(rng, r * r), gen(rng, patch * r),
                    gen(rng, out), gen(rng, n * c * h * w));
        }

        LowRankConv2d layer() {
            Parameter bias = new Parameter("bias", be.fromHost(f(b), out));
            return new LowRankConv2d(be.fromHost(f(u), out, r), be.fromHost(f(s), r, r), be.fromHost(f(v), c * k * k, r),
                    bias, c, k, k, o);
        }

        double[] kernel(double[] sigma) {
            int patch = c * k * k;
            double[] wk = new double[out * patch];
            for (int i = 0; i < out; i++) {
                for (int j = 0; j < patch; j++) {
                    double acc = 0;
                    for (int p = 0; p < r; p++) {
                        for (int q = 0; q < r; q++) {
                            acc += u[i * r + p] * sigma[p * r + q] * v[j * r + q];
                        }
                    }
                    wk[i * patch + j] = acc;
                }
            }
            return wk;
        }

        double[] reference(double[] sigma) {
            return conv(x, kernel(sigma), b, n, c, h, w, out, k, o);
        }
    }

    static double[] conv(double[] x, double[] wk, double[] b, int n, int c, int h, int w, int oc, int k,
            Conv2dOptions o) {
        int oh = (h + 2 * o.padH() - o.dilationH() * (k - 1) - 1) / o.strideH() + 1;
        int ow = (w + 2 * o.padW() - o.dilationW() * (k - 1) - 1) / o.strideW() + 1;
        double[] y = new double[n * oc * oh * ow];
        for (int im = 0; im < n; im++) {
            for (int out = 0; out < oc; out++) {
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        double acc = b[out];
                        for (int ci = 0; ci < c; ci++) {
                            for (int ki = 0; ki < k; ki++) {
                                for (int kj = 0; kj < k; kj++) {
                                    int ih = i * o.strideH() - o.padH() + ki * o.dilationH();
                                    int iw = j * o.strideW() - o.padW() + kj * o.dilationW();
                                    if (ih >= 0 && ih < h && iw >= 0 && iw < w) {
                                        acc += x[((im * c + ci) * h + ih) * w + iw]
                                                * wk[((out * c + ci) * k + ki) * k + kj];
                                    }
                                }
                            }
                        }
                        y[((im * oc + out) * oh + i) * ow + j] = acc;
                    }
                }
            }
        }
        return y;
    }

    @ParameterizedTest(name = "n={0} c={1} {2}x{2} out={3} k={4} r={5} stride={6} pad={7} dil={8}")
    @CsvSource({"3, 6, 8, 10, 3, 2, 1, 1, 1", "2, 8, 9, 12, 3, 3, 2, 1, 1", "2, 4, 7, 6, 3, 1, 1, 2, 2",
            "2, 3, 6, 8, 3, 8, 1, 1, 1", "2, 5, 5, 7, 1, 4, 1, 0, 1"})
    void forwardEqualsDenseConvolutionWithTheMaterialisedKernelAndSigmaGradientMatchesFiniteDifferences(int n, int c,
            int h, int out, int k, int r, int stride, int pad, int dil) {
        Conv2dOptions o = Conv2dOptions.of(stride, pad, dil, 1);
        Case cs = Case.random(17 + r, n, c, h, h, out, k, r, o);
        LowRankConv2d layer = cs.layer();
        Tape tape = new Tape(be);
        Ops ops = new Ops(tape);
        Variable x = Variable.constant(be.fromHost(f(cs.x), n, c, h, h));
        Variable y = layer.forward(ops, x);
        double[] ref = cs.reference(cs.s);
        assertClose("forward", ref, d(be.toHost(y.value())), 1e-5);

        // Σ gradient of L = Σ wᵢ yᵢ against central differences of the double reference.
        SplittableRandom rng = new SplittableRandom(4);
        double[] wts = gen(rng, ref.length);
        Variable loss = ops.sum(ops.mul(y, Variable.constant(be.fromHost(f(wts), y.dims()))));
        tape.backward(loss);
        double[] analytic = d(be.toHost(layer.sigma().grad()));
        double[] numeric = new double[r * r];
        double[] sg = cs.s.clone();
        for (int i = 0; i < sg.length; i++) {
            double orig = sg[i];
            double hstep = 1e-6 * Math.max(1, Math.abs(orig));
            sg[i] = orig + hstep;
            double lp = dot(wts, cs.reference(sg));
            sg[i] = orig - hstep;
            double lm = dot(wts, cs.reference(sg));
            sg[i] = orig;
            numeric[i] = (lp - lm) / (2 * hstep);
        }
        assertClose("Σ gradient", numeric, analytic, 2e-3);
        assertEquals(null, layer.u().grad(), "U is frozen");
        assertEquals(null, layer.v().grad(), "V is frozen");
        assertTrue(layer.bias().hasGrad(), "the bias trains");
    }

    @Test
    void bothPathsAreTakenAndAgree() {
        // Rank 2 of a 16 × 72 view: factored. Rank 16 (full) of a 16 × 16 (1×1) view: materialised.
        Case low = Case.random(3, 4, 8, 10, 10, 16, 3, 2, Conv2dOptions.of(1, 1, 1, 1));
        assertTrue(low.layer().factoredFor(4L * 100));
        Case high = Case.random(5, 2, 16, 3, 3, 16, 1, 16, Conv2dOptions.of(1, 0, 1, 1));
        assertFalse(high.layer().factoredFor(2L * 9));
        for (Case cs : new Case[] {low, high}) {
            LowRankConv2d layer = cs.layer();
            Variable y = layer.forward(new Ops(new Tape(be)), Variable.constant(be.fromHost(f(cs.x), cs.n, cs.c, cs.h,
                    cs.w)));
            assertClose("forward rank " + cs.r, cs.reference(cs.s), d(be.toHost(y.value())), 1e-5);
        }
        // The counts: per pixel 2·K·r + 3·r·out through the factors (V needs no gradient) against 3·K·out dense.
        // A 16 × 144 view is factored even at full rank 16 (5376 < 6912); a 64 × 64 view at rank 64 is not.
        assertTrue(LowRankConv2d.factoredMacs(10_000, 16, 144, 16) < LowRankConv2d.materialisedMacs(10_000, 16, 144, 16));
        assertTrue(LowRankConv2d.factoredMacs(10_000, 64, 64, 64) > LowRankConv2d.materialisedMacs(10_000, 64, 64, 64));
    }

    @Test
    void toDenseGivesTheSameConvolutionAndSharesTheBias() {
        Case cs = Case.random(8, 2, 5, 7, 7, 6, 3, 3, Conv2dOptions.of(2, 1, 1, 1));
        LowRankConv2d layer = cs.layer();
        Conv2d dense = layer.toDense(be);
        assertSame(layer.bias(), dense.bias());
        assertEquals(java.util.List.of(6, 5, 3, 3), java.util.Arrays.stream(dense.weight().value().dims()).boxed().toList());
        Variable y = dense.forward(new Ops(new Tape(be)), Variable.constant(be.fromHost(f(cs.x), cs.n, cs.c, cs.h, cs.w)));
        assertClose("dense forward", cs.reference(cs.s), d(be.toHost(y.value())), 1e-5);
    }

    @Test
    void filtersFollowAReplacedV() {
        Case cs = Case.random(9, 2, 4, 6, 6, 8, 3, 2, Conv2dOptions.of(1, 1, 1, 1));
        LowRankConv2d layer = cs.layer();
        Variable x = Variable.constant(be.fromHost(f(cs.x), cs.n, cs.c, cs.h, cs.w));
        layer.forward(new Ops(new Tape(be)), x);
        double[] v2 = gen(new SplittableRandom(1), cs.v.length);
        layer.v().setValue(be.fromHost(f(v2), cs.v.length / cs.r, cs.r));
        Case changed = new Case(cs.n, cs.c, cs.h, cs.w, cs.out, cs.k, cs.r, cs.o, cs.u, cs.s, v2, cs.b, cs.x);
        Variable y = layer.forward(new Ops(new Tape(be)), x);
        assertClose("forward after V changed", changed.reference(cs.s), d(be.toHost(y.value())), 1e-5);
    }

    @Test
    void badFactorsAreRejectedWithTheirShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new LowRankConv2d(Tensor.zeros(4, 2), Tensor.zeros(2, 2), Tensor.zeros(10, 2), null, 2, 3, 3,
                        Conv2dOptions.DEFAULT));
        assertTrue(e.getMessage().contains("[10, 2]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LowRankConv2d(Tensor.zeros(4, 2), Tensor.zeros(2, 2),
                Tensor.zeros(18, 2), null, 2, 3, 3, Conv2dOptions.of(1, 1, 1, 2)));
    }

    static void assertClose(String what, double[] expected, double[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double num = 0;
        double den = 0;
        for (int i = 0; i < expected.length; i++) {
            double diff = expected[i] - actual[i];
            num += diff * diff;
            den += expected[i] * expected[i];
        }
        double rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
        assertTrue(rel <= tol, what + ": relative error " + rel + " exceeds " + tol);
    }

    static double[] gen(SplittableRandom rng, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rng.nextDouble(-1, 1);
        }
        return a;
    }

    static float[] f(double[] a) {
        float[] o = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            o[i] = (float) a[i];
        }
        return o;
    }

    static double[] d(float[] a) {
        double[] o = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            o[i] = a[i];
        }
        return o;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
