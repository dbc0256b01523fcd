package dev.oialr4j.oialr;

import static dev.oialr4j.oialr.OialrTestSupport.host;
import static dev.oialr4j.oialr.OialrTestSupport.nextGaussian;
import static dev.oialr4j.oialr.OialrTestSupport.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.data.DataLoader;
import dev.oialr4j.data.Dataset;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.models.Mlp;
import dev.oialr4j.oialr.OialrTestSupport.Opt;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.optim.Sgd;
import dev.oialr4j.train.TrainResult;
import dev.oialr4j.train.Trainer;
import dev.oialr4j.train.TrainerCallback;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * OIALR as a {@link Trainer} callback on a small MLP and synthetic data: biases of converted layers stay the
 * same Parameter objects and keep training, Σ trains in the weight's slot with AdamW and with SGD, U and V
 * never receive gradients, and a parameter the optimizer does not hold never accumulates gradients.
 */
class OialrTrainerTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    /** n examples of 16 Gaussian features labelled by the argmax of a random linear teacher over 4 classes. */
    private static Dataset teacherData(long seed, int n) {
        SplittableRandom rng = new SplittableRandom(seed);
        double[] teacher = new double[4 * 16];
        for (int i = 0; i < teacher.length; i++) {
            teacher[i] = nextGaussian(rng);
        }
        float[] x = new float[n * 16];
        int[] y = new int[n];
        for (int e = 0; e < n; e++) {
            for (int j = 0; j < 16; j++) {
                x[e * 16 + j] = (float) nextGaussian(rng);
            }
            double best = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < 4; c++) {
                double s = 0;
                for (int j = 0; j < 16; j++) {
                    s += teacher[c * 16 + j] * x[e * 16 + j];
                }
                if (s > best) {
                    best = s;
                    y[e] = c;
                }
            }
        }
        return new Dataset("teacher", x, y, 4, 16);
    }

    @ParameterizedTest
    @EnumSource(Opt.class)
    void convertedBiasesStayTheSameObjectsAndKeepTraining(Opt which) {
        Mlp mlp = Mlp.builder().inputs(16).hidden(32, 32, 32).outputs(4).dropout(0f).seed(1).build();
        Map<String, Parameter> biases = new LinkedHashMap<>();
        for (int i : new int[] {0, 2, 4}) {
            biases.put("layers." + i, ((Linear) mlp.layers().get(i)).bias());
        }
        List<Parameter> denseWeights = new ArrayList<>();
        for (int i : new int[] {0, 2, 4}) {
            denseWeights.add(((Linear) mlp.layers().get(i)).weight());
        }
        Optimizer opt = which == Opt.ADAMW
                ? new AdamW(be, ParamGroup.decayMatricesOnly(mlp.parameters(), 0.01), 0.01)
                : new Sgd(be, ParamGroup.decayMatricesOnly(mlp.parameters(), 1e-4), 0.05, 0.9, true);
        long delay = 80;
        Oialr oialr = new Oialr(OialrConfig.builder().delay(delay).updateEvery(40).cutoffFraction(0.15)
                .rolloutFraction(0.5).build());

        Map<String, double[]> biasAtConversion = new LinkedHashMap<>();
        List<Map<String, Integer>> ranksPerEpoch = new ArrayList<>();
        List<Double> trainablePerEpoch = new ArrayList<>();
        int[] checkedSteps = {0};
        TrainerCallback recorder = new TrainerCallback() {
            @Override
            public void afterOptimizerStep(Trainer trainer, long step) {
                if (step == delay) {
                    for (Map.Entry<String, Parameter> e : biases.entrySet()) {
                        biasAtConversion.put(e.getKey(), host(be, e.getValue().value()));
                    }
                }
                if (step > delay) {
                    for (LowRankLinear l : oialr.lowRankLayers()) {
                        assertNull(l.u().grad(), "U never gets a gradient (step " + step + ")");
                        assertNull(l.v().grad(), "V never gets a gradient (step " + step + ")");
                        assertTrue(l.bias().hasGrad(), "the bias got this step's gradient (step " + step + ")");
                    }
                    for (Parameter w : denseWeights) {
                        assertNull(w.grad(), "the replaced dense weight gets no gradient");
                    }
                    checkedSteps[0]++;
                }
            }

            @Override
            @SuppressWarnings("unchecked")
            public void afterEpoch(Trainer trainer, int epoch, Map<String, Object> record) {
                ranksPerEpoch.add(Map.copyOf((Map<String, Integer>) record.get("ranks")));
                trainablePerEpoch.add((Double) record.get("trainable_pct"));
            }
        };
        Dataset data = teacherData(2, 256);
        Trainer trainer = Trainer.builder().model(mlp).backend(be).optimizer(opt)
                .train(DataLoader.builder(data).batchSize(32).seed(3).build())
                .epochs(40).callback(oialr).callback(recorder).build();
        TrainResult result = trainer.fit();
        assertEquals(320, trainer.globalStep());
        assertEquals(320 - delay, checkedSteps[0]);

        assertTrue(oialr.converted());
        assertEquals(1 + (320 - delay) / 40, oialr.rounds(), "a round at the delay and every 40 steps after it");
        for (Map.Entry<String, Parameter> e : biases.entrySet()) {
            int index = Integer.parseInt(e.getKey().substring("layers.".length()));
            LowRankLinear l = assertInstanceOf(LowRankLinear.class, mlp.layers().get(index), e.getKey());
            assertSame(e.getValue(), l.bias(), e.getKey() + ": the bias is the same Parameter object");
            assertSame(e.getValue(), mlp.namedParameters().get(e.getKey() + ".bias"));
            assertTrue(opt.parameters().stream().anyMatch(p -> p == e.getValue()), "the optimizer still holds it");
            assertTrue(opt.parameters().stream().anyMatch(p -> p == l.sigma()), "the optimizer holds Σ");
            double[] now = host(be, e.getValue().value());
            double[] then = biasAtConversion.get(e.getKey());
            double moved = 0;
            for (int i = 0; i < now.length; i++) {
                moved = Math.max(moved, Math.abs(now[i] - then[i]));
            }
            assertTrue(moved > 1e-3, e.getKey() + ": bias kept training after conversion (moved " + moved + ")");
        }
        for (Parameter w : denseWeights) {
            assertFalse(opt.parameters().stream().anyMatch(p -> p == w), "dense weights left the optimizer");
        }
        assertInstanceOf(Linear.class, mlp.layers().get(6), "the classifier stays dense");

        // ranks never grow from epoch to epoch; the trainable share is below 100 % once converted
        for (int e = 1; e < ranksPerEpoch.size(); e++) {
            Map<String, Integer> prev = ranksPerEpoch.get(e - 1);
            for (Map.Entry<String, Integer> r : ranksPerEpoch.get(e).entrySet()) {
                assertTrue(!prev.containsKey(r.getKey()) || r.getValue() <= prev.get(r.getKey()),
                        "epoch " + (e + 1) + ": rank of " + r.getKey() + " grew");
            }
        }
        double last = trainablePerEpoch.get(trainablePerEpoch.size() - 1);
        assertTrue(last < 100.0, "trainable % after conversion: " + last);
        // training still learns
        double first = result.epochs().get(0).trainLoss();
        double end = result.last().trainLoss();
        assertTrue(Double.isFinite(end) && end < 0.7 * first, "loss " + first + " → " + end);
    }

    @Test
    void parameterLeftOutOfTheOptimizerNeverAccumulatesGradients() {
        Mlp mlp = Mlp.builder().inputs(16).hidden(24).outputs(4).dropout(0f).seed(4).build();
        Parameter leftOut = ((Linear) mlp.layers().get(0)).bias(); // becomes the converted layer's bias
        Parameter denseWeight = ((Linear) mlp.layers().get(0)).weight();
        List<Parameter> optimised = mlp.parameters().stream().filter(p -> p != leftOut).toList();
        Optimizer opt = new AdamW(be, ParamGroup.decayMatricesOnly(optimised, 0.01), 0.02);
        Oialr oialr = new Oialr(OialrConfig.builder().delay(3).updateEvery(2).cutoffFraction(0.2).build());

        Dataset data = teacherData(5, 64);
        float[] bias0 = be.toHost(leftOut.value()).clone();
        double[][] expected = new double[1][];
        int[] compared = {0};
        TrainerCallback check = new TrainerCallback() {
            @Override
            public void beforeStep(Trainer trainer, long step) {
                // the gradient of this step alone, computed on a fresh tape from fresh buffers
                for (Parameter p : mlp.parameters()) {
                    p.zeroGrad();
                }
                Tape tape = new Tape(be);
                Ops ops = new Ops(tape);
                Variable x = Variable.constant(be.fromHost(data.images().clone(), 64, 16));
                tape.backward(ops.crossEntropy(mlp.forward(ops, x), data.labels(), 0f));
                expected[0] = host(be, leftOut.grad());
            }

            @Override
            public void afterOptimizerStep(Trainer trainer, long step) {
                assertTrue(leftOut.hasGrad(), "step " + step + ": the left-out parameter got this step's gradient");
                assertNotNull(leftOut.grad());
                double rel = relativeError(expected[0], host(be, leftOut.grad()));
                assertTrue(rel < 1e-5, "step " + step + ": gradient of the left-out parameter differs from this step's "
                        + "own gradient by " + rel + " (accumulated across steps?)");
                assertTrue(OialrTestSupport.frobenius(expected[0]) > 1e-6, "a non-trivial gradient");
                if (oialr.converted()) {
                    assertFalse(denseWeight.requiresGrad(), "the replaced dense weight is frozen");
                    assertNull(denseWeight.grad(), "the replaced dense weight holds no gradient");
                }
                for (LowRankLinear l : oialr.lowRankLayers()) {
                    assertNull(l.u().grad(), "U gets no gradient");
                    assertNull(l.v().grad(), "V gets no gradient");
                }
                compared[0]++;
            }
        };
        // the check runs before OIALR's hook so it sees the step's gradients before a round replaces tensors
        Trainer trainer = Trainer.builder().model(mlp).backend(be).optimizer(opt)
                .train(DataLoader.builder(data).batchSize(64).shuffle(false).build())
                .epochs(10).callback(check).callback(oialr).build();
        trainer.fit();
        assertEquals(10, compared[0]);
        assertTrue(oialr.converted());
        assertSame(leftOut, oialr.lowRankLayers().get(0).bias());
        assertTrue(java.util.Arrays.equals(bias0, be.toHost(leftOut.value())), "a parameter nobody optimises never moves");
    }
}
