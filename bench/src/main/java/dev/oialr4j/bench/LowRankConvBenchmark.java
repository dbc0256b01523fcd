package dev.oialr4j.bench;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.lowrank.LowRankConv2d;
import dev.oialr4j.nn.Conv2d;
import dev.oialr4j.nn.Module;
import dev.oialr4j.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One training step of a single 3×3 convolution layer (forward, backward of sum(y) with an input that
 * needs a gradient): {@link LowRankConv2d} at rank r = fraction · min(out, in·9) against the dense
 * {@link Conv2d}, on the ResNet-20 shapes ({@code CxS}: C → C channels on S×S maps).
 * {@code rankFraction = 0} denotes the dense layer.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 4, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class LowRankConvBenchmark {

    @Param({"16x32", "32x16", "64x8"})
    public String shape;

    @Param({"128"})
    public int batch;

    /** 0 = dense Conv2d; otherwise r / min(out, in · 9). */
    @Param({"0", "0.1"})
    public double rankFraction;

    @Param({"2"})
    public int threads;

    private CpuBackend backend;
    private Module layer;
    private Tensor x;

    @Setup
    public void setUp() {
        String[] p = shape.split("x");
        int c = Integer.parseInt(p[0]);
        int s = Integer.parseInt(p[1]);
        backend = new CpuBackend(threads);
        SplittableRandom rng = new SplittableRandom(42);
        Conv2dOptions o = Conv2dOptions.of(1, 1, 1, 1);
        Conv2d dense = new Conv2d(c, c, 3, o, false, rng);
        if (rankFraction == 0) {
            layer = dense;
        } else {
            int r = Math.max(1, (int) Math.round(rankFraction * Math.min(c, c * 9)));
            layer = new LowRankConv2d(scaled(rng, c, r), ConvBenchmark.random(rng, r, r), scaled(rng, c * 9, r), null,
                    c, 3, 3, o);
        }
        x = ConvBenchmark.random(rng, batch, c, s, s);
    }

    /** Columns need not be exactly orthonormal for timing; scaled random columns keep values tame. */
    private static Tensor scaled(SplittableRandom rng, int rows, int cols) {
        Tensor t = ConvBenchmark.random(rng, rows, cols);
        float[] d = t.data();
        float f = (float) (1 / Math.sqrt(rows));
        for (int i = 0; i < d.length; i++) {
            d[i] *= f;
        }
        return t;
    }

    @Benchmark
    public Tensor step() {
        Tape tape = new Tape(backend);
        Ops ops = new Ops(tape);
        for (var prm : layer.parameters()) {
            prm.zeroGrad();
        }
        Variable in = new Variable(x, true);
        Variable y = layer.forward(ops, in);
        tape.backward(ops.sum(y));
        return in.grad();
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }
}
