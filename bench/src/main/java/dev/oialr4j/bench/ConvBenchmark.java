package dev.oialr4j.bench;

import dev.oialr4j.backend.Conv2dGeometry;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.CpuBackend;
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
 * One 3×3 convolution (stride 1, padding 1) forward and backward (input and weight gradients) on the
 * ResNet-20 shapes: ours (im2col + packed GEMM per image chunk, {@code threads} threads) against a naive
 * direct convolution on one thread. {@code shape} is {@code CxS}: C → C channels on S×S maps.
 * {@link ConvReport} turns the scores into GFLOP/s (3 · 2 · multiply-adds of the forward pass per op).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 4, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class ConvBenchmark {

    @Param({"16x32", "32x16", "64x8"})
    public String shape;

    @Param({"128"})
    public int batch;

    @Param({"2"})
    public int threads;

    private CpuBackend backend;
    private Conv2dGeometry g;
    private Tensor x;
    private Tensor w;
    private Tensor y;
    private Tensor dx;
    private Tensor dw;

    /** The geometry a shape string describes. */
    static Conv2dGeometry geometry(String shape, int batch) {
        String[] p = shape.split("x");
        int c = Integer.parseInt(p[0]);
        int s = Integer.parseInt(p[1]);
        return Conv2dGeometry.of(new int[] {batch, c, s, s}, new int[] {c, c, 3, 3}, Conv2dOptions.of(1, 1, 1, 1));
    }

    @Setup
    public void setUp() {
        backend = new CpuBackend(threads);
        g = geometry(shape, batch);
        SplittableRandom rng = new SplittableRandom(42);
        x = random(rng, g.inputDims());
        w = random(rng, g.weightDims());
        y = backend.zeros(g.outputDims());
        dx = backend.zeros(g.inputDims());
        dw = backend.zeros(g.weightDims());
    }

    static Tensor random(SplittableRandom rng, int... dims) {
        Tensor t = Tensor.zeros(dims);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rng.nextDouble(-1, 1);
        }
        return t;
    }

    @Benchmark
    public Tensor ours() {
        backend.conv2d(x, w, null, g, y);
        // y stands in for the output gradient: same shape, and the kernels do not care about values.
        backend.conv2dBackward(x, w, y, g, dx, dw, 0f);
        return dw;
    }

    @Benchmark
    public float[] naive() {
        NaiveConv.forward(x.data(), w.data(), y.data(), g);
        NaiveConv.backward(x.data(), w.data(), y.data(), g, dx.data(), dw.data());
        return dw.data();
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }

    /** Direct loops over output positions and kernel taps, stride and padding handled, one thread. */
    static final class NaiveConv {

        private NaiveConv() {
        }

        static void forward(float[] x, float[] w, float[] y, Conv2dGeometry g) {
            int c = g.inChannels();
            int h = g.height();
            int wd = g.width();
            int oc = g.outChannels();
            int k = g.kernelH();
            int oh = g.outHeight();
            int ow = g.outWidth();
            Conv2dOptions o = g.options();
            for (int n = 0; n < g.batch(); n++) {
                for (int out = 0; out < oc; out++) {
                    for (int i = 0; i < oh; i++) {
                        for (int j = 0; j < ow; j++) {
                            float s = 0f;
                            for (int ci = 0; ci < c; ci++) {
                                for (int ki = 0; ki < k; ki++) {
                                    int ih = i * o.strideH() - o.padH() + ki;
                                    if (ih < 0 || ih >= h) {
                                        continue;
                                    }
                                    for (int kj = 0; kj < k; kj++) {
                                        int iw = j * o.strideW() - o.padW() + kj;
                                        if (iw >= 0 && iw < wd) {
                                            s += x[((n * c + ci) * h + ih) * wd + iw] * w[((out * c + ci) * k + ki) * k + kj];
                                        }
                                    }
                                }
                            }
                            y[((n * oc + out) * oh + i) * ow + j] = s;
                        }
                    }
                }
            }
        }

        static void backward(float[] x, float[] w, float[] dy, Conv2dGeometry g, float[] dx, float[] dw) {
            int c = g.inChannels();
            int h = g.height();
            int wd = g.width();
            int oc = g.outChannels();
            int k = g.kernelH();
            int oh = g.outHeight();
            int ow = g.outWidth();
            Conv2dOptions o = g.options();
            java.util.Arrays.fill(dx, 0f);
            java.util.Arrays.fill(dw, 0f);
            for (int n = 0; n < g.batch(); n++) {
                for (int out = 0; out < oc; out++) {
                    for (int i = 0; i < oh; i++) {
                        for (int j = 0; j < ow; j++) {
                            float gy = dy[((n * oc + out) * oh + i) * ow + j];
                            for (int ci = 0; ci < c; ci++) {
                                for (int ki = 0; ki < k; ki++) {
                                    int ih = i * o.strideH() - o.padH() + ki;
                                    if (ih < 0 || ih >= h) {
                                        continue;
                                    }
                                    for (int kj = 0; kj < k; kj++) {
                                        int iw = j * o.strideW() - o.padW() + kj;
                                        if (iw >= 0 && iw < wd) {
                                            int xi = ((n * c + ci) * h + ih) * wd + iw;
                                            int wi = ((out * c + ci) * k + ki) * k + kj;
                                            dx[xi] += gy * w[wi];
                                            dw[wi] += gy * x[xi];
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
