package dev.oialr4j.oialr;

import static dev.oialr4j.oialr.OialrTestSupport.forward;
import static dev.oialr4j.oialr.OialrTestSupport.labels;
import static dev.oialr4j.oialr.OialrTestSupport.trainStep;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.lowrank.LowRankConv2d;
import dev.oialr4j.lowrank.LowRankLayer;
import dev.oialr4j.nn.Conv2d;
import dev.oialr4j.nn.Flatten;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.Sequential;
import dev.oialr4j.nn.models.ResNet;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** OIALR on convolutional networks: selection of Conv2d layers, conversion of a ResNet, update rounds. */
class OialrConvTest {

    private static CpuBackend be;

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void tearDown() {
        be.close();
    }

    private static ResNet resnet8() {
        return ResNet.builder().input(1, 10, 10).depth(8).widths(4, 8, 16).classes(5).seed(3).build();
    }

    private static Tensor input(SplittableRandom rng, int n) {
        float[] x = new float[n * 100];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rng.nextDouble(-1, 1);
        }
        return Tensor.of(x, n, 1, 10, 10);
    }

    @Test
    void everyConvolutionOfAResNetIsSelectedButNotTheClassifier() {
        List<String> names = Oialr.select(resnet8(), OialrConfig.builder().build()).stream()
                .map(Oialr.Candidate::name).toList();
        assertEquals(List.of("stem.0", "stage1.0.conv1", "stage1.0.conv2", "stage2.0.conv1", "stage2.0.conv2",
                "stage2.0.shortcut.0", "stage3.0.conv1", "stage3.0.conv2", "stage3.0.shortcut.0"), names);
    }

    @Test
    void groupedWideAndUnprofitableConvolutionsStayDense() {
        SplittableRandom rng = new SplittableRandom(1);
        Module net = new Sequential(
                new Conv2d(3, 8, 3, Conv2dOptions.of(1, 1, 1, 1), true, rng),   // 8 × 27: converts
                new Conv2d(8, 8, 3, Conv2dOptions.of(1, 1, 1, 2), true, rng),   // grouped: never a candidate
                new Conv2d(8, 2, 3, Conv2dOptions.of(1, 1, 1, 1), true, rng),   // 2 × 72: aspect 36
                new Conv2d(2, 2, 1, Conv2dOptions.of(1, 0, 1, 1), true, rng),   // 2 × 2: cannot save at rank 1
                new Flatten(), new Linear(2 * 36, 4, true, rng));
        assertEquals(List.of("0"), Oialr.select(net, OialrConfig.builder().build()).stream()
                .map(Oialr.Candidate::name).toList());
        assertEquals(List.of("0", "2"), Oialr.select(net, OialrConfig.builder().include("2", "3").build()).stream()
                .map(Oialr.Candidate::name).toList(), "an included layer that cannot save parameters is refused");
        Oialr.Candidate c = Oialr.select(net, OialrConfig.builder().build()).get(0);
        assertEquals(8, c.rows());
        assertEquals(27, c.cols());
    }

    @Test
    void aConvertedResNetComputesTheSameAndARoundWithoutCutKeepsItsOutputs() {
        ResNet net = resnet8();
        SplittableRandom rng = new SplittableRandom(7);
        Tensor x = input(rng, 6);
        int[] y = labels(rng, 6, 5);
        Optimizer opt = new AdamW(be, ParamGroup.decayMatricesOnly(net.parameters(), 0.0), 1e-2);
        trainStep(net, opt, be, x, y);
        net.train(false);
        float[] dense = forward(net, be, x);

        Oialr oialr = new Oialr(OialrConfig.builder().rolloutFraction(1.0).cutoffFraction(0.0).build());
        oialr.convert(net, opt, be);
        Map<String, Module> modules = net.namedModules();
        for (String name : oialr.ranks().keySet()) {
            assertInstanceOf(LowRankConv2d.class, modules.get(name), name);
        }
        assertEquals(9, oialr.convertedLayers().size());
        assertClose("outputs after conversion", dense, forward(net, be, x), 1e-4);

        // Train Σ away from diagonal, then rotate: with no cut the product and the outputs stay.
        net.train(true);
        for (int s = 0; s < 3; s++) {
            trainStep(net, opt, be, x, y);
        }
        net.train(false);
        float[] before = forward(net, be, x);
        Map<String, Integer> ranks = oialr.ranks();
        oialr.updateRound(opt, be);
        assertEquals(ranks, oialr.ranks());
        assertClose("outputs after an update round", before, forward(net, be, x), 1e-4);
        for (LowRankLayer l : oialr.convertedLayers()) {
            assertTrue(isDiagonal(be.toHost(l.sigma().value()), l.rank()), "Σ is diagonal after a round");
        }
    }

    @Test
    void aRoundWithACutRemovesExactlyTheSmallSingularValues() {
        ResNet net = resnet8();
        SplittableRandom rng = new SplittableRandom(9);
        Tensor x = input(rng, 6);
        int[] y = labels(rng, 6, 5);
        Optimizer opt = new AdamW(be, ParamGroup.decayMatricesOnly(net.parameters(), 0.0), 1e-2);
        Oialr oialr = new Oialr(OialrConfig.builder().rolloutFraction(1.0).cutoffFraction(0.3).maxCutFraction(0.5)
                .build());
        oialr.convert(net, opt, be);
        for (int s = 0; s < 3; s++) {
            trainStep(net, opt, be, x, y);
        }
        List<LowRankLayer> layers = oialr.convertedLayers();
        List<float[]> products = new ArrayList<>();
        List<double[]> spectra = new ArrayList<>();
        for (LowRankLayer l : layers) {
            products.add(LowRankLayer.product(be, l));
            spectra.add(singularValues(be.toHost(l.sigma().value()), l.rank()));
        }
        oialr.updateRound(opt, be);
        int cut = 0;
        for (int i = 0; i < layers.size(); i++) {
            LowRankLayer l = layers.get(i);
            double[] s = spectra.get(i);
            double dropped = 0;
            for (int j = l.rank(); j < s.length; j++) {
                dropped += s[j] * s[j];
            }
            cut += s.length - l.rank();
            float[] after = LowRankLayer.product(be, l);
            float[] prev = products.get(i);
            double diff = 0;
            double norm = 0;
            for (int j = 0; j < prev.length; j++) {
                diff += (double) (prev[j] - after[j]) * (prev[j] - after[j]);
                norm += (double) prev[j] * prev[j];
            }
            // Eckart–Young: removing σ_{r'+1..} changes the product by exactly their 2-norm in Frobenius norm.
            assertEquals(Math.sqrt(dropped), Math.sqrt(diff), 1e-5 * Math.sqrt(norm) + 1e-3 * Math.sqrt(dropped),
                    "layer " + i);
        }
        assertTrue(cut > 0, "a cutoff of 0.3 cuts some rank after conversion of random kernels");
    }

    private static double[] singularValues(float[] sigma, int r) {
        DMatrixRMaj a = new DMatrixRMaj(r, r);
        for (int i = 0; i < r * r; i++) {
            a.data[i] = sigma[i];
        }
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(r, r, false, false, true);
        assertTrue(svd.decompose(a));
        double[] s = svd.getSingularValues().clone();
        java.util.Arrays.sort(s);
        for (int i = 0; i < s.length / 2; i++) {
            double t = s[i];
            s[i] = s[s.length - 1 - i];
            s[s.length - 1 - i] = t;
        }
        return s;
    }

    private static boolean isDiagonal(float[] s, int r) {
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                if (i != j && s[i * r + j] != 0f) {
                    return false;
                }
            }
        }
        return true;
    }

    private static void assertClose(String what, float[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length);
        double num = 0;
        double den = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = expected[i] - actual[i];
            num += d * d;
            den += (double) expected[i] * expected[i];
        }
        double rel = Math.sqrt(num / Math.max(den, 1e-30));
        assertTrue(rel <= tol, what + ": relative error " + rel + " exceeds " + tol);
    }

}
