package dev.oialr4j.nn.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.nn.BatchNorm2d;
import dev.oialr4j.nn.Conv2d;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The ResNet builder: structure, parameter count, input views, train/eval propagation. */
class ResNetTest {

    private static CpuBackend be;

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void tearDown() {
        be.close();
    }

    private static long count(Module m, Class<?> type) {
        return m.namedModules().values().stream().filter(type::isInstance).count();
    }

    /** Parameters of the CIFAR ResNet with 1×1 projection shortcuts, counted from the architecture. */
    private static long expectedParameters(int inChannels, int n, int classes) {
        int[] w = {16, 32, 64};
        long p = 9L * inChannels * 16 + 2 * 16;            // stem conv + BN
        int in = 16;
        for (int s = 0; s < 3; s++) {
            for (int b = 0; b < n; b++) {
                p += 9L * in * w[s] + 2 * w[s];            // conv1 + bn1
                p += 9L * w[s] * w[s] + 2 * w[s];          // conv2 + bn2
                if (in != w[s]) {
                    p += (long) in * w[s] + 2 * w[s];      // 1×1 shortcut + BN
                }
                in = w[s];
            }
        }
        return p + 64L * classes + classes;               // classifier
    }

    @Test
    void resnet20HasTheCifarStructure() {
        ResNet net = ResNet.resnet20(3, 32, 32, 10, 0);
        assertEquals(19 + 2, count(net, Conv2d.class), "19 weighted 3x3 layers + 2 projection shortcuts");
        assertEquals(21, count(net, BatchNorm2d.class));
        assertEquals(1, count(net, Linear.class));
        assertEquals(expectedParameters(3, 3, 10), net.parameterCount());
        ResNet r8 = ResNet.builder().input(1, 28, 28).depth(8).classes(7).build();
        assertEquals(7 + 2, count(r8, Conv2d.class));
        assertEquals(expectedParameters(1, 1, 7), r8.parameterCount());
    }

    @Test
    void acceptsImagesAndFlatRowsAndGivesLogits() {
        ResNet net = ResNet.builder().input(1, 12, 12).depth(8).classes(5).seed(2).build();
        SplittableRandom rng = new SplittableRandom(1);
        float[] x = new float[3 * 144];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rng.nextDouble(-1, 1);
        }
        net.train(false);
        float[] a = forward(net, Tensor.of(x.clone(), 3, 1, 12, 12));
        float[] b = forward(net, Tensor.of(x.clone(), 3, 144));
        assertEquals(15, a.length);
        assertArrayEquals(a, b, "a flat row is viewed as the same image");
    }

    @Test
    void evaluationModeLeavesRunningStatisticsAloneAndTrainingModeMovesThem() {
        ResNet net = ResNet.builder().input(1, 8, 8).depth(8).classes(3).build();
        BatchNorm2d bn = (BatchNorm2d) net.namedModules().get("stem.1");
        Tensor x = Tensor.of(new float[4 * 64], 4, 1, 8, 8);
        java.util.Arrays.fill(x.data(), 0.5f);
        x.data()[3] = 2f;
        net.train(false);
        assertFalse(bn.isTraining(), "train(false) reaches nested layers");
        float[] before = bn.runningMean().data().clone();
        forward(net, x);
        assertArrayEquals(before, bn.runningMean().data());
        net.train(true);
        forward(net, x);
        assertFalse(java.util.Arrays.equals(before, bn.runningMean().data()));
    }

    @Test
    void badOptionsAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ResNet.builder().depth(21).build());
        assertTrue(e.getMessage().contains("21"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ResNet.builder().widths(16, 32).build());
    }

    private static float[] forward(Module net, Tensor x) {
        Variable y = net.forward(new Ops(new Tape(be)), Variable.constant(x));
        return be.toHost(y.value());
    }
}
