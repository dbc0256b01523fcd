package dev.oialr4j.lowrank;

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
import dev.oialr4j.nn.Linear;
import dev.oialr4j.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link LowRankLinear} against a naive double-precision reference y = x·(U Σ Vᵀ)ᵀ + b.
 *
 * <p>Tolerances: forward outputs 1e-5 relative (2-norm over all outputs; float32 GEMMs of length ≤ 24);
 * gradients 1e-4 relative against central differences of the double reference (the loss is linear in Σ,
 * b and x, so the numeric side is exact up to double rounding and the error is float32 rounding of the
 * analytic side).
 */
class LowRankLinearTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    /** One configuration: input dims (last = in), out, rank, bias, and the path the layer must choose. */
    record Case(String name, int[] xDims, int out, int r, boolean bias, boolean factored) {
        int in() {
            return xDims[xDims.length - 1];
        }

        int rows() {
            int n = 1;
            for (int i = 0; i < xDims.length - 1; i++) {
                n *= xDims[i];
            }
            return n;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static List<Case> cases() {
        return List.of(
                new Case("factored 5x20 -> 24, r=4", new int[] {5, 20}, 24, 4, true, true),
                new Case("factored no bias 3x9 -> 7, r=3", new int[] {3, 9}, 7, 3, false, true),
                new Case("factored 1x16 -> 12, r=10 (one row)", new int[] {1, 16}, 12, 10, true, true),
                new Case("materialised 64x16 -> 12, r=10", new int[] {64, 16}, 12, 10, true, false),
                new Case("materialised 48x8 -> 8, r=8 no bias", new int[] {48, 8}, 8, 8, false, false),
                new Case("factored N-D 2x3x10 -> 6, r=2", new int[] {2, 3, 10}, 6, 2, true, true),
                new Case("materialised N-D 4x16x16 -> 12, r=10", new int[] {4, 16, 16}, 12, 10, true, false));
    }

    /** Double-precision inputs of one case (the float copies the layer sees are exactly these values). */
    private static final class Data {
        final Case c;
        final double[] u;
        final double[] s;
        final double[] v;
        final double[] b;
        final double[] x;
        final double[] w; // loss weights: L = Σ w ⊙ y

        Data(Case c, long seed) {
            this.c = c;
            SplittableRandom rng = new SplittableRandom(seed);
            u = random(rng, c.out() * c.r());
            s = random(rng, c.r() * c.r()); // a full, non-diagonal Σ, as after some training
            v = random(rng, c.in() * c.r());
            b = c.bias() ? random(rng, c.out()) : null;
            x = random(rng, c.rows() * c.in());
            w = random(rng, c.rows() * c.out());
        }

        LowRankLinear layer() {
            Parameter bias = b == null ? null : new Parameter("bias", be.fromHost(toFloat(b), c.out()));
            return new LowRankLinear(be.fromHost(toFloat(u), c.out(), c.r()), be.fromHost(toFloat(s), c.r(), c.r()),
                    be.fromHost(toFloat(v), c.in(), c.r()), bias);
        }

        Variable input(boolean grad) {
            return new Variable(be.fromHost(toFloat(x), c.xDims()), grad);
        }

        /** W = U Σ Vᵀ (out × in) in double. */
        double[] weight(double[] sigma) {
            int out = c.out();
            int in = c.in();
            int r = c.r();
            double[] wt = new double[out * in];
            for (int i = 0; i < out; i++) {
                for (int j = 0; j < in; j++) {
                    double acc = 0;
                    for (int p = 0; p < r; p++) {
                        for (int q = 0; q < r; q++) {
                            acc += u[i * r + p] * sigma[p * r + q] * v[j * r + q];
                        }
                    }
                    wt[i * in + j] = acc;
                }
            }
            return wt;
        }

        /** y = x Wᵀ + b in double, rows × out. */
        double[] forward(double[] sigma, double[] bias, double[] input) {
            return forwardWith(weight(sigma), bias, input);
        }

        double[] forwardWith(double[] wt, double[] bias, double[] input) {
            int out = c.out();
            int in = c.in();
            int rows = c.rows();
            double[] y = new double[rows * out];
            for (int n = 0; n < rows; n++) {
                for (int i = 0; i < out; i++) {
                    double acc = bias == null ? 0 : bias[i];
                    for (int j = 0; j < in; j++) {
                        acc += input[n * in + j] * wt[i * in + j];
                    }
                    y[n * out + i] = acc;
                }
            }
            return y;
        }

        double loss(double[] sigma, double[] bias, double[] input) {
            return dot(w, forward(sigma, bias, input));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void forwardMatchesNaiveDoubleReferenceOnTheChosenPath(Case c) {
        Data d = new Data(c, 11 + c.name().hashCode());
        LowRankLinear layer = d.layer();
        assertEquals(c.factored(), layer.factoredFor(c.rows()), "path chosen for " + c);
        assertEquals(c.r(), layer.rank());
        assertEquals(c.in(), layer.inFeatures());
        assertEquals(c.out(), layer.outFeatures());
        Ops ops = new Ops(new Tape(be));
        Variable y = layer.forward(ops, d.input(false));
        int[] expectedDims = c.xDims().clone();
        expectedDims[expectedDims.length - 1] = c.out();
        assertArrayEquals(expectedDims, y.dims(), "output shape keeps the leading dimensions");
        assertClose("forward " + c, d.forward(d.s, d.b, d.x), toDouble(be.toHost(y.value())), 1e-5);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void gradientsOfSigmaBiasAndInputMatchCentralDifferences(Case c) {
        Data d = new Data(c, 29 + c.name().hashCode());
        LowRankLinear layer = d.layer();
        assertEquals(c.factored(), layer.factoredFor(c.rows()));
        Tape tape = new Tape(be);
        Ops ops = new Ops(tape);
        Variable x = d.input(true);
        Variable y = layer.forward(ops, x);
        Variable loss = ops.sum(ops.mul(y, Variable.constant(be.fromHost(toFloat(d.w), y.dims()))));
        tape.backward(loss);

        assertNull(layer.u().grad(), "U is frozen and must receive no gradient");
        assertNull(layer.v().grad(), "V is frozen and must receive no gradient");
        assertFalse(layer.u().hasGrad());
        assertFalse(layer.v().hasGrad());
        assertFalse(layer.u().requiresGrad());
        assertFalse(layer.v().requiresGrad());

        // Σ
        assertNotNull(layer.sigma().grad(), "Σ gets a gradient");
        assertArrayEquals(new int[] {c.r(), c.r()}, layer.sigma().grad().dims());
        double[] numS = new double[d.s.length];
        for (int i = 0; i < numS.length; i++) {
            double[] sp = d.s.clone();
            double[] sm = d.s.clone();
            double h = 1e-6 * Math.max(1, Math.abs(d.s[i]));
            sp[i] += h;
            sm[i] -= h;
            numS[i] = (d.loss(sp, d.b, d.x) - d.loss(sm, d.b, d.x)) / (2 * h);
        }
        assertClose("dΣ " + c, numS, toDouble(be.toHost(layer.sigma().grad())), 1e-4);

        // bias
        if (d.b != null) {
            assertNotNull(layer.bias().grad(), "bias gets a gradient");
            double[] numB = new double[d.b.length];
            for (int i = 0; i < numB.length; i++) {
                double[] bp = d.b.clone();
                double[] bm = d.b.clone();
                bp[i] += 1e-6;
                bm[i] -= 1e-6;
                numB[i] = (d.loss(d.s, bp, d.x) - d.loss(d.s, bm, d.x)) / 2e-6;
            }
            assertClose("db " + c, numB, toDouble(be.toHost(layer.bias().grad())), 1e-4);
        }

        // input (W fixed, so reuse it)
        assertNotNull(x.grad(), "the input gets a gradient");
        assertArrayEquals(c.xDims(), x.grad().dims(), "input gradient has the input's shape");
        double[] wt = d.weight(d.s);
        double[] numX = new double[d.x.length];
        for (int i = 0; i < numX.length; i++) {
            double[] xp = d.x.clone();
            double[] xm = d.x.clone();
            double h = 1e-6 * Math.max(1, Math.abs(d.x[i]));
            xp[i] += h;
            xm[i] -= h;
            numX[i] = (dot(d.w, d.forwardWith(wt, d.b, xp)) - dot(d.w, d.forwardWith(wt, d.b, xm))) / (2 * h);
        }
        assertClose("dx " + c, numX, toDouble(be.toHost(x.grad())), 1e-4);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void toDenseGivesTheSameOutputsAndSharesTheBias(Case c) {
        Data d = new Data(c, 47 + c.name().hashCode());
        LowRankLinear layer = d.layer();
        Linear dense = layer.toDense(be);
        assertEquals(c.in(), dense.inFeatures());
        assertEquals(c.out(), dense.outFeatures());
        assertSame(layer.bias(), dense.bias(), "toDense shares the bias object");
        assertClose("toDense weight " + c, d.weight(d.s), toDouble(be.toHost(dense.weight().value())), 1e-6);
        Ops ops = new Ops(new Tape(be));
        float[] yLow = be.toHost(layer.forward(ops, d.input(false)).value());
        Variable yDense = dense.forward(ops, d.input(false));
        int[] expectedDims = c.xDims().clone();
        expectedDims[expectedDims.length - 1] = c.out();
        assertArrayEquals(expectedDims, yDense.dims());
        double[] ref = d.forward(d.s, d.b, d.x);
        assertClose("dense forward " + c, ref, toDouble(be.toHost(yDense.value())), 1e-5);
        assertClose("dense vs low-rank " + c, toDouble(yLow), toDouble(be.toHost(yDense.value())), 1e-5);
    }

    @Test
    void oneLayerIsCorrectOnBothSidesOfTheFlopCrossover() {
        int out = 12;
        int in = 16;
        int r = 10;
        // Find the batch size at which materialising becomes cheaper for this layer.
        Data probe = new Data(new Case("probe", new int[] {1, in}, out, r, true, true), 5);
        LowRankLinear layer = probe.layer();
        int crossover = -1;
        for (int rows = 1; rows <= 256; rows++) {
            if (!layer.factoredFor(rows)) {
                crossover = rows;
                break;
            }
        }
        assertTrue(crossover > 1, "a batch of one row goes through the factors, crossover at " + crossover);
        for (int rows = crossover; rows <= 256; rows++) {
            assertFalse(layer.factoredFor(rows), "once materialising pays, it keeps paying (rows " + rows + ")");
        }
        // The decision is the documented FLOP comparison.
        for (int rows : new int[] {crossover - 1, crossover}) {
            assertEquals(LowRankLinear.factoredMacs(rows, out, in, r) <= LowRankLinear.materialisedMacs(rows, out, in, r),
                    layer.factoredFor(rows));
        }
        for (int rows : new int[] {crossover - 1, crossover}) {
            SplittableRandom rng = new SplittableRandom(rows);
            double[] x = random(rng, rows * in);
            Case c = new Case("rows " + rows, new int[] {rows, in}, out, r, true, rows < crossover);
            Ops ops = new Ops(new Tape(be));
            float[] y = be.toHost(layer.forward(ops, new Variable(be.fromHost(toFloat(x), rows, in), false)).value());
            Data ref = new Data(c, 5); // same factors: the first draws of seed 5 do not depend on rows
            assertArrayEquals(probe.u, ref.u);
            assertArrayEquals(probe.s, ref.s);
            assertClose("rows " + rows, ref.forward(ref.s, ref.b, x), toDouble(y), 1e-5);
        }
    }

    @Test
    void smallRankAlwaysFactoredAndFullRankWithManyRowsMaterialised() {
        SplittableRandom rng = new SplittableRandom(3);
        LowRankLinear low = new LowRankLinear(be.fromHost(toFloat(random(rng, 256 * 8)), 256, 8),
                be.fromHost(toFloat(random(rng, 64)), 8, 8), be.fromHost(toFloat(random(rng, 128 * 8)), 128, 8), null);
        for (int rows : new int[] {1, 32, 1024, 65536}) {
            assertTrue(low.factoredFor(rows), "rank 8 of 128 goes through the factors for " + rows + " rows");
        }
        LowRankLinear full = new LowRankLinear(be.fromHost(toFloat(random(rng, 64 * 64)), 64, 64),
                be.fromHost(toFloat(random(rng, 64 * 64)), 64, 64), be.fromHost(toFloat(random(rng, 64 * 64)), 64, 64),
                null);
        assertTrue(full.factoredFor(1), "one row: building W costs more than it saves");
        assertFalse(full.factoredFor(4096), "full rank with many rows: a dense product is cheaper");
    }

    @Test
    void parametersAreUSigmaVAndTheSameBiasObject() {
        SplittableRandom rng = new SplittableRandom(8);
        Parameter bias = new Parameter("bias", be.fromHost(toFloat(random(rng, 5)), 5));
        LowRankLinear layer = new LowRankLinear(be.fromHost(toFloat(random(rng, 10)), 5, 2),
                be.fromHost(toFloat(random(rng, 4)), 2, 2), be.fromHost(toFloat(random(rng, 14)), 7, 2), bias);
        assertSame(bias, layer.bias());
        assertSame(bias, layer.namedParameters().get("bias"));
        assertSame(layer.u(), layer.namedParameters().get("u"));
        assertSame(layer.sigma(), layer.namedParameters().get("sigma"));
        assertSame(layer.v(), layer.namedParameters().get("v"));
        assertTrue(layer.sigma().requiresGrad());
        assertTrue(bias.requiresGrad());
        assertEquals(10 + 4 + 14 + 5, layer.parameterCount());
        assertTrue(layer.toString().contains("rank 2"), layer.toString());
    }

    @Test
    void shapeErrorsNameTheShapes() {
        Tensor u53 = Tensor.zeros(5, 3);
        Tensor s44 = Tensor.zeros(4, 4);
        Tensor v64 = Tensor.zeros(6, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new LowRankLinear(u53, s44, v64, null));
        assertMentions(e, "[5, 3]", "[4, 4]", "[6, 4]");

        e = assertThrows(IllegalArgumentException.class,
                () -> new LowRankLinear(Tensor.zeros(5, 3), Tensor.zeros(3, 4), Tensor.zeros(6, 3), null));
        assertMentions(e, "[3, 4]");

        e = assertThrows(IllegalArgumentException.class,
                () -> new LowRankLinear(Tensor.zeros(15), Tensor.zeros(3, 3), Tensor.zeros(6, 3), null));
        assertMentions(e, "[15]");

        e = assertThrows(IllegalArgumentException.class,
                () -> new LowRankLinear(Tensor.zeros(5, 3), Tensor.zeros(3, 3), Tensor.zeros(6, 3, 1), null));
        assertMentions(e, "[6, 3, 1]");

        Parameter badBias = new Parameter("bias", Tensor.zeros(4));
        e = assertThrows(IllegalArgumentException.class,
                () -> new LowRankLinear(Tensor.zeros(5, 3), Tensor.zeros(3, 3), Tensor.zeros(6, 3), badBias));
        assertMentions(e, "[4]", "5");

        LowRankLinear layer = new LowRankLinear(be.zeros(5, 3), be.zeros(3, 3), be.zeros(6, 3), null);
        Ops ops = new Ops(new Tape(be));
        e = assertThrows(IllegalArgumentException.class,
                () -> layer.forward(ops, Variable.constant(be.zeros(2, 7))));
        assertMentions(e, "[2, 7]", "6");
        e = assertThrows(IllegalArgumentException.class,
                () -> layer.forward(ops, Variable.constant(be.zeros(2, 3, 5))));
        assertMentions(e, "[2, 3, 5]", "6");
    }

    // ---- helpers --------------------------------------------------------------------------------

    private static void assertMentions(Exception e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' should mention " + p);
        }
    }

    static double[] random(SplittableRandom rng, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rng.nextDouble(-1, 1); // exactly representable in float
        }
        return a;
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    /** Relative 2-norm error ‖actual − expected‖ / ‖expected‖ ≤ tol. */
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
        assertTrue(rel <= tol, what + ": relative error " + rel + " exceeds " + tol + " (expected "
                + Arrays.toString(Arrays.copyOf(expected, Math.min(6, expected.length))) + "..., got "
                + Arrays.toString(Arrays.copyOf(actual, Math.min(6, actual.length))) + "...)");
    }
}
