package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.CounterRandom;
import dev.oialr4j.backend.CpuBackend;
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
}
