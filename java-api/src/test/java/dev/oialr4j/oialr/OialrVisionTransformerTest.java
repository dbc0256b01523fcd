package dev.oialr4j.oialr;

import static dev.oialr4j.oialr.OialrTestSupport.forward;
import static dev.oialr4j.oialr.OialrTestSupport.gaussian;
import static dev.oialr4j.oialr.OialrTestSupport.host;
import static dev.oialr4j.oialr.OialrTestSupport.labels;
import static dev.oialr4j.oialr.OialrTestSupport.product;
import static dev.oialr4j.oialr.OialrTestSupport.relativeError;
import static dev.oialr4j.oialr.OialrTestSupport.toDouble;
import static dev.oialr4j.oialr.OialrTestSupport.trainStep;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.models.VisionTransformer;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * OIALR on a vision transformer: the fused QKV, the attention output and the MLP Linears of every block
 * (and the patch projection) convert to {@link LowRankLinear} where they sit, the classifier head stays
 * dense, names select and exclude layers, and conversion and an update round without a cut keep the
 * model's outputs (1e-5 relative, float rounding of the factors).
 */
class OialrVisionTransformerTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    private static VisionTransformer tiny(long seed) {
        return VisionTransformer.small().image(1, 8, 8).patch(4).depth(2).heads(2).dim(16).mlpRatio(2)
                .classes(5).seed(seed).build();
    }

    private static List<String> blockLayers(int depth) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < depth; i++) {
            names.addAll(List.of("blocks." + i + ".attn.qkv", "blocks." + i + ".attn.proj", "blocks." + i + ".fc1",
                    "blocks." + i + ".fc2"));
        }
        return names;
    }

    @Test
    void selectionTakesEveryProjectionButTheHeadAndHonoursNames() {
        VisionTransformer vit = tiny(1);
        List<String> expected = new ArrayList<>(List.of("patchEmbed.proj"));
        expected.addAll(blockLayers(2));
        List<String> chosen = Oialr.select(vit, OialrConfig.builder().build()).stream().map(Oialr.Candidate::name).toList();
        assertEquals(expected, chosen);

        List<String> withoutFirst = Oialr.select(vit, OialrConfig.builder().keepFirstDense(true)
                .exclude("blocks.1.fc2").build()).stream().map(Oialr.Candidate::name).toList();
        List<String> expected2 = new ArrayList<>(blockLayers(2));
        expected2.remove("blocks.1.fc2");
        assertEquals(expected2, withoutFirst);
    }

    @Test
    void conversionAndARoundWithoutCutKeepTheOutputs() {
        VisionTransformer vit = tiny(2);
        SplittableRandom rng = new SplittableRandom(3);
        Tensor x = gaussian(be, rng, 12, 64);
        int[] y = labels(rng, 12, 5);
        Optimizer opt = OialrTestSupport.Opt.ADAMW.create(be, vit, 3e-3, 0.01);
        for (int i = 0; i < 3; i++) {
            trainStep(vit, opt, be, x, y);
        }
        float[] before = forward(vit, be, x);
        Oialr oialr = new Oialr(OialrConfig.builder().delay(1).updateEvery(1).rolloutFraction(1.0).cutoffFraction(0.0).build());
        oialr.convert(vit, opt, be);

        Map<String, Module> modules = vit.namedModules();
        List<String> converted = new ArrayList<>(List.of("patchEmbed.proj"));
        converted.addAll(blockLayers(2));
        for (String name : converted) {
            assertInstanceOf(LowRankLinear.class, modules.get(name), name + " is low-rank");
        }
        assertInstanceOf(Linear.class, modules.get("head"), "the classifier head stays dense");
        assertTrue(relativeError(toDouble(before), toDouble(forward(vit, be, x))) < 1e-5, "conversion keeps outputs");

        // Train through the factors, so Σ is no longer diagonal, then a round that cuts nothing.
        for (int i = 0; i < 5; i++) {
            trainStep(vit, opt, be, x, y);
        }
        LowRankLinear qkv = (LowRankLinear) modules.get("blocks.0.attn.qkv");
        double[] productBefore = product(be, qkv);
        float[] trained = forward(vit, be, x);
        assertTrue(relativeError(toDouble(before), toDouble(trained)) > 1e-3, "training through Σ changed the model");
        oialr.updateRound(opt, be);
        assertEquals(16, qkv.rank(), "cutoff 0 keeps the full rank");
        assertTrue(relativeError(productBefore, product(be, qkv)) < 1e-5, "U Σ Vᵀ unchanged by the round");
        assertTrue(relativeError(toDouble(trained), toDouble(forward(vit, be, x))) < 1e-5, "round keeps outputs");
        // Every converted layer's Σ is diagonal after the round.
        for (LowRankLinear l : oialr.lowRankLayers()) {
            double[] s = host(be, l.sigma().value());
            int r = l.rank();
            for (int i = 0; i < r; i++) {
                for (int j = 0; j < r; j++) {
                    if (i != j) {
                        assertEquals(0.0, s[i * r + j], 0.0, "Σ diagonal after a round");
                    }
                }
            }
        }
        assertTrue(oialr.trainablePercent(vit) < 100.0);
    }
}
