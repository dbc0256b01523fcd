package dev.oialr4j.oialr;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.ReLU;
import dev.oialr4j.nn.Sequential;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.optim.Sgd;
import dev.oialr4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;

/** Models, training steps and independent double-precision references for the OIALR tests. */
final class OialrTestSupport {

    private OialrTestSupport() {
    }

    /** Linear layers with ReLUs between them inside a Sequential named {@code layers}: layers.0, layers.2, … */
    static final class Net extends Module {
        final Sequential layers;

        Net(long seed, int... widths) {
            SplittableRandom rng = new SplittableRandom(seed);
            List<Module> list = new ArrayList<>();
            for (int i = 0; i + 1 < widths.length; i++) {
                if (i > 0) {
                    list.add(new ReLU());
                }
                list.add(new Linear(widths[i], widths[i + 1], true, rng));
            }
            layers = registerModule("layers", new Sequential(list));
        }

        @Override
        public Variable forward(Ops ops, Variable x) {
            return layers.forward(ops, x);
        }

        /** The child {@code layers.<index>}. */
        Module child(int index) {
            return layers.get(index);
        }

        LowRankLinear lowRank(int index) {
            return (LowRankLinear) layers.get(index);
        }

        Linear linear(int index) {
            return (Linear) layers.get(index);
        }
    }

    /** Which optimizer a test runs with. */
    enum Opt {
        ADAMW, SGD_MOMENTUM;

        Optimizer create(Backend be, Module model, double lr, double weightDecay) {
            List<ParamGroup> groups = ParamGroup.decayMatricesOnly(model.parameters(), weightDecay);
            return switch (this) {
                case ADAMW -> new AdamW(be, groups, lr);
                case SGD_MOMENTUM -> new Sgd(be, groups, lr, 0.9, false);
            };
        }
    }

    static Tensor gaussian(Backend be, SplittableRandom rng, int... dims) {
        int n = 1;
        for (int d : dims) {
            n *= d;
        }
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) nextGaussian(rng);
        }
        return be.fromHost(f, dims);
    }

    static double nextGaussian(SplittableRandom rng) {
        double u1 = rng.nextDouble();
        double u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    static int[] labels(SplittableRandom rng, int n, int classes) {
        int[] l = new int[n];
        for (int i = 0; i < n; i++) {
            l[i] = rng.nextInt(classes);
        }
        return l;
    }

    /** One training step as the Trainer does it: all model gradients marked stale, forward, backward, update. */
    static double trainStep(Module model, Optimizer opt, Backend be, Tensor x, int[] labels) {
        for (Parameter p : model.parameters()) {
            p.zeroGrad();
        }
        opt.zeroGrad();
        Tape tape = new Tape(be);
        Ops ops = new Ops(tape);
        Variable loss = ops.crossEntropy(model.forward(ops, Variable.constant(x)), labels, 0f);
        tape.backward(loss);
        opt.step();
        return be.toHost(loss.value())[0];
    }

    static float[] forward(Module model, Backend be, Tensor x) {
        Ops ops = new Ops(new Tape(be));
        return be.toHost(model.forward(ops, Variable.constant(x)).value());
    }

    static double[] host(Backend be, Tensor t) {
        return toDouble(be.toHost(t));
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    /** C = A (m×k) · B (k×n), row-major, naive. */
    static double[] mul(double[] a, double[] b, int m, int k, int n) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int p = 0; p < k; p++) {
                double av = a[i * k + p];
                for (int j = 0; j < n; j++) {
                    c[i * n + j] += av * b[p * n + j];
                }
            }
        }
        return c;
    }

    static double[] transpose(double[] a, int m, int n) {
        double[] t = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                t[j * m + i] = a[i * n + j];
            }
        }
        return t;
    }

    /** U Σ Vᵀ (out × in) of a low-rank layer, in double from its float factors. */
    static double[] product(Backend be, LowRankLinear l) {
        int m = l.outFeatures();
        int n = l.inFeatures();
        int r = l.rank();
        double[] us = mul(host(be, l.u().value()), host(be, l.sigma().value()), m, r, r);
        return mul(us, transpose(host(be, l.v().value()), n, r), m, r, n);
    }

    /** max |AᵀA − I| over the k columns of a rows × k row-major matrix. */
    static double orthonormalityError(double[] a, int rows, int k) {
        double worst = 0;
        for (int i = 0; i < k; i++) {
            for (int j = i; j < k; j++) {
                double dot = 0;
                for (int p = 0; p < rows; p++) {
                    dot += a[p * k + i] * a[p * k + j];
                }
                worst = Math.max(worst, Math.abs(dot - (i == j ? 1 : 0)));
            }
        }
        return worst;
    }

    static double frobenius(double[] a) {
        double s = 0;
        for (double x : a) {
            s += x * x;
        }
        return Math.sqrt(s);
    }

    /** ‖actual − expected‖_F / ‖expected‖_F. */
    static double relativeError(double[] expected, double[] actual) {
        if (expected.length != actual.length) {
            throw new AssertionError("lengths differ: " + expected.length + " vs " + actual.length);
        }
        double num = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = expected[i] - actual[i];
            num += d * d;
        }
        double den = frobenius(expected);
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num) / den;
    }

    /** The top-left r×r block of an n×n matrix. */
    static double[] block(double[] a, int n, int r) {
        double[] out = new double[r * r];
        for (int i = 0; i < r; i++) {
            System.arraycopy(a, i * n, out, i * r, r);
        }
        return out;
    }

    /** EJML's SVD: the best rank-r approximation of the m×n matrix a, and its singular values. */
    record Truncation(double[] approx, double[] singularValues) {
    }

    static Truncation ejmlTruncation(double[] a, int m, int n, int r) {
        var svd = DecompositionFactory_DDRM.svd(m, n, true, true, false);
        if (!svd.decompose(new DMatrixRMaj(m, n, true, a.clone()))) {
            throw new AssertionError("EJML SVD failed");
        }
        double[] s = svd.getSingularValues().clone();
        DMatrixRMaj u = svd.getU(null, false); // m × k
        DMatrixRMaj v = svd.getV(null, false); // n × k
        int k = Math.min(m, n);
        Integer[] order = new Integer[k];
        for (int i = 0; i < k; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (x, y) -> Double.compare(s[y], s[x]));
        double[] approx = new double[m * n];
        for (int t = 0; t < r; t++) {
            int c = order[t];
            for (int i = 0; i < m; i++) {
                double ui = u.get(i, c) * s[c];
                for (int j = 0; j < n; j++) {
                    approx[i * n + j] += ui * v.get(j, c);
                }
            }
        }
        double[] sorted = new double[k];
        for (int i = 0; i < k; i++) {
            sorted[i] = s[order[i]];
        }
        return new Truncation(approx, sorted);
    }

    /** A random k×k orthogonal matrix from EJML's QR of a Gaussian matrix. */
    static double[] randomOrthogonal(Random rnd, int k) {
        double[] g = new double[k * k];
        for (int i = 0; i < g.length; i++) {
            g[i] = rnd.nextGaussian();
        }
        var qr = DecompositionFactory_DDRM.qr(k, k);
        if (!qr.decompose(new DMatrixRMaj(k, k, true, g))) {
            throw new AssertionError("EJML QR failed");
        }
        return qr.getQ(null, true).data.clone();
    }

    /** A · diag(d) · Bᵀ for k×k A and B. */
    static double[] compose(double[] a, double[] d, double[] b, int k) {
        double[] ad = new double[k * k];
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                ad[i * k + j] = a[i * k + j] * d[j];
            }
        }
        return mul(ad, transpose(b, k, k), k, k, k);
    }
}
