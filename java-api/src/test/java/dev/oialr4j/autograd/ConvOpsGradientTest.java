package dev.oialr4j.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.oialr4j.backend.Conv2dGeometry;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Finite-difference gradient checks of the image ops ({@link ConvOps}) against naive double-precision
 * loops written here, plus direct checks of larger convolutions, running statistics and thread-count
 * independence. Tolerances as in {@link OpsGradientTest}: forward 1e-5 relative, gradients 2e-3 relative
 * in the 2-norm.
 */
class ConvOpsGradientTest {

    private static final double FWD = 1e-5;
    private static final double GRAD = 2e-3;
    private static CpuBackend be;

    @BeforeAll
    static void setUp() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void tearDown() {
        be.close();
    }

    /** Naive direct convolution in double; {@code b} may be null. */
    static double[] conv(double[] x, double[] w, double[] b, int n, int c, int h, int wd, int oc, int kh, int kw,
            Conv2dOptions o) {
        int g = o.groups();
        int cg = c / g;
        int og = oc / g;
        int oh = (h + 2 * o.padH() - o.dilationH() * (kh - 1) - 1) / o.strideH() + 1;
        int ow = (wd + 2 * o.padW() - o.dilationW() * (kw - 1) - 1) / o.strideW() + 1;
        double[] y = new double[n * oc * oh * ow];
        for (int im = 0; im < n; im++) {
            for (int out = 0; out < oc; out++) {
                int grp = out / og;
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        double s = b == null ? 0 : b[out];
                        for (int cl = 0; cl < cg; cl++) {
                            for (int ki = 0; ki < kh; ki++) {
                                int ih = i * o.strideH() - o.padH() + ki * o.dilationH();
                                if (ih < 0 || ih >= h) {
                                    continue;
                                }
                                for (int kj = 0; kj < kw; kj++) {
                                    int iw = j * o.strideW() - o.padW() + kj * o.dilationW();
                                    if (iw < 0 || iw >= wd) {
                                        continue;
                                    }
                                    s += x[((im * c + grp * cg + cl) * h + ih) * wd + iw]
                                            * w[((out * cg + cl) * kh + ki) * kw + kj];
                                }
                            }
                        }
                        y[((im * oc + out) * oh + i) * ow + j] = s;
                    }
                }
            }
        }
        return y;
    }

    @ParameterizedTest(name = "conv2d n={0} c={1} {2}x{3} out={4} k={5}x{6} stride={7} pad={8} dil={9} groups={10} bias={11}")
    @CsvSource({
            "2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, true",
            "2, 4, 7, 7, 4, 3, 3, 2, 1, 1, 1, false",
            "2, 4, 8, 7, 6, 3, 2, 1, 2, 2, 2, true",
            "3, 6, 5, 5, 6, 3, 3, 2, 0, 1, 3, false",
            "2, 4, 5, 6, 6, 1, 1, 1, 0, 1, 1, true",
            "3, 4, 3, 3, 4, 1, 1, 1, 0, 1, 2, false",
            "5, 2, 4, 4, 3, 2, 2, 2, 1, 1, 1, true",
            "2, 3, 4, 5, 2, 5, 5, 1, 2, 1, 1, false",
            "2, 2, 5, 5, 3, 5, 5, 1, 4, 2, 1, true",
            "2, 2, 3, 3, 2, 3, 3, 1, 3, 3, 1, false",
            "2, 4, 3, 4, 8, 1, 1, 1, 0, 1, 2, true"})
    void conv2d(int n, int c, int h, int w, int oc, int kh, int kw, int stride, int pad, int dil, int groups,
            boolean bias) {
        Conv2dOptions o = Conv2dOptions.of(stride, pad, dil, groups);
        int[][] shapes = bias ? new int[][] {{n, c, h, w}, {oc, c / groups, kh, kw}, {oc}}
                : new int[][] {{n, c, h, w}, {oc, c / groups, kh, kw}};
        boolean[] grad = bias ? new boolean[] {true, true, true} : new boolean[] {true, true};
        GradCheck.check(be, "conv2d", 11, shapes, grad, GradCheck.UNIFORM,
                (ops, in) -> ops.conv().conv2d(in[0], in[1], bias ? in[2] : null, o),
                in -> conv(in[0], in[1], bias ? in[2] : null, n, c, h, w, oc, kh, kw, o), FWD, GRAD);
    }

    @Test
    void largerConvolutionsMatchTheNaiveLoopsForwardAndBackward() {
        // Shapes that take the multi-image chunks (small maps), the 1×1 shortcut and a deep patch.
        int[][] cases = {{6, 16, 14, 14, 32, 3, 1, 1}, {9, 32, 7, 7, 32, 3, 1, 1}, {4, 24, 9, 9, 40, 1, 1, 0},
                {7, 16, 8, 8, 16, 1, 1, 0}, {3, 8, 16, 16, 12, 5, 2, 2}};
        SplittableRandom rng = new SplittableRandom(5);
        for (int[] k : cases) {
            int n = k[0], c = k[1], h = k[2], w = k[3], oc = k[4], ks = k[5], stride = k[6], pad = k[7];
            Conv2dOptions o = Conv2dOptions.of(stride, pad, 1, 1);
            float[] xf = random(rng, n * c * h * w);
            float[] wf = random(rng, oc * c * ks * ks);
            float[] bf = random(rng, oc);
            Conv2dGeometry g = Conv2dGeometry.of(new int[] {n, c, h, w}, new int[] {oc, c, ks, ks}, o);
            Tensor y = be.zeros(g.outputDims());
            be.conv2d(Tensor.of(xf, g.inputDims()), Tensor.of(wf, g.weightDims()), Tensor.of(bf, oc), g, y);
            double[] ref = conv(d(xf), d(wf), d(bf), n, c, h, w, oc, ks, ks, o);
            GradCheck.assertClose("forward " + java.util.Arrays.toString(k), ref, d(y.data()), FWD);

            // Backward against the adjoint written out: dx[..] = Σ dy · w, dw[..] = Σ dy · x.
            float[] dyf = random(rng, y.size());
            Tensor dx = be.zeros(g.inputDims());
            Tensor dw = be.zeros(g.weightDims());
            be.conv2dBackward(Tensor.of(xf, g.inputDims()), Tensor.of(wf, g.weightDims()), Tensor.of(dyf, g.outputDims()),
                    g, dx, dw, 0f);
            double[] dxRef = new double[xf.length];
            double[] dwRef = new double[wf.length];
            int oh = g.outHeight();
            int ow = g.outWidth();
            for (int im = 0; im < n; im++) {
                for (int out = 0; out < oc; out++) {
                    for (int i = 0; i < oh; i++) {
                        for (int j = 0; j < ow; j++) {
                            double gy = dyf[((im * oc + out) * oh + i) * ow + j];
                            for (int ci = 0; ci < c; ci++) {
                                for (int ki = 0; ki < ks; ki++) {
                                    int ih = i * stride - pad + ki;
                                    for (int kj = 0; kj < ks; kj++) {
                                        int iw = j * stride - pad + kj;
                                        if (ih < 0 || ih >= h || iw < 0 || iw >= w) {
                                            continue;
                                        }
                                        int xi = ((im * c + ci) * h + ih) * w + iw;
                                        int wi = ((out * c + ci) * ks + ki) * ks + kj;
                                        dxRef[xi] += gy * wf[wi];
                                        dwRef[wi] += gy * xf[xi];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            GradCheck.assertClose("dx " + java.util.Arrays.toString(k), dxRef, d(dx.data()), FWD * 10);
            GradCheck.assertClose("dw " + java.util.Arrays.toString(k), dwRef, d(dw.data()), FWD * 10);
        }
    }

    @Test
    void im2colAndCol2imAreAdjoint() {
        SplittableRandom rng = new SplittableRandom(9);
        Conv2dGeometry g = Conv2dGeometry.of(new int[] {3, 4, 7, 6}, new int[] {6, 2, 3, 2},
                new Conv2dOptions(2, 1, 1, 2, 1, 2, 2));
        int images = 2;
        int colsSize = g.patchSize() * images * g.outHeight() * g.outWidth();
        float[] x = random(rng, 3 * 4 * 7 * 6);
        float[] cRand = random(rng, colsSize);
        for (int group = 0; group < 2; group++) {
            Tensor cols = be.zeros(colsSize);
            be.im2col(Tensor.of(x, g.inputDims()), g, 1, images, group, cols);
            Tensor back = be.zeros(g.inputDims());
            be.col2im(Tensor.of(cRand, colsSize), g, 1, images, group, back);
            double lhs = 0;
            for (int i = 0; i < colsSize; i++) {
                lhs += (double) cols.data()[i] * cRand[i];
            }
            double rhs = 0;
            for (int i = 0; i < x.length; i++) {
                rhs += (double) x[i] * back.data()[i];
            }
            assertEquals(lhs, rhs, 1e-4 * Math.max(1, Math.abs(lhs)), "<im2col x, c> = <x, col2im c>, group " + group);
        }
    }

    @Test
    void convolutionDoesNotDependOnTheThreadCount() {
        SplittableRandom rng = new SplittableRandom(3);
        Conv2dGeometry g = Conv2dGeometry.of(new int[] {37, 16, 8, 8}, new int[] {16, 16, 3, 3}, Conv2dOptions.of(1, 1, 1, 1));
        float[] x = random(rng, 37 * 16 * 64);
        float[] w = random(rng, 16 * 16 * 9);
        float[] dy = random(rng, 37 * 16 * 64);
        float[][] results = new float[3][];
        float[][] dws = new float[3][];
        int[] threadCounts = {1, 2, 3};
        for (int t = 0; t < 3; t++) {
            try (CpuBackend b = new CpuBackend(threadCounts[t])) {
                Tensor y = b.zeros(g.outputDims());
                b.conv2d(Tensor.of(x, g.inputDims()), Tensor.of(w, g.weightDims()), null, g, y);
                Tensor dx = b.zeros(g.inputDims());
                Tensor dw = b.zeros(g.weightDims());
                b.conv2dBackward(Tensor.of(x, g.inputDims()), Tensor.of(w, g.weightDims()), Tensor.of(dy, g.outputDims()),
                        g, dx, dw, 0f);
                results[t] = concat(y.data(), dx.data());
                dws[t] = dw.data();
            }
        }
        assertArrayEquals(results[0], results[1]);
        assertArrayEquals(results[0], results[2]);
        assertArrayEquals(dws[0], dws[1]);
        assertArrayEquals(dws[0], dws[2]);
    }

    @ParameterizedTest(name = "maxPool2d k={0} stride={1} pad={2}")
    @CsvSource({"2, 2, 0", "3, 2, 1", "3, 1, 1", "2, 3, 0"})
    void maxPool2d(int k, int stride, int pad) {
        int n = 2, c = 3, h = 7, w = 6;
        GradCheck.check(be, "maxPool2d", 21, new int[][] {{n, c, h, w}}, new boolean[] {true}, GradCheck.UNIFORM,
                (ops, in) -> ops.conv().maxPool2d(in[0], k, stride, pad),
                in -> pool(in[0], n, c, h, w, k, stride, pad, true), FWD, GRAD);
    }

    @ParameterizedTest(name = "avgPool2d k={0} stride={1} pad={2}")
    @CsvSource({"2, 2, 0", "3, 2, 1", "3, 1, 1"})
    void avgPool2d(int k, int stride, int pad) {
        int n = 2, c = 3, h = 7, w = 6;
        GradCheck.check(be, "avgPool2d", 22, new int[][] {{n, c, h, w}}, new boolean[] {true}, GradCheck.UNIFORM,
                (ops, in) -> ops.conv().avgPool2d(in[0], k, stride, pad),
                in -> pool(in[0], n, c, h, w, k, stride, pad, false), FWD, GRAD);
    }

    static double[] pool(double[] x, int n, int c, int h, int w, int k, int s, int p, boolean max) {
        int oh = (h + 2 * p - k) / s + 1;
        int ow = (w + 2 * p - k) / s + 1;
        double[] y = new double[n * c * oh * ow];
        for (int pl = 0; pl < n * c; pl++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    double acc = max ? Double.NEGATIVE_INFINITY : 0;
                    for (int a = 0; a < k; a++) {
                        for (int b = 0; b < k; b++) {
                            int ih = i * s - p + a;
                            int iw = j * s - p + b;
                            if (ih < 0 || ih >= h || iw < 0 || iw >= w) {
                                continue;
                            }
                            double v = x[(pl * h + ih) * w + iw];
                            acc = max ? Math.max(acc, v) : acc + v;
                        }
                    }
                    y[(pl * oh + i) * ow + j] = max ? acc : acc / (k * k);
                }
            }
        }
        return y;
    }

    @Test
    void globalAvgPool() {
        int n = 3, c = 4, h = 5, w = 3;
        GradCheck.check(be, "globalAvgPool", 23, new int[][] {{n, c, h, w}}, new boolean[] {true}, GradCheck.UNIFORM,
                (ops, in) -> ops.conv().globalAvgPool(in[0]), in -> {
                    double[] y = new double[n * c];
                    for (int i = 0; i < y.length; i++) {
                        for (int k = 0; k < h * w; k++) {
                            y[i] += in[0][i * h * w + k];
                        }
                        y[i] /= h * w;
                    }
                    return y;
                }, FWD, GRAD);
    }

    /** Batch norm in training mode, all three inputs checked; the reference recomputes batch statistics. */
    @ParameterizedTest(name = "batchNorm2d train n={0} c={1} {2}x{3}")
    @CsvSource({"4, 3, 3, 2", "2, 2, 1, 1", "3, 5, 4, 4"})
    void batchNormTraining(int n, int c, int h, int w) {
        float eps = 1e-5f;
        GradCheck.check(be, "batchNorm2d", 31, new int[][] {{n, c, h, w}, {c}, {c}}, new boolean[] {true, true, true},
                (rng, which, i) -> which == 1 ? rng.nextDouble(0.5, 1.5) : rng.nextDouble(-1, 1) + (which == 0 ? 0.3 : 0),
                (ops, in) -> ops.conv().batchNorm2d(in[0], in[1], in[2], be.zeros(c), onesTensor(c), true, 0.1f, eps),
                in -> batchNormRef(in[0], in[1], in[2], n, c, h * w, eps, null, null), FWD * 10, GRAD);
    }

    @Test
    void batchNormEvaluationUsesRunningStatistics() {
        int n = 3, c = 2, h = 2, w = 3;
        float eps = 1e-5f;
        double[] rm = {0.25, -0.5};
        double[] rv = {0.8, 1.7};
        GradCheck.check(be, "batchNorm2d eval", 32, new int[][] {{n, c, h, w}, {c}, {c}}, new boolean[] {true, true, true},
                GradCheck.UNIFORM,
                (ops, in) -> ops.conv().batchNorm2d(in[0], in[1], in[2], Tensor.of(new float[] {0.25f, -0.5f}, c),
                        Tensor.of(new float[] {0.8f, 1.7f}, c), false, 0.1f, eps),
                in -> batchNormRef(in[0], in[1], in[2], n, c, h * w, eps, rm, rv), FWD, GRAD);
    }

    @Test
    void batchNormUpdatesRunningStatisticsWithMomentum() {
        int n = 4, c = 3, hw = 5;
        SplittableRandom rng = new SplittableRandom(8);
        float[] x = random(rng, n * c * hw);
        float[] rm = {0.1f, 0.2f, -0.3f};
        float[] rv = {1.0f, 0.5f, 2.0f};
        float[] rm0 = rm.clone();
        float[] rv0 = rv.clone();
        Tensor y = be.zeros(n, c, 1, hw);
        be.batchNorm2d(Tensor.of(x, n, c, 1, hw), Tensor.of(new float[] {1, 1, 1}, c), be.zeros(c), Tensor.of(rm, c),
                Tensor.of(rv, c), true, 0.1f, 1e-5f, y, be.zeros(c), be.zeros(c));
        for (int ch = 0; ch < c; ch++) {
            double mean = 0;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < hw; k++) {
                    mean += x[(i * c + ch) * hw + k];
                }
            }
            mean /= n * hw;
            double ss = 0;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < hw; k++) {
                    double d = x[(i * c + ch) * hw + k] - mean;
                    ss += d * d;
                }
            }
            double unbiased = ss / (n * hw - 1);
            assertEquals(0.9 * rm0[ch] + 0.1 * mean, rm[ch], 1e-6, "running mean of channel " + ch);
            assertEquals(0.9 * rv0[ch] + 0.1 * unbiased, rv[ch], 1e-6, "running variance of channel " + ch);
        }
    }

    @Test
    void shapeErrorsNameTheShapes() {
        Tape tape = new Tape(be);
        Ops ops = new Ops(tape);
        Variable x = Variable.constant(be.zeros(2, 3, 5, 5));
        Variable w = Variable.constant(be.zeros(4, 2, 3, 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ops.conv().conv2d(x, w, null, Conv2dOptions.DEFAULT));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("[2, 3, 5, 5]")
                && e.getMessage().contains("[4, 2, 3, 3]"), e.getMessage());
    }

    /** y = γ (x − μ)/sqrt(σ² + eps) + β with batch statistics, or the given running ones. */
    static double[] batchNormRef(double[] x, double[] gamma, double[] beta, int n, int c, int hw, double eps,
            double[] runMean, double[] runVar) {
        double[] y = new double[x.length];
        for (int ch = 0; ch < c; ch++) {
            double mean;
            double var;
            if (runMean != null) {
                mean = runMean[ch];
                var = runVar[ch];
            } else {
                mean = 0;
                for (int i = 0; i < n; i++) {
                    for (int k = 0; k < hw; k++) {
                        mean += x[(i * c + ch) * hw + k];
                    }
                }
                mean /= n * hw;
                var = 0;
                for (int i = 0; i < n; i++) {
                    for (int k = 0; k < hw; k++) {
                        double d = x[(i * c + ch) * hw + k] - mean;
                        var += d * d;
                    }
                }
                var /= n * hw;
            }
            double inv = 1 / Math.sqrt(var + eps);
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < hw; k++) {
                    int idx = (i * c + ch) * hw + k;
                    y[idx] = gamma[ch] * (x[idx] - mean) * inv + beta[ch];
                }
            }
        }
        return y;
    }

    private static Tensor onesTensor(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, 1f);
        return Tensor.of(a, n);
    }

    static float[] random(SplittableRandom rng, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rng.nextDouble(-1, 1);
        }
        return a;
    }

    private static double[] d(float[] f) {
        return GradCheck.toDouble(f);
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
