package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.Conv2dGeometry;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.backend.Pool2dGeometry;
import dev.oialr4j.linalg.Svd;
import dev.oialr4j.tensor.Device;
import dev.oialr4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Run by {@link FakeDriverTest} in a child JVM whose driver, cuBLAS and cuSOLVER are the stand-ins
 * (fake_*.c): "device memory" is host memory and the stand-ins compute GEMMs, SVDs and a few kernels in
 * C. Checks the Java side of {@link CudaBackend} and {@link CudaSigmaSvd} (addresses, argument packing,
 * operand swap, leading dimensions, allocator, status mapping) against {@link CpuBackend} and double
 * references, and prints one line per check: {@code name: ok} or {@code name: FAIL ...}.
 */
public final class FakeBackendMain {

    private static final List<String> LINES = new ArrayList<>();
    private static final Random RNG = new Random(Long.getLong("seed", System.nanoTime()));

    private FakeBackendMain() {
    }

    public static void main(String[] args) throws Throwable {
        byte[] image = {0x50, (byte) 0xED, 0x55, (byte) 0xBA, 0, 0, 0, 0}; // the fake checks only the magic
        var cpu = new CpuBackend(1);
        var cuda = new CudaBackend(Device.cuda(1), new CudaBackend.Options(false), image);
        check("name", () -> cuda.deviceName().equals("Fake GPU 11") ? null : cuda.deviceName());

        check("roundtrip", () -> {
            // Through the page-locked buffer (growing from 1 MiB to 4 MiB, then reused), and above its limit.
            for (int n : new int[] {1000, 1, 600_000, 1000, (int) (CudaBackend.STAGING_MAX_BYTES / 4) + 3}) {
                float[] a = random(n);
                Tensor t = cuda.fromHost(a, n);
                float[] b = random(n);
                Tensor u = cuda.fromHost(b, n); // a second upload while the first may be in flight
                if (!Arrays.equals(a, cuda.toHost(t)) || !Arrays.equals(b, cuda.toHost(u))) {
                    return "data changed at " + n + " elements";
                }
            }
            int buffers = System.getenv("FAKE_CUDA_NO_PINNED") == null ? 1 : 0;
            return hostAllocs() == buffers ? null : hostAllocs() + " page-locked buffers, expected " + buffers;
        });
        check("zeros-fill-copy", () -> {
            Tensor z = cuda.zeros(3, 5);
            Tensor f = cuda.zeros(15);
            cuda.fill(f, -2.5f);
            Tensor c = cuda.zeros(5, 3);
            cuda.copy(f, c);
            float[] expect = new float[15];
            Arrays.fill(expect, -2.5f);
            return Arrays.equals(new float[15], cuda.toHost(z)) && Arrays.equals(expect, cuda.toHost(c)) ? null : "wrong";
        });
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                check("gemm" + (ta ? "T" : "N") + (tb ? "T" : "N"), () -> gemm(cpu, cuda, ta, tb, 7, 5, 9, 0.75f, 0.5f));
            }
        }
        check("gemm-beta0-ignores-nan", () -> {
            Tensor a = cuda.fromHost(random(6), 2, 3);
            Tensor b = cuda.fromHost(random(12), 3, 4);
            float[] nan = new float[8];
            Arrays.fill(nan, Float.NaN);
            Tensor c = cuda.fromHost(nan, 2, 4);
            cuda.gemm(false, false, 1f, a, b, 0f, c);
            for (float v : cuda.toHost(c)) {
                if (Float.isNaN(v)) {
                    return "NaN survived beta = 0";
                }
            }
            return null;
        });
        check("gemm-vector-shapes", () -> gemm(cpu, cuda, false, true, 1, 1, 4, 1f, 0f));
        check("gemm-shape-error", () -> {
            try {
                cuda.gemm(false, false, 1f, cuda.zeros(2, 3), cuda.zeros(4, 2), 0f, cuda.zeros(2, 2));
                return "no exception";
            } catch (IllegalArgumentException e) {
                return e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4, 2]") ? null : e.getMessage();
            }
        });
        check("tf32-uses-gemmex", () -> {
            var tf = new CudaBackend(Device.cuda(0), new CudaBackend.Options(true), image);
            try {
                String err = gemm(cpu, tf, true, false, 6, 4, 3, 1f, 0f);
                int compute = lastComputeType();
                return err != null ? err : compute == 77 ? null : "compute type " + compute;
            } finally {
                tf.close();
            }
        });
        check("cublas-status", () -> {
            try {
                cuda.cublas().sgemm(Cublas.OP_N, Cublas.OP_N, 4, 4, 4, 1f, 0, 2, 0, 4, 0f, 0, 4);
                return "no exception";
            } catch (CublasException e) {
                return e.getMessage().equals("cublasSgemm_v2 failed: CUBLAS_STATUS_INVALID_VALUE (7)") && e.status() == 7
                        ? null : e.getMessage();
            }
        });

        int n = 5000;
        float[] xs = random(n);
        float[] ys = random(n);
        check("axpby", () -> {
            Tensor y = cuda.fromHost(ys, n);
            Tensor yc = Tensor.of(ys.clone(), n);
            cuda.axpby(0.3f, cuda.fromHost(xs, n), -1.25f, y);
            cpu.axpby(0.3f, Tensor.of(xs.clone(), n), -1.25f, yc);
            return same(yc.data(), cuda.toHost(y));
        });
        check("add-mul-scale", () -> {
            Tensor a = cuda.fromHost(xs, 50, 100);
            Tensor b = cuda.fromHost(ys, 50, 100);
            Tensor o = cuda.zeros(50, 100);
            Tensor ac = Tensor.of(xs.clone(), 50, 100);
            Tensor bc = Tensor.of(ys.clone(), 50, 100);
            Tensor oc = Tensor.zeros(50, 100);
            cuda.add(a, b, o);
            cpu.add(ac, bc, oc);
            String e1 = same(oc.data(), cuda.toHost(o));
            cuda.mul(a, b, o);
            cpu.mul(ac, bc, oc);
            String e2 = same(oc.data(), cuda.toHost(o));
            cuda.scale(a, -3.5f, o);
            cpu.scale(ac, -3.5f, oc);
            String e3 = same(oc.data(), cuda.toHost(o));
            return e1 != null ? e1 : e2 != null ? e2 : e3;
        });
        check("addRowVector-relu-sumRows", () -> {
            float[] bias = random(100);
            Tensor o = cuda.zeros(50, 100);
            Tensor oc = Tensor.zeros(50, 100);
            cuda.addRowVector(cuda.fromHost(xs, 50, 100), cuda.fromHost(bias, 100), o);
            cpu.addRowVector(Tensor.of(xs.clone(), 50, 100), Tensor.of(bias.clone(), 100), oc);
            cuda.relu(o, o);
            cpu.relu(oc, oc);
            String e = same(oc.data(), cuda.toHost(o));
            Tensor s = cuda.zeros(100);
            Tensor sc = Tensor.zeros(100);
            cuda.sumRows(o, s);
            cpu.sumRows(oc, sc);
            return e != null ? e : same(sc.data(), cuda.toHost(s));
        });
        check("dropout-mask-bit-identical", () -> {
            long seed = RNG.nextLong();
            Tensor m = cuda.zeros(n);
            Tensor o = cuda.zeros(n);
            Tensor mc = Tensor.zeros(n);
            Tensor oc = Tensor.zeros(n);
            cuda.dropout(cuda.fromHost(xs, n), 0.3f, seed, m, o);
            cpu.dropout(Tensor.of(xs.clone(), n), 0.3f, seed, mc, oc);
            String e = same(mc.data(), cuda.toHost(m));
            return e != null ? e : same(oc.data(), cuda.toHost(o));
        });
        check("sgd-nesterov", () -> {
            Tensor p = cuda.fromHost(xs, n);
            Tensor buf = cuda.fromHost(ys, n);
            Tensor g = cuda.fromHost(ys, n);
            Tensor pc = Tensor.of(xs.clone(), n);
            Tensor bufc = Tensor.of(ys.clone(), n);
            Tensor gc = Tensor.of(ys.clone(), n);
            for (int step = 0; step < 3; step++) {
                cuda.sgdStep(p, g, buf, 0.1f, 0.9f, true, 0.01f, step == 0);
                cpu.sgdStep(pc, gc, bufc, 0.1f, 0.9f, true, 0.01f, step == 0);
            }
            String e = same(pc.data(), cuda.toHost(p));
            return e != null ? e : same(bufc.data(), cuda.toHost(buf));
        });
        check("sgd-plain-null-buffer", () -> {
            Tensor p = cuda.fromHost(xs, n);
            Tensor pc = Tensor.of(xs.clone(), n);
            cuda.sgdStep(p, cuda.fromHost(ys, n), null, 0.05f, 0f, false, 0f, true);
            cpu.sgdStep(pc, Tensor.of(ys.clone(), n), null, 0.05f, 0f, false, 0f, true);
            return same(pc.data(), cuda.toHost(p));
        });
        check("adamw", () -> {
            int an = 4096; // a multiple of every vector length, so CpuBackend runs its vector body only
            Tensor p = cuda.fromHost(java.util.Arrays.copyOf(xs, an), an);
            Tensor g = cuda.fromHost(java.util.Arrays.copyOf(ys, an), an);
            Tensor m = cuda.zeros(an);
            Tensor v = cuda.zeros(an);
            Tensor pc = Tensor.of(java.util.Arrays.copyOf(xs, an), an);
            Tensor gc = Tensor.of(java.util.Arrays.copyOf(ys, an), an);
            Tensor mc = Tensor.zeros(an);
            Tensor vc = Tensor.zeros(an);
            for (long step = 1; step <= 3; step++) {
                cuda.adamwStep(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
                cpu.adamwStep(pc, gc, mc, vc, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
            }
            // The kernel follows the operation order of CpuBackend's vector body: bit-identical.
            String e = same(pc.data(), cuda.toHost(p));
            return e != null ? e : same(vc.data(), cuda.toHost(v));
        });
        check("sum-sumSquares", () -> {
            int big = 3 * 4096 + 17;
            float[] a = random(big);
            double s = 0;
            double q = 0;
            for (float f : a) {
                s += f;
                q += (double) f * f;
            }
            Tensor t = cuda.fromHost(a, big);
            double gs = cuda.sum(t);
            double gq = cuda.sumSquares(t);
            return Math.abs(gs - s) <= 1e-9 * big && Math.abs(gq - q) <= 1e-9 * q ? null : gs + " vs " + s + ", " + gq
                    + " vs " + q;
        });
        check("missing-kernel-status", () -> {
            try {
                cuda.sumCols(cuda.zeros(2, 2), cuda.zeros(2)); // sum_cols has no stand-in
                return "no exception";
            } catch (CudaException e) {
                return e.getMessage().equals("cuLaunchKernel failed: CUDA_ERROR_NOT_SUPPORTED (801)") ? null : e.getMessage();
            }
        });
        check("host-tensor-rejected", () -> {
            try {
                cuda.relu(Tensor.zeros(3), cuda.zeros(3));
                return "no exception";
            } catch (IllegalArgumentException e) {
                return e.getMessage().equals("tensor [3] lives on cpu, not in this CUDA backend's memory on cuda:1")
                        ? null : e.getMessage();
            }
        });
        check("sigma-svd", () -> checkSigmaSvd(cuda));
        check("strided-batched-gemm", () -> {
            int batch = 3;
            int bm = 4;
            int bk = 6;
            int bn = 5;
            float[] a = random(batch * bm * bk);
            float[] b = random(batch * bn * bk);
            Tensor c = cuda.zeros(batch, bm, bn);
            // C_i = A_i B_iᵀ for row-major A_i (bm × bk), B_i (bn × bk)
            cuda.cublas().rowMajorGemmStridedBatched(false, true, bm, bn, bk, 1f, cuda.address(cuda.fromHost(a, batch, bm, bk)),
                    bk, (long) bm * bk, cuda.address(cuda.fromHost(b, batch, bn, bk)), bk, (long) bn * bk, 0f, cuda.address(c), bn,
                    (long) bm * bn, batch);
            float[] got = cuda.toHost(c);
            for (int i = 0; i < batch; i++) {
                Tensor ci = Tensor.zeros(bm, bn);
                cpu.gemm(false, true, 1f, Tensor.of(Arrays.copyOfRange(a, i * bm * bk, (i + 1) * bm * bk), bm, bk),
                        Tensor.of(Arrays.copyOfRange(b, i * bn * bk, (i + 1) * bn * bk), bn, bk), 0f, ci);
                String e = close(ci.data(), Arrays.copyOfRange(got, i * bm * bn, (i + 1) * bm * bn), 1e-5);
                if (e != null) {
                    return "matrix " + i + ": " + e;
                }
            }
            return null;
        });
        check("events", () -> {
            var start = CudaDriver.eventCreate(CudaDriver.EVENT_DEFAULT);
            var end = CudaDriver.eventCreate(CudaDriver.EVENT_DEFAULT);
            CudaDriver.eventRecord(start, cuda.stream());
            CudaDriver.eventRecord(end, cuda.stream());
            CudaDriver.eventSynchronize(end);
            float ms = CudaDriver.eventElapsedMillis(start, end);
            CudaDriver.eventDestroy(start);
            CudaDriver.eventDestroy(end);
            return ms == 1.5f ? null : "elapsed " + ms; // the stand-in's clock advances 1.5 ms per record
        });
        check("async-alloc", () -> {
            long p = CudaDriver.memAllocAsync(4096, cuda.stream());
            CudaDriver.memFreeAsync(p, cuda.stream());
            var info = CudaDriver.memoryInfo();
            return p != 0 && info[1] == 80L << 30 && info[0] <= info[1] ? null : "alloc " + p + ", info " + Arrays.toString(info);
        });
        check("training-steps-match-cpu", () -> trainingSteps(cpu, cuda));
        check("resnet-steps-match-cpu", () -> resnetSteps(cpu, cuda));
        check("vit-steps-match-cpu", () -> vitSteps(cpu, cuda));
        check("missing-gpu-index", () -> {
            try {
                new CudaBackend(Device.cuda(5), new CudaBackend.Options(false), image);
                return "no exception";
            } catch (dev.oialr4j.backend.Backends.UnavailableException e) {
                return e.getMessage().equals("device cuda:5 does not exist: the CUDA driver sees 2 GPU(s)") ? null
                        : e.getMessage();
            }
        });
        check("bad-image-releases-context", () -> {
            int before = retains(0);
            try {
                new CudaBackend(Device.cuda(0), new CudaBackend.Options(false), new byte[] {1, 2, 3, 4});
                return "no exception";
            } catch (CudaException e) {
                int after = retains(0);
                return e.getMessage().equals("cuModuleLoadData failed: CUDA_ERROR_INVALID_IMAGE (200)") && after == before
                        ? null : e.getMessage() + ", retains " + before + " -> " + after;
            }
        });
        check("cusolver-status", () -> {
            try (var solver = Cusolver.create()) {
                solver.geqrf(4, 4, 0, 4, 0, 0, 0, 0);
                return "no exception";
            } catch (CusolverException e) {
                return e.getMessage().equals("cusolverDnSgeqrf failed: CUSOLVER_STATUS_NOT_SUPPORTED (9)") ? null
                        : e.getMessage();
            }
        });
        spiOpChecks(cpu, cuda);
        for (var policy : dev.oialr4j.oialr.StatePolicy.values()) {
            check("oialr-round-on-device-" + policy.name().toLowerCase(java.util.Locale.ROOT),
                    () -> oialrRound(cpu, cuda, policy));
        }
        check("close-frees-everything", () -> {
            Tensor keep = cuda.zeros(100);
            cuda.close();
            cuda.close(); // idempotent
            long live = liveBytes();
            int pinned = hostAllocs();
            try {
                cuda.toHost(keep);
                return "used after close";
            } catch (IllegalStateException e) {
                return live != 0 ? live + " bytes still allocated"
                        : pinned != 0 ? pinned + " page-locked host buffers still allocated" : null;
            }
        });
        cpu.close();
        LINES.forEach(System.out::println);
    }

    /** Null when CudaSigmaSvd matches a double SVD on random factors; otherwise what is wrong. */
    static String checkSigmaSvd(CudaBackend cuda) {
        // Two layers of rank 5 (one gesvdjBatched call), one of rank 7, one of 40 (gesvdj).
        int[][] shapes = {{12, 5, 9}, {6, 5, 11}, {20, 7, 15}, {64, 40, 50}};
        int[] newRanks = {3, 5, 4, 25};
        List<CudaSigmaSvd.Factors> layers = new ArrayList<>();
        List<float[][]> host = new ArrayList<>();
        for (int[] s : shapes) {
            float[] u = random(s[0] * s[1]);
            float[] sig = random(s[1] * s[1]);
            float[] v = random(s[2] * s[1]);
            host.add(new float[][] {u, sig, v});
            layers.add(new CudaSigmaSvd.Factors(cuda.fromHost(u, s[0], s[1]), cuda.fromHost(sig, s[1], s[1]),
                    cuda.fromHost(v, s[2], s[1])));
        }
        try (var svd = new CudaSigmaSvd(cuda)) {
            var round = svd.decompose(layers);
            for (int i = 0; i < shapes.length; i++) {
                int m = shapes[i][0];
                int r = shapes[i][1];
                int n = shapes[i][2];
                int k = newRanks[i];
                Svd.Result ref = Svd.decompose(host.get(i)[1], r, r);
                float[] sigma = round.sigma(i);
                for (int j = 0; j < r; j++) {
                    if (!(Math.abs(sigma[j] - ref.s()[j]) <= 1e-5 * ref.s()[0])) {
                        return "layer " + i + " σ" + j + " " + sigma[j] + " vs " + ref.s()[j];
                    }
                }
                var f = round.apply(i, k);
                // U' Σ' V'ᵀ must be U (best rank-k approximation of Σ) Vᵀ: unique whatever the signs of P, Q.
                double[] got = product(cuda.toHost(f.u()), cuda.toHost(f.sigma()), cuda.toHost(f.v()), m, k, n);
                double[] want = product(host.get(i)[0], ref.reconstruct(k), host.get(i)[2], m, r, n);
                double scale = 0;
                double err = 0;
                for (int j = 0; j < got.length; j++) {
                    scale = Math.max(scale, Math.abs(want[j]));
                    err = Math.max(err, Math.abs(got[j] - want[j]));
                }
                if (!(err <= 1e-4 * scale)) {
                    return "layer " + i + " rotated factors off by " + err + " (scale " + scale + ")";
                }
                // Rotating Σ itself as a moment gives diag(σ[:k]).
                float[] rot = cuda.toHost(round.rotateMoment(i, layers.get(i).sigma(), k));
                for (int a = 0; a < k; a++) {
                    for (int b = 0; b < k; b++) {
                        double expect = a == b ? ref.s()[a] : 0;
                        if (!(Math.abs(rot[a * k + b] - expect) <= 1e-4 * ref.s()[0])) {
                            return "layer " + i + " rotated Σ[" + a + "," + b + "] = " + rot[a * k + b];
                        }
                    }
                }
            }
        }
        return null;
    }

    /**
     * Five AdamW training steps of a small MLP (ReLU, dropout, label smoothing) from the same seed on both
     * backends: the losses must agree to float rounding (the stand-in's GEMM sums in double).
     */
    private static String trainingSteps(CpuBackend cpu, CudaBackend cuda) {
        double[][] losses = new double[2][];
        dev.oialr4j.backend.Backend[] backends = {cpu, cuda};
        float[] x = random(32 * 20);
        int[] labels = RNG.ints(32, 0, 7).toArray();
        for (int k = 0; k < 2; k++) {
            var b = backends[k];
            var net = dev.oialr4j.nn.models.Mlp.builder().inputs(20).hidden(48, 40).outputs(7).dropout(0.25f).seed(5)
                    .build();
            net.to(b);
            var opt = new dev.oialr4j.optim.AdamW(b, dev.oialr4j.optim.ParamGroup.decayMatricesOnly(net.parameters(),
                    0.05), 1e-2);
            losses[k] = new double[5];
            for (int s = 0; s < 5; s++) {
                var tape = new dev.oialr4j.autograd.Tape(b);
                var ops = new dev.oialr4j.autograd.Ops(tape);
                for (var p : net.parameters()) {
                    p.zeroGrad();
                }
                opt.zeroGrad();
                var loss = ops.crossEntropy(net.forward(ops, dev.oialr4j.autograd.Variable.constant(b.fromHost(x, 32, 20))),
                        labels, 0.1f);
                tape.backward(loss);
                opt.step();
                losses[k][s] = b.toHost(loss.value())[0];
            }
        }
        for (int s = 0; s < 5; s++) {
            if (!(Math.abs(losses[0][s] - losses[1][s]) <= 1e-4 * Math.abs(losses[0][s]))) {
                return "step " + s + ": loss " + losses[1][s] + " on CUDA, " + losses[0][s] + " on CPU";
            }
        }
        return losses[0][4] < losses[0][0] ? null : "loss did not decrease: " + Arrays.toString(losses[0]);
    }

    /**
     * Three SGD steps of a small ResNet (conv, batch norm, ReLU, shortcuts, global pooling) on both
     * backends, then an OIALR conversion to LowRankConv2d and two more steps: the losses must agree.
     */
    private static String resnetSteps(CpuBackend cpu, CudaBackend cuda) {
        double[][] losses = new double[2][];
        dev.oialr4j.backend.Backend[] backends = {cpu, cuda};
        float[] x = random(6 * 3 * 8 * 8);
        int[] labels = RNG.ints(6, 0, 5).toArray();
        for (int k = 0; k < 2; k++) {
            var b = backends[k];
            var net = dev.oialr4j.nn.models.ResNet.builder().input(3, 8, 8).depth(8).classes(5).seed(3).build();
            net.to(b);
            var opt = new dev.oialr4j.optim.Sgd(b, dev.oialr4j.optim.ParamGroup.decayMatricesOnly(net.parameters(),
                    5e-4), 0.05, 0.9, true);
            var oialr = new dev.oialr4j.oialr.Oialr(dev.oialr4j.oialr.OialrConfig.builder().build());
            losses[k] = new double[5];
            for (int s = 0; s < 5; s++) {
                if (s == 3) {
                    oialr.convert(net, opt, b);
                }
                var tape = new dev.oialr4j.autograd.Tape(b);
                var ops = new dev.oialr4j.autograd.Ops(tape);
                for (var p : net.parameters()) {
                    p.zeroGrad();
                }
                opt.zeroGrad();
                var loss = ops.crossEntropy(net.forward(ops,
                        dev.oialr4j.autograd.Variable.constant(b.fromHost(x, 6, 3, 8, 8))), labels, 0f);
                tape.backward(loss);
                opt.step();
                losses[k][s] = b.toHost(loss.value())[0];
            }
        }
        for (int s = 0; s < 5; s++) {
            if (!(Math.abs(losses[0][s] - losses[1][s]) <= 1e-4 * Math.abs(losses[0][s]))) {
                return "step " + s + ": loss " + losses[1][s] + " on CUDA, " + losses[0][s] + " on CPU";
            }
        }
        return null;
    }

    /**
     * AdamW steps of a small vision transformer (patch embedding, class token, pre-norm blocks with fused
     * multi-head attention, GELU, drop path 0.2) on both backends, with an OIALR conversion of its Linears
     * after three steps: the losses must agree (drop-path masks are the same counter-based draws).
     */
    private static String vitSteps(CpuBackend cpu, CudaBackend cuda) {
        double[][] losses = new double[2][];
        dev.oialr4j.backend.Backend[] backends = {cpu, cuda};
        float[] x = random(5 * 1 * 8 * 8);
        int[] labels = RNG.ints(5, 0, 4).toArray();
        for (int k = 0; k < 2; k++) {
            var b = backends[k];
            var net = dev.oialr4j.nn.models.VisionTransformer.small().image(1, 8, 8).patch(4).dim(16).heads(2).depth(2)
                    .dropPath(0.2f).classes(4).seed(4).build();
            net.to(b);
            var opt = new dev.oialr4j.optim.AdamW(b, dev.oialr4j.optim.ParamGroup.decayMatricesOnly(net.parameters(),
                    0.05), 1e-2);
            var oialr = new dev.oialr4j.oialr.Oialr(dev.oialr4j.oialr.OialrConfig.builder().build());
            losses[k] = new double[5];
            for (int s = 0; s < 5; s++) {
                if (s == 3) {
                    oialr.convert(net, opt, b);
                }
                var tape = new dev.oialr4j.autograd.Tape(b);
                var ops = new dev.oialr4j.autograd.Ops(tape);
                for (var p : net.parameters()) {
                    p.zeroGrad();
                }
                opt.zeroGrad();
                var loss = ops.crossEntropy(net.forward(ops,
                        dev.oialr4j.autograd.Variable.constant(b.fromHost(x, 5, 1, 8, 8))), labels, 0.1f);
                tape.backward(loss);
                opt.step();
                losses[k][s] = b.toHost(loss.value())[0];
            }
        }
        for (int s = 0; s < 5; s++) {
            if (!(Math.abs(losses[0][s] - losses[1][s]) <= 1e-4 * Math.abs(losses[0][s]))) {
                return "step " + s + ": loss " + losses[1][s] + " on CUDA, " + losses[0][s] + " on CPU";
            }
        }
        return null;
    }

    /** A (m × r) · S (r × r) · Bᵀ (B is n × r), in double. */
    private static double[] product(float[] a, Object s, float[] b, int m, int r, int n) {
        double[] sd = new double[r * r];
        for (int i = 0; i < r * r; i++) {
            sd[i] = s instanceof float[] f ? f[i] : ((double[]) s)[i];
        }
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int p = 0; p < r; p++) {
                    for (int q = 0; q < r; q++) {
                        acc += a[i * r + p] * sd[p * r + q] * b[j * r + q];
                    }
                }
                out[i * n + j] = acc;
            }
        }
        return out;
    }

    private static String gemm(CpuBackend cpu, CudaBackend cuda, boolean ta, boolean tb, int m, int n, int k,
            float alpha, float beta) {
        int[] ad = ta ? new int[] {k, m} : new int[] {m, k};
        int[] bd = tb ? new int[] {n, k} : new int[] {k, n};
        float[] a = random(m * k);
        float[] b = random(k * n);
        float[] c = random(m * n);
        Tensor cc = Tensor.of(c.clone(), m, n);
        cpu.gemm(ta, tb, alpha, Tensor.of(a, ad), Tensor.of(b, bd), beta, cc);
        Tensor gc = cuda.fromHost(c, m, n);
        cuda.gemm(ta, tb, alpha, cuda.fromHost(a, ad), cuda.fromHost(b, bd), beta, gc);
        return close(cc.data(), cuda.toHost(gc), 1e-5);
    }

    /** Names of the checks of {@link #spiOpChecks}, in order (FakeDriverTest expects them). */
    static final List<String> OIALR_CHECKS = Arrays.stream(dev.oialr4j.oialr.StatePolicy.values())
            .map(p -> "oialr-round-on-device-" + p.name().toLowerCase(java.util.Locale.ROOT)).toList();

    static final List<String> SPI_OP_CHECKS = List.of("im2col-col2im", "conv2d-chunks-groups", "conv2d-1x1-no-bias",
            "max-avg-global-pool", "batch-norm-train-eval", "batch-norm-one-slice", "layer-norm", "batched-gemm", "attention-masked",
            "multi-head-attention", "permute-narrow", "drop-path-scale-samples", "column-sums-two-stage");

    /** A host tensor and the same values on the device. */
    private record Pair(Tensor host, Tensor dev) {
        static Pair random(CudaBackend cuda, int... dims) {
            int n = 1;
            for (int d : dims) {
                n *= d;
            }
            float[] a = FakeBackendMain.random(n);
            return new Pair(Tensor.of(a.clone(), dims), cuda.fromHost(a, dims));
        }

        static Pair zeros(CudaBackend cuda, int... dims) {
            return new Pair(Tensor.zeros(dims), cuda.zeros(dims));
        }
    }

    private static String first(String... errors) {
        for (String e : errors) {
            if (e != null) {
                return e;
            }
        }
        return null;
    }

    private static String closeTo(String what, Pair p, CudaBackend cuda, double rel) {
        String e = close(p.host().data(), cuda.toHost(p.dev()), rel);
        return e == null ? null : what + ": " + e;
    }

    private static String sameAs(String what, Pair p, CudaBackend cuda) {
        String e = same(p.host().data(), cuda.toHost(p.dev()));
        return e == null ? null : what + ": " + e;
    }

    /**
     * Every Backend op of the convolution and transformer blocks, on the stand-in kernels and cuBLAS, against
     * CpuBackend on fresh random inputs: checks the backend's launch arguments, strides, chunking and GEMM
     * layouts (the kernels themselves are checked on a GPU by CudaKernelsGpuTest). Copies and pooling are
     * compared bit for bit; sums to 1e-5 of the largest value.
     */
    private static void spiOpChecks(CpuBackend cpu, CudaBackend cuda) {
        check("im2col-col2im", () -> {
            Conv2dGeometry g = Conv2dGeometry.of(new int[] {3, 4, 6, 5}, new int[] {6, 2, 3, 2},
                    new Conv2dOptions(2, 1, 1, 1, 1, 2, 2));
            Pair x = Pair.random(cuda, g.inputDims());
            int cols = g.patchSize() * 2 * g.outHeight() * g.outWidth();
            Pair c = Pair.zeros(cuda, cols);
            cpu.im2col(x.host(), g, 1, 2, 1, c.host());
            cuda.im2col(x.dev(), g, 1, 2, 1, c.dev());
            Pair back = Pair.random(cuda, g.inputDims());
            Pair src = Pair.random(cuda, cols);
            cpu.col2im(src.host(), g, 1, 2, 1, back.host());
            cuda.col2im(src.dev(), g, 1, 2, 1, back.dev());
            return first(sameAs("im2col", c, cuda), closeTo("col2im", back, cuda, 1e-6));
        });
        check("conv2d-chunks-groups", () -> {
            long budget = CudaBackend.convColumnBudget;
            CudaBackend.convColumnBudget = 200; // forces chunks of one or two images
            try {
                return conv(cpu, cuda, new int[] {5, 4, 7, 6}, new int[] {6, 2, 3, 3}, new Conv2dOptions(2, 1, 1, 2, 1, 2, 2),
                        true, 0.5f);
            } finally {
                CudaBackend.convColumnBudget = budget;
            }
        });
        check("conv2d-1x1-no-bias", () -> conv(cpu, cuda, new int[] {4, 5, 4, 4}, new int[] {3, 5, 1, 1},
                Conv2dOptions.of(1, 0, 1, 1), false, 0f));
        check("max-avg-global-pool", () -> {
            Pool2dGeometry g = Pool2dGeometry.of(new int[] {2, 3, 7, 6}, 3, 2, 1);
            Pair x = Pair.random(cuda, g.inputDims());
            // Ties: a repeated value in every plane, so the first-maximum rule matters.
            float[] hx = cuda.toHost(x.dev());
            for (int p = 0; p < 6; p++) {
                hx[p * 42 + 1] = hx[p * 42] = 3f;
            }
            x = new Pair(Tensor.of(hx.clone(), g.inputDims()), cuda.fromHost(hx, g.inputDims()));
            Pair dy = Pair.random(cuda, g.outputDims());
            Pair mp = Pair.zeros(cuda, g.outputDims());
            Pair ap = Pair.zeros(cuda, g.outputDims());
            Pair mdx = Pair.random(cuda, g.inputDims());
            Pair adx = Pair.random(cuda, g.inputDims());
            cpu.maxPool2d(x.host(), g, mp.host());
            cuda.maxPool2d(x.dev(), g, mp.dev());
            cpu.maxPool2dBackward(x.host(), dy.host(), g, mdx.host());
            cuda.maxPool2dBackward(x.dev(), dy.dev(), g, mdx.dev());
            cpu.avgPool2d(x.host(), g, ap.host());
            cuda.avgPool2d(x.dev(), g, ap.dev());
            cpu.avgPool2dBackward(dy.host(), g, adx.host());
            cuda.avgPool2dBackward(dy.dev(), g, adx.dev());
            Pair gp = Pair.zeros(cuda, 2, 3);
            cpu.globalAvgPool(x.host(), gp.host());
            cuda.globalAvgPool(x.dev(), gp.dev());
            Pair gdy = Pair.random(cuda, 2, 3);
            Pair gdx = Pair.random(cuda, g.inputDims());
            cpu.globalAvgPoolBackward(gdy.host(), gdx.host());
            cuda.globalAvgPoolBackward(gdy.dev(), gdx.dev());
            return first(sameAs("maxPool", mp, cuda), sameAs("maxPool dx", mdx, cuda), closeTo("avgPool", ap, cuda, 1e-6),
                    closeTo("avgPool dx", adx, cuda, 1e-6), closeTo("globalAvgPool", gp, cuda, 1e-6),
                    sameAs("globalAvgPool dx", gdx, cuda));
        });
        check("batch-norm-train-eval", () -> {
            int slice = CudaBackend.batchNormSliceElements;
            CudaBackend.batchNormSliceElements = 7; // 140 values per channel in 6 uneven slices
            try {
                return batchNormAgainstCpu(cpu, cuda);
            } finally {
                CudaBackend.batchNormSliceElements = slice;
            }
        });
        check("batch-norm-one-slice", () -> batchNormAgainstCpu(cpu, cuda));
        check("layer-norm", () -> {
            Pair x = Pair.random(cuda, 7, 19);
            Pair gamma = Pair.random(cuda, 19);
            Pair beta = Pair.random(cuda, 19);
            Pair y = Pair.zeros(cuda, 7, 19);
            Pair mean = Pair.zeros(cuda, 7);
            Pair rstd = Pair.zeros(cuda, 7);
            cpu.layerNorm(x.host(), gamma.host(), beta.host(), 1e-5f, y.host(), mean.host(), rstd.host());
            cuda.layerNorm(x.dev(), gamma.dev(), beta.dev(), 1e-5f, y.dev(), mean.dev(), rstd.dev());
            Pair dy = Pair.random(cuda, 7, 19);
            Pair dx = Pair.zeros(cuda, 7, 19);
            Pair dg = Pair.zeros(cuda, 19);
            Pair db = Pair.zeros(cuda, 19);
            cpu.layerNormBackward(x.host(), gamma.host(), mean.host(), rstd.host(), dy.host(), dx.host(), dg.host(),
                    db.host());
            cuda.layerNormBackward(x.dev(), gamma.dev(), mean.dev(), rstd.dev(), dy.dev(), dx.dev(), dg.dev(), db.dev());
            return first(closeTo("y", y, cuda, 1e-5), closeTo("mean", mean, cuda, 1e-6), closeTo("rstd", rstd, cuda, 1e-5),
                    closeTo("dx", dx, cuda, 1e-5), closeTo("dgamma", dg, cuda, 1e-5), closeTo("dbeta", db, cuda, 1e-5));
        });
        check("batched-gemm", () -> {
            String err = null;
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    Pair a = ta ? Pair.random(cuda, 3, 5, 4) : Pair.random(cuda, 3, 4, 5);
                    Pair b = tb ? Pair.random(cuda, 3, 6, 5) : Pair.random(cuda, 3, 5, 6);
                    Pair c = Pair.random(cuda, 3, 4, 6);
                    cpu.batchedGemm(ta, tb, 0.75f, a.host(), b.host(), 0.5f, c.host());
                    cuda.batchedGemm(ta, tb, 0.75f, a.dev(), b.dev(), 0.5f, c.dev());
                    err = first(err, closeTo("op " + ta + "/" + tb, c, cuda, 1e-5));
                }
            }
            return err;
        });
        check("attention-masked", () -> {
            int batch = 3, tq = 5, tk = 6, dh = 4, dv = 3;
            float[] m = new float[tq * tk];
            for (int i = 0; i < tq; i++) {
                for (int j = 0; j < tk; j++) {
                    m[i * tk + j] = j > i + 1 ? Float.NEGATIVE_INFINITY : (i + j) * 0.1f;
                }
            }
            Pair mask = new Pair(Tensor.of(m.clone(), tq, tk), cuda.fromHost(m, tq, tk));
            Pair q = Pair.random(cuda, batch, tq, dh);
            Pair k = Pair.random(cuda, batch, tk, dh);
            Pair v = Pair.random(cuda, batch, tk, dv);
            Pair probs = Pair.zeros(cuda, batch, tq, tk);
            Pair out = Pair.zeros(cuda, batch, tq, dv);
            cpu.attention(q.host(), k.host(), v.host(), mask.host(), 0.5f, probs.host(), out.host());
            cuda.attention(q.dev(), k.dev(), v.dev(), mask.dev(), 0.5f, probs.dev(), out.dev());
            Pair dOut = Pair.random(cuda, batch, tq, dv);
            Pair dq = Pair.zeros(cuda, batch, tq, dh);
            Pair dk = Pair.zeros(cuda, batch, tk, dh);
            Pair dvv = Pair.zeros(cuda, batch, tk, dv);
            cpu.attentionBackward(q.host(), k.host(), v.host(), probs.host(), dOut.host(), 0.5f, dq.host(), dk.host(),
                    dvv.host());
            cuda.attentionBackward(q.dev(), k.dev(), v.dev(), probs.dev(), dOut.dev(), 0.5f, dq.dev(), dk.dev(), dvv.dev());
            return first(closeTo("probs", probs, cuda, 1e-5), closeTo("out", out, cuda, 1e-5), closeTo("dq", dq, cuda, 1e-5),
                    closeTo("dk", dk, cuda, 1e-5), closeTo("dv", dvv, cuda, 1e-5));
        });
        check("multi-head-attention", () -> {
            int batch = 2, t = 5, heads = 3, d = 4;
            Pair qkv = Pair.random(cuda, batch, t, 3 * heads * d);
            Pair probs = Pair.zeros(cuda, batch * heads, t, t);
            Pair out = Pair.zeros(cuda, batch, t, heads * d);
            cpu.multiHeadAttention(qkv.host(), heads, null, 0.5f, probs.host(), out.host());
            cuda.multiHeadAttention(qkv.dev(), heads, null, 0.5f, probs.dev(), out.dev());
            Pair dOut = Pair.random(cuda, batch, t, heads * d);
            Pair dQkv = Pair.random(cuda, batch, t, 3 * heads * d);
            cpu.multiHeadAttentionBackward(qkv.host(), heads, probs.host(), dOut.host(), 0.5f, dQkv.host());
            cuda.multiHeadAttentionBackward(qkv.dev(), heads, probs.dev(), dOut.dev(), 0.5f, dQkv.dev());
            return first(closeTo("probs", probs, cuda, 1e-5), closeTo("out", out, cuda, 1e-5),
                    closeTo("dQkv", dQkv, cuda, 1e-5));
        });
        check("permute-narrow", () -> {
            Pair x = Pair.random(cuda, 2, 3, 4, 5);
            Pair p1 = Pair.zeros(cuda, 2, 4, 3, 5);
            cpu.permute(x.host(), new int[] {0, 2, 1, 3}, p1.host());
            cuda.permute(x.dev(), new int[] {0, 2, 1, 3}, p1.dev());
            Pair p2 = Pair.zeros(cuda, 5, 2, 3, 4);
            cpu.permute(x.host(), new int[] {3, 0, 1, 2}, p2.host());
            cuda.permute(x.dev(), new int[] {3, 0, 1, 2}, p2.dev());
            Pair y = Pair.random(cuda, 3, 7, 4);
            Pair slice = Pair.zeros(cuda, 3, 2, 4);
            cpu.narrow(y.host(), 4, slice.host());
            cuda.narrow(y.dev(), 4, slice.dev());
            Pair src = Pair.random(cuda, 3, 2, 4);
            cpu.addNarrowed(src.host(), 5, y.host());
            cuda.addNarrowed(src.dev(), 5, y.dev());
            return first(sameAs("permute 0213", p1, cuda), sameAs("permute 3012", p2, cuda), sameAs("narrow", slice, cuda),
                    sameAs("addNarrowed", y, cuda));
        });
        check("drop-path-scale-samples", () -> {
            long seed = RNG.nextLong();
            Pair mask = Pair.zeros(cuda, 257);
            cpu.dropPathMask(0.3f, seed, mask.host());
            cuda.dropPathMask(0.3f, seed, mask.dev());
            Pair x = Pair.random(cuda, 257, 3, 2);
            Pair out = Pair.zeros(cuda, 257, 3, 2);
            Pair maskCopy = new Pair(mask.host(), cuda.fromHost(mask.host().data().clone(), 257));
            cpu.scaleSamples(x.host(), maskCopy.host(), out.host());
            cuda.scaleSamples(x.dev(), maskCopy.dev(), out.dev());
            return first(sameAs("mask", mask, cuda), sameAs("scaled", out, cuda));
        });
        twoStageCheck(cpu, cuda);
    }

    private static void twoStageCheck(CpuBackend cpu, CudaBackend cuda) {
        check("column-sums-two-stage", () -> {
            int rows = CudaBackend.SEQUENTIAL_COLUMN_ROWS + 1000; // past the sequential path, not a chunk multiple
            Pair x = Pair.random(cuda, rows, 37);
            Pair s = Pair.zeros(cuda, 37);
            cpu.sumRows(x.host(), s.host());
            cuda.sumRows(x.dev(), s.dev());
            Pair gamma = Pair.random(cuda, 37);
            Pair beta = Pair.random(cuda, 37);
            Pair y = Pair.zeros(cuda, rows, 37);
            Pair mean = Pair.zeros(cuda, rows);
            Pair rstd = Pair.zeros(cuda, rows);
            cpu.layerNorm(x.host(), gamma.host(), beta.host(), 1e-5f, y.host(), mean.host(), rstd.host());
            cuda.layerNorm(x.dev(), gamma.dev(), beta.dev(), 1e-5f, y.dev(), mean.dev(), rstd.dev());
            Pair dy = Pair.random(cuda, rows, 37);
            Pair dx = Pair.zeros(cuda, rows, 37);
            Pair dg = Pair.zeros(cuda, 37);
            Pair db = Pair.zeros(cuda, 37);
            cpu.layerNormBackward(x.host(), gamma.host(), mean.host(), rstd.host(), dy.host(), dx.host(), dg.host(),
                    db.host());
            cuda.layerNormBackward(x.dev(), gamma.dev(), mean.dev(), rstd.dev(), dy.dev(), dx.dev(), dg.dev(), db.dev());
            return first(closeTo("sumRows", s, cuda, 1e-5), closeTo("dgamma", dg, cuda, 1e-5),
                    closeTo("dbeta", db, cuda, 1e-5), closeTo("dx", dx, cuda, 1e-5));
        });
    }

    private static String conv(CpuBackend cpu, CudaBackend cuda, int[] xd, int[] wd, Conv2dOptions o, boolean bias,
            float dwBeta) {
        Conv2dGeometry g = Conv2dGeometry.of(xd, wd, o);
        Pair x = Pair.random(cuda, g.inputDims());
        Pair w = Pair.random(cuda, g.weightDims());
        Pair b = bias ? Pair.random(cuda, g.outChannels()) : null;
        Pair y = Pair.zeros(cuda, g.outputDims());
        cpu.conv2d(x.host(), w.host(), b == null ? null : b.host(), g, y.host());
        cuda.conv2d(x.dev(), w.dev(), b == null ? null : b.dev(), g, y.dev());
        Pair dy = Pair.random(cuda, g.outputDims());
        Pair dx = Pair.random(cuda, g.inputDims());
        Pair dw = Pair.random(cuda, g.weightDims());
        cpu.conv2dBackward(x.host(), w.host(), dy.host(), g, dx.host(), dw.host(), dwBeta);
        cuda.conv2dBackward(x.dev(), w.dev(), dy.dev(), g, dx.dev(), dw.dev(), dwBeta);
        Pair dwOnly = Pair.random(cuda, g.weightDims());
        cpu.conv2dBackward(x.host(), w.host(), dy.host(), g, null, dwOnly.host(), 0f);
        cuda.conv2dBackward(x.dev(), w.dev(), dy.dev(), g, null, dwOnly.dev(), 0f);
        return first(closeTo("y", y, cuda, 1e-5), closeTo("dx", dx, cuda, 1e-5), closeTo("dw", dw, cuda, 1e-5),
                closeTo("dw without dx", dwOnly, cuda, 1e-5));
    }

    /**
     * One OIALR update round of the same model on CpuBackend (host path, double) and on the stand-in CUDA
     * backend, which Oialr dispatches to {@link CudaSigmaRound} through {@code DeviceSigmaRound.Provider}
     * (the stand-in counts the cuSOLVER SVDs): after training steps, conversion and more steps (so Σ is dense
     * and AdamW has moments) on each, the CPU's factors and moments are copied into the CUDA model, and both
     * rounds must reach the same ranks, the same σ, the same U Σ Vᵀ, orthonormal bases, and the same optimizer
     * state under the policy (rotated moments compared after aligning the SVDs' column signs).
     */
    private static String oialrRound(CpuBackend cpu, CudaBackend cuda, dev.oialr4j.oialr.StatePolicy policy) {
        float[] x = random(32 * 20);
        int[] labels = RNG.ints(32, 0, 7).toArray();
        dev.oialr4j.backend.Backend[] backends = {cpu, cuda};
        List<List<float[]>> results = new ArrayList<>();
        List<int[]> ranks = new ArrayList<>();
        List<List<float[]>> befores = new ArrayList<>();
        List<float[][]> start = new ArrayList<>();
        for (var b : backends) {
            var net = dev.oialr4j.nn.models.Mlp.builder().inputs(20).hidden(48, 40, 36).outputs(7).seed(9).build();
            net.to(b);
            var opt = new dev.oialr4j.optim.AdamW(b, dev.oialr4j.optim.ParamGroup.decayMatricesOnly(net.parameters(),
                    0.05), 1e-2);
            var oialr = new dev.oialr4j.oialr.Oialr(dev.oialr4j.oialr.OialrConfig.builder().rolloutFraction(1.0)
                    .cutoffFraction(0.3).statePolicy(policy).build());
            for (int s = 0; s < 6; s++) {
                if (s == 3) {
                    oialr.convert(net, opt, b);
                }
                var tape = new dev.oialr4j.autograd.Tape(b);
                var ops = new dev.oialr4j.autograd.Ops(tape);
                for (var p : net.parameters()) {
                    p.zeroGrad();
                }
                opt.zeroGrad();
                var loss = ops.crossEntropy(net.forward(ops, dev.oialr4j.autograd.Variable.constant(b.fromHost(x, 32, 20))),
                        labels, 0.1f);
                tape.backward(loss);
                opt.step();
            }
            // Both rounds start from the CPU's factors and moments, so that only the rounds differ (the two
            // trainings agree to fp32 rounding, which the rank cut could amplify).
            int li = 0;
            for (var mod : net.namedModules().values()) {
                if (mod instanceof dev.oialr4j.lowrank.LowRankLinear l
                        && opt.state(l.sigma()) instanceof dev.oialr4j.optim.ParamState.Adam adam) {
                    if (b == cpu) {
                        start.add(new float[][] {b.toHost(l.u().value()), b.toHost(l.sigma().value()),
                            b.toHost(l.v().value()), b.toHost(adam.m), b.toHost(adam.v)});
                    } else {
                        float[][] st = start.get(li++);
                        int r0 = l.rank();
                        l.u().setValue(b.fromHost(st[0], l.outFeatures(), r0));
                        l.sigma().setValue(b.fromHost(st[1], r0, r0));
                        l.v().setValue(b.fromHost(st[2], l.inFeatures(), r0));
                        opt.setState(l.sigma(), new dev.oialr4j.optim.ParamState.Adam(b.fromHost(st[3], r0, r0),
                                b.fromHost(st[4], r0, r0), adam.step));
                    }
                }
            }
            List<float[]> before = new ArrayList<>(); // U, V and Adam's first moment before the round
            for (var mod : net.namedModules().values()) {
                if (mod instanceof dev.oialr4j.lowrank.LowRankLinear l
                        && opt.state(l.sigma()) instanceof dev.oialr4j.optim.ParamState.Adam adam) {
                    before.add(b.toHost(l.u().value()));
                    before.add(b.toHost(l.v().value()));
                    before.add(b.toHost(adam.m));
                }
            }
            befores.add(before);
            int svdsBefore = svdMatrices();
            oialr.updateRound(opt, b);
            // The dispatch itself: on CUDA the three Σ go to cuSOLVER (the stand-in counts them), on the CPU none.
            int svds = svdMatrices() - svdsBefore;
            if (svds != (b == cuda ? 3 : 0)) {
                return svds + " cuSOLVER SVDs in the round on " + b.name();
            }
            List<float[]> out = new ArrayList<>();
            List<Integer> rk = new ArrayList<>();
            for (var mod : net.namedModules().values()) {
                if (mod instanceof dev.oialr4j.lowrank.LowRankLinear l) {
                    out.add(b.toHost(l.u().value()));
                    out.add(b.toHost(l.sigma().value()));
                    out.add(b.toHost(l.v().value()));
                    var st = opt.state(l.sigma());
                    if (st instanceof dev.oialr4j.optim.ParamState.Adam adam) {
                        out.add(b.toHost(adam.m));
                        out.add(b.toHost(adam.v));
                        out.add(new float[] {adam.step});
                    } else {
                        return "no Adam state after the round on " + b.name();
                    }
                    rk.add(l.rank());
                    rk.add(l.outFeatures());
                    rk.add(l.inFeatures());
                }
            }
            results.add(out);
            ranks.add(rk.stream().mapToInt(Integer::intValue).toArray());
        }
        if (!Arrays.equals(ranks.get(0), ranks.get(1))) {
            return "ranks/shapes " + Arrays.toString(ranks.get(1)) + " on CUDA, " + Arrays.toString(ranks.get(0)) + " on CPU";
        }
        int[] rk = ranks.get(0);
        boolean cut = false;
        for (int l = 0; l < rk.length / 3; l++) {
            int r = rk[3 * l];
            int m = rk[3 * l + 1];
            int n = rk[3 * l + 2];
            cut |= r < Math.min(m, n);
            float[][] c = results.get(0).subList(6 * l, 6 * l + 6).toArray(new float[0][]);
            float[][] g = results.get(1).subList(6 * l, 6 * l + 6).toArray(new float[0][]);
            String e = close(c[1], g[1], 1e-4);
            if (e != null) {
                return "layer " + l + " Σ: " + e;
            }
            double[] pc = product(c[0], c[1], c[2], m, r, n);
            double[] pg = product(g[0], g[1], g[2], m, r, n);
            float[] fg = new float[pg.length];
            for (int i = 0; i < pg.length; i++) {
                fg[i] = (float) pg[i];
            }
            e = close(toFloat(pc), fg, 1e-4);
            if (e != null) {
                return "layer " + l + " U Σ Vᵀ: " + e;
            }
            for (float[] basis : new float[][] {g[0], g[2]}) {
                int rows = basis.length / r;
                Tensor t = cuda.fromHost(basis, rows, r);
                try (var round = cuda.openSigmaRound()) {
                    double err = round.orthogonalityError(t);
                    double hostErr = orthoError(basis, rows, r);
                    if (!(err < 1e-5) || Math.abs(err - hostErr) > 1e-6) {
                        return "layer " + l + " basis orthogonality " + err + " (host " + hostErr + ")";
                    }
                }
            }
            // The first moment: sliced or reset, it must equal the host's; rotated, it must be Pᵀ M Q with the
            // device's own P[:, :r'] = U_oldᵀ U_new and Q[:, :r'] = V_oldᵀ V_new (the host's P and Q may differ
            // from them where singular values are close, so the two rotated moments are not compared directly).
            float[] mAligned = c[3];
            if (policy == dev.oialr4j.oialr.StatePolicy.ROTATE) {
                float[] u0 = befores.get(1).get(3 * l);
                float[] v0 = befores.get(1).get(3 * l + 1);
                float[] m0 = befores.get(1).get(3 * l + 2);
                int r0 = u0.length / m;
                double[] pp = new double[r0 * r];
                double[] qq = new double[r0 * r];
                for (int i = 0; i < r0; i++) {
                    for (int j = 0; j < r; j++) {
                        for (int k = 0; k < m; k++) {
                            pp[i * r + j] += (double) u0[k * r0 + i] * g[0][k * r + j];
                        }
                        for (int k = 0; k < n; k++) {
                            qq[i * r + j] += (double) v0[k * r0 + i] * g[2][k * r + j];
                        }
                    }
                }
                double[] want = new double[r * r];
                for (int i = 0; i < r; i++) {
                    for (int j = 0; j < r; j++) {
                        double acc = 0;
                        for (int a = 0; a < r0; a++) {
                            for (int bb = 0; bb < r0; bb++) {
                                acc += pp[a * r + i] * m0[a * r0 + bb] * qq[bb * r + j];
                            }
                        }
                        want[i * r + j] = acc;
                    }
                }
                mAligned = toFloat(want);
            }
            e = first(close(mAligned, g[3], 1e-4), close(c[4], g[4], 1e-4), c[5][0] == g[5][0] ? null
                    : "step " + g[5][0] + " instead of " + c[5][0]);
            if (e != null) {
                return "layer " + l + " optimizer state (" + policy + "): " + e;
            }
            if (policy != dev.oialr4j.oialr.StatePolicy.RESET && c[5][0] == 0) {
                return "layer " + l + ": Adam step lost under " + policy;
            }
        }
        return cut ? null : "no layer was cut: the round did not exercise truncation";
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        return f;
    }

    private static double orthoError(float[] a, int m, int r) {
        double worst = 0;
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                double g = 0;
                for (int k = 0; k < m; k++) {
                    g += (double) a[k * r + i] * a[k * r + j];
                }
                worst = Math.max(worst, Math.abs(g - (i == j ? 1 : 0)));
            }
        }
        return worst;
    }

    private static void check(String name, Supplier<String> body) {
        String failure;
        try {
            failure = body.get();
        } catch (RuntimeException e) {
            failure = e.toString();
        }
        LINES.add(name + ": " + (failure == null ? "ok" : "FAIL " + failure));
    }

    private static float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) RNG.nextGaussian();
        }
        return a;
    }

    private static String same(float[] want, float[] got) {
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                return "element " + i + ": " + got[i] + " instead of " + want[i];
            }
        }
        return want.length == got.length ? null : "length " + got.length + " instead of " + want.length;
    }

    private static String close(float[] want, float[] got, double rel) {
        double scale = 0;
        for (float w : want) {
            scale = Math.max(scale, Math.abs(w));
        }
        for (int i = 0; i < want.length; i++) {
            if (!(Math.abs(want[i] - got[i]) <= rel * Math.max(scale, 1e-30))) { // NaN fails too
                return "element " + i + ": " + got[i] + " instead of " + want[i];
            }
        }
        return null;
    }

    /** A counter function the stand-in library behind {@code property} exports for the checks. */
    @SuppressWarnings("restricted")
    private static MethodHandle standIn(String property, String symbol, FunctionDescriptor type) {
        var lib = SymbolLookup.libraryLookup(System.getProperty(property), Arena.global());
        return Linker.nativeLinker().downcallHandle(lib.findOrThrow(symbol), type);
    }

    private static long liveBytes() {
        try {
            return (long) standIn(DriverLibrary.LIBRARY_PROPERTY, "fake_cuda_live_bytes", FunctionDescriptor.of(JAVA_LONG))
                    .invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int hostAllocs() {
        try {
            return (int) standIn(DriverLibrary.LIBRARY_PROPERTY, "fake_cuda_host_allocs", FunctionDescriptor.of(JAVA_INT))
                    .invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int retains(int ordinal) {
        try {
            return (int) standIn(DriverLibrary.LIBRARY_PROPERTY, "fake_cuda_retains",
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT)).invokeExact(ordinal);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int svdMatrices() {
        try {
            return (int) standIn(Cusolver.LIBRARY_PROPERTY, "fake_cusolver_svd_matrices", FunctionDescriptor.of(JAVA_INT))
                    .invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int lastComputeType() {
        try {
            return (int) standIn(Cublas.LIBRARY_PROPERTY, "fake_cublas_last_compute_type", FunctionDescriptor.of(JAVA_INT))
                    .invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static String batchNormAgainstCpu(CpuBackend cpu, CudaBackend cuda) {
        int[] dims = {4, 3, 5, 7};
        Pair x = Pair.random(cuda, dims);
        Pair gamma = Pair.random(cuda, 3);
        Pair beta = Pair.random(cuda, 3);
        Pair rm = Pair.random(cuda, 3);
        Pair rv = new Pair(Tensor.of(new float[] {0.5f, 1f, 2f}, 3), cuda.fromHost(new float[] {0.5f, 1f, 2f}, 3));
        String err = null;
        for (boolean training : new boolean[] {true, false}) {
            Pair y = Pair.zeros(cuda, dims);
            Pair sm = Pair.zeros(cuda, 3);
            Pair si = Pair.zeros(cuda, 3);
            cpu.batchNorm2d(x.host(), gamma.host(), beta.host(), rm.host(), rv.host(), training, 0.1f, 1e-5f, y.host(),
                    sm.host(), si.host());
            cuda.batchNorm2d(x.dev(), gamma.dev(), beta.dev(), rm.dev(), rv.dev(), training, 0.1f, 1e-5f, y.dev(),
                    sm.dev(), si.dev());
            Pair dy = Pair.random(cuda, dims);
            Pair dx = Pair.zeros(cuda, dims);
            Pair dg = Pair.zeros(cuda, 3);
            Pair db = Pair.zeros(cuda, 3);
            cpu.batchNorm2dBackward(x.host(), dy.host(), gamma.host(), sm.host(), si.host(), training, dx.host(),
                    dg.host(), db.host());
            cuda.batchNorm2dBackward(x.dev(), dy.dev(), gamma.dev(), sm.dev(), si.dev(), training, dx.dev(), dg.dev(),
                    db.dev());
            String mode = training ? "training " : "evaluation ";
            err = first(err, closeTo(mode + "y", y, cuda, 1e-5), closeTo(mode + "running mean", rm, cuda, 1e-6),
                    closeTo(mode + "running var", rv, cuda, 1e-6), closeTo(mode + "dx", dx, cuda, 1e-5),
                    closeTo(mode + "dgamma", dg, cuda, 1e-5), closeTo(mode + "dbeta", db, cuda, 1e-5));
        }
        return err;
    }
}
