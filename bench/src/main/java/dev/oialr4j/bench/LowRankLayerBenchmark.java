package dev.oialr4j.bench;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
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
 * One training step of a single layer (forward, then backward of sum(y) with an input that needs a
 * gradient, as for a layer inside a network): {@link LowRankLinear} at rank r = fraction · min(m, n)
 * against the dense {@link Linear} of the same shape, same inputs, same thread count. Shapes are
 * out×in: the MLP's hidden layer (1024×1024) and a ViT-B's attention projection (768×768) and MLP
 * up-projection (3072×768). {@code rankFraction = 0} denotes the dense layer.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 4, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class LowRankLayerBenchmark {

    @Param({"1024x1024", "768x768", "3072x768"})
    public String shape;

    @Param({"128", "512", "1024"})
    public int batch;

    /** 0 = dense Linear; otherwise r / min(m, n). */
    @Param({"0", "1.0", "0.5", "0.25", "0.1", "0.05"})
    public double rankFraction;

    @Param({"2"})
    public int threads;

    private CpuBackend backend;
    private Module layer;
    private Tensor x;

    @Setup
    public void setUp() {
        String[] p = shape.split("x");
        int out = Integer.parseInt(p[0]);
        int in = Integer.parseInt(p[1]);
        backend = new CpuBackend(threads);
        SplittableRandom rng = new SplittableRandom(42);
        Linear dense = new Linear(in, out, true, rng);
        if (rankFraction == 0) {
            layer = dense;
        } else {
            int r = Math.max(1, (int) Math.round(rankFraction * Math.min(in, out)));
            layer = new LowRankLinear(orthonormal(out, r, rng), random(r, r, rng), orthonormal(in, r, rng), dense.bias());
        }
        x = random(batch, in, rng);
    }

    /** Columns need not be exactly orthonormal for timing; scaled random columns keep values tame. */
    private static Tensor orthonormal(int rows, int cols, SplittableRandom rng) {
        Tensor t = random(rows, cols, rng);
        float[] d = t.data();
        float s = (float) (1 / Math.sqrt(rows));
        for (int i = 0; i < d.length; i++) {
            d[i] *= s;
        }
        return t;
    }

    private static Tensor random(int rows, int cols, SplittableRandom rng) {
        float[] d = new float[rows * cols];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rng.nextDouble(-1, 1);
        }
        return Tensor.of(d, rows, cols);
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
