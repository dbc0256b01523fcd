package dev.oialr4j.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The baseline for {@link GemmBenchmark}: a single-threaded triple loop (i, j, then the dot product
 * over p with a float accumulator), run only on shapes small enough to finish in a benchmark
 * iteration. Shape strings match GemmBenchmark so {@link GemmReport} lines them up.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class GemmNaiveBenchmark {

    @Param({
        "256x256x256:NN", "512x512x512:NN",
        "256x1024x784:NT", "256x10x1024:NT", "1024x784x256:TN", "10x1024x256:TN", "256x1024x10:NN",
    })
    public String shape;

    private GemmShape s;
    private float[] a;
    private float[] b;
    private float[] c;

    @Setup(Level.Trial)
    public void setUp() {
        s = GemmShape.parse(shape);
        var rnd = new SplittableRandom(42);
        a = GemmBenchmark.random(rnd, s.m() * s.k());
        b = GemmBenchmark.random(rnd, s.k() * s.n());
        c = new float[s.m() * s.n()];
    }

    @Benchmark
    public float[] naive() {
        int m = s.m();
        int n = s.n();
        int k = s.k();
        // Element (i, p) of op(A) sits at i * sai + p * spi; likewise for B.
        int sai = s.transA() ? 1 : k;
        int sap = s.transA() ? m : 1;
        int sbp = s.transB() ? 1 : n;
        int sbj = s.transB() ? k : 1;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float sum = 0f;
                for (int p = 0; p < k; p++) {
                    sum += a[i * sai + p * sap] * b[p * sbp + j * sbj];
                }
                c[i * n + j] = sum;
            }
        }
        return c;
    }
}
