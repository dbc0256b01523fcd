package dev.oialr4j.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.oialr4j.backend.CounterRandom;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Finite-difference gradient checks for the transformer ops, each against its own naive double-precision
 * reference written with explicit index loops. Tolerances as in {@link OpsGradientTest}: forward 1e-5
 * relative, gradients 2e-3 relative in the 2-norm (float32 analytic vs double central differences).
 * Sizes are chosen so rows have both a vector part and a scalar tail on 8- and 16-lane machines.
 */
class TransformerOpsGradientTest {

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

    private static TransformerOps t(Ops ops) {
        return new TransformerOps(ops);
    }

    static double[] layerNormRef(double[] x, double[] g, double[] b, int rows, int cols, double eps) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            for (int j = 0; j < cols; j++) {
                mean += x[r * cols + j];
            }
            mean /= cols;
            double var = 0;
            for (int j = 0; j < cols; j++) {
                double d = x[r * cols + j] - mean;
                var += d * d;
            }
            var /= cols;
            double inv = 1 / Math.sqrt(var + eps);
            for (int j = 0; j < cols; j++) {
                y[r * cols + j] = (x[r * cols + j] - mean) * inv * g[j] + b[j];
            }
        }
        return y;
    }

    @ParameterizedTest(name = "layerNorm {0}×{1}")
    @CsvSource({"5,37", "3,4", "2,64"})
    void layerNorm(int rows, int cols) {
        float eps = 1e-5f;
        GradCheck.check(be, "layerNorm", 31, new int[][] {{rows, cols}, {cols}, {cols}}, new boolean[] {true, true, true},
                (rng, which, i) -> which == 1 ? rng.nextDouble(0.5, 1.5) : rng.nextDouble(-1, 1),
                (ops, v) -> t(ops).layerNorm(v[0], v[1], v[2], eps),
                x -> layerNormRef(x[0], x[1], x[2], rows, cols, eps), FWD, GRAD);
    }

    @Test
    void layerNormOn3dInput() {
        float eps = 1e-6f;
        GradCheck.check(be, "layerNorm 3-D", 32, new int[][] {{2, 3, 20}, {20}, {20}}, new boolean[] {true, true, true},
                GradCheck.UNIFORM, (ops, v) -> t(ops).layerNorm(v[0], v[1], v[2], eps),
                x -> layerNormRef(x[0], x[1], x[2], 6, 20, eps), FWD, GRAD);
    }

    static double[] bmmRef(double[] a, boolean ta, double[] b, boolean tb, int batch, int m, int k, int n) {
        double[] y = new double[batch * m * n];
        for (int p = 0; p < batch; p++) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int q = 0; q < k; q++) {
                        double av = ta ? a[p * m * k + q * m + i] : a[p * m * k + i * k + q];
                        double bv = tb ? b[p * k * n + j * k + q] : b[p * k * n + q * n + j];
                        s += av * bv;
                    }
                    y[p * m * n + i * n + j] = s;
                }
            }
        }
        return y;
    }

    @ParameterizedTest(name = "batchedMatmul transA={0} transB={1}")
    @CsvSource({"false,false", "true,false", "false,true", "true,true"})
    void batchedMatmul(boolean ta, boolean tb) {
        int batch = 3;
        int m = 4;
        int k = 5;
        int n = 6;
        int[] sa = ta ? new int[] {batch, k, m} : new int[] {batch, m, k};
        int[] sb = tb ? new int[] {batch, n, k} : new int[] {batch, k, n};
        GradCheck.check(be, "batchedMatmul", 33, new int[][] {sa, sb}, new boolean[] {true, true}, GradCheck.UNIFORM,
                (ops, v) -> t(ops).batchedMatmul(v[0], ta, v[1], tb),
                x -> bmmRef(x[0], ta, x[1], tb, batch, m, k, n), FWD, GRAD);
    }

    /** softmax(q kᵀ / √d + mask) v per batch entry, in double; a -∞ mask entry contributes exp(-∞) = 0. */
    static double[] attentionRef(double[] q, double[] k, double[] v, double[] mask, int batch, int tq, int tk, int d,
            int dv) {
        double[] y = new double[batch * tq * dv];
        double scale = 1 / Math.sqrt(d);
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < tq; i++) {
                double[] s = new double[tk];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < tk; j++) {
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += q[(b * tq + i) * d + c] * k[(b * tk + j) * d + c];
                    }
                    s[j] = dot * scale + (mask == null ? 0 : mask[i * tk + j]);
                    max = Math.max(max, s[j]);
                }
                double z = 0;
                for (int j = 0; j < tk; j++) {
                    s[j] = Math.exp(s[j] - max);
                    z += s[j];
                }
                for (int c = 0; c < dv; c++) {
                    double acc = 0;
                    for (int j = 0; j < tk; j++) {
                        acc += s[j] / z * v[(b * tk + j) * dv + c];
                    }
                    y[(b * tq + i) * dv + c] = acc;
                }
            }
        }
        return y;
    }

    @ParameterizedTest(name = "attention batch={0} queries={1} keys={2} d={3} dv={4}")
    @CsvSource({"2,3,5,4,6", "3,19,19,8,8", "1,1,37,3,2"})
    void attention(int batch, int tq, int tk, int d, int dv) {
        GradCheck.check(be, "attention", 34, new int[][] {{batch, tq, d}, {batch, tk, d}, {batch, tk, dv}},
                new boolean[] {true, true, true}, (rng, w, i) -> rng.nextDouble(-2, 2),
                (ops, v) -> t(ops).attention(v[0], v[1], v[2], null),
                x -> attentionRef(x[0], x[1], x[2], null, batch, tq, tk, d, dv), FWD, GRAD);
    }

    @Test
    void attentionWithCausalAndExtraMask() {
        int batch = 2;
        int n = 19;
        int d = 5;
        Tensor mask = TransformerOps.causalMask(n);
        mask.data()[10 * n + 3] = Float.NEGATIVE_INFINITY; // a blocked key inside the visible range
        mask.data()[12 * n + 4] = -0.75f;                   // a finite additive bias
        double[] m = GradCheck.toDouble(mask.data());
        GradCheck.check(be, "masked attention", 35, new int[][] {{batch, n, d}, {batch, n, d}, {batch, n, d}},
                new boolean[] {true, true, true}, (rng, w, i) -> rng.nextDouble(-2, 2),
                (ops, v) -> t(ops).attention(v[0], v[1], v[2], mask),
                x -> attentionRef(x[0], x[1], x[2], m, batch, n, n, d, d), FWD, GRAD);
    }

    /** Reference of the fused op: split (q | k | v) and heads by index, attend per head, merge by index. */
    static double[] multiHeadRef(double[] x, double[] mask, int batch, int t, int heads, int d) {
        int w = heads * d;
        double[][] parts = new double[3][batch * heads * t * d];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < t; i++) {
                    for (int c = 0; c < d; c++) {
                        for (int part = 0; part < 3; part++) {
                            parts[part][((b * heads + h) * t + i) * d + c] = x[(b * t + i) * 3 * w + part * w + h * d + c];
                        }
                    }
                }
            }
        }
        double[] o = attentionRef(parts[0], parts[1], parts[2], mask, batch * heads, t, t, d, d);
        double[] y = new double[batch * t * w];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < t; i++) {
                    for (int c = 0; c < d; c++) {
                        y[(b * t + i) * w + h * d + c] = o[((b * heads + h) * t + i) * d + c];
                    }
                }
            }
        }
        return y;
    }

    @ParameterizedTest(name = "multiHeadAttention batch={0} tokens={1} heads={2} d={3} causal={4}")
    @CsvSource({"2,5,3,4,false", "1,19,2,8,true", "3,4,1,6,false"})
    void multiHeadAttention(int batch, int t, int heads, int d, boolean causal) {
        Tensor mask = causal ? TransformerOps.causalMask(t) : null;
        double[] m = causal ? GradCheck.toDouble(mask.data()) : null;
        GradCheck.check(be, "multiHeadAttention", 48, new int[][] {{batch, t, 3 * heads * d}}, new boolean[] {true},
                (rng, w, i) -> rng.nextDouble(-2, 2), (ops, v) -> t(ops).multiHeadAttention(v[0], heads, mask),
                x -> multiHeadRef(x[0], m, batch, t, heads, d), FWD, GRAD);
    }

    @Test
    void multiHeadAttentionMatchesSplitAttendMerge() {
        int batch = 3;
        int t = 11;
        int heads = 4;
        int d = 5;
        java.util.SplittableRandom rng = new java.util.SplittableRandom(49);
        float[] x = new float[batch * t * 3 * heads * d];
        float[] w = new float[batch * t * heads * d];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rng.nextDouble(-2, 2);
        }
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rng.nextDouble(-1, 1);
        }
        float[][] results = new float[4][];
        for (int path = 0; path < 2; path++) {
            Tape tape = new Tape(be);
            Ops ops = new Ops(tape);
            Variable in = new Variable(Tensor.of(x.clone(), batch, t, 3 * heads * d), true);
            Variable y;
            if (path == 0) {
                y = t(ops).multiHeadAttention(in, heads, null);
            } else {
                Variable[] p = t(ops).splitHeads(in, heads);
                y = t(ops).mergeHeads(t(ops).attention(p[0], p[1], p[2], null), heads);
            }
            tape.backward(ops.sum(ops.mul(y, Variable.constant(Tensor.of(w, y.dims())))));
            results[2 * path] = y.value().data();
            results[2 * path + 1] = in.grad().data();
        }
        // Same GEMMs over the same numbers in the same order, only addressed in place: identical bits.
        assertArrayEquals(results[2], results[0], "outputs");
        assertArrayEquals(results[3], results[1], "gradients");
    }

    @Test
    void attentionRejectsAMaskThatBlocksARow() {
        Tensor mask = TransformerOps.causalMask(3);
        mask.data()[0] = Float.NEGATIVE_INFINITY;
        Ops ops = new Ops(new Tape(be));
        Variable q = Variable.constant(Tensor.zeros(1, 3, 2));
        assertThrows(IllegalArgumentException.class, () -> t(ops).attention(q, q, q, mask));
    }

    @Test
    void permuteRank3AndRank6() {
        GradCheck.check(be, "permute 3-D", 36, new int[][] {{2, 3, 4}}, new boolean[] {true}, GradCheck.UNIFORM,
                (ops, v) -> t(ops).permute(v[0], 2, 0, 1),
                x -> {
                    double[] y = new double[24];
                    for (int a = 0; a < 2; a++) {
                        for (int b = 0; b < 3; b++) {
                            for (int c = 0; c < 4; c++) {
                                y[(c * 2 + a) * 3 + b] = x[0][(a * 3 + b) * 4 + c];
                            }
                        }
                    }
                    return y;
                }, FWD, GRAD);
        int[] dims = {2, 3, 2, 1, 2, 3};
        int[] perm = {5, 0, 3, 1, 4, 2};
        GradCheck.check(be, "permute 6-D", 37, new int[][] {dims}, new boolean[] {true}, GradCheck.UNIFORM,
                (ops, v) -> t(ops).permute(v[0], perm), x -> permuteRef(x[0], dims, perm), FWD, GRAD);
    }

    /** Index-by-index permutation: y[i0..i5] = x[j] with x's axis perm[a] at y's index a. */
    static double[] permuteRef(double[] x, int[] dims, int[] perm) {
        int r = dims.length;
        int[] yd = new int[r];
        for (int a = 0; a < r; a++) {
            yd[a] = dims[perm[a]];
        }
        double[] y = new double[x.length];
        int[] yi = new int[r];
        for (int flat = 0; flat < y.length; flat++) {
            int rem = flat;
            for (int a = r - 1; a >= 0; a--) {
                yi[a] = rem % yd[a];
                rem /= yd[a];
            }
            int[] xi = new int[r];
            for (int a = 0; a < r; a++) {
                xi[perm[a]] = yi[a];
            }
            int src = 0;
            for (int a = 0; a < r; a++) {
                src = src * dims[a] + xi[a];
            }
            y[flat] = x[src];
        }
        return y;
    }

    @Test
    void narrowOnEachAxis() {
        int[] dims = {3, 5, 4};
        GradCheck.check(be, "narrow axis 1", 38, new int[][] {dims}, new boolean[] {true}, GradCheck.UNIFORM,
                (ops, v) -> t(ops).narrow(v[0], 1, 1, 3),
                x -> {
                    double[] y = new double[3 * 3 * 4];
                    for (int a = 0; a < 3; a++) {
                        for (int b = 0; b < 3; b++) {
                            for (int c = 0; c < 4; c++) {
                                y[(a * 3 + b) * 4 + c] = x[0][(a * 5 + b + 1) * 4 + c];
                            }
                        }
                    }
                    return y;
                }, FWD, GRAD);
        GradCheck.check(be, "narrow axis 0", 39, new int[][] {dims}, new boolean[] {true}, GradCheck.UNIFORM,
                (ops, v) -> t(ops).narrow(v[0], 0, 2, 1),
                x -> java.util.Arrays.copyOfRange(x[0], 40, 60), FWD, GRAD);
    }

    @Test
    void prependTokenAndMeanTokens() {
        int batch = 3;
        int n = 4;
        int w = 5;
        GradCheck.check(be, "prependToken", 40, new int[][] {{batch, n, w}, {w}}, new boolean[] {true, true},
                GradCheck.UNIFORM, (ops, v) -> t(ops).prependToken(v[0], v[1]),
                x -> {
                    double[] y = new double[batch * (n + 1) * w];
                    for (int b = 0; b < batch; b++) {
                        for (int c = 0; c < w; c++) {
                            y[b * (n + 1) * w + c] = x[1][c];
                        }
                        for (int i = 0; i < n; i++) {
                            for (int c = 0; c < w; c++) {
                                y[(b * (n + 1) + i + 1) * w + c] = x[0][(b * n + i) * w + c];
                            }
                        }
                    }
                    return y;
                }, FWD, GRAD);
        GradCheck.check(be, "meanTokens", 41, new int[][] {{batch, n, w}}, new boolean[] {true}, GradCheck.UNIFORM,
                (ops, v) -> t(ops).meanTokens(v[0]),
                x -> {
                    double[] y = new double[batch * w];
                    for (int b = 0; b < batch; b++) {
                        for (int i = 0; i < n; i++) {
                            for (int c = 0; c < w; c++) {
                                y[b * w + c] += x[0][(b * n + i) * w + c] / n;
                            }
                        }
                    }
                    return y;
                }, FWD, GRAD);
    }

    @ParameterizedTest(name = "splitHeads part {0}")
    @CsvSource({"0", "1", "2"})
    void splitHeads(int part) {
        int batch = 2;
        int tokens = 3;
        int heads = 2;
        int d = 4;
        int width = 3 * heads * d;
        GradCheck.check(be, "splitHeads", 42 + part, new int[][] {{batch, tokens, width}}, new boolean[] {true},
                GradCheck.UNIFORM, (ops, v) -> t(ops).splitHeads(v[0], heads)[part],
                x -> {
                    double[] y = new double[batch * heads * tokens * d];
                    for (int b = 0; b < batch; b++) {
                        for (int h = 0; h < heads; h++) {
                            for (int i = 0; i < tokens; i++) {
                                for (int c = 0; c < d; c++) {
                                    y[((b * heads + h) * tokens + i) * d + c] =
                                            x[0][(b * tokens + i) * width + part * heads * d + h * d + c];
                                }
                            }
                        }
                    }
                    return y;
                }, FWD, GRAD);
    }

    @Test
    void mergeHeads() {
        int batch = 2;
        int heads = 3;
        int tokens = 4;
        int d = 5;
        GradCheck.check(be, "mergeHeads", 45, new int[][] {{batch * heads, tokens, d}}, new boolean[] {true},
                GradCheck.UNIFORM, (ops, v) -> t(ops).mergeHeads(v[0], heads),
                x -> {
                    double[] y = new double[batch * tokens * heads * d];
                    for (int b = 0; b < batch; b++) {
                        for (int h = 0; h < heads; h++) {
                            for (int i = 0; i < tokens; i++) {
                                for (int c = 0; c < d; c++) {
                                    y[(b * tokens + i) * heads * d + h * d + c] = x[0][((b * heads + h) * tokens + i) * d + c];
                                }
                            }
                        }
                    }
                    return y;
                }, FWD, GRAD);
    }

    @ParameterizedTest(name = "patchify {0} channels, {1}×{2}, patch {3}")
    @CsvSource({"1,8,8,4", "3,6,4,2", "2,3,3,3"})
    void patchify(int channels, int height, int width, int patch) {
        int batch = 2;
        int gh = height / patch;
        int gw = width / patch;
        int feat = channels * patch * patch;
        GradCheck.check(be, "patchify", 46, new int[][] {{batch, channels * height * width}}, new boolean[] {true},
                GradCheck.UNIFORM, (ops, v) -> t(ops).patchify(v[0], channels, height, width, patch),
                x -> {
                    double[] y = new double[batch * gh * gw * feat];
                    for (int b = 0; b < batch; b++) {
                        for (int c = 0; c < channels; c++) {
                            for (int r = 0; r < height; r++) {
                                for (int s = 0; s < width; s++) {
                                    int tile = (r / patch) * gw + s / patch;
                                    int f = (c * patch + r % patch) * patch + s % patch;
                                    y[(b * gh * gw + tile) * feat + f] = x[0][((b * channels + c) * height + r) * width + s];
                                }
                            }
                        }
                    }
                    return y;
                }, FWD, GRAD);
    }

    @Test
    void dropPathUsesTheCounterDrawPerSample() {
        int batch = 16;
        int per = 6;
        float p = 0.4f;
        long seed = 99;
        GradCheck.check(be, "dropPath", 47, new int[][] {{batch, 2, 3}}, new boolean[] {true}, GradCheck.UNIFORM,
                (ops, v) -> t(ops).dropPath(v[0], p, seed),
                x -> {
                    double[] y = new double[batch * per];
                    for (int b = 0; b < batch; b++) {
                        boolean keep = CounterRandom.uniform(seed, b) >= p;
                        for (int i = 0; i < per; i++) {
                            y[b * per + i] = keep ? x[0][b * per + i] / (1 - p) : 0;
                        }
                    }
                    return y;
                }, FWD, GRAD);
    }

    @Test
    void splitThenMergeIsTheIdentityOnEachPart() {
        int batch = 2;
        int tokens = 5;
        int heads = 3;
        int d = 2;
        float[] data = new float[batch * tokens * 3 * heads * d];
        for (int i = 0; i < data.length; i++) {
            data[i] = i;
        }
        Ops ops = new Ops(new Tape(be));
        Variable[] qkv = t(ops).splitHeads(Variable.constant(Tensor.of(data, batch, tokens, 3 * heads * d)), heads);
        for (int part = 0; part < 3; part++) {
            float[] merged = t(ops).mergeHeads(qkv[part], heads).value().data();
            float[] expected = new float[batch * tokens * heads * d];
            for (int r = 0; r < batch * tokens; r++) {
                for (int c = 0; c < heads * d; c++) {
                    expected[r * heads * d + c] = data[r * 3 * heads * d + part * heads * d + c];
                }
            }
            assertArrayEquals(expected, merged, "part " + part);
        }
    }
}
