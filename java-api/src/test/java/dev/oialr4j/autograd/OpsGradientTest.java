package dev.oialr4j.autograd;

import dev.oialr4j.backend.CounterRandom;
import dev.oialr4j.backend.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A finite-difference gradient check for every differentiable op, each against its own naive
 * double-precision reference. Tolerances: forward 1e-5 relative (float32 rounding), gradients 2e-3
 * relative in the 2-norm (float32 analytic vs double central differences). Each test asserts both
 * through {@link GradCheck#check}.
 */
class OpsGradientTest {

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

    private static final boolean[] ALL2 = {true, true};
    private static final boolean[] ALL3 = {true, true, true};
    private static final boolean[] ONE = {true};

    /** Naive (m×k)·(k×n) on row-major arrays with optional transposed storage. */
    static double[] matmul(double[] a, boolean ta, double[] b, boolean tb, int m, int k, int n) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double av = ta ? a[p * m + i] : a[i * k + p];
                    double bv = tb ? b[j * k + p] : b[p * n + j];
                    s += av * bv;
                }
                c[i * n + j] = s;
            }
        }
        return c;
    }

    @ParameterizedTest(name = "matmul transA={0} transB={1}")
    @CsvSource({"false,false", "true,false", "false,true", "true,true"})
    void matmul(boolean ta, boolean tb) {
        int m = 5;
        int k = 7;
        int n = 3;
        int[] sa = ta ? new int[] {k, m} : new int[] {m, k};
        int[] sb = tb ? new int[] {n, k} : new int[] {k, n};
        GradCheck.check(be, "matmul", 11, new int[][] {sa, sb}, ALL2, GradCheck.UNIFORM,
                (ops, in) -> ops.matmul(in[0], ta, in[1], tb),
                x -> matmul(x[0], ta, x[1], tb, m, k, n), FWD, GRAD);
    }

    @Test
    void linearWithBias() {
        int rows = 6;
        int in = 5;
        int out = 4;
        GradCheck.check(be, "linear", 12, new int[][] {{rows, in}, {out, in}, {out}}, ALL3, GradCheck.UNIFORM,
                (ops, v) -> ops.linear(v[0], v[1], v[2]),
                x -> {
                    double[] y = matmul(x[0], false, x[1], true, rows, in, out);
                    for (int i = 0; i < rows; i++) {
                        for (int j = 0; j < out; j++) {
                            y[i * out + j] += x[2][j];
                        }
                    }
                    return y;
                }, FWD, GRAD);
    }

    @Test
    void linearWithoutBiasOn3dInput() {
        int in = 3;
        int out = 2;
        GradCheck.check(be, "linear no bias", 13, new int[][] {{2, 3, in}, {out, in}}, ALL2, GradCheck.UNIFORM,
                (ops, v) -> ops.linear(v[0], v[1], null),
                x -> matmul(x[0], false, x[1], true, 6, in, out), FWD, GRAD);
    }

    @Test
    void addRowVector() {
        GradCheck.check(be, "addRowVector", 14, new int[][] {{4, 3}, {3}}, ALL2, GradCheck.UNIFORM,
                (ops, v) -> ops.addRowVector(v[0], v[1]),
                x -> {
                    double[] y = x[0].clone();
                    for (int i = 0; i < y.length; i++) {
                        y[i] += x[1][i % 3];
                    }
                    return y;
                }, FWD, GRAD);
    }

    @Test
    void addAndMul() {
        GradCheck.check(be, "add", 15, new int[][] {{3, 4}, {3, 4}}, ALL2, GradCheck.UNIFORM,
                (ops, v) -> ops.add(v[0], v[1]),
                x -> {
                    double[] y = new double[12];
                    for (int i = 0; i < 12; i++) {
                        y[i] = x[0][i] + x[1][i];
                    }
                    return y;
                }, FWD, GRAD);
        GradCheck.check(be, "mul", 16, new int[][] {{3, 4}, {3, 4}}, ALL2, GradCheck.UNIFORM,
                (ops, v) -> ops.mul(v[0], v[1]),
                x -> {
                    double[] y = new double[12];
                    for (int i = 0; i < 12; i++) {
                        y[i] = x[0][i] * x[1][i];
                    }
                    return y;
                }, FWD, GRAD);
    }

    @Test
    void sameVariableUsedTwiceAccumulates() {
        GradCheck.check(be, "x*x+x", 17, new int[][] {{5}}, ONE, GradCheck.UNIFORM,
                (ops, v) -> ops.add(ops.mul(v[0], v[0]), v[0]),
                x -> {
                    double[] y = new double[5];
                    for (int i = 0; i < 5; i++) {
                        y[i] = x[0][i] * x[0][i] + x[0][i];
                    }
                    return y;
                }, FWD, GRAD);
    }

    @Test
    void scale() {
        GradCheck.check(be, "scale", 18, new int[][] {{7}}, ONE, GradCheck.UNIFORM,
                (ops, v) -> ops.scale(v[0], -2.5f),
                x -> {
                    double[] y = new double[7];
                    for (int i = 0; i < 7; i++) {
                        y[i] = -2.5 * x[0][i];
                    }
                    return y;
                }, FWD, GRAD);
    }

    @Test
    void relu() {
        // 67 elements: exercises both the vector body and the scalar tail.
        GradCheck.check(be, "relu", 19, new int[][] {{67}}, ONE, GradCheck.AWAY_FROM_ZERO,
                (ops, v) -> ops.relu(v[0]),
                x -> {
                    double[] y = new double[67];
                    for (int i = 0; i < 67; i++) {
                        y[i] = Math.max(0, x[0][i]);
                    }
                    return y;
                }, FWD, GRAD);
    }

    @Test
    void gelu() {
        double c = Math.sqrt(2 / Math.PI);
        GradCheck.check(be, "gelu", 20, new int[][] {{67}}, ONE, (rng, w, i) -> rng.nextDouble(-4, 4),
                (ops, v) -> ops.gelu(v[0]),
                x -> {
                    double[] y = new double[67];
                    for (int i = 0; i < 67; i++) {
                        double t = x[0][i];
                        y[i] = 0.5 * t * (1 + Math.tanh(c * (t + 0.044715 * t * t * t)));
                    }
                    return y;
                }, 1e-5, GRAD);
    }

    @Test
    void dropoutUsesTheCounterMask() {
        float p = 0.3f;
        long seed = 1234;
        GradCheck.check(be, "dropout", 21, new int[][] {{50}}, ONE, GradCheck.UNIFORM,
                (ops, v) -> ops.dropout(v[0], p, seed),
                x -> {
                    double[] y = new double[50];
                    for (int i = 0; i < 50; i++) {
                        boolean keep = CounterRandom.uniform(seed, i) >= p;
                        y[i] = keep ? x[0][i] / (1 - p) : 0;
                    }
                    return y;
                }, FWD, GRAD);
    }

    static double[] logSoftmaxRef(double[] x, int rows, int cols) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) {
                max = Math.max(max, x[r * cols + j]);
            }
            double z = 0;
            for (int j = 0; j < cols; j++) {
                z += Math.exp(x[r * cols + j] - max);
            }
            for (int j = 0; j < cols; j++) {
                y[r * cols + j] = x[r * cols + j] - max - Math.log(z);
            }
        }
        return y;
    }

    @Test
    void logSoftmaxAndSoftmax() {
        GradCheck.check(be, "logSoftmax", 22, new int[][] {{4, 6}}, ONE, (rng, w, i) -> rng.nextDouble(-3, 3),
                (ops, v) -> ops.logSoftmax(v[0]), x -> logSoftmaxRef(x[0], 4, 6), FWD, GRAD);
        GradCheck.check(be, "softmax", 23, new int[][] {{4, 6}}, ONE, (rng, w, i) -> rng.nextDouble(-3, 3),
                (ops, v) -> ops.softmax(v[0]),
                x -> {
                    double[] y = logSoftmaxRef(x[0], 4, 6);
                    for (int i = 0; i < y.length; i++) {
                        y[i] = Math.exp(y[i]);
                    }
                    return y;
                }, FWD, GRAD);
    }

    @ParameterizedTest(name = "cross-entropy, smoothing {0}")
    @CsvSource({"0.0", "0.1"})
    void crossEntropy(float smoothing) {
        int rows = 5;
        int cols = 4;
        int[] labels = {0, 3, 1, 1, 2};
        GradCheck.check(be, "crossEntropy", 24, new int[][] {{rows, cols}}, ONE, (rng, w, i) -> rng.nextDouble(-3, 3),
                (ops, v) -> ops.crossEntropy(v[0], labels, smoothing),
                x -> {
                    double[] lp = logSoftmaxRef(x[0], rows, cols);
                    double loss = 0;
                    for (int r = 0; r < rows; r++) {
                        for (int j = 0; j < cols; j++) {
                            double t = smoothing / cols + (j == labels[r] ? 1 - smoothing : 0);
                            loss -= t * lp[r * cols + j];
                        }
                    }
                    return new double[] {loss / rows};
                }, FWD, GRAD);
    }

    @Test
    void mse() {
        GradCheck.check(be, "mse", 25, new int[][] {{3, 5}, {3, 5}}, ALL2, GradCheck.UNIFORM,
                (ops, v) -> ops.mse(v[0], v[1]),
                x -> {
                    double s = 0;
                    for (int i = 0; i < 15; i++) {
                        double d = x[0][i] - x[1][i];
                        s += d * d;
                    }
                    return new double[] {s / 15};
                }, FWD, GRAD);
    }

    @Test
    void reshapeThenLinear() {
        // The gradient of a reshaped view must flow back in the original shape.
        GradCheck.check(be, "reshape", 28, new int[][] {{2, 3, 4}, {5, 4}}, ALL2, GradCheck.UNIFORM,
                (ops, v) -> ops.linear(ops.reshape(v[0], 6, 4), v[1], null),
                x -> matmul(x[0], false, x[1], true, 6, 4, 5), FWD, GRAD);
    }

    @Test
    void sum() {
        GradCheck.check(be, "sum", 26, new int[][] {{9}}, ONE, GradCheck.UNIFORM,
                (ops, v) -> ops.sum(v[0]),
                x -> {
                    double s = 0;
                    for (double d : x[0]) {
                        s += d;
                    }
                    return new double[] {s};
                }, FWD, GRAD);
    }

    @Test
    void twoLayerNetworkEndToEnd() {
        // A composed graph: linear → gelu → linear → cross-entropy, all inputs and weights checked.
        int rows = 4;
        int in = 3;
        int hid = 5;
        int out = 3;
        int[] labels = {2, 0, 1, 2};
        double c = Math.sqrt(2 / Math.PI);
        GradCheck.check(be, "mlp", 27, new int[][] {{rows, in}, {hid, in}, {hid}, {out, hid}, {out}},
                new boolean[] {true, true, true, true, true}, GradCheck.UNIFORM,
                (ops, v) -> ops.crossEntropy(ops.linear(ops.gelu(ops.linear(v[0], v[1], v[2])), v[3], v[4]),
                        labels, 0.05f),
                x -> {
                    double[] h = matmul(x[0], false, x[1], true, rows, in, hid);
                    for (int i = 0; i < h.length; i++) {
                        double t = h[i] + x[2][i % hid];
                        h[i] = 0.5 * t * (1 + Math.tanh(c * (t + 0.044715 * t * t * t)));
                    }
                    double[] z = matmul(h, false, x[3], true, rows, hid, out);
                    for (int i = 0; i < z.length; i++) {
                        z[i] += x[4][i % out];
                    }
                    double[] lp = logSoftmaxRef(z, rows, out);
                    double loss = 0;
                    for (int r = 0; r < rows; r++) {
                        for (int j = 0; j < out; j++) {
                            double t = 0.05 / out + (j == labels[r] ? 0.95 : 0);
                            loss -= t * lp[r * out + j];
                        }
                    }
                    return new double[] {loss / rows};
                }, FWD, GRAD);
    }
}
