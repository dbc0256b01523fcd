package dev.oialr4j.bench;

import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Sequential;
import dev.oialr4j.oialr.Oialr;
import dev.oialr4j.oialr.OialrConfig;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.tensor.Tensor;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One OIALR update round over the three hidden layers of the 784-1024-1024-1024-10 MLP at a given rank
 * (all layers at rank r, AdamW state present, ROTATE policy): Σ's SVD in double, rotation of U and V,
 * the rank rule and the state transform. Before each round Σ gets a small dense perturbation, as 100
 * optimizer steps would give it, so the SVD has real work to do and the rank stays r (cutoff 0).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class UpdateRoundBenchmark {

    @Param({"64", "128", "256", "384", "512"})
    public int rank;

    private CpuBackend backend;
    private Sequential model;
    private Oialr oialr;
    private AdamW optimizer;
    private SplittableRandom rng;

    @Setup
    public void setUp() {
        backend = new CpuBackend(2);
        rng = new SplittableRandom(7);
        model = new Sequential(new Linear(784, 1024, true, rng), new Linear(1024, 1024, true, rng),
                new Linear(1024, 1024, true, rng), new Linear(1024, 10, true, rng));
        // Weights of exactly rank `rank` (plus nothing), so the first round cuts every layer to it.
        for (int i = 0; i < 3; i++) {
            Linear l = (Linear) model.get(i);
            l.weight().setValue(lowRank(l.outFeatures(), l.inFeatures(), rank));
        }
        optimizer = new AdamW(backend, ParamGroup.decayMatricesOnly(model.parameters(), 0.05), 1e-3);
        oialr = new Oialr(OialrConfig.builder().delay(1).cutoffFraction(1e-3).maxCutFraction(1.0)
                .rolloutFraction(1.0).build());
        oialr.convert(model, optimizer, backend);
        oialr.updateRound(optimizer, backend);
        for (var layer : oialr.lowRankLayers()) {
            if (layer.rank() != rank) {
                throw new IllegalStateException("setup expected rank " + rank + ", got " + layer.rank());
            }
            int r = layer.rank();
            optimizer.setState(layer.sigma(), new dev.oialr4j.optim.ParamState.Adam(
                    random(r, r, 1e-3), random(r, r, 1e-6), 100));
        }
    }

    private Tensor lowRank(int m, int n, int r) {
        float[] a = random(m, r, 1).data();
        float[] b = random(r, n, 1).data();
        float[] w = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int p = 0; p < r; p++) {
                float av = a[i * r + p];
                for (int j = 0; j < n; j++) {
                    w[i * n + j] += av * b[p * n + j];
                }
            }
        }
        return Tensor.of(w, m, n);
    }

    private Tensor random(int rows, int cols, double scale) {
        float[] d = new float[rows * cols];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) (rng.nextDouble(-1, 1) * scale);
        }
        return Tensor.of(d, rows, cols);
    }

    @Setup(Level.Invocation)
    public void perturb() {
        for (var layer : oialr.lowRankLayers()) {
            float[] s = layer.sigma().value().data();
            float scale = Math.abs(s[0]) * 1e-3f;
            for (int i = 0; i < s.length; i++) {
                s[i] += (float) rng.nextDouble(-1, 1) * scale;
            }
        }
    }

    @Benchmark
    public int round() {
        oialr.updateRound(optimizer, backend);
        return oialr.rounds();
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }
}
