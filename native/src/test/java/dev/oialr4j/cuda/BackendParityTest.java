package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.Conv2dGeometry;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.CounterRandom;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.backend.Pool2dGeometry;
import dev.oialr4j.tensor.Tensor;
import java.util.Random;
import java.util.function.BiConsumer;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One set of Backend SPI op tests, run on every backend: {@code cpu} always, {@code cuda} where a GPU is
 * present (elsewhere those cases are reported as skipped). Each case draws fresh random inputs and checks
 * the backend against a naive double reference (relative error ≤ 1e-5 of the largest reference value);
 * on CUDA it is also compared with {@link CpuBackend} on the same inputs: relative error ≤ 1e-5 in fp32
 * (≤ 5e-3 for GEMM with TF32), and bit-identical where CudaBackend's javadoc says so.
 */
class BackendParityTest {

    private static final double FP32 = 1e-5;
    private static final double TF32 = 5e-3;
    private static final CpuBackend CPU = new CpuBackend(2);
    private final Random rng = new Random();

    @AfterAll
    static void closeCpu() {
        CPU.close();
    }

    private static Backend backend(String name) {
        return switch (name) {
            case "cpu" -> CPU;
            case "cuda" -> Gpu.backendOrSkip();
            case "cuda-tf32" -> Gpu.tf32BackendOrSkip();
            default -> throw new IllegalArgumentException(name);
        };
    }

    private float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rng.nextGaussian();
        }
        return a;
    }

    private static void close(double[] want, float[] got, double rel, String what) {
        CudaKernelsGpuTest.assertClose(want, got, rel, what);
    }

    private static double[] d(float[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[i];
        }
        return r;
    }

    /** On CUDA, runs the same op on the CPU backend and compares (bit for bit when {@code exact}). */
    private static void againstCpu(Backend b, float[] got, Function<Backend, float[]> op, boolean exact, double rel,
            String what) {
        if (b == CPU) {
            return;
        }
        float[] cpu = op.apply(CPU);
        if (exact) {
            assertArrayEquals(cpu, got, what + ": CUDA differs from CPU");
        } else {
            close(d(cpu), got, rel, what + " (CUDA vs CPU)");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda", "cuda-tf32"})
    void gemmAllTransposes(String name) {
        Backend b = backend(name);
        double tol = name.equals("cuda-tf32") ? TF32 : FP32;
        int m = 67;
        int n = 45;
        int k = 130;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                float[] a = random(m * k);
                float[] bb = random(k * n);
                float[] c = random(m * n);
                int[] ad = ta ? new int[] {k, m} : new int[] {m, k};
                int[] bd = tb ? new int[] {n, k} : new int[] {k, n};
                float alpha = 0.7f;
                float beta = -0.3f;
                double[] want = new double[m * n];
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double acc = 0;
                        for (int p = 0; p < k; p++) {
                            acc += (double) (ta ? a[p * m + i] : a[i * k + p]) * (tb ? bb[j * k + p] : bb[p * n + j]);
                        }
                        want[i * n + j] = alpha * acc + beta * c[i * n + j];
                    }
                }
                Function<Backend, float[]> op = be -> {
                    Tensor tc = be.fromHost(c, m, n);
                    be.gemm(ta, tb, alpha, be.fromHost(a, ad), be.fromHost(bb, bd), beta, tc);
                    return be.toHost(tc);
                };
                float[] got = op.apply(b);
                String what = "gemm " + (ta ? "T" : "N") + (tb ? "T" : "N");
                close(want, got, tol, what);
                againstCpu(b, got, op, false, tol, what);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void elementwise(String name) {
        Backend b = backend(name);
        int rows = 33;
        int cols = 257;
        int n = rows * cols;
        float[] x = random(n);
        float[] y = random(n);
        float[] bias = random(cols);
        record Case(String what, Function<Backend, float[]> op, double[] want) {
        }
        double[] axpby = new double[n];
        double[] add = new double[n];
        double[] mul = new double[n];
        double[] scale = new double[n];
        double[] arv = new double[n];
        double[] relu = new double[n];
        double[] reluB = new double[n];
        double[] gelu = new double[n];
        double[] geluB = new double[n];
        for (int i = 0; i < n; i++) {
            axpby[i] = 0.5 * x[i] - 2.0 * y[i];
            add[i] = (double) x[i] + y[i];
            mul[i] = (double) x[i] * y[i];
            scale[i] = 1.75 * x[i];
            arv[i] = (double) x[i] + bias[i % cols];
            relu[i] = Math.max(x[i], 0);
            reluB[i] = x[i] > 0 ? y[i] : 0;
            gelu[i] = KernelReference.geluTanh(x[i]);
            geluB[i] = KernelReference.geluTanhGrad(x[i]) * y[i];
        }
        Case[] cases = {
            new Case("axpby", be -> {
                Tensor ty = be.fromHost(y, rows, cols);
                be.axpby(0.5f, be.fromHost(x, rows, cols), -2f, ty);
                return be.toHost(ty);
            }, axpby),
            new Case("add", be -> binary(be, x, y, rows, cols, (t, o) -> be.add(t[0], t[1], o)), add),
            new Case("mul", be -> binary(be, x, y, rows, cols, (t, o) -> be.mul(t[0], t[1], o)), mul),
            new Case("scale", be -> binary(be, x, y, rows, cols, (t, o) -> be.scale(t[0], 1.75f, o)), scale),
            new Case("addRowVector", be -> {
                Tensor o = be.zeros(rows, cols);
                be.addRowVector(be.fromHost(x, rows, cols), be.fromHost(bias, cols), o);
                return be.toHost(o);
            }, arv),
            new Case("relu", be -> binary(be, x, y, rows, cols, (t, o) -> be.relu(t[0], o)), relu),
            new Case("reluBackward", be -> binary(be, x, y, rows, cols, (t, o) -> be.reluBackward(t[0], t[1], o)), reluB),
            new Case("gelu", be -> binary(be, x, y, rows, cols, (t, o) -> be.gelu(t[0], o)), gelu),
            new Case("geluBackward", be -> binary(be, x, y, rows, cols, (t, o) -> be.geluBackward(t[0], t[1], o)), geluB),
        };
        for (Case c : cases) {
            float[] got = c.op().apply(b);
            close(c.want(), got, FP32, c.what());
            // Same float operations in the same order, except tanh (GPU tanhf vs the JDK's): within an ulp.
            boolean exact = !c.what().startsWith("gelu");
            againstCpu(b, got, c.op(), exact, FP32, c.what());
        }
    }

    private static float[] binary(Backend be, float[] x, float[] y, int rows, int cols,
            BiConsumer<Tensor[], Tensor> op) {
        Tensor o = be.zeros(rows, cols);
        op.accept(new Tensor[] {be.fromHost(x, rows, cols), be.fromHost(y, rows, cols)}, o);
        return be.toHost(o);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void dropoutMatchesCounterRandom(String name) {
        Backend b = backend(name);
        int n = 10_007;
        float[] x = random(n);
        long seed = rng.nextLong();
        float p = 0.35f;
        Tensor mask = b.zeros(n);
        Tensor out = b.zeros(n);
        b.dropout(b.fromHost(x, n), p, seed, mask, out);
        float[] m = b.toHost(mask);
        float[] o = b.toHost(out);
        float keep = 1f / (1f - p);
        for (int i = 0; i < n; i++) {
            float want = CounterRandom.uniform(seed, i) >= p ? keep : 0f;
            assertEquals(want, m[i], "mask element " + i);
            assertEquals(x[i] * want, o[i], "output element " + i);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void reductions(String name) {
        Backend b = backend(name);
        int rows = 300;
        int cols = 70;
        float[] x = random(rows * cols);
        Tensor t = b.fromHost(x, rows, cols);
        Tensor sr = b.zeros(cols);
        b.sumRows(t, sr);
        float[] gotRows = b.toHost(sr);
        close(KernelReference.sumRows(x, rows, cols), gotRows, 1e-4, "sumRows (float accumulation over 300 rows)");
        againstCpu(b, gotRows, be -> {
            Tensor o = be.zeros(cols);
            be.sumRows(be.fromHost(x, rows, cols), o);
            return be.toHost(o);
        }, true, 0, "sumRows");
        // Past CudaBackend.SEQUENTIAL_COLUMN_ROWS the GPU sums columns in two stages (float rounding).
        int tall = 5000;
        float[] xt = random(tall * 33);
        Function<Backend, float[]> tallSum = be -> {
            Tensor o = be.zeros(33);
            be.sumRows(be.fromHost(xt, tall, 33), o);
            return be.toHost(o);
        };
        float[] gotTall = tallSum.apply(b);
        close(KernelReference.sumRows(xt, tall, 33), gotTall, 1e-4, "sumRows over 5000 rows");
        againstCpu(b, gotTall, tallSum, false, 1e-4, "sumRows over 5000 rows");
        Tensor sc = b.zeros(rows);
        b.sumCols(t, sc);
        close(KernelReference.sumCols(x, rows, cols), b.toHost(sc), FP32, "sumCols");
        double s = 0;
        double q = 0;
        double abs = 0;
        for (float f : x) {
            s += f;
            q += (double) f * f;
            abs += Math.abs(f);
        }
        // The SPI lets partial sums of a few thousand elements run in float (CpuBackend's vector lanes):
        // allow 1e-6 of Σ|x|, far below what a dropped or doubled block would cost.
        assertEquals(s, b.sum(t), 1e-6 * abs, "sum");
        assertEquals(q, b.sumSquares(t), 1e-6 * q, "sumSquares");
        float[] ties = random(rows * cols);
        ties[3 * cols + 5] = 50f;
        ties[3 * cols + 60] = 50f;
        int[] arg = b.argmaxRows(b.fromHost(ties, rows, cols));
        for (int i = 0; i < rows; i++) {
            int best = 0;
            for (int j = 1; j < cols; j++) {
                if (ties[i * cols + j] > ties[i * cols + best]) {
                    best = j;
                }
            }
            assertEquals(best, arg[i], "argmax of row " + i);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void softmaxAndCrossEntropy(String name) {
        Backend b = backend(name);
        int rows = 256;
        int cols = 10;
        float[] x = random(rows * cols);
        for (int i = 0; i < x.length; i++) {
            x[i] *= 4;
        }
        Tensor t = b.fromHost(x, rows, cols);
        Tensor y = b.zeros(rows, cols);
        b.softmaxRows(t, y);
        close(KernelReference.softmax(x, rows, cols, false), b.toHost(y), FP32, "softmaxRows");
        b.logSoftmaxRows(t, y);
        close(KernelReference.softmax(x, rows, cols, true), b.toHost(y), FP32, "logSoftmaxRows");
        int[] labels = rng.ints(rows, 0, cols).toArray();
        float eps = 0.1f;
        Tensor probs = b.zeros(rows, cols);
        double loss = b.crossEntropy(t, labels, eps, probs);
        double want = KernelReference.crossEntropy(x, labels, eps, rows, cols);
        assertEquals(want, loss, 1e-6 * Math.abs(want), "crossEntropy loss");
        close(KernelReference.softmax(x, rows, cols, false), b.toHost(probs), FP32, "crossEntropy probs");
        Tensor dl = b.zeros(rows, cols);
        float scale = 1f / rows;
        b.crossEntropyBackward(probs, labels, eps, scale, dl);
        float[] p = b.toHost(probs);
        double[] g = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                g[i * cols + j] = scale * (p[i * cols + j] - (eps / cols + (j == labels[i] ? 1 - eps : 0)));
            }
        }
        float[] got = b.toHost(dl);
        close(g, got, FP32, "crossEntropyBackward");
        againstCpu(b, got, be -> {
            Tensor o = be.zeros(rows, cols);
            be.crossEntropyBackward(be.fromHost(p, rows, cols), labels, eps, scale, o);
            return be.toHost(o);
        }, true, 0, "crossEntropyBackward");

        // The variants that keep the loss and its gradient on the backend give the same numbers.
        Tensor lossT = b.zeros(1);
        Tensor probs2 = b.zeros(rows, cols);
        b.crossEntropy(t, labels, eps, probs2, lossT);
        assertEquals((float) loss, b.toHost(lossT)[0], "crossEntropy into a tensor");
        assertArrayEquals(b.toHost(probs), b.toHost(probs2), "crossEntropy into a tensor: probs");
        float dy = 0.75f + rng.nextFloat();
        Tensor dl2 = b.zeros(rows, cols);
        b.crossEntropyBackward(probs, labels, eps, b.fromHost(new float[] {dy}, 1), dl2);
        Tensor dl3 = b.zeros(rows, cols);
        b.crossEntropyBackward(probs, labels, eps, dy / rows, dl3);
        assertArrayEquals(b.toHost(dl3), b.toHost(dl2), "crossEntropyBackward with the gradient as a tensor");
        assertThrows(IllegalArgumentException.class, () -> b.crossEntropy(t, labels, eps, probs2, b.zeros(2)));
        assertThrows(IllegalArgumentException.class,
                () -> b.crossEntropyBackward(probs, labels, eps, b.zeros(2), dl2));
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void optimizerSteps(String name) {
        Backend b = backend(name);
        int n = 4096;
        float[] p0 = random(n);
        float[][] grads = {random(n), random(n), random(n)};
        Function<Backend, float[]> adam = be -> {
            Tensor p = be.fromHost(p0, n);
            Tensor m = be.zeros(n);
            Tensor v = be.zeros(n);
            for (int s = 0; s < 3; s++) {
                be.adamwStep(p, be.fromHost(grads[s], n), m, v, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.05f, s + 1);
            }
            return be.toHost(p);
        };
        double[] pw = d(p0);
        double[] mw = new double[n];
        double[] vw = new double[n];
        for (int s = 1; s <= 3; s++) {
            for (int i = 0; i < n; i++) {
                double g = grads[s - 1][i];
                pw[i] -= 1e-2 * 0.05 * pw[i];
                mw[i] = 0.9 * mw[i] + 0.1 * g;
                vw[i] = 0.999 * vw[i] + 0.001 * g * g;
                double mh = mw[i] / (1 - Math.pow(0.9, s));
                double vh = vw[i] / (1 - Math.pow(0.999, s));
                pw[i] -= 1e-2 * mh / (Math.sqrt(vh) + 1e-8);
            }
        }
        float[] got = adam.apply(b);
        close(pw, got, FP32, "adamwStep");
        againstCpu(b, got, adam, true, 0, "adamwStep");

        for (boolean nesterov : new boolean[] {false, true}) {
            Function<Backend, float[]> sgd = be -> {
                Tensor p = be.fromHost(p0, n);
                Tensor buf = be.zeros(n);
                for (int s = 0; s < 3; s++) {
                    be.sgdStep(p, be.fromHost(grads[s], n), buf, 0.1f, 0.9f, nesterov, 1e-3f, s == 0);
                }
                return be.toHost(p);
            };
            double[] ps = d(p0);
            double[] bs = new double[n];
            for (int s = 0; s < 3; s++) {
                for (int i = 0; i < n; i++) {
                    double g = grads[s][i] + 1e-3 * ps[i];
                    bs[i] = s == 0 ? g : 0.9 * bs[i] + g;
                    ps[i] -= 0.1 * (nesterov ? g + 0.9 * bs[i] : bs[i]);
                }
            }
            float[] gotS = sgd.apply(b);
            close(ps, gotS, FP32, "sgdStep nesterov=" + nesterov);
            againstCpu(b, gotS, sgd, true, 0, "sgdStep");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void memoryOps(String name) {
        Backend b = backend(name);
        float[] x = random(1234);
        Tensor t = b.fromHost(x, 2, 617);
        assertArrayEquals(x, b.toHost(t));
        Tensor z = b.zeros(617, 2);
        assertArrayEquals(new float[1234], b.toHost(z));
        b.copy(t, z);
        assertArrayEquals(x, b.toHost(z));
        b.fill(z, -0.0f);
        for (float f : b.toHost(z)) {
            assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(f));
        }
        assertTrue(b.device().equals(t.device()));
    }
    // ---- convolution, pooling, batch norm ------------------------------------------------------

    /** Naive double convolution: {y, dx, dW} for given x, w, bias (nullable) and dy. */
    static double[][] convReference(float[] x, float[] w, float[] bias, float[] dy, Conv2dGeometry g) {
        Conv2dOptions o = g.options();
        int oh = g.outHeight();
        int ow = g.outWidth();
        int cg = g.inPerGroup();
        int og = g.outPerGroup();
        double[] y = new double[g.batch() * g.outChannels() * oh * ow];
        double[] dx = new double[x.length];
        double[] dw = new double[w.length];
        for (int n = 0; n < g.batch(); n++) {
            for (int oc = 0; oc < g.outChannels(); oc++) {
                int grp = oc / og;
                for (int yy = 0; yy < oh; yy++) {
                    for (int xx = 0; xx < ow; xx++) {
                        int yi = ((n * g.outChannels() + oc) * oh + yy) * ow + xx;
                        double acc = bias == null ? 0 : bias[oc];
                        for (int c = 0; c < cg; c++) {
                            for (int ki = 0; ki < g.kernelH(); ki++) {
                                for (int kj = 0; kj < g.kernelW(); kj++) {
                                    int iy = yy * o.strideH() - o.padH() + ki * o.dilationH();
                                    int ix = xx * o.strideW() - o.padW() + kj * o.dilationW();
                                    if (iy < 0 || iy >= g.height() || ix < 0 || ix >= g.width()) {
                                        continue;
                                    }
                                    int xi = ((n * g.inChannels() + grp * cg + c) * g.height() + iy) * g.width() + ix;
                                    int wi = ((oc * cg + c) * g.kernelH() + ki) * g.kernelW() + kj;
                                    acc += (double) x[xi] * w[wi];
                                    dx[xi] += (double) dy[yi] * w[wi];
                                    dw[wi] += (double) dy[yi] * x[xi];
                                }
                            }
                        }
                        y[yi] = acc;
                    }
                }
            }
        }
        return new double[][] {y, dx, dw};
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda", "cuda-tf32"})
    void convolution(String name) {
        Backend b = backend(name);
        double tol = name.equals("cuda-tf32") ? TF32 : FP32;
        Conv2dGeometry[] shapes = {
            Conv2dGeometry.of(new int[] {3, 4, 9, 8}, new int[] {6, 2, 3, 3}, new Conv2dOptions(2, 1, 1, 2, 1, 2, 2)),
            Conv2dGeometry.of(new int[] {4, 16, 8, 8}, new int[] {32, 16, 3, 3}, Conv2dOptions.of(1, 1, 1, 1)),
            Conv2dGeometry.of(new int[] {4, 8, 5, 5}, new int[] {3, 8, 1, 1}, Conv2dOptions.of(1, 0, 1, 1)),
        };
        for (Conv2dGeometry g : shapes) {
            String what = "conv2d " + java.util.Arrays.toString(g.inputDims()) + " * "
                    + java.util.Arrays.toString(g.weightDims()) + " " + g.options();
            float[] x = random(g.batch() * g.inChannels() * g.height() * g.width());
            float[] w = random(g.outChannels() * g.patchSize());
            float[] bias = random(g.outChannels());
            float[] dy = random(g.batch() * g.outChannels() * g.outHeight() * g.outWidth());
            float[] dw0 = random(w.length);
            double[][] ref = convReference(x, w, bias, dy, g);
            Function<Backend, float[]> fwd = be -> {
                Tensor y = be.zeros(g.outputDims());
                be.conv2d(be.fromHost(x, g.inputDims()), be.fromHost(w, g.weightDims()), be.fromHost(bias, g.outChannels()),
                        g, y);
                return be.toHost(y);
            };
            Function<Backend, float[]> bwdX = be -> {
                Tensor dx = be.zeros(g.inputDims());
                be.conv2dBackward(be.fromHost(x, g.inputDims()), be.fromHost(w, g.weightDims()),
                        be.fromHost(dy, g.outputDims()), g, dx, null, 0f);
                return be.toHost(dx);
            };
            Function<Backend, float[]> bwdW = be -> {
                Tensor dw = be.fromHost(dw0, g.weightDims());
                be.conv2dBackward(be.fromHost(x, g.inputDims()), be.fromHost(w, g.weightDims()),
                        be.fromHost(dy, g.outputDims()), g, null, dw, 0.5f);
                return be.toHost(dw);
            };
            double[] dwWant = ref[2].clone();
            for (int i = 0; i < dwWant.length; i++) {
                dwWant[i] += 0.5 * dw0[i];
            }
            float[] y = fwd.apply(b);
            close(ref[0], y, tol, what + " y");
            againstCpu(b, y, fwd, false, tol, what + " y");
            float[] dx = bwdX.apply(b);
            close(ref[1], dx, tol, what + " dx");
            againstCpu(b, dx, bwdX, false, tol, what + " dx");
            float[] dw = bwdW.apply(b);
            close(dwWant, dw, tol, what + " dw");
            againstCpu(b, dw, bwdW, false, tol, what + " dw");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void im2colAndCol2im(String name) {
        Backend b = backend(name);
        Conv2dGeometry g = Conv2dGeometry.of(new int[] {3, 4, 7, 6}, new int[] {6, 2, 3, 2},
                new Conv2dOptions(2, 1, 1, 1, 1, 2, 2));
        int oh = g.outHeight();
        int ow = g.outWidth();
        int images = 2;
        int image0 = 1;
        int group = 1;
        int ld = images * oh * ow;
        float[] x = random(g.batch() * g.inChannels() * g.height() * g.width());
        float[] cols = random(g.patchSize() * ld);
        float[] dx0 = random(x.length);
        double[] im2col = new double[cols.length];
        double[] col2im = d(dx0);
        Conv2dOptions o = g.options();
        for (int c = 0; c < g.inPerGroup(); c++) {
            for (int ki = 0; ki < g.kernelH(); ki++) {
                for (int kj = 0; kj < g.kernelW(); kj++) {
                    int row = (c * g.kernelH() + ki) * g.kernelW() + kj;
                    for (int im = 0; im < images; im++) {
                        for (int yy = 0; yy < oh; yy++) {
                            for (int xx = 0; xx < ow; xx++) {
                                int iy = yy * o.strideH() - o.padH() + ki * o.dilationH();
                                int ix = xx * o.strideW() - o.padW() + kj * o.dilationW();
                                int ci = row * ld + (im * oh + yy) * ow + xx;
                                if (iy >= 0 && iy < g.height() && ix >= 0 && ix < g.width()) {
                                    int xi = (((image0 + im) * g.inChannels() + group * g.inPerGroup() + c) * g.height()
                                            + iy) * g.width() + ix;
                                    im2col[ci] = x[xi];
                                    col2im[xi] += cols[ci];
                                }
                            }
                        }
                    }
                }
            }
        }
        Function<Backend, float[]> fwd = be -> {
            Tensor t = be.zeros(cols.length);
            be.im2col(be.fromHost(x, g.inputDims()), g, image0, images, group, t);
            return be.toHost(t);
        };
        Function<Backend, float[]> adj = be -> {
            Tensor t = be.fromHost(dx0, g.inputDims());
            be.col2im(be.fromHost(cols, cols.length), g, image0, images, group, t);
            return be.toHost(t);
        };
        float[] got = fwd.apply(b);
        close(im2col, got, 0, "im2col");
        againstCpu(b, got, fwd, true, 0, "im2col");
        float[] gotAdj = adj.apply(b);
        close(col2im, gotAdj, FP32, "col2im");
        againstCpu(b, gotAdj, adj, false, FP32, "col2im");
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void pooling(String name) {
        Backend b = backend(name);
        for (Pool2dGeometry g : new Pool2dGeometry[] {Pool2dGeometry.of(new int[] {2, 3, 9, 8}, 3, 2, 1),
            Pool2dGeometry.of(new int[] {3, 2, 8, 8}, 2, 2, 0)}) {
            int planes = g.batch() * g.channels();
            int h = g.height();
            int w = g.width();
            int oh = g.outHeight();
            int ow = g.outWidth();
            float[] x = random(planes * h * w);
            x[5] = x[6] = 4f; // a tie: the first in scan order wins
            float[] dy = random(planes * oh * ow);
            double[] max = new double[planes * oh * ow];
            double[] avg = new double[max.length];
            double[] maxDx = new double[x.length];
            double[] avgDx = new double[x.length];
            for (int p = 0; p < planes; p++) {
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        int o = (p * oh + i) * ow + j;
                        int best = -1;
                        double s = 0;
                        for (int a = i * g.strideH() - g.padH(); a < i * g.strideH() - g.padH() + g.kernelH(); a++) {
                            for (int c = j * g.strideW() - g.padW(); c < j * g.strideW() - g.padW() + g.kernelW(); c++) {
                                if (a < 0 || a >= h || c < 0 || c >= w) {
                                    continue;
                                }
                                int at = p * h * w + a * w + c;
                                s += x[at];
                                if (best < 0 || x[at] > x[best]) {
                                    best = at;
                                }
                            }
                        }
                        max[o] = x[best];
                        maxDx[best] += dy[o];
                        avg[o] = s / (g.kernelH() * g.kernelW());
                        for (int a = i * g.strideH() - g.padH(); a < i * g.strideH() - g.padH() + g.kernelH(); a++) {
                            for (int c = j * g.strideW() - g.padW(); c < j * g.strideW() - g.padW() + g.kernelW(); c++) {
                                if (a >= 0 && a < h && c >= 0 && c < w) {
                                    avgDx[p * h * w + a * w + c] += (double) dy[o] / (g.kernelH() * g.kernelW());
                                }
                            }
                        }
                    }
                }
            }
            Function<Backend, float[]> maxF = be -> {
                Tensor y = be.zeros(g.outputDims());
                be.maxPool2d(be.fromHost(x, g.inputDims()), g, y);
                return be.toHost(y);
            };
            Function<Backend, float[]> maxB = be -> {
                Tensor dx = be.fromHost(random(x.length), g.inputDims());
                be.maxPool2dBackward(be.fromHost(x, g.inputDims()), be.fromHost(dy, g.outputDims()), g, dx);
                return be.toHost(dx);
            };
            Function<Backend, float[]> avgF = be -> {
                Tensor y = be.zeros(g.outputDims());
                be.avgPool2d(be.fromHost(x, g.inputDims()), g, y);
                return be.toHost(y);
            };
            Function<Backend, float[]> avgB = be -> {
                Tensor dx = be.fromHost(random(x.length), g.inputDims());
                be.avgPool2dBackward(be.fromHost(dy, g.outputDims()), g, dx);
                return be.toHost(dx);
            };
            record Case(String what, Function<Backend, float[]> op, double[] want) {
            }
            for (Case c : new Case[] {new Case("maxPool2d", maxF, max), new Case("maxPool2dBackward", maxB, maxDx),
                new Case("avgPool2d", avgF, avg), new Case("avgPool2dBackward", avgB, avgDx)}) {
                float[] got = c.op().apply(b);
                close(c.want(), got, FP32, c.what());
                againstCpu(b, got, c.op(), true, 0, c.what()); // same additions in the same order
            }
        }
        int n = 3;
        int ch = 5;
        int hw = 7 * 6;
        float[] x = random(n * ch * hw);
        float[] dy = random(n * ch);
        double[] mean = new double[n * ch];
        double[] dx = new double[x.length];
        for (int p = 0; p < n * ch; p++) {
            for (int k = 0; k < hw; k++) {
                mean[p] += x[p * hw + k] / (double) hw;
                dx[p * hw + k] = dy[p] / (double) hw;
            }
        }
        Function<Backend, float[]> gap = be -> {
            Tensor y = be.zeros(n, ch);
            be.globalAvgPool(be.fromHost(x, n, ch, 7, 6), y);
            return be.toHost(y);
        };
        Function<Backend, float[]> gapB = be -> {
            Tensor t = be.zeros(n, ch, 7, 6);
            be.globalAvgPoolBackward(be.fromHost(dy, n, ch), t);
            return be.toHost(t);
        };
        float[] got = gap.apply(b);
        close(mean, got, FP32, "globalAvgPool");
        againstCpu(b, got, gap, false, FP32, "globalAvgPool");
        float[] gotB = gapB.apply(b);
        close(dx, gotB, FP32, "globalAvgPoolBackward");
        againstCpu(b, gotB, gapB, true, 0, "globalAvgPoolBackward");
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void batchNorm(String name) {
        Backend b = backend(name);
        int n = 6;
        int c = 4;
        int hw = 25;
        int[] dims = {n, c, 5, 5};
        float[] x = random(n * c * hw);
        for (int i = 0; i < x.length; i++) {
            x[i] = 3f + 2f * x[i]; // a mean far from zero
        }
        float[] gamma = random(c);
        float[] beta = random(c);
        float[] rm0 = random(c);
        float[] rv0 = {0.5f, 1f, 1.5f, 2f};
        float[] dy = random(x.length);
        float momentum = 0.1f;
        float eps = 1e-5f;
        for (boolean training : new boolean[] {true, false}) {
            double[] y = new double[x.length];
            double[] dx = new double[x.length];
            double[] dg = new double[c];
            double[] db = new double[c];
            double[] rm = d(rm0);
            double[] rv = d(rv0);
            int count = n * hw;
            for (int ch = 0; ch < c; ch++) {
                double mu = 0;
                double var = 0;
                for (int i = 0; i < n; i++) {
                    for (int k = 0; k < hw; k++) {
                        mu += x[(i * c + ch) * hw + k];
                    }
                }
                mu /= count;
                for (int i = 0; i < n; i++) {
                    for (int k = 0; k < hw; k++) {
                        double dd = x[(i * c + ch) * hw + k] - mu;
                        var += dd * dd;
                    }
                }
                var /= count;
                if (training) {
                    rm[ch] = (1 - momentum) * rm0[ch] + momentum * mu;
                    rv[ch] = (1 - momentum) * rv0[ch] + momentum * var * count / (count - 1);
                } else {
                    mu = rm0[ch];
                    var = rv0[ch];
                }
                double inv = 1 / Math.sqrt(var + eps);
                double sdy = 0;
                double sdyx = 0;
                for (int i = 0; i < n; i++) {
                    for (int k = 0; k < hw; k++) {
                        int at = (i * c + ch) * hw + k;
                        double xh = (x[at] - mu) * inv;
                        y[at] = gamma[ch] * xh + beta[ch];
                        sdy += dy[at];
                        sdyx += dy[at] * xh;
                    }
                }
                dg[ch] = sdyx;
                db[ch] = sdy;
                for (int i = 0; i < n; i++) {
                    for (int k = 0; k < hw; k++) {
                        int at = (i * c + ch) * hw + k;
                        double xh = (x[at] - mu) * inv;
                        dx[at] = gamma[ch] * inv * (training ? dy[at] - sdy / count - xh * sdyx / count : dy[at]);
                    }
                }
            }
            boolean tr = training;
            // {y, running mean, running var, dx, dgamma, dbeta} concatenated.
            Function<Backend, float[]> op = be -> {
                Tensor tx = be.fromHost(x, dims);
                Tensor tg = be.fromHost(gamma, c);
                Tensor trm = be.fromHost(rm0, c);
                Tensor trv = be.fromHost(rv0, c);
                Tensor ty = be.zeros(dims);
                Tensor sm = be.zeros(c);
                Tensor si = be.zeros(c);
                be.batchNorm2d(tx, tg, be.fromHost(beta, c), trm, trv, tr, momentum, eps, ty, sm, si);
                Tensor tdx = be.zeros(dims);
                Tensor tdg = be.zeros(c);
                Tensor tdb = be.zeros(c);
                be.batchNorm2dBackward(tx, be.fromHost(dy, dims), tg, sm, si, tr, tdx, tdg, tdb);
                return concat(be.toHost(ty), be.toHost(trm), be.toHost(trv), be.toHost(tdx), be.toHost(tdg),
                        be.toHost(tdb));
            };
            float[] got = op.apply(b);
            String[] parts = {"y", "running mean", "running var", "dx", "dgamma", "dbeta"};
            double[][] want = {y, rm, rv, dx, dg, db};
            int off = 0;
            float[] cpu = b == CPU ? null : op.apply(CPU);
            for (int i = 0; i < parts.length; i++) {
                float[] part = java.util.Arrays.copyOfRange(got, off, off + want[i].length);
                String what = "batchNorm2d " + (training ? "training " : "evaluation ") + parts[i];
                close(want[i], part, 2e-5, what);
                if (cpu != null) {
                    close(d(java.util.Arrays.copyOfRange(cpu, off, off + want[i].length)), part, 2e-5, what + " (CUDA vs CPU)");
                }
                off += want[i].length;
            }
        }
    }

    private static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) {
            n += p.length;
        }
        float[] out = new float[n];
        int off = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, off, p.length);
            off += p.length;
        }
        return out;
    }

    // ---- layer norm, attention ----------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void layerNorm(String name) {
        Backend b = backend(name);
        // 2100 rows: past CudaBackend.SEQUENTIAL_COLUMN_ROWS, where dγ and dβ are summed in two stages.
        for (int rows : new int[] {37, 2100}) {
            layerNormCase(b, rows);
        }
    }

    private void layerNormCase(Backend b, int rows) {
        int cols = 130;
        float[] x = random(rows * cols);
        float[] gamma = random(cols);
        float[] beta = random(cols);
        float[] dy = random(rows * cols);
        double[] y = new double[x.length];
        double[] dx = new double[x.length];
        double[] dg = new double[cols];
        double[] db = new double[cols];
        for (int r = 0; r < rows; r++) {
            double mu = 0;
            double var = 0;
            for (int j = 0; j < cols; j++) {
                mu += x[r * cols + j];
            }
            mu /= cols;
            for (int j = 0; j < cols; j++) {
                var += (x[r * cols + j] - mu) * (x[r * cols + j] - mu);
            }
            double inv = 1 / Math.sqrt(var / cols + 1e-5);
            double sg = 0;
            double sgx = 0;
            for (int j = 0; j < cols; j++) {
                double xh = (x[r * cols + j] - mu) * inv;
                y[r * cols + j] = xh * gamma[j] + beta[j];
                double g = dy[r * cols + j] * (double) gamma[j];
                sg += g;
                sgx += g * xh;
                dg[j] += dy[r * cols + j] * xh;
                db[j] += dy[r * cols + j];
            }
            for (int j = 0; j < cols; j++) {
                double xh = (x[r * cols + j] - mu) * inv;
                dx[r * cols + j] = inv * (dy[r * cols + j] * (double) gamma[j] - sg / cols - xh * sgx / cols);
            }
        }
        Function<Backend, float[]> op = be -> {
            Tensor tx = be.fromHost(x, rows, cols);
            Tensor tg = be.fromHost(gamma, cols);
            Tensor out = be.zeros(rows, cols);
            Tensor mean = be.zeros(rows);
            Tensor rstd = be.zeros(rows);
            be.layerNorm(tx, tg, be.fromHost(beta, cols), 1e-5f, out, mean, rstd);
            Tensor tdx = be.zeros(rows, cols);
            Tensor tdg = be.zeros(cols);
            Tensor tdb = be.zeros(cols);
            be.layerNormBackward(tx, tg, mean, rstd, be.fromHost(dy, rows, cols), tdx, tdg, tdb);
            return concat(be.toHost(out), be.toHost(tdx), be.toHost(tdg), be.toHost(tdb));
        };
        float[] got = op.apply(b);
        double[][] want = {y, dx, dg, db};
        String[] parts = {"layerNorm", "layerNorm dx", "layerNorm dgamma", "layerNorm dbeta"};
        float[] cpu = b == CPU ? null : op.apply(CPU);
        int off = 0;
        for (int i = 0; i < parts.length; i++) {
            float[] part = java.util.Arrays.copyOfRange(got, off, off + want[i].length);
            close(want[i], part, FP32, parts[i]);
            if (cpu != null) {
                close(d(java.util.Arrays.copyOfRange(cpu, off, off + want[i].length)), part, FP32, parts[i] + " (CUDA vs CPU)");
            }
            off += want[i].length;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda", "cuda-tf32"})
    void batchedGemm(String name) {
        Backend b = backend(name);
        double tol = name.equals("cuda-tf32") ? TF32 : FP32; // cuBLAS strided-batched runs fp32 either way
        int batch = 5;
        int m = 17;
        int n = 23;
        int k = 31;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                float[] a = random(batch * m * k);
                float[] bb = random(batch * k * n);
                float[] c = random(batch * m * n);
                double[] want = new double[c.length];
                for (int e = 0; e < batch; e++) {
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double acc = 0;
                            for (int p = 0; p < k; p++) {
                                acc += (double) (ta ? a[e * m * k + p * m + i] : a[e * m * k + i * k + p])
                                        * (tb ? bb[e * k * n + j * k + p] : bb[e * k * n + p * n + j]);
                            }
                            want[e * m * n + i * n + j] = 0.5 * acc - 1.5 * c[e * m * n + i * n + j];
                        }
                    }
                }
                Function<Backend, float[]> op = be -> {
                    Tensor tc = be.fromHost(c, batch, m, n);
                    be.batchedGemm(ta, tb, 0.5f, be.fromHost(a, ta ? new int[] {batch, k, m} : new int[] {batch, m, k}),
                            be.fromHost(bb, tb ? new int[] {batch, n, k} : new int[] {batch, k, n}), -1.5f, tc);
                    return be.toHost(tc);
                };
                float[] got = op.apply(b);
                String what = "batchedGemm " + (ta ? "T" : "N") + (tb ? "T" : "N");
                close(want, got, tol, what);
                againstCpu(b, got, op, false, tol, what);
            }
        }
    }

    /** Double attention of one (q, k, v) entry: {probs, out, dq, dk, dv}. */
    static double[][] attentionReference(float[] q, float[] k, float[] v, float[] mask, float scale, float[] dOut, int tq,
            int tk, int dh, int dv) {
        double[] p = new double[tq * tk];
        double[] o = new double[tq * dv];
        for (int i = 0; i < tq; i++) {
            double mx = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < tk; j++) {
                double s = 0;
                for (int c = 0; c < dh; c++) {
                    s += (double) q[i * dh + c] * k[j * dh + c];
                }
                p[i * tk + j] = scale * s + (mask == null ? 0 : mask[i * tk + j]);
                mx = Math.max(mx, p[i * tk + j]);
            }
            double z = 0;
            for (int j = 0; j < tk; j++) {
                p[i * tk + j] = Math.exp(p[i * tk + j] - mx);
                z += p[i * tk + j];
            }
            for (int j = 0; j < tk; j++) {
                p[i * tk + j] /= z;
                for (int c = 0; c < dv; c++) {
                    o[i * dv + c] += p[i * tk + j] * v[j * dv + c];
                }
            }
        }
        double[] dq = new double[tq * dh];
        double[] dk = new double[tk * dh];
        double[] dvv = new double[tk * dv];
        for (int i = 0; i < tq; i++) {
            double[] dp = new double[tk];
            double dot = 0;
            for (int j = 0; j < tk; j++) {
                for (int c = 0; c < dv; c++) {
                    dp[j] += (double) dOut[i * dv + c] * v[j * dv + c];
                    dvv[j * dv + c] += p[i * tk + j] * dOut[i * dv + c];
                }
                dot += dp[j] * p[i * tk + j];
            }
            for (int j = 0; j < tk; j++) {
                double ds = scale * p[i * tk + j] * (dp[j] - dot);
                for (int c = 0; c < dh; c++) {
                    dq[i * dh + c] += ds * k[j * dh + c];
                    dk[j * dh + c] += ds * q[i * dh + c];
                }
            }
        }
        return new double[][] {p, o, dq, dk, dvv};
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda", "cuda-tf32"})
    void attention(String name) {
        Backend b = backend(name);
        double tol = name.equals("cuda-tf32") ? TF32 : FP32;
        int batch = 3;
        int tq = 9;
        int tk = 11;
        int dh = 8;
        int dv = 6;
        float scale = (float) (1 / Math.sqrt(dh));
        float[] mask = new float[tq * tk];
        for (int i = 0; i < tq; i++) {
            for (int j = 0; j < tk; j++) {
                mask[i * tk + j] = j > i + 2 ? Float.NEGATIVE_INFINITY : 0.25f * ((i + j) % 3);
            }
        }
        float[] q = random(batch * tq * dh);
        float[] k = random(batch * tk * dh);
        float[] v = random(batch * tk * dv);
        float[] dOut = random(batch * tq * dv);
        double[][] want = new double[5][];
        int[] sizes = {tq * tk, tq * dv, tq * dh, tk * dh, tk * dv};
        for (int i = 0; i < 5; i++) {
            want[i] = new double[batch * sizes[i]];
        }
        for (int e = 0; e < batch; e++) {
            double[][] r = attentionReference(java.util.Arrays.copyOfRange(q, e * tq * dh, (e + 1) * tq * dh),
                    java.util.Arrays.copyOfRange(k, e * tk * dh, (e + 1) * tk * dh),
                    java.util.Arrays.copyOfRange(v, e * tk * dv, (e + 1) * tk * dv), mask, scale,
                    java.util.Arrays.copyOfRange(dOut, e * tq * dv, (e + 1) * tq * dv), tq, tk, dh, dv);
            for (int i = 0; i < 5; i++) {
                System.arraycopy(r[i], 0, want[i], e * sizes[i], sizes[i]);
            }
        }
        Function<Backend, float[]> op = be -> {
            Tensor tq3 = be.fromHost(q, batch, tq, dh);
            Tensor tk3 = be.fromHost(k, batch, tk, dh);
            Tensor tv3 = be.fromHost(v, batch, tk, dv);
            Tensor probs = be.zeros(batch, tq, tk);
            Tensor out = be.zeros(batch, tq, dv);
            be.attention(tq3, tk3, tv3, be.fromHost(mask, tq, tk), scale, probs, out);
            Tensor dq = be.zeros(batch, tq, dh);
            Tensor dk = be.zeros(batch, tk, dh);
            Tensor dvt = be.zeros(batch, tk, dv);
            be.attentionBackward(tq3, tk3, tv3, probs, be.fromHost(dOut, batch, tq, dv), scale, dq, dk, dvt);
            return concat(be.toHost(probs), be.toHost(out), be.toHost(dq), be.toHost(dk), be.toHost(dvt));
        };
        checkParts(b, op, want, new String[] {"attention probs", "attention out", "dq", "dk", "dv"}, tol);
    }

    private static void checkParts(Backend b, Function<Backend, float[]> op, double[][] want, String[] parts, double tol) {
        float[] got = op.apply(b);
        float[] cpu = b == CPU ? null : op.apply(CPU);
        int off = 0;
        for (int i = 0; i < parts.length; i++) {
            float[] part = java.util.Arrays.copyOfRange(got, off, off + want[i].length);
            close(want[i], part, tol, parts[i]);
            if (cpu != null) {
                close(d(java.util.Arrays.copyOfRange(cpu, off, off + want[i].length)), part, tol, parts[i] + " (CUDA vs CPU)");
            }
            off += want[i].length;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void multiHeadAttention(String name) {
        Backend b = backend(name);
        int batch = 2;
        int t = 7;
        int heads = 3;
        int d = 5;
        int w = heads * d;
        float scale = 0.4f;
        float[] qkv = random(batch * t * 3 * w);
        float[] dOut = random(batch * t * w);
        double[] probs = new double[batch * heads * t * t];
        double[] out = new double[batch * t * w];
        double[] dQkv = new double[qkv.length];
        for (int s = 0; s < batch; s++) {
            for (int h = 0; h < heads; h++) {
                float[][] parts = new float[3][t * d];
                float[] dO = new float[t * d];
                for (int i = 0; i < t; i++) {
                    for (int c = 0; c < d; c++) {
                        for (int part = 0; part < 3; part++) {
                            parts[part][i * d + c] = qkv[(s * t + i) * 3 * w + part * w + h * d + c];
                        }
                        dO[i * d + c] = dOut[(s * t + i) * w + h * d + c];
                    }
                }
                double[][] r = attentionReference(parts[0], parts[1], parts[2], null, scale, dO, t, t, d, d);
                System.arraycopy(r[0], 0, probs, (s * heads + h) * t * t, t * t);
                for (int i = 0; i < t; i++) {
                    for (int c = 0; c < d; c++) {
                        out[(s * t + i) * w + h * d + c] = r[1][i * d + c];
                        for (int part = 0; part < 3; part++) {
                            dQkv[(s * t + i) * 3 * w + part * w + h * d + c] = r[2 + part][i * d + c];
                        }
                    }
                }
            }
        }
        Function<Backend, float[]> op = be -> {
            Tensor x = be.fromHost(qkv, batch, t, 3 * w);
            Tensor p = be.zeros(batch * heads, t, t);
            Tensor o = be.zeros(batch, t, w);
            be.multiHeadAttention(x, heads, null, scale, p, o);
            Tensor g = be.fromHost(random(qkv.length), batch, t, 3 * w); // fully overwritten
            be.multiHeadAttentionBackward(x, heads, p, be.fromHost(dOut, batch, t, w), scale, g);
            return concat(be.toHost(p), be.toHost(o), be.toHost(g));
        };
        checkParts(b, op, new double[][] {probs, out, dQkv}, new String[] {"mha probs", "mha out", "mha dQkv"}, FP32);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void permuteNarrowDropPathScale(String name) {
        Backend b = backend(name);
        int[] dims = {3, 4, 5, 6};
        float[] x = random(3 * 4 * 5 * 6);
        for (int[] perm : new int[][] {{0, 2, 1, 3}, {3, 1, 0, 2}, {1, 0, 2, 3}, {0, 1, 2, 3}}) {
            int[] od = new int[4];
            for (int i = 0; i < 4; i++) {
                od[i] = dims[perm[i]];
            }
            double[] want = new double[x.length];
            int[] idx = new int[4];
            for (int o = 0; o < x.length; o++) {
                int rem = o;
                for (int i = 3; i >= 0; i--) {
                    idx[i] = rem % od[i];
                    rem /= od[i];
                }
                int[] src = new int[4];
                for (int i = 0; i < 4; i++) {
                    src[perm[i]] = idx[i];
                }
                want[o] = x[((src[0] * dims[1] + src[1]) * dims[2] + src[2]) * dims[3] + src[3]];
            }
            Function<Backend, float[]> op = be -> {
                Tensor out = be.zeros(od);
                be.permute(be.fromHost(x, dims), perm, out);
                return be.toHost(out);
            };
            float[] got = op.apply(b);
            close(want, got, 0, "permute " + java.util.Arrays.toString(perm));
            againstCpu(b, got, op, true, 0, "permute");
        }
        int outer = 4;
        int n = 9;
        int len = 3;
        int inner = 7;
        int start = 5;
        float[] big = random(outer * n * inner);
        float[] small = random(outer * len * inner);
        double[] narrow = new double[small.length];
        double[] added = d(big);
        for (int o = 0; o < outer; o++) {
            for (int t = 0; t < len; t++) {
                for (int j = 0; j < inner; j++) {
                    narrow[(o * len + t) * inner + j] = big[(o * n + start + t) * inner + j];
                    added[(o * n + start + t) * inner + j] += small[(o * len + t) * inner + j];
                }
            }
        }
        Function<Backend, float[]> nar = be -> {
            Tensor out = be.zeros(outer, len, inner);
            be.narrow(be.fromHost(big, outer, n, inner), start, out);
            return be.toHost(out);
        };
        Function<Backend, float[]> add = be -> {
            Tensor dst = be.fromHost(big, outer, n, inner);
            be.addNarrowed(be.fromHost(small, outer, len, inner), start, dst);
            return be.toHost(dst);
        };
        float[] gotN = nar.apply(b);
        close(narrow, gotN, 0, "narrow");
        againstCpu(b, gotN, nar, true, 0, "narrow");
        float[] gotA = add.apply(b);
        close(added, gotA, FP32, "addNarrowed");
        againstCpu(b, gotA, add, true, 0, "addNarrowed");

        long seed = rng.nextLong();
        float p = 0.25f;
        int samples = 1000;
        Tensor mask = b.zeros(samples);
        b.dropPathMask(p, seed, mask);
        float[] m = b.toHost(mask);
        for (int i = 0; i < samples; i++) {
            assertEquals(CounterRandom.uniform(seed, i) >= p ? 1f / (1f - p) : 0f, m[i], "drop-path mask " + i);
        }
        float[] xs = random(samples * 6);
        Tensor t = b.fromHost(xs, samples, 2, 3);
        b.scaleSamples(t, mask, t); // in place
        float[] scaled = b.toHost(t);
        for (int i = 0; i < xs.length; i++) {
            assertEquals(xs[i] * m[i / 6], scaled[i], "scaleSamples element " + i);
        }
    }
}
