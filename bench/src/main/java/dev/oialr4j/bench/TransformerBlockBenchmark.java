package dev.oialr4j.bench;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.nn.TransformerBlock;
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
 * One training step of a single pre-norm {@link TransformerBlock} (forward, then backward of sum(y) with
 * an input that needs a gradient, as inside a network) at the vit-small shapes: 50 tokens (49 patches of
 * a 28×28 image plus the class token), width 128, 4 heads, MLP ratio 2, batch 128. {@code width} 768 with
 * 17 tokens and 6 heads is the vit-mini (paper CIFAR-10) block. GFLOP/s follow from the printed time and
 * {@link #flops}: three GEMM-shaped passes (forward, input and weight gradients) over the four Linears
 * plus the attention products.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class TransformerBlockBenchmark {

    /** tokens x width x heads x mlpRatio */
    @Param({"50x128x4x2", "17x768x6x4"})
    public String shape;

    @Param({"128"})
    public int batch;

    @Param({"2"})
    public int threads;

    private CpuBackend backend;
    private TransformerBlock block;
    private Tensor x;

    @Setup
    public void setUp() {
        String[] p = shape.split("x");
        int tokens = Integer.parseInt(p[0]);
        int width = Integer.parseInt(p[1]);
        int heads = Integer.parseInt(p[2]);
        double ratio = Double.parseDouble(p[3]);
        backend = new CpuBackend(threads);
        SplittableRandom rng = new SplittableRandom(42);
        block = new TransformerBlock(width, heads, ratio, 0f, 0f, 1, rng);
        float[] d = new float[batch * tokens * width];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rng.nextDouble(-1, 1);
        }
        x = Tensor.of(d, batch, tokens, width);
    }

    /** Floating-point operations of one step (multiply-adds count two). */
    public static double flops(int batch, int tokens, int width, int heads, double ratio) {
        double rows = (double) batch * tokens;
        double hidden = Math.round(width * ratio);
        double linear = rows * (3.0 * width * width + width * width + 2 * width * hidden);
        double attention = 2.0 * batch * tokens * tokens * width; // q kᵀ and P v over all heads
        return 2 * 3 * (linear + attention);
    }

    @Benchmark
    public Tensor step() {
        Tape tape = new Tape(backend);
        Ops ops = new Ops(tape);
        for (var prm : block.parameters()) {
            prm.zeroGrad();
        }
        Variable in = new Variable(x, true);
        Variable y = block.forward(ops, in);
        tape.backward(ops.sum(y));
        return in.grad();
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }
}
