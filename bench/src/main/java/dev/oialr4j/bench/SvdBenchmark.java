package dev.oialr4j.bench;

import dev.oialr4j.linalg.Svd;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.ejml.data.DMatrixRMaj;
import org.ejml.data.FMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_FDRM;
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
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Full reduced SVD (U, σ, V) of a float matrix, single-threaded: oialr4j's {@link Svd} against EJML's
 * float and double SVDs in the same run. The CPU anchor is LAPACK sgesdd (512×512 ≈ 33 ms, 768×768 ≈
 * 96 ms on one core of the reference machine); the target is within 3× of it.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -cp <bench classpath> dev.oialr4j.bench.SvdBenchmark}
 * (or through the JMH main with {@code SvdBenchmark}). Shapes: "n" is n×n, "mxn" is m×n.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class SvdBenchmark {

    @Param({"64", "128", "256", "512", "768", "1024", "3072x768"})
    public String shape;

    private int m;
    private int n;
    private float[] data;
    private double[] dataDouble;

    @Setup
    public void setup() {
        String[] parts = shape.split("x");
        m = Integer.parseInt(parts[0]);
        n = parts.length > 1 ? Integer.parseInt(parts[1]) : m;
        Random rnd = new Random(42);
        data = new float[m * n];
        dataDouble = new double[m * n];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian();
            dataDouble[i] = data[i];
        }
        // Report the accuracy next to the timing: relative reconstruction error of our factors.
        Svd.Result r = Svd.decompose(data, m, n);
        double[] back = r.reconstruct();
        double num = 0;
        double den = 0;
        for (int i = 0; i < back.length; i++) {
            num += (back[i] - dataDouble[i]) * (back[i] - dataDouble[i]);
            den += dataDouble[i] * dataDouble[i];
        }
        System.out.printf("%n[SvdBenchmark] %s: oialr4j ‖A − UΣVᵀ‖/‖A‖ = %.2e%n", shape, Math.sqrt(num / den));
    }

    @Benchmark
    public Svd.Result oialr4j() {
        return Svd.decompose(data, m, n);
    }

    @Benchmark
    public Object ejmlFloat() {
        var svd = DecompositionFactory_FDRM.svd(m, n, true, true, true);
        if (!svd.decompose(new FMatrixRMaj(m, n, true, data))) {
            throw new IllegalStateException("EJML float SVD failed");
        }
        return svd.getU(null, false);
    }

    @Benchmark
    public Object ejmlDouble() {
        var svd = DecompositionFactory_DDRM.svd(m, n, true, true, true);
        if (!svd.decompose(new DMatrixRMaj(m, n, true, dataDouble))) {
            throw new IllegalStateException("EJML double SVD failed");
        }
        return svd.getU(null, false);
    }

    public static void main(String[] args) throws RunnerException {
        var options = new OptionsBuilder().include(SvdBenchmark.class.getSimpleName());
        if (args.length > 0) {
            options.param("shape", args);
        }
        new Runner(options.build()).run();
    }
}
