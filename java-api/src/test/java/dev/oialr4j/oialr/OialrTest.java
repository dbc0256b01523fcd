package dev.oialr4j.oialr;

import static dev.oialr4j.oialr.OialrTestSupport.block;
import static dev.oialr4j.oialr.OialrTestSupport.compose;
import static dev.oialr4j.oialr.OialrTestSupport.ejmlTruncation;
import static dev.oialr4j.oialr.OialrTestSupport.forward;
import static dev.oialr4j.oialr.OialrTestSupport.frobenius;
import static dev.oialr4j.oialr.OialrTestSupport.gaussian;
import static dev.oialr4j.oialr.OialrTestSupport.host;
import static dev.oialr4j.oialr.OialrTestSupport.labels;
import static dev.oialr4j.oialr.OialrTestSupport.mul;
import static dev.oialr4j.oialr.OialrTestSupport.nextGaussian;
import static dev.oialr4j.oialr.OialrTestSupport.orthonormalityError;
import static dev.oialr4j.oialr.OialrTestSupport.product;
import static dev.oialr4j.oialr.OialrTestSupport.randomOrthogonal;
import static dev.oialr4j.oialr.OialrTestSupport.relativeError;
import static dev.oialr4j.oialr.OialrTestSupport.toDouble;
import static dev.oialr4j.oialr.OialrTestSupport.toFloat;
import static dev.oialr4j.oialr.OialrTestSupport.trainStep;
import static dev.oialr4j.oialr.OialrTestSupport.transpose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.oialr.OialrTestSupport.Net;
import dev.oialr4j.oialr.OialrTestSupport.Opt;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.optim.ParamState;
import dev.oialr4j.optim.Sgd;
import dev.oialr4j.tensor.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Conversion and update rounds of {@link Oialr}: what a round does to U Σ Vᵀ (compared with EJML's SVD of
 * the old product), orthonormality of the bases over many rounds, and Σ's optimizer state under every
 * {@link StatePolicy} with AdamW and SGD with momentum.
 *
 * <p>Tolerances: products of float factors are compared at 1e-5 relative (Frobenius); orthonormality
 * max |UᵀU − I| &lt; 1e-4 on the float bases; rotated moments 1e-4 relative to ‖m‖ (P and Q are recovered
 * from the float bases as U_oldᵀ U_new, so they carry float rounding); sliced and reset state exactly.
 */
class OialrTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    private static OialrConfig.Builder config() {
        return OialrConfig.builder().delay(1).updateEvery(1).rolloutFraction(1.0);
    }

    // ---- conversion -----------------------------------------------------------------------------

    @Test
    void conversionFactorsTheWeightExactlyAndKeepsTheFunction() {
        Net net = new Net(1, 12, 20, 4);
        Linear dense = net.linear(0);
        double[] w = host(be, dense.weight().value());
        Parameter bias = dense.bias();
        Tensor x = gaussian(be, new SplittableRandom(2), 9, 12);
        float[] before = forward(net, be, x);
        Optimizer opt = Opt.ADAMW.create(be, net, 1e-3, 0.0);
        Oialr oialr = new Oialr(config().build());
        oialr.convert(net, opt, be);

        LowRankLinear lr = net.lowRank(0);
        assertEquals(12, lr.rank(), "conversion keeps the full rank min(m, n)");
        assertArrayEquals(new int[] {20, 12}, lr.u().dims());
        assertArrayEquals(new int[] {12, 12}, lr.sigma().dims());
        assertArrayEquals(new int[] {12, 12}, lr.v().dims());
        assertSame(bias, lr.bias(), "the bias is the same Parameter object");
        assertInstanceOf(Linear.class, net.child(2), "the classifier stays dense");
        assertTrue(relativeError(w, product(be, lr)) < 1e-5, "U Σ Vᵀ reproduces the weight");
        // Σ = diag(s) with s the singular values of W
        double[] s = host(be, lr.sigma().value());
        double[] ref = ejmlTruncation(w, 20, 12, 12).singularValues();
        for (int i = 0; i < 12; i++) {
            for (int j = 0; j < 12; j++) {
                if (i == j) {
                    assertEquals(ref[i], s[i * 12 + i], 1e-5 * ref[0], "σ" + i);
                } else {
                    assertEquals(0.0, s[i * 12 + j], 0.0, "Σ starts diagonal");
                }
            }
        }
        assertTrue(orthonormalityError(host(be, lr.u().value()), 20, 12) < 1e-5);
        assertTrue(orthonormalityError(host(be, lr.v().value()), 12, 12) < 1e-5);
        assertTrue(relativeError(toDouble(before), toDouble(forward(net, be, x))) < 1e-5, "same outputs");
        assertThrows(IllegalStateException.class, () -> oialr.convert(net, opt, be), "converting twice");
    }

    @Test
    void updateRoundBeforeConversionIsRefused() {
        Net net = new Net(1, 12, 20, 4);
        Oialr oialr = new Oialr(config().build());
        Optimizer opt = Opt.ADAMW.create(be, net, 1e-3, 0.0);
        assertThrows(IllegalStateException.class, () -> oialr.updateRound(opt, be));
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.5})
    void conversionHandsSigmaTheDenseWeightsSlotAndRestartsItsAdamState(double weightDecay) {
        Net net = new Net(3, 12, 20, 16, 4);
        SplittableRandom rng = new SplittableRandom(4);
        Tensor x = gaussian(be, rng, 32, 12);
        int[] y = labels(rng, 32, 4);
        double lr = 0.05;
        // decay group (matrices) with the test's weight decay, no-decay group (biases) without; an extra
        // group in front so positions are not trivially 0
        List<ParamGroup> split = ParamGroup.decayMatricesOnly(net.parameters(), weightDecay);
        Parameter extra = new Parameter("extra", be.zeros(3));
        List<ParamGroup> groups = List.of(new ParamGroup("extra", List.of(extra), 0.0, 1.0), split.get(0), split.get(1));
        AdamW opt = new AdamW(be, groups, lr);
        for (int i = 0; i < 3; i++) {
            trainStep(net, opt, be, x, y);
        }
        Parameter w0 = net.linear(0).weight();
        Parameter w2 = net.linear(2).weight();
        assertEquals(3, ((ParamState.Adam) opt.state(w0)).step);
        ParamGroup g0 = opt.groupOf(w0);
        int pos0 = g0.parameters().indexOf(w0);
        int pos2 = opt.groupOf(w2).parameters().indexOf(w2);
        int groupSize = g0.parameters().size();

        Oialr oialr = new Oialr(config().build());
        oialr.convert(net, opt, be);
        LowRankLinear l0 = net.lowRank(0);
        LowRankLinear l2 = net.lowRank(2);
        assertSame(g0, opt.groupOf(l0.sigma()), "Σ joins the dense weight's group");
        assertSame(g0, opt.groupOf(l2.sigma()));
        assertSame(l0.sigma(), g0.parameters().get(pos0), "Σ takes the weight's position");
        assertSame(l2.sigma(), g0.parameters().get(pos2));
        assertEquals(groupSize, g0.parameters().size());
        assertNull(opt.groupOf(w0), "the dense weight left the optimizer");
        assertFalse(opt.parameters().stream().anyMatch(p -> p == w0 || p == w2));
        assertFalse(opt.allState().containsKey(w0), "the dense weight's state is dropped");
        assertFalse(w0.requiresGrad(), "the dense weight is frozen");
        assertNull(opt.groupOf(l0.u()), "U is not optimised");
        assertNull(opt.groupOf(l0.v()), "V is not optimised");
        assertNull(opt.state(l0.sigma()), "Σ starts with fresh state (moments and step restart together)");
        assertNull(opt.state(l2.sigma()));
        oialr.updateRound(opt, be);
        assertNull(opt.state(l0.sigma()), "the first round keeps the fresh state fresh");

        // one step by hand: first Adam step with fresh state is Σ(1 − lr·wd) − lr·g/(|g| + eps)
        for (Parameter p : net.parameters()) {
            p.zeroGrad();
        }
        opt.zeroGrad();
        Tape tape = new Tape(be);
        Ops ops = new Ops(tape);
        tape.backward(ops.crossEntropy(net.forward(ops, Variable.constant(x)), y, 0f));
        double[] g = host(be, l0.sigma().grad());
        double[] s0 = host(be, l0.sigma().value());
        opt.step();
        double[] s1 = host(be, l0.sigma().value());
        double decayedAway = 0;
        for (int i = 0; i < s0.length; i++) {
            double expected = s0[i] * (1 - lr * weightDecay) - lr * g[i] / (Math.abs(g[i]) + 1e-8);
            assertEquals(expected, s1[i], 1e-6 + 1e-5 * Math.abs(expected), "Σ[" + i + "]");
            decayedAway = Math.max(decayedAway, Math.abs(s0[i] * lr * weightDecay));
        }
        if (weightDecay > 0) {
            assertTrue(decayedAway > 1e-2, "the test would notice missing weight decay: " + decayedAway);
        }
        ParamState.Adam st = (ParamState.Adam) opt.state(l0.sigma());
        assertEquals(1, st.step, "Σ's Adam step counter restarted at conversion");
        assertArrayEquals(new int[] {12, 12}, st.m.dims());
    }

    @Test
    void conversionNeedsTheWeightToBeOptimised() {
        Net net = new Net(1, 12, 20, 4);
        // an optimizer that only holds the biases
        List<Parameter> biases = net.parameters().stream().filter(p -> p.value().rank() == 1).toList();
        Optimizer opt = new Sgd(be, List.of(new ParamGroup("b", biases, 0, 1)), 0.1, 0.0, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Oialr(config().build()).convert(net, opt, be));
        assertTrue(e.getMessage().contains("weight"), e.getMessage());
    }

    @Test
    void aLayerThatFailsItsSvdFailsTheRoundInsteadOfHangingIt() {
        // Three small layers run side by side, each SVD and rotation product a task; the middle one's Σ
        // is not finite, so its SVD throws while the other tasks (some waiting for that SVD) go on.
        Net net = new Net(7, 16, 24, 24, 24, 4);
        Optimizer opt = Opt.ADAMW.create(be, net, 1e-3, 0.0);
        Oialr oialr = new Oialr(config().build());
        oialr.convert(net, opt, be);
        LowRankLinear middle = net.lowRank(2);
        float[] sigma = be.toHost(middle.sigma().value());
        sigma[3] = Float.NaN;
        middle.sigma().setValue(be.fromHost(sigma, middle.rank(), middle.rank()));
        IllegalArgumentException e = assertTimeoutPreemptively(Duration.ofSeconds(30),
                () -> assertThrows(IllegalArgumentException.class, () -> oialr.updateRound(opt, be)));
        assertTrue(e.getMessage().contains("finite") || e.getMessage().contains("NaN"), e.getMessage());
    }

    // ---- what a round does to U Σ Vᵀ ----------------------------------------------------------------

    @Test
    void roundWithoutCutLeavesTheProductUnchanged() {
        Net net = new Net(5, 16, 24, 4);
        SplittableRandom rng = new SplittableRandom(6);
        Tensor x = gaussian(be, rng, 64, 16);
        int[] y = labels(rng, 64, 4);
        Optimizer opt = Opt.ADAMW.create(be, net, 0.02, 0.01);
        Oialr oialr = new Oialr(config().cutoffFraction(0.0).build());
        oialr.convert(net, opt, be);
        LowRankLinear l = net.lowRank(0);
        for (int i = 0; i < 30; i++) {
            trainStep(net, opt, be, x, y);
        }
        double[] s = host(be, l.sigma().value());
        int r = l.rank();
        double off = 0;
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                if (i != j) {
                    off += s[i * r + j] * s[i * r + j];
                }
            }
        }
        assertTrue(Math.sqrt(off) > 1e-2 * frobenius(s), "Σ is far from diagonal after training: " + Math.sqrt(off));

        double[] before = product(be, l);
        double[] refS = ejmlTruncation(before, 24, 16, 16).singularValues();
        float[] yBefore = forward(net, be, x);
        oialr.updateRound(opt, be);
        assertEquals(16, l.rank(), "cutoff 0 cuts nothing");
        double rel = relativeError(before, product(be, l));
        assertTrue(rel < 1e-5, "U Σ Vᵀ changed by " + rel);
        assertTrue(relativeError(toDouble(yBefore), toDouble(forward(net, be, x))) < 1e-5, "outputs unchanged");
        double[] s1 = host(be, l.sigma().value());
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                if (i != j) {
                    assertEquals(0.0, s1[i * r + j], 0.0, "Σ is diagonal after a round");
                }
            }
            assertEquals(refS[i], s1[i * r + i], 1e-5 * refS[0], "σ" + i + " = singular value of U Σ Vᵀ");
            if (i > 0) {
                assertTrue(s1[i * r + i] <= s1[(i - 1) * r + i - 1], "descending");
            }
        }
        assertTrue(orthonormalityError(host(be, l.u().value()), 24, 16) < 1e-5);
        assertTrue(orthonormalityError(host(be, l.v().value()), 16, 16) < 1e-5);
    }

    @Test
    void aDominantLayerAndSmallOnesAllKeepTheirProducts() {
        // One layer of rank 400 carries most of the round (its SVD runs first with the threads, its rotation
        // products then share the queue with the two small layers' SVDs and products).
        Net net = new Net(9, 400, 400, 48, 48, 4);
        SplittableRandom rng = new SplittableRandom(10);
        Tensor x = gaussian(be, rng, 32, 400);
        int[] y = labels(rng, 32, 4);
        Optimizer opt = Opt.ADAMW.create(be, net, 0.02, 0.01);
        Oialr oialr = new Oialr(config().cutoffFraction(0.0).build());
        oialr.convert(net, opt, be);
        for (int i = 0; i < 5; i++) {
            trainStep(net, opt, be, x, y);
        }
        double[][] before = new double[3][];
        for (int k = 0; k < 3; k++) {
            before[k] = product(be, net.lowRank(2 * k));
        }
        float[] yBefore = forward(net, be, x);
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> oialr.updateRound(opt, be));
        for (int k = 0; k < 3; k++) {
            LowRankLinear l = net.lowRank(2 * k);
            int m = l.outFeatures();
            int n = l.inFeatures();
            assertEquals(Math.min(m, n), l.rank(), "layer " + k + ": cutoff 0 cuts nothing");
            double rel = relativeError(before[k], product(be, l));
            assertTrue(rel < 1e-5, "layer " + k + ": U Σ Vᵀ changed by " + rel);
            assertTrue(orthonormalityError(host(be, l.u().value()), m, l.rank()) < 1e-5, "layer " + k + " U");
            assertTrue(orthonormalityError(host(be, l.v().value()), n, l.rank()) < 1e-5, "layer " + k + " V");
            assertArrayEquals(new int[] {l.rank(), l.rank()}, ((ParamState.Adam) opt.state(l.sigma())).m.dims());
        }
        assertTrue(relativeError(toDouble(yBefore), toDouble(forward(net, be, x))) < 1e-5, "outputs unchanged");
    }

    /** σ spectrum with a gap after six values; β = 0.2 puts i₀ at 6. */
    private static final double[] SPECTRUM = {9, 7, 5, 4, 3, 2.5, 0.2, 0.15, 0.1, 0.05, 0.02, 0.01};

    @ParameterizedTest(name = "maxCut={0} minRank={1} -> rank {2}")
    @CsvSource({"1.0,0.01,6", "0.25,0.01,9", "1.0,0.55,7", "0.5,0.01,6", "0.0,0.01,12"})
    void roundWithCutGivesTheBestTruncationOfTheOldProduct(double maxCut, double minRank, int expectedRank) {
        // 40 × 12: a floor of 7 (⌈0.55 · 12⌉) still saves parameters (7·(40 + 12 + 7) < 480)
        Net net = new Net(7, 12, 40, 4);
        Optimizer opt = Opt.ADAMW.create(be, net, 1e-3, 0.0);
        Oialr oialr = new Oialr(config().cutoffFraction(0.2).maxCutFraction(maxCut).minRankFraction(minRank).build());
        oialr.convert(net, opt, be);
        LowRankLinear l = net.lowRank(0);
        Random rnd = new Random(8);
        double[] sigma = compose(randomOrthogonal(rnd, 12), SPECTRUM, randomOrthogonal(rnd, 12), 12);
        l.sigma().setValue(be.fromHost(toFloat(sigma), 12, 12)); // a trained, non-diagonal Σ

        double[] old = product(be, l);
        OialrTestSupport.Truncation ref = ejmlTruncation(old, 40, 12, expectedRank);
        oialr.updateRound(opt, be);
        assertEquals(expectedRank, l.rank());
        assertEquals(expectedRank, oialr.ranks().get("layers.0"));
        assertArrayEquals(new int[] {40, expectedRank}, l.u().dims());
        assertArrayEquals(new int[] {expectedRank, expectedRank}, l.sigma().dims());
        assertArrayEquals(new int[] {12, expectedRank}, l.v().dims());
        double[] now = product(be, l);
        double rel = relativeError(ref.approx(), now);
        assertTrue(rel < 1e-5, "U Σ Vᵀ after the cut differs from the best rank-" + expectedRank
                + " truncation by " + rel);
        double[] s = host(be, l.sigma().value());
        for (int i = 0; i < expectedRank; i++) {
            assertEquals(ref.singularValues()[i], s[i * expectedRank + i], 1e-5 * SPECTRUM[0]);
        }
        // the discarded energy is exactly the cut tail
        double tail = 0;
        for (int i = expectedRank; i < 12; i++) {
            tail += ref.singularValues()[i] * ref.singularValues()[i];
        }
        double[] diff = new double[old.length];
        for (int i = 0; i < old.length; i++) {
            diff[i] = old[i] - now[i];
        }
        assertEquals(Math.sqrt(tail), frobenius(diff), 1e-5 * frobenius(old));
        assertTrue(orthonormalityError(host(be, l.u().value()), 40, expectedRank) < 1e-5);
        assertTrue(orthonormalityError(host(be, l.v().value()), 12, expectedRank) < 1e-5);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"ascending", "shuffled", "negative", "sorted"})
    void roundOnADiagonalSigmaSortsItIntoNonNegativeDescendingValues(String kind) {
        Net net = new Net(13, 12, 40, 4);
        Optimizer opt = Opt.ADAMW.create(be, net, 1e-3, 0.0);
        // β = 0.3: of |d| = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5, 0.25, 0.1} the first seven survive (cutoff 2.7),
        // whatever order or signs Σ holds them in
        Oialr oialr = new Oialr(config().cutoffFraction(0.3).maxCutFraction(1.0).minRankFraction(0.0).build());
        oialr.convert(net, opt, be);
        LowRankLinear l = net.lowRank(0);
        double[] d = switch (kind) {
            case "ascending" -> new double[] {0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9};
            case "shuffled" -> new double[] {3, 9, 0.5, 7, 1, 8, 0.1, 6, 2, 5, 0.25, 4};
            case "negative" -> new double[] {9, -8, 7, 6, -5, 4, 3, 2, 1, 0.5, -0.25, 0.1};
            default -> new double[] {9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5, 0.25, 0.1};
        };
        double[] sigma = new double[144];
        for (int i = 0; i < 12; i++) {
            sigma[i * 12 + i] = d[i];
        }
        l.sigma().setValue(be.fromHost(toFloat(sigma), 12, 12));
        double[] old = product(be, l);
        OialrTestSupport.Truncation ref = ejmlTruncation(old, 40, 12, 7);
        oialr.updateRound(opt, be);
        assertEquals(7, l.rank(), kind);
        double rel = relativeError(ref.approx(), product(be, l));
        assertTrue(rel < 1e-5, kind + ": U Σ Vᵀ differs from the best rank-7 truncation by " + rel);
        double[] s = host(be, l.sigma().value());
        for (int i = 0; i < 7; i++) {
            assertEquals(9 - i, s[i * 7 + i], 1e-5, kind + ": σ" + i);
        }
        assertTrue(orthonormalityError(host(be, l.u().value()), 40, 7) < 1e-5);
        assertTrue(orthonormalityError(host(be, l.v().value()), 12, 7) < 1e-5);
    }

    @ParameterizedTest(name = "cutoff={0}")
    @ValueSource(doubles = {0.0, 0.3})
    void thousandRoundsWithPerturbedSigmaKeepBasesOrthonormalAndRankMonotone(double cutoff) {
        int m = 48;
        int n = 32;
        Net net = new Net(9, n, m, 8); // the converted layer is 48 × 32
        Optimizer opt = Opt.SGD_MOMENTUM.create(be, net, 0.0, 0.0);
        Oialr oialr = new Oialr(config().cutoffFraction(cutoff).maxCutFraction(0.5).minRankFraction(0.1).build());
        oialr.convert(net, opt, be);
        LowRankLinear l = net.lowRank(0);
        SplittableRandom rng = new SplittableRandom(10);
        int prev = l.rank();
        int floor = 4; // ⌈0.1 · 32⌉
        boolean cut = false;
        for (int round = 1; round <= 1000; round++) {
            int r = l.rank();
            double[] s = host(be, l.sigma().value());
            double scale = 1e-3 * s[0];
            for (int i = 0; i < s.length; i++) {
                s[i] += scale * nextGaussian(rng);
            }
            l.sigma().setValue(be.fromHost(toFloat(s), r, r));
            boolean check = round % 50 == 0 || round == 1000;
            double[] before = check && cutoff == 0 ? product(be, l) : null;
            oialr.updateRound(opt, be);
            int now = l.rank();
            assertTrue(now <= prev, "round " + round + ": rank grew from " + prev + " to " + now);
            assertTrue(now >= floor, "round " + round + ": rank " + now + " below the floor");
            cut |= now < prev;
            prev = now;
            if (check) {
                double eu = orthonormalityError(host(be, l.u().value()), m, now);
                double ev = orthonormalityError(host(be, l.v().value()), n, now);
                assertTrue(eu < 1e-4 && ev < 1e-4, "round " + round + ": ‖UᵀU − I‖max = " + eu + ", ‖VᵀV − I‖max = " + ev);
                if (before != null) {
                    double rel = relativeError(before, product(be, l));
                    assertTrue(rel < 1e-5, "round " + round + ": U Σ Vᵀ changed by " + rel);
                }
            }
        }
        assertEquals(1000, oialr.rounds());
        if (cutoff > 0) {
            assertTrue(cut, "the cutoff removed something over 1000 rounds");
        } else {
            assertEquals(n, l.rank(), "no cutoff: full rank throughout");
        }
    }

    // ---- optimizer state of Σ ---------------------------------------------------------------------

    static Stream<Arguments> policiesAndOptimizers() {
        List<Arguments> out = new ArrayList<>();
        for (StatePolicy p : StatePolicy.values()) {
            for (Opt o : Opt.values()) {
                out.add(Arguments.of(p, o));
            }
        }
        return out.stream();
    }

    /** Copy of Σ's state (tensors copied to host arrays). */
    private record Snapshot(int r, double[] m, double[] v, long step, double[] u, double[] vb) {
    }

    private static Snapshot snapshot(Optimizer opt, LowRankLinear l) {
        ParamState st = opt.state(l.sigma());
        double[] u = host(be, l.u().value());
        double[] vb = host(be, l.v().value());
        return switch (st) {
            case null -> new Snapshot(l.rank(), null, null, -1, u, vb);
            case ParamState.Adam a -> new Snapshot(l.rank(), host(be, a.m), host(be, a.v), a.step, u, vb);
            case ParamState.Momentum mo -> new Snapshot(l.rank(), mo.buf == null ? null : host(be, mo.buf), null, -1,
                    u, vb);
        };
    }

    @ParameterizedTest(name = "{0} with {1}")
    @MethodSource("policiesAndOptimizers")
    void sigmaStateFollowsThePolicyThroughConversionAndCuts(StatePolicy policy, Opt which) {
        Net net = new Net(11, 12, 20, 16, 4);
        SplittableRandom rng = new SplittableRandom(12);
        Tensor x = gaussian(be, rng, 48, 12);
        int[] y = labels(rng, 48, 4);
        Optimizer opt = which.create(be, net, which == Opt.ADAMW ? 0.03 : 0.1, 0.01);
        for (int i = 0; i < 5; i++) {
            trainStep(net, opt, be, x, y);
        }
        Oialr oialr = new Oialr(config().cutoffFraction(0.3).maxCutFraction(0.5).minRankFraction(0.01)
                .statePolicy(policy).build());
        oialr.convert(net, opt, be);
        List<LowRankLinear> layers = oialr.lowRankLayers();
        assertEquals(2, layers.size());
        for (LowRankLinear l : layers) {
            assertNull(opt.state(l.sigma()), "fresh state at conversion");
        }
        oialr.updateRound(opt, be);
        for (LowRankLinear l : layers) {
            assertNull(opt.state(l.sigma()), "a round on fresh state leaves it fresh");
        }
        trainStep(net, opt, be, x, y);
        for (LowRankLinear l : layers) {
            ParamState st = opt.state(l.sigma());
            assertNotNull(st);
            if (st instanceof ParamState.Adam a) {
                assertEquals(1, a.step, "Σ's first Adam step after conversion is step 1");
            }
            assertStateShape(st, l.rank());
        }
        for (int i = 0; i < 9; i++) {
            trainStep(net, opt, be, x, y);
        }

        boolean anyCut = false;
        double rotationSeen = 0;
        for (int round = 0; round < 4; round++) {
            List<Snapshot> snaps = layers.stream().map(l -> snapshot(opt, l)).toList();
            oialr.updateRound(opt, be);
            for (int li = 0; li < layers.size(); li++) {
                LowRankLinear l = layers.get(li);
                Snapshot before = snaps.get(li);
                int r = before.r();
                int r2 = l.rank();
                anyCut |= r2 < r;
                assertTrue(r2 <= r);
                assertArrayEquals(new int[] {r2, r2}, l.sigma().dims());
                ParamState st = opt.state(l.sigma());
                assertStateShape(st, r2);
                // P[:, :r'] and Q[:, :r'] recovered from the bases: U_new = U_old P[:, :r']
                double[] p = mul(transpose(before.u(), l.outFeatures(), r), host(be, l.u().value()), r,
                        l.outFeatures(), r2);
                double[] q = mul(transpose(before.vb(), l.inFeatures(), r), host(be, l.v().value()), r,
                        l.inFeatures(), r2);
                String what = policy + "/" + which + " round " + round + " layer " + li;
                switch (st) {
                    case ParamState.Adam a -> {
                        if (policy == StatePolicy.RESET) {
                            assertEquals(0, a.step, what + ": RESET restarts Adam's step counter");
                            assertArrayEquals(new double[r2 * r2], host(be, a.m), what + ": m zeroed");
                            assertArrayEquals(new double[r2 * r2], host(be, a.v), what + ": v zeroed");
                        } else {
                            assertEquals(before.step(), a.step, what + ": step kept");
                            assertArrayEquals(block(before.v(), r, r2), host(be, a.v), what + ": v sliced");
                            double[] expectedM = policy == StatePolicy.ROTATE
                                    ? rotate(p, before.m(), q, r, r2) : block(before.m(), r, r2);
                            assertMoment(what + ": m", expectedM, host(be, a.m));
                            if (policy == StatePolicy.ROTATE) {
                                rotationSeen = Math.max(rotationSeen, relativeError(block(before.m(), r, r2), expectedM));
                            }
                        }
                    }
                    case ParamState.Momentum mo -> {
                        if (policy == StatePolicy.RESET) {
                            assertNull(mo.buf, what + ": RESET drops the momentum buffer");
                        } else {
                            assertNotNull(mo.buf);
                            double[] expected = policy == StatePolicy.ROTATE
                                    ? rotate(p, before.m(), q, r, r2) : block(before.m(), r, r2);
                            assertMoment(what + ": momentum", expected, host(be, mo.buf));
                            if (policy == StatePolicy.ROTATE) {
                                rotationSeen = Math.max(rotationSeen, relativeError(block(before.m(), r, r2), expected));
                            }
                        }
                    }
                    case null -> throw new AssertionError(what + ": state vanished (policy " + policy + ")");
                }
            }
            // training keeps working with the re-shaped state
            double loss = 0;
            for (int i = 0; i < 5; i++) {
                loss = trainStep(net, opt, be, x, y);
            }
            assertTrue(Double.isFinite(loss));
            for (LowRankLinear l : layers) {
                ParamState st = opt.state(l.sigma());
                assertStateShape(st, l.rank());
                if (st instanceof ParamState.Adam a && policy == StatePolicy.RESET) {
                    assertEquals(5, a.step, "after RESET the counter counts from 0 again");
                }
            }
        }
        assertTrue(anyCut, "the test must exercise at least one cut");
        if (policy == StatePolicy.ROTATE) {
            assertTrue(rotationSeen > 1e-3, "rotation must make a measurable difference: " + rotationSeen);
        }
    }

    /** (Pᵀ m Q) with P (r × r2) and Q (r × r2): the r2 × r2 result. */
    private static double[] rotate(double[] p, double[] m, double[] q, int r, int r2) {
        return mul(transpose(p, r, r2), mul(m, q, r, r, r2), r2, r, r2);
    }

    private static void assertMoment(String what, double[] expected, double[] actual) {
        double[] diff = new double[expected.length];
        for (int i = 0; i < expected.length; i++) {
            diff[i] = expected[i] - actual[i];
        }
        double err = frobenius(diff);
        double scale = Math.max(frobenius(expected), 1e-12);
        assertTrue(err <= 1e-4 * scale, what + ": error " + err + " vs norm " + scale);
    }

    private static void assertStateShape(ParamState st, int r) {
        switch (st) {
            case null -> {
            }
            case ParamState.Adam a -> {
                assertArrayEquals(new int[] {r, r}, a.m.dims(), "Adam m has Σ's shape");
                assertArrayEquals(new int[] {r, r}, a.v.dims(), "Adam v has Σ's shape");
            }
            case ParamState.Momentum mo -> {
                if (mo.buf != null) {
                    assertArrayEquals(new int[] {r, r}, mo.buf.dims(), "momentum buffer has Σ's shape");
                }
            }
        }
    }
}
