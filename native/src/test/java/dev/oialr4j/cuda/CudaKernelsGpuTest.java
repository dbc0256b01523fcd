package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.Conv2dGeometry;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.CounterRandom;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.backend.Pool2dGeometry;
import dev.oialr4j.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Each kernel of oialr4j.fatbin against its plain-loop reference ({@link KernelReference}, double) on fresh
 * random inputs, on a real GPU; skipped, with the reason, where there is none. Tolerance: 1e-5 relative to
 * the largest reference value unless stated (fp32 results against double references).
 */
class CudaKernelsGpuTest {

    private static final double TOL = 1e-5;
    private final Random rng = new Random();

    private float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rng.nextGaussian();
        }
        return a;
    }

    static void assertClose(double[] want, float[] got, double rel, String what) {
        assertEquals(want.length, got.length, what + ": length");
        double scale = 1e-30;
        for (double w : want) {
            scale = Math.max(scale, Math.abs(w));
        }
        double worst = 0;
        int at = -1;
        for (int i = 0; i < want.length; i++) {
            double e = Math.abs(want[i] - got[i]);
            if (Double.isNaN(e)) { // a NaN fails at once (later comparisons with it would all be false)
                worst = e;
                at = i;
                break;
            }
            if (e > worst) {
                worst = e;
                at = i;
            }
        }
        double w = worst;
        double sc = scale;
        int a = at;
        assertTrue(worst <= rel * scale, () -> what + ": error " + w + " at element " + a + " is "
                + (w / sc) + " of the largest reference value " + sc + " (allowed " + rel + ")");
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    @Test
    void biasActivationsForwardAndBackward() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int rows = 129;
        int cols = 300;
        float[] x = random(rows * cols);
        float[] bias = random(cols);
        float[] dy = random(rows * cols);
        Tensor out = cuda.empty(rows, cols);
        cuda.kernels().biasRelu(cuda.address(cuda.fromHost(x, rows, cols)), cuda.address(cuda.fromHost(bias, cols)),
                cuda.address(out), rows, cols);
        double[] relu = KernelReference.biasActivation(x, bias, rows, cols, 0);
        assertClose(relu, cuda.toHost(out), TOL, "bias_relu_forward");
        Tensor dx = cuda.empty(rows, cols);
        cuda.kernels().biasReluBackward(cuda.address(out), cuda.address(cuda.fromHost(dy, rows, cols)),
                cuda.address(dx), rows * cols);
        double[] want = new double[rows * cols];
        for (int i = 0; i < want.length; i++) {
            want[i] = relu[i] > 0 ? dy[i] : 0;
        }
        assertClose(want, cuda.toHost(dx), 0, "bias_relu_backward");

        Tensor pre = cuda.empty(rows, cols);
        Tensor gelu = cuda.empty(rows, cols);
        cuda.kernels().biasGelu(cuda.address(cuda.fromHost(x, rows, cols)), cuda.address(cuda.fromHost(bias, cols)),
                cuda.address(pre), cuda.address(gelu), rows, cols);
        assertClose(KernelReference.biasActivation(x, bias, rows, cols, 1), cuda.toHost(gelu), TOL, "bias_gelu_forward");
        float[] preHost = cuda.toHost(pre);
        Tensor gdx = cuda.empty(rows, cols);
        cuda.kernels().geluBackward(cuda.address(pre), cuda.address(cuda.fromHost(dy, rows, cols)), cuda.address(gdx),
                rows * cols);
        double[] gw = new double[rows * cols];
        for (int i = 0; i < gw.length; i++) {
            gw[i] = KernelReference.geluTanhGrad(preHost[i]) * dy[i];
        }
        assertClose(gw, cuda.toHost(gdx), TOL, "gelu_backward");
    }

    @Test
    void batchedTranspose() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int batch = 3;
        int rows = 37;
        int cols = 70;
        float[] x = random(batch * rows * cols);
        Tensor out = cuda.empty(batch, cols, rows);
        cuda.kernels().transpose(cuda.address(cuda.fromHost(x, batch, rows, cols)), cuda.address(out), rows, cols, batch);
        float[] got = cuda.toHost(out);
        for (int b = 0; b < batch; b++) {
            float[] one = java.util.Arrays.copyOfRange(x, b * rows * cols, (b + 1) * rows * cols);
            assertClose(KernelReference.transpose(one, rows, cols),
                    java.util.Arrays.copyOfRange(got, b * rows * cols, (b + 1) * rows * cols), 0, "transpose " + b);
        }
    }

    @Test
    void columnAndRowSums() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int rows = 513;
        int cols = 77;
        float[] x = random(rows * cols);
        Tensor t = cuda.fromHost(x, rows, cols);
        Tensor s = cuda.empty(rows);
        cuda.kernels().sumCols(cuda.address(t), cuda.address(s), rows, cols);
        assertClose(KernelReference.sumCols(x, rows, cols), cuda.toHost(s), TOL, "sum_cols");
        Tensor g = cuda.empty(cols);
        cuda.kernels().biasGrad(cuda.address(t), cuda.address(g), rows, cols);
        assertClose(KernelReference.sumRows(x, rows, cols), cuda.toHost(g), 1e-4, "bias_grad (float accumulation)");
    }

    @Test
    void argmaxWithTiesAndNaNAndAccuracyCount() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int rows = 300;
        int cols = 513;
        float[] x = random(rows * cols);
        x[5 * cols + 10] = 9f;
        x[5 * cols + 400] = 9f; // tie: the lower index wins
        x[7 * cols + 300] = Float.NaN;
        x[7 * cols + 301] = Float.NaN; // first NaN wins
        int[] want;
        try (var cpu = new CpuBackend(1)) {
            want = cpu.argmaxRows(Tensor.of(x.clone(), rows, cols));
        }
        Tensor t = cuda.fromHost(x, rows, cols);
        Tensor idx = cuda.empty(rows);
        cuda.kernels().argmaxRows(cuda.address(t), cuda.address(idx), rows, cols);
        int[] got = Gpu.readInts(cuda, idx, rows);
        assertArrayEquals(want, got);
        assertEquals(10, got[5]);
        assertEquals(300, got[7]);
        int[] labels = rng.ints(rows, 0, cols).toArray();
        int correct = 0;
        for (int i = 0; i < rows; i++) {
            if (i % 3 == 0) {
                labels[i] = want[i];
            }
            correct += labels[i] == want[i] ? 1 : 0;
        }
        Tensor count = Gpu.ints(cuda, new int[] {0});
        cuda.kernels().countCorrect(cuda.address(idx), cuda.address(Gpu.ints(cuda, labels)), cuda.address(count), rows);
        assertEquals(correct, Gpu.readInts(cuda, count, 1)[0]);
    }

    @Test
    void softmaxLogSoftmaxAndBackward() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int rows = 70;
        int cols = 1000;
        float[] x = random(rows * cols);
        for (int i = 0; i < x.length; i++) {
            x[i] *= 5;
        }
        Tensor t = cuda.fromHost(x, rows, cols);
        Tensor y = cuda.empty(rows, cols);
        cuda.kernels().softmaxRows(cuda.address(t), cuda.address(y), rows, cols, false);
        double[] p = KernelReference.softmax(x, rows, cols, false);
        assertClose(p, cuda.toHost(y), TOL, "softmax");
        Tensor ly = cuda.empty(rows, cols);
        cuda.kernels().softmaxRows(cuda.address(t), cuda.address(ly), rows, cols, true);
        assertClose(KernelReference.softmax(x, rows, cols, true), cuda.toHost(ly), TOL, "log-softmax");
        float[] dy = random(rows * cols);
        Tensor dx = cuda.empty(rows, cols);
        cuda.kernels().softmaxBackward(cuda.address(y), cuda.address(cuda.fromHost(dy, rows, cols)), cuda.address(dx),
                rows, cols);
        assertClose(KernelReference.softmaxBackward(toDouble(cuda.toHost(y)), dy, rows, cols, 1), cuda.toHost(dx), TOL,
                "softmax_backward");
    }

    @Test
    void maskedCausalAttentionSoftmax() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int batch = 3;
        int heads = 4;
        int queries = 17;
        int keys = 20;
        int rows = batch * heads * queries;
        float[] s = random(rows * keys);
        byte[] mask = new byte[batch * keys];
        for (int i = 0; i < mask.length; i++) {
            mask[i] = (byte) (rng.nextInt(5) == 0 ? 0 : 1);
        }
        float scale = 0.125f;
        for (boolean causal : new boolean[] {false, true}) {
            for (byte[] m : new byte[][] {null, mask}) {
                Tensor out = cuda.empty(rows, keys);
                cuda.kernels().attentionSoftmax(cuda.address(cuda.fromHost(s, rows, keys)), cuda.address(out),
                        m == null ? 0 : cuda.address(Gpu.bytes(cuda, m)), scale, rows, keys, queries, heads, causal);
                double[] y = KernelReference.attentionSoftmax(s, m, scale, rows, keys, queries, heads, causal);
                assertClose(y, cuda.toHost(out), TOL, "attention_softmax causal=" + causal + " mask=" + (m != null));
                float[] dy = random(rows * keys);
                Tensor ds = cuda.empty(rows, keys);
                cuda.kernels().attentionSoftmaxBackward(cuda.address(out), cuda.address(cuda.fromHost(dy, rows, keys)),
                        cuda.address(ds), scale, rows, keys);
                assertClose(KernelReference.softmaxBackward(y, dy, rows, keys, scale), cuda.toHost(ds), TOL,
                        "attention_softmax_backward");
            }
        }
    }

    @Test
    void layerNormForwardBackward() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int rows = 65;
        int cols = 384;
        float eps = 1e-5f;
        float[] x = random(rows * cols);
        float[] gamma = random(cols);
        float[] beta = random(cols);
        float[] dy = random(rows * cols);
        double[] mean = new double[rows];
        double[] rstd = new double[rows];
        double[] y = KernelReference.layerNorm(x, gamma, beta, rows, cols, eps, mean, rstd);
        Tensor tx = cuda.fromHost(x, rows, cols);
        Tensor tg = cuda.fromHost(gamma, cols);
        Tensor ty = cuda.empty(rows, cols);
        Tensor tm = cuda.empty(rows);
        Tensor tr = cuda.empty(rows);
        cuda.kernels().layerNormForward(cuda.address(tx), cuda.address(tg), cuda.address(cuda.fromHost(beta, cols)),
                cuda.address(ty), cuda.address(tm), cuda.address(tr), rows, cols, eps);
        assertClose(y, cuda.toHost(ty), TOL, "layernorm_forward");
        assertClose(rstd, cuda.toHost(tr), TOL, "layernorm rstd");
        double[][] g = KernelReference.layerNormBackward(x, gamma, dy, rows, cols, eps);
        Tensor tdy = cuda.fromHost(dy, rows, cols);
        Tensor tdx = cuda.empty(rows, cols);
        cuda.kernels().layerNormBackward(cuda.address(tx), cuda.address(tg), cuda.address(tdy), cuda.address(tm),
                cuda.address(tr), cuda.address(tdx), rows, cols);
        assertClose(g[0], cuda.toHost(tdx), 1e-4, "layernorm_backward dx");
        Tensor dg = cuda.empty(cols);
        Tensor db = cuda.empty(cols);
        cuda.kernels().layerNormParamGrads(cuda.address(tx), cuda.address(tdy), cuda.address(tm), cuda.address(tr),
                cuda.address(dg), cuda.address(db), rows, cols);
        assertClose(g[1], cuda.toHost(dg), 1e-4, "layernorm dgamma");
        assertClose(g[2], cuda.toHost(db), TOL, "layernorm dbeta");
    }

    @Test
    void batchNormForwardBackwardAndRunningStats() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int n = 8;
        int c = 16;
        int hw = 49;
        float eps = 1e-5f;
        float momentum = 0.1f;
        float[] x = random(n * c * hw);
        float[] gamma = random(c);
        float[] beta = random(c);
        float[] dy = random(x.length);
        double[] mean = new double[c];
        double[] is = new double[c];
        double[] y = KernelReference.batchNorm(x, gamma, beta, n, c, hw, eps, mean, is);
        Tensor tx = cuda.fromHost(x, n, c, hw);
        Tensor tg = cuda.fromHost(gamma, c);
        Tensor ty = cuda.empty(n, c, hw);
        Tensor tm = cuda.empty(c);
        Tensor ti = cuda.empty(c);
        float[] run0 = random(c);
        float[] runVar0 = new float[c];
        java.util.Arrays.fill(runVar0, 1f);
        Tensor rm = cuda.fromHost(run0, c);
        Tensor rv = cuda.fromHost(runVar0, c);
        cuda.kernels().batchNormForward(cuda.address(tx), cuda.address(tg), cuda.address(cuda.fromHost(beta, c)),
                cuda.address(ty), cuda.address(tm), cuda.address(ti), cuda.address(rm), cuda.address(rv), n, c, hw, eps,
                momentum);
        assertClose(y, cuda.toHost(ty), TOL, "batchnorm_forward");
        double[] wantRm = new double[c];
        double[] wantRv = new double[c];
        int count = n * hw;
        for (int ch = 0; ch < c; ch++) {
            double var = 1 / (is[ch] * is[ch]) - eps;
            wantRm[ch] = (1 - momentum) * run0[ch] + momentum * mean[ch];
            wantRv[ch] = (1 - momentum) * 1.0 + momentum * var * count / (count - 1);
        }
        assertClose(wantRm, cuda.toHost(rm), TOL, "running mean");
        assertClose(wantRv, cuda.toHost(rv), 1e-4, "running var");
        double[][] g = KernelReference.batchNormBackward(x, gamma, dy, n, c, hw, eps);
        Tensor dx = cuda.empty(n, c, hw);
        Tensor dg = cuda.empty(c);
        Tensor db = cuda.empty(c);
        cuda.kernels().batchNormBackward(cuda.address(tx), cuda.address(tg), cuda.address(cuda.fromHost(dy, n, c, hw)),
                cuda.address(tm), cuda.address(ti), cuda.address(dx), cuda.address(dg), cuda.address(db), n, c, hw);
        assertClose(g[0], cuda.toHost(dx), 1e-4, "batchnorm_backward dx");
        assertClose(g[1], cuda.toHost(dg), 1e-4, "batchnorm dgamma");
        assertClose(g[2], cuda.toHost(db), TOL, "batchnorm dbeta");
    }

    @Test
    void im2colAndCol2im() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int c = 5;
        int h = 13;
        int w = 11;
        for (int[] k : new int[][] {{3, 3, 1, 1, 1}, {5, 3, 2, 2, 1}, {3, 3, 1, 2, 2}, {1, 1, 1, 0, 1}}) {
            int oh = KernelReference.outSize(h, k[0], k[2], k[3], k[4]);
            int ow = KernelReference.outSize(w, k[1], k[2], k[3], k[4]);
            float[] x = random(c * h * w);
            Tensor col = cuda.empty(c * k[0] * k[1], oh * ow);
            cuda.kernels().im2col(cuda.address(cuda.fromHost(x, c, h, w)), cuda.address(col), c, h, w, k[0], k[1], k[2],
                    k[3], k[4], oh, ow);
            assertClose(KernelReference.im2col(x, c, h, w, k[0], k[1], k[2], k[3], k[4]), cuda.toHost(col), 0, "im2col");
            float[] g = random(col.size());
            Tensor dx = cuda.empty(c, h, w);
            cuda.kernels().col2im(cuda.address(cuda.fromHost(g, col.dims())), cuda.address(dx), c, h, w, k[0], k[1], k[2],
                    k[3], k[4], oh, ow);
            assertClose(KernelReference.col2im(g, c, h, w, k[0], k[1], k[2], k[3], k[4]), cuda.toHost(dx), TOL, "col2im");
        }
    }

    @Test
    void setDiagonal() {
        CudaBackend cuda = Gpu.backendOrSkip();
        int n = 45;
        float[] v = random(n);
        Tensor out = cuda.zeros(n, n);
        cuda.kernels().setDiagonal(cuda.address(cuda.fromHost(v, n)), cuda.address(out), n);
        double[] want = new double[n * n];
        for (int i = 0; i < n; i++) {
            want[i * n + i] = v[i];
        }
        assertClose(want, cuda.toHost(out), 0, "set_diagonal");
    }
    // ---- spatial.cu and transformer.cu: against CpuBackend (CpuConv, CpuAttention) ------------

    @Test
    void spatialKernelsAgainstCpu() {
        CudaBackend cuda = Gpu.backendOrSkip();
        CudaKernels k = cuda.kernels();
        try (CpuBackend cpu = new CpuBackend(2)) {
            // im2col_nchw (copies: bit for bit) and col2im_nchw (sums of a few taps).
            Conv2dGeometry g = Conv2dGeometry.of(new int[] {3, 6, 11, 9}, new int[] {4, 3, 3, 2},
                    new Conv2dOptions(2, 1, 1, 1, 2, 1, 2));
            CudaKernels.ConvDims cd = new CudaKernels.ConvDims(g.inChannels(), g.height(), g.width(), g.kernelH(),
                    g.kernelW(), 2, 1, 1, 1, 2, 1, g.outHeight(), g.outWidth(), g.inPerGroup());
            float[] x = random(3 * 6 * 11 * 9);
            int cols = g.patchSize() * 2 * g.outHeight() * g.outWidth();
            Tensor hc = Tensor.zeros(cols);
            cpu.im2col(Tensor.of(x.clone(), g.inputDims()), g, 1, 2, 1, hc);
            Tensor dc = cuda.empty(cols);
            k.im2colNchw(cuda.address(cuda.fromHost(x, g.inputDims())), cuda.address(dc), cd, 1, 2, 1);
            assertArrayEquals(hc.data(), cuda.toHost(dc), "im2col_nchw");
            float[] src = random(cols);
            float[] dx0 = random(x.length);
            Tensor hdx = Tensor.of(dx0.clone(), g.inputDims());
            cpu.col2im(Tensor.of(src.clone(), cols), g, 1, 2, 1, hdx);
            Tensor ddx = cuda.fromHost(dx0, g.inputDims());
            k.col2imNchw(cuda.address(cuda.fromHost(src, cols)), cuda.address(ddx), cd, 1, 2, 1);
            assertClose(toDouble(hdx.data()), cuda.toHost(ddx), TOL, "col2im_nchw");

            // pool2d_forward / pool2d_backward: the CPU's comparisons and additions in its order, bit for bit.
            Pool2dGeometry pg = new Pool2dGeometry(4, 5, 13, 10, 3, 2, 2, 1, 1, 1);
            float[] px = random(4 * 5 * 13 * 10);
            px[3] = px[4] = 5f;
            float[] pdy = random(4 * 5 * pg.outHeight() * pg.outWidth());
            int planes = 20;
            Tensor dpx = cuda.fromHost(px, pg.inputDims());
            Tensor dpdy = cuda.fromHost(pdy, pg.outputDims());
            for (int mode = 0; mode < 2; mode++) {
                Tensor hy = Tensor.zeros(pg.outputDims());
                Tensor hd = Tensor.zeros(pg.inputDims());
                if (mode == 0) {
                    cpu.maxPool2d(Tensor.of(px.clone(), pg.inputDims()), pg, hy);
                    cpu.maxPool2dBackward(Tensor.of(px.clone(), pg.inputDims()), Tensor.of(pdy.clone(), pg.outputDims()),
                            pg, hd);
                } else {
                    cpu.avgPool2d(Tensor.of(px.clone(), pg.inputDims()), pg, hy);
                    cpu.avgPool2dBackward(Tensor.of(pdy.clone(), pg.outputDims()), pg, hd);
                }
                Tensor dy = cuda.empty(pg.outputDims());
                Tensor dd = cuda.empty(pg.inputDims());
                k.pool2d(cuda.address(dpx), cuda.address(dy), planes, 13, 10, 3, 2, 2, 1, 1, 1, pg.outHeight(),
                        pg.outWidth(), mode);
                k.pool2dBackward(mode == 0 ? cuda.address(dpx) : 0L, cuda.address(dpdy), cuda.address(dd), planes, 13,
                        10, 3, 2, 2, 1, 1, 1, pg.outHeight(), pg.outWidth(), mode);
                assertArrayEquals(hy.data(), cuda.toHost(dy), "pool2d_forward mode " + mode);
                assertArrayEquals(hd.data(), cuda.toHost(dd), "pool2d_backward mode " + mode);
            }

            // global_avg_pool (double sums, CPU float lanes: close), its backward and add_channel_bias (exact).
            Tensor hg = Tensor.zeros(4, 5);
            cpu.globalAvgPool(Tensor.of(px.clone(), pg.inputDims()), hg);
            Tensor dg = cuda.empty(4, 5);
            k.globalAvgPool(cuda.address(dpx), cuda.address(dg), planes, 130);
            assertClose(toDouble(hg.data()), cuda.toHost(dg), TOL, "global_avg_pool");
            float[] gdy = random(20);
            Tensor hgd = Tensor.zeros(pg.inputDims());
            cpu.globalAvgPoolBackward(Tensor.of(gdy.clone(), 4, 5), hgd);
            Tensor dgd = cuda.empty(pg.inputDims());
            k.globalAvgPoolBackward(cuda.address(cuda.fromHost(gdy, 4, 5)), cuda.address(dgd), planes, 130);
            assertArrayEquals(hgd.data(), cuda.toHost(dgd), "global_avg_pool_backward");
            float[] bias = random(5);
            Tensor yb = cuda.fromHost(px, pg.inputDims());
            k.addChannelBias(cuda.address(yb), cuda.address(cuda.fromHost(bias, 5)), 4, 5, 130);
            float[] gotB = cuda.toHost(yb);
            for (int i = 0; i < px.length; i++) {
                assertEquals(px[i] + bias[i / 130 % 5], gotB[i], "add_channel_bias " + i);
            }

            // batchnorm2d_partials / apply and their backward, training and evaluation, against CpuConv, with
            // each channel's 520 values in 1 slice, 3 and 7 uneven ones, and one value per slice.
            for (int splits : new int[] {1, 3, 7, 520}) {
                batchNorm2dKernels(cuda, cpu, k, px, dpx, pg, splits);
            }
        }
    }

    private void batchNorm2dKernels(CudaBackend cuda, CpuBackend cpu, CudaKernels k, float[] px, Tensor dpx,
            Pool2dGeometry pg, int splits) {
        for (boolean training : new boolean[] {true, false}) {
            Tensor p1 = cuda.empty(2 * 5 * splits); // channels · splits doubles each
            Tensor p2 = cuda.empty(2 * 5 * splits);
            float[] gamma = random(5);
            float[] beta = random(5);
            float[] rm = random(5);
            float[] rv = {0.5f, 1f, 1.5f, 2f, 3f};
            Tensor hrm = Tensor.of(rm.clone(), 5);
            Tensor hrv = Tensor.of(rv.clone(), 5);
            Tensor hy = Tensor.zeros(pg.inputDims());
            Tensor hsm = Tensor.zeros(5);
            Tensor hsi = Tensor.zeros(5);
            cpu.batchNorm2d(Tensor.of(px.clone(), pg.inputDims()), Tensor.of(gamma.clone(), 5),
                    Tensor.of(beta.clone(), 5), hrm, hrv, training, 0.1f, 1e-5f, hy, hsm, hsi);
            Tensor hbx = Tensor.zeros(pg.inputDims());
            Tensor hdg = Tensor.zeros(5);
            Tensor hdb = Tensor.zeros(5);
            float[] bdy = random(px.length);
            cpu.batchNorm2dBackward(Tensor.of(px.clone(), pg.inputDims()), Tensor.of(bdy.clone(), pg.inputDims()),
                    Tensor.of(gamma.clone(), 5), hsm, hsi, training, hbx, hdg, hdb);
            Tensor drm = cuda.fromHost(rm, 5);
            Tensor drv = cuda.fromHost(rv, 5);
            Tensor dgm = cuda.fromHost(gamma, 5);
            Tensor dyy = cuda.empty(pg.inputDims());
            Tensor dsm = cuda.empty(5);
            Tensor dsi = cuda.empty(5);
            k.batchNorm2d(cuda.address(dpx), cuda.address(dgm), cuda.address(cuda.fromHost(beta, 5)),
                    cuda.address(drm), cuda.address(drv), training, 0.1f, 1e-5f, cuda.address(dyy),
                    cuda.address(dsm), cuda.address(dsi), 4, 5, 130, cuda.address(p1), cuda.address(p2), splits);
            Tensor ddx2 = cuda.empty(pg.inputDims());
            Tensor ddg = cuda.empty(5);
            Tensor ddb = cuda.empty(5);
            k.batchNorm2dBackward(cuda.address(dpx), cuda.address(cuda.fromHost(bdy, pg.inputDims())),
                    cuda.address(dgm), cuda.address(dsm), cuda.address(dsi), training, cuda.address(ddx2),
                    cuda.address(ddg), cuda.address(ddb), 4, 5, 130, cuda.address(p1), cuda.address(p2), splits);
            String mode = (training ? "training " : "evaluation ") + splits + " slices, ";
            assertClose(toDouble(hy.data()), cuda.toHost(dyy), TOL, "batchnorm2d " + mode + "y");
            assertClose(toDouble(hrm.data()), cuda.toHost(drm), TOL, "batchnorm2d " + mode + "running mean");
            assertClose(toDouble(hrv.data()), cuda.toHost(drv), TOL, "batchnorm2d " + mode + "running var");
            assertClose(toDouble(hsi.data()), cuda.toHost(dsi), TOL, "batchnorm2d " + mode + "inverse std");
            assertClose(toDouble(hbx.data()), cuda.toHost(ddx2), TOL, "batchnorm2d " + mode + "dx");
            assertClose(toDouble(hdg.data()), cuda.toHost(ddg), TOL, "batchnorm2d " + mode + "dgamma");
            assertClose(toDouble(hdb.data()), cuda.toHost(ddb), TOL, "batchnorm2d " + mode + "dbeta");
        }
    }

    @Test
    void transformerKernelsAgainstReferences() {
        CudaBackend cuda = Gpu.backendOrSkip();
        CudaKernels k = cuda.kernels();
        // masked_softmax_rows: rows of (entries · queries) with a (queries × keys) additive mask.
        int entries = 5;
        int queries = 7;
        int keys = 300; // more than one block-stride per row
        float[] x = random(entries * queries * keys);
        float[] mask = new float[queries * keys];
        for (int i = 0; i < mask.length; i++) {
            mask[i] = i % 7 == 3 ? Float.NEGATIVE_INFINITY : (float) (0.1 * (i % 5));
        }
        double[] want = new double[x.length];
        for (int r = 0; r < entries * queries; r++) {
            double mx = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < keys; j++) {
                mx = Math.max(mx, (double) x[r * keys + j] + mask[r % queries * keys + j]);
            }
            double z = 0;
            for (int j = 0; j < keys; j++) {
                z += Math.exp((double) x[r * keys + j] + mask[r % queries * keys + j] - mx);
            }
            for (int j = 0; j < keys; j++) {
                want[r * keys + j] = Math.exp((double) x[r * keys + j] + mask[r % queries * keys + j] - mx) / z;
            }
        }
        Tensor p = cuda.fromHost(x, x.length);
        k.maskedSoftmaxRows(cuda.address(p), cuda.address(cuda.fromHost(mask, mask.length)), entries * queries, keys,
                queries);
        float[] probs = cuda.toHost(p);
        assertClose(want, probs, TOL, "masked_softmax_rows");
        // softmax_backward_inplace: g = (g - Σ p g) ⊙ p.
        float[] g = random(x.length);
        double[] gw = new double[x.length];
        for (int r = 0; r < entries * queries; r++) {
            double dot = 0;
            for (int j = 0; j < keys; j++) {
                dot += (double) probs[r * keys + j] * g[r * keys + j];
            }
            for (int j = 0; j < keys; j++) {
                gw[r * keys + j] = (g[r * keys + j] - dot) * probs[r * keys + j];
            }
        }
        Tensor dg = cuda.fromHost(g, g.length);
        k.softmaxBackwardInPlace(cuda.address(p), cuda.address(dg), entries * queries, keys);
        assertClose(gw, cuda.toHost(dg), TOL, "softmax_backward_inplace");

        // strided_copy as a 5-axis permutation with a base offset.
        int[] dims = {2, 3, 4, 5, 6};
        float[] src = random(1 + 2 * 3 * 4 * 5 * 6);
        int[] perm = {4, 2, 0, 3, 1};
        int[] od = new int[5];
        long[] st = new long[5];
        long[] xs = {360, 120, 30, 6, 1};
        for (int i = 0; i < 5; i++) {
            od[i] = dims[perm[i]];
            st[i] = xs[perm[i]];
        }
        Tensor out = cuda.empty(720);
        k.stridedCopy(cuda.address(cuda.fromHost(src, src.length)), cuda.address(out), 1, od, st);
        float[] got = cuda.toHost(out);
        int[] idx = new int[5];
        for (int o = 0; o < 720; o++) {
            int rem = o;
            long at = 1;
            for (int i = 4; i >= 0; i--) {
                idx[i] = rem % od[i];
                rem /= od[i];
                at += idx[i] * st[i];
            }
            assertEquals(src[(int) at], got[o], "strided_copy element " + o);
        }

        // add_narrowed, drop_path_mask, scale_samples: exact.
        float[] big = random(4 * 9 * 5);
        float[] small = random(4 * 3 * 5);
        Tensor dbig = cuda.fromHost(big, big.length);
        k.addNarrowed(cuda.address(cuda.fromHost(small, small.length)), cuda.address(dbig), 4, 9, 3, 5, 6);
        float[] added = cuda.toHost(dbig);
        for (int o = 0; o < 4; o++) {
            for (int t = 0; t < 9; t++) {
                for (int j = 0; j < 5; j++) {
                    int at = (o * 9 + t) * 5 + j;
                    float w = t >= 6 ? big[at] + small[(o * 3 + t - 6) * 5 + j] : big[at];
                    assertEquals(w, added[at], "add_narrowed element " + at);
                }
            }
        }
        long seed = rng.nextLong();
        Tensor m = cuda.empty(5000);
        k.dropPathMask(0.2f, seed, 1f / 0.8f, cuda.address(m), 5000);
        float[] mh = cuda.toHost(m);
        for (int i = 0; i < 5000; i++) {
            assertEquals(CounterRandom.uniform(seed, i) >= 0.2f ? 1f / 0.8f : 0f, mh[i], "drop_path_mask " + i);
        }
        float[] sx = random(5000 * 3);
        Tensor sxd = cuda.fromHost(sx, sx.length);
        k.scaleSamples(cuda.address(sxd), cuda.address(m), cuda.address(sxd), 5000, 3);
        float[] sg = cuda.toHost(sxd);
        for (int i = 0; i < sx.length; i++) {
            assertEquals(sx[i] * mh[i / 3], sg[i], "scale_samples element " + i);
        }
    }
}
