package dev.oialr4j.oialr;

import static dev.oialr4j.oialr.OialrTestSupport.compose;
import static dev.oialr4j.oialr.OialrTestSupport.forward;
import static dev.oialr4j.oialr.OialrTestSupport.gaussian;
import static dev.oialr4j.oialr.OialrTestSupport.randomOrthogonal;
import static dev.oialr4j.oialr.OialrTestSupport.relativeError;
import static dev.oialr4j.oialr.OialrTestSupport.toDouble;
import static dev.oialr4j.oialr.OialrTestSupport.toFloat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.data.DataLoader;
import dev.oialr4j.data.Dataset;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.models.Mlp;
import dev.oialr4j.oialr.OialrTestSupport.Net;
import dev.oialr4j.oialr.OialrTestSupport.Opt;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.tensor.Tensor;
import dev.oialr4j.train.Trainer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Which layers OIALR converts (OIALR.md §3: aspect ratio &lt; 10, not the classifier, optionally not the
 * first, include/exclude by qualified name, refusal when even the rank floor cannot save parameters), the
 * roll-out order of update rounds, the step schedule, and the trainable/stored percentages against
 * counts worked out by hand.
 */
class OialrSelectionTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    /** Six Linear layers of width 32 with ReLUs: layers.0, 2, 4, 6, 8 and the classifier layers.10. */
    private static Net sixLayers(long seed) {
        return new Net(seed, 32, 32, 32, 32, 32, 32, 32);
    }

    private static List<String> selected(Module model, OialrConfig config) {
        return Oialr.select(model, config).stream().map(Oialr.Candidate::name).toList();
    }

    @Test
    void defaultSelectionIsEveryLayerButTheClassifier() {
        Net net = sixLayers(1);
        assertEquals(List.of("layers.0", "layers.2", "layers.4", "layers.6", "layers.8"),
                selected(net, OialrConfig.builder().build()));
        Oialr.Candidate c = Oialr.select(net, OialrConfig.builder().build()).get(1);
        assertSame(net.layers, c.parent());
        assertEquals("2", c.childName());
        assertSame(net.child(2), c.layer());
    }

    @Test
    void keepFirstDenseIncludeAndExcludeByQualifiedName() {
        Net net = sixLayers(1);
        assertEquals(List.of("layers.2", "layers.4", "layers.6", "layers.8"),
                selected(net, OialrConfig.builder().keepFirstDense(true).build()));
        assertEquals(List.of("layers.0", "layers.2", "layers.6", "layers.8"),
                selected(net, OialrConfig.builder().exclude("layers.4").build()));
        assertEquals(List.of("layers.0", "layers.2", "layers.4", "layers.6", "layers.8", "layers.10"),
                selected(net, OialrConfig.builder().include("layers.10").build()), "include overrides the classifier rule");
        assertEquals(List.of("layers.0", "layers.2", "layers.4", "layers.6", "layers.8"),
                selected(net, OialrConfig.builder().include("layers.8").build()), "including a default is harmless");
        assertEquals(List.of("layers.0", "layers.2", "layers.6"),
                selected(net, OialrConfig.builder().include("layers.10").exclude("layers.10", "layers.4", "layers.8")
                        .build()), "exclude wins over include");
        assertEquals(List.of("layers.0", "layers.2", "layers.4", "layers.6", "layers.8"),
                selected(net, OialrConfig.builder().keepFirstDense(true).include("layers.0").build()),
                "include overrides keepFirstDense");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Oialr.select(net, OialrConfig.builder().include("layers.1").build()));
        assertTrue(e.getMessage().contains("layers.1") && e.getMessage().contains("layers.10"), e.getMessage());
    }

    @Test
    void aspectRatioLimitIsStrict() {
        // first layer 320 → 32: aspect exactly 10 stays dense; 319 → 32 converts
        assertEquals(List.of("layers.2", "layers.4", "layers.6", "layers.8"),
                selected(new Net(2, 320, 32, 32, 32, 32, 32, 32), OialrConfig.builder().build()));
        assertEquals(List.of("layers.0", "layers.2", "layers.4", "layers.6", "layers.8"),
                selected(new Net(2, 319, 32, 32, 32, 32, 32, 32), OialrConfig.builder().build()));
        assertEquals(List.of("layers.0", "layers.2", "layers.4", "layers.6", "layers.8"),
                selected(new Net(2, 320, 32, 32, 32, 32, 32, 32), OialrConfig.builder().maxAspectRatio(10.5).build()));
        assertEquals(List.of("layers.0", "layers.2", "layers.4", "layers.6", "layers.8"),
                selected(new Net(2, 320, 32, 32, 32, 32, 32, 32), OialrConfig.builder().include("layers.0").build()),
                "include overrides the aspect rule");
        // wide (32 → 320) and tall (320 → 32) at aspect 10 both stay dense; 32 → 319 → 32 converts
        assertEquals(List.of("layers.4"), selected(new Net(2, 32, 320, 32, 32, 10), OialrConfig.builder().build()));
        assertEquals(List.of("layers.0", "layers.2", "layers.4"),
                selected(new Net(2, 32, 319, 32, 32, 10), OialrConfig.builder().maxAspectRatio(10).build()));
    }

    @Test
    void layersThatCannotSaveAtTheirRankFloorAreRefusedEvenWhenIncluded() {
        // layers.0 32→32, layers.2 32→1 (1×32), layers.4 1→32 (32×1), layers.6 32→2 (2×32),
        // layers.8 2→2, layers.10 2→32 (32×2), layers.12 32→10 (classifier)
        Net net = new Net(3, 32, 32, 1, 32, 2, 2, 32, 10);
        OialrConfig cfg = OialrConfig.builder()
                .include("layers.2", "layers.4", "layers.6", "layers.8", "layers.10").build();
        // rank floor 1: 1×32 needs 1·(1+32+1) = 34 ≥ 32, 2×2 needs 1·(2+2+1) = 5 ≥ 4: refused.
        // 2×32 and 32×2 need 1·(2+32+1) = 35 < 64: they can save, so an explicit include converts them.
        assertEquals(List.of("layers.0", "layers.6", "layers.10"), selected(net, cfg));
        // without includes the narrow ones fail the aspect rule and 2×2 still cannot save
        assertEquals(List.of("layers.0"), selected(net, OialrConfig.builder().build()));

        // 32×32 at floor ⌈0.5·32⌉ = 16: 16·(32+32+16) = 1280 ≥ 1024, refused;
        // at ⌈0.4·32⌉ = 13: 13·77 = 1001 < 1024, accepted.
        Net square = new Net(4, 32, 32, 32, 10);
        assertEquals(List.of(), selected(square, OialrConfig.builder().minRankFraction(0.5).build()));
        assertEquals(List.of("layers.0", "layers.2"), selected(square, OialrConfig.builder().minRankFraction(0.4).build()));
        assertEquals(List.of(), selected(square,
                OialrConfig.builder().minRankFraction(0.5).include("layers.0", "layers.2").build()));
    }

    @Test
    void namesFollowNestedModulesAndSkipOtherChildren() {
        Mlp mlp = Mlp.builder().inputs(32).hidden(32, 32).outputs(10).dropout(0.1f).seed(5).build();
        // Linear, ReLU, Dropout per hidden layer: the Linear layers are layers.0, layers.3, layers.6
        assertEquals(List.of("layers.0", "layers.3"), selected(mlp, OialrConfig.builder().build()));
    }

    @Test
    void conversionOfTheSixLayerNetworkReplacesExactlyTheSelectedLayers() {
        Net net = sixLayers(6);
        Tensor x = gaussian(be, new SplittableRandom(7), 16, 32);
        float[] before = forward(net, be, x);
        List<Linear> originals = new ArrayList<>();
        for (int i = 0; i <= 10; i += 2) {
            originals.add(net.linear(i));
        }
        Optimizer opt = Opt.ADAMW.create(be, net, 1e-3, 0);
        Oialr oialr = new Oialr(OialrConfig.builder().keepFirstDense(true).exclude("layers.6").build());
        oialr.convert(net, opt, be);
        assertSame(originals.get(0), net.child(0), "layers.0 kept dense");
        assertSame(originals.get(3), net.child(6), "layers.6 excluded");
        assertSame(originals.get(5), net.child(10), "classifier kept dense");
        for (int i : new int[] {2, 4, 8}) {
            LowRankLinear l = assertInstanceOf(LowRankLinear.class, net.child(i), "layers." + i);
            assertEquals(32, l.rank());
            assertSame(originals.get(i / 2).bias(), l.bias());
        }
        assertEquals(List.of(net.child(2), net.child(4), net.child(8)), oialr.lowRankLayers(), "input side first");
        assertEquals(Map.of("layers.2", 32, "layers.4", 32, "layers.8", 32), oialr.ranks());
        assertEquals(List.of("layers.2", "layers.4", "layers.8"), List.copyOf(oialr.ranks().keySet()));
        assertTrue(oialr.converted());
        double rel = relativeError(toDouble(before), toDouble(forward(net, be, x)));
        assertTrue(rel < 1e-5, "conversion changed the outputs by " + rel);
    }

    // ---- roll-out -------------------------------------------------------------------------------

    @Test
    void activeLayerCountsFollowCeilOfFractionTimesLayers() {
        assertEquals(1, Oialr.activeLayers(0, 5, 0.1));
        assertEquals(2, Oialr.activeLayers(1, 5, 0.1));
        assertEquals(5, Oialr.activeLayers(4, 5, 0.1));
        assertEquals(5, Oialr.activeLayers(40, 5, 0.1));
        assertEquals(1, Oialr.activeLayers(0, 6, 0.1), "≤ 10 layers still roll out one at a time");
        assertEquals(3, Oialr.activeLayers(0, 10, 0.3));
        assertEquals(9, Oialr.activeLayers(2, 10, 0.3));
        assertEquals(10, Oialr.activeLayers(3, 10, 0.3));
        assertEquals(3, Oialr.activeLayers(0, 30, 0.1));
        assertEquals(7, Oialr.activeLayers(0, 100, 0.07), "0.07·100 = 7.000000000000001 in double is 7 layers");
        assertEquals(4, Oialr.activeLayers(0, 4, 1.0));
        assertEquals(0, Oialr.activeLayers(0, 0, 0.1));
        assertEquals(Integer.MAX_VALUE / 2, Oialr.activeLayers(Integer.MAX_VALUE - 1, Integer.MAX_VALUE / 2, 0.5),
                "no overflow for late rounds");
    }

    @ParameterizedTest(name = "rollout {0}")
    @ValueSource(doubles = {0.1, 0.2, 0.3, 0.5, 1.0})
    void roundsTouchTheLastLayersInTheDocumentedOrder(double fraction) {
        Net net = sixLayers(8);
        Optimizer opt = Opt.SGD_MOMENTUM.create(be, net, 0.01, 0);
        // cutoff 0 keeps ranks so every touched layer is recognisable by its new tensors only
        Oialr oialr = new Oialr(OialrConfig.builder().rolloutFraction(fraction).cutoffFraction(0.0).build());
        oialr.convert(net, opt, be);
        List<LowRankLinear> layers = oialr.lowRankLayers();
        int total = layers.size();
        assertEquals(5, total);
        int perRound = (int) Math.ceil(fraction * total - 1e-9);
        for (int round = 0; round < 7; round++) {
            List<Tensor[]> before = layers.stream()
                    .map(l -> new Tensor[] {l.u().value(), l.sigma().value(), l.v().value()}).toList();
            oialr.updateRound(opt, be);
            int expectedActive = Math.min(total, perRound * (round + 1));
            for (int i = 0; i < total; i++) {
                LowRankLinear l = layers.get(i);
                Tensor[] b = before.get(i);
                boolean expectTouched = i >= total - expectedActive;
                String what = "rollout " + fraction + " round " + round + " layer " + i;
                if (expectTouched) {
                    assertNotSame(b[0], l.u().value(), what + ": U replaced");
                    assertNotSame(b[1], l.sigma().value(), what + ": Σ replaced");
                    assertNotSame(b[2], l.v().value(), what + ": V replaced");
                } else {
                    assertSame(b[0], l.u().value(), what + ": U untouched");
                    assertSame(b[1], l.sigma().value(), what + ": Σ untouched");
                    assertSame(b[2], l.v().value(), what + ": V untouched");
                }
            }
        }
        assertEquals(7, oialr.rounds());
    }

    @Test
    void callbackConvertsAtTheDelayAndRunsRoundsEveryUpdateEverySteps() {
        Net net = sixLayers(9);
        Optimizer opt = Opt.ADAMW.create(be, net, 1e-3, 0);
        Dataset data = new Dataset("synthetic", new float[8 * 32], new int[8], 2, 32);
        Trainer trainer = Trainer.builder().model(net).backend(be).optimizer(opt)
                .train(DataLoader.builder(data).batchSize(8).build()).build();
        Oialr oialr = new Oialr(OialrConfig.builder().delay(3).updateEvery(2).rolloutFraction(0.2).build());
        int[] expectedRounds = {0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4};
        for (int step = 1; step <= 10; step++) {
            oialr.afterOptimizerStep(trainer, step);
            assertEquals(step >= 3, oialr.converted(), "step " + step);
            assertEquals(step >= 3, net.child(0) instanceof LowRankLinear, "step " + step);
            assertEquals(expectedRounds[step], oialr.rounds(), "rounds after step " + step);
        }
    }

    // ---- trainable % and stored % -----------------------------------------------------------------

    @Test
    void trainableAndStoredPercentagesMatchHandCounts() {
        // 16 → 24 → 20 → 8: layers.0 (24×16) and layers.2 (20×24) convert, layers.4 (8×20) stays dense.
        // Dense model: 16·24 + 24 + 24·20 + 20 + 20·8 + 8 = 384 + 24 + 480 + 20 + 160 + 8 = 1076.
        Net net = new Net(11, 16, 24, 20, 8);
        Optimizer opt = Opt.ADAMW.create(be, net, 1e-3, 0);
        Oialr oialr = new Oialr(OialrConfig.builder().cutoffFraction(0.5).maxCutFraction(1.0).minRankFraction(0.0)
                .rolloutFraction(1.0).build());
        assertEquals(100.0, oialr.trainablePercent(net), 1e-12);
        assertEquals(100.0, oialr.storedPercent(net), 1e-12);
        oialr.convert(net, opt, be);
        // Full rank after conversion: k = 16 and k = 20.
        // trainable: Σ 16² + bias 24 + Σ 20² + bias 20 + dense 168 = 256 + 24 + 400 + 20 + 168 = 868
        // stored: (U 24·16 + Σ 256 + V 16·16 + 24) + (U 20·20 + Σ 400 + V 24·20 + 20) + 168
        //       = (384 + 256 + 256 + 24) + (400 + 400 + 480 + 20) + 168 = 920 + 1300 + 168 = 2388
        assertEquals(100.0 * 868 / 1076, oialr.trainablePercent(net), 1e-9);
        assertEquals(100.0 * 2388 / 1076, oialr.storedPercent(net), 1e-9);

        // Force ranks 5 and 3 with a spectrum that drops below β·σ₁ = 0.5·σ₁ after those indices.
        Random rnd = new Random(12);
        setSpectrum(net.lowRank(0), rnd, 16, new double[] {8, 7, 6, 5, 4.5}, 0.1);
        setSpectrum(net.lowRank(2), rnd, 20, new double[] {3, 2, 1.6}, 0.05);
        oialr.updateRound(opt, be);
        assertEquals(Map.of("layers.0", 5, "layers.2", 3), oialr.ranks());
        // trainable: 5² + 24 + 3² + 20 + 168 = 25 + 24 + 9 + 20 + 168 = 246
        // stored: (24·5 + 25 + 16·5 + 24) + (20·3 + 9 + 24·3 + 20) + 168 = 249 + 161 + 168 = 578
        assertEquals(100.0 * 246 / 1076, oialr.trainablePercent(net), 1e-9);
        assertEquals(100.0 * 578 / 1076, oialr.storedPercent(net), 1e-9);

        Map<String, Object> report = oialr.report(net);
        assertEquals(true, report.get("oialr_converted"));
        assertEquals(Map.of("layers.0", 5, "layers.2", 3), report.get("ranks"));
        assertEquals(100.0 * 246 / 1076, (Double) report.get("trainable_pct"), 1e-9);
        assertEquals(100.0 * 578 / 1076, (Double) report.get("stored_pct"), 1e-9);
        assertEquals(1, report.get("update_rounds"));
        assertTrue((Double) report.get("update_round_seconds") >= 0);
        assertTrue((Double) report.get("conversion_seconds") >= 0);
    }

    /** Σ ← A diag(top, tail…) Bᵀ with random orthogonal A, B: the top values survive β = 0.5. */
    private static void setSpectrum(LowRankLinear l, Random rnd, int k, double[] top, double tail) {
        double[] d = new double[k];
        for (int i = 0; i < k; i++) {
            d[i] = i < top.length ? top[i] : tail * (k - i) / k;
        }
        double[] s = compose(randomOrthogonal(rnd, k), d, randomOrthogonal(rnd, k), k);
        l.sigma().setValue(be.fromHost(toFloat(s), k, k));
    }
}
