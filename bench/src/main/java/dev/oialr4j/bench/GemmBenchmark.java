package dev.oialr4j.bench;

import dev.oialr4j.backend.CpuGemm;
import dev.oialr4j.backend.Parallel;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.ejml.data.FMatrixRMaj;
import org.ejml.dense.row.CommonOps_FDRM;
import org.ejml.dense.row.CommonOps_MT_FDRM;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
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
 * Single-precision GEMM: our {@link CpuGemm} against EJML (single-threaded {@code CommonOps_FDRM}
 * and its multi-threaded {@code CommonOps_MT_FDRM}) on the same inputs. Shapes: square sizes and the
 * products of one training step of a 784-1024-1024-1024-10 MLP at batch 256 (forward x.W^T, weight
 * gradient dy^T.x, input gradient dy.W). The naive triple loop lives in {@link GemmNaiveBenchmark}
 * because it is too slow for the large shapes.
 *
 * <p>Scores are operations per second; {@link GemmReport} turns them into GFLOP/s
 * (2 m n k flops per operation).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 6, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class GemmBenchmark {

    @Param({
        "256x256x256:NN", "512x512x512:NN", "1024x1024x1024:NN", "2048x2048x2048:NN",
        // MLP forward y = x W^T: batch 256, layers 784->1024, 1024->1024, 1024->10
        "256x1024x784:NT", "256x1024x1024:NT", "256x10x1024:NT",
        // weight gradients dW = dy^T x
        "1024x784x256:TN", "1024x1024x256:TN", "10x1024x256:TN",
        // input gradients dx = dy W
        "256x1024x1024:NN", "256x1024x10:NN",
    })
    public String shape;

    /** Threads for our GEMM and for EJML's multi-threaded variant (its pool is the common pool). */
    @Param({"2"})
    public int threads;

    private GemmShape s;
    private Parallel parallel;
    private CpuGemm gemm;
    private float[] a;
    private float[] b;
    private float[] c;
    private FMatrixRMaj ea;
    private FMatrixRMaj eb;
    private FMatrixRMaj ec;

    @Setup(Level.Trial)
    public void setUp() {
        s = GemmShape.parse(shape);
        parallel = new Parallel(threads);
        gemm = new CpuGemm(parallel);
        var rnd = new SplittableRandom(42);
        int aRows = s.transA() ? s.k() : s.m();
        int aCols = s.transA() ? s.m() : s.k();
        int bRows = s.transB() ? s.n() : s.k();
        int bCols = s.transB() ? s.k() : s.n();
        a = random(rnd, aRows * aCols);
        b = random(rnd, bRows * bCols);
        c = new float[s.m() * s.n()];
        ea = FMatrixRMaj.wrap(aRows, aCols, a.clone());
        eb = FMatrixRMaj.wrap(bRows, bCols, b.clone());
        ec = new FMatrixRMaj(s.m(), s.n());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        parallel.close();
    }

    static float[] random(SplittableRandom rnd, int size) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) {
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return x;
    }

    @Benchmark
    public float[] oialr4j() {
        int lda = s.transA() ? s.m() : s.k();
        int ldb = s.transB() ? s.k() : s.n();
        gemm.sgemm(s.transA(), s.transB(), s.m(), s.n(), s.k(), 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, s.n());
        return c;
    }

    @Benchmark
    public FMatrixRMaj ejml() {
        if (s.transA()) {
            return CommonOps_FDRM.multTransA(ea, eb, ec);
        }
        return s.transB() ? CommonOps_FDRM.multTransB(ea, eb, ec) : CommonOps_FDRM.mult(ea, eb, ec);
    }

    @Benchmark
    public FMatrixRMaj ejmlMt() {
        if (s.transA()) {
            return CommonOps_MT_FDRM.multTransA(ea, eb, ec);
        }
        return s.transB() ? CommonOps_MT_FDRM.multTransB(ea, eb, ec) : CommonOps_MT_FDRM.mult(ea, eb, ec);
    }
}
