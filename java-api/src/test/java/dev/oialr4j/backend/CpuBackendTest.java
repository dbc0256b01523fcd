package dev.oialr4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.oialr4j.tensor.Tensor;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.function.IntToDoubleFunction;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every op of {@link CpuBackend} except gemm (see CpuGemmTest), each against a naive double-precision
 * loop on fresh seeded random inputs. Sizes cover the vector body and the scalar tail for 8- and 16-lane
 * species (1, 7, 8, 9, 15, 16, 17, 31, 33, 1000) and the multi-threaded split (100003 &gt; 32768 elements).
 * Elementwise ops and whole-tensor reductions must give bit-identical results on 1, 2 and 3 threads.
 *
 * <p>Tolerances (u = 2^-24, the float32 unit roundoff), per element unless stated:
 * <ul>
 * <li>add, mul, scale, axpby: |got - ref| &lt;= 4u * (sum of the magnitudes of the rounded terms) (each
 * float op rounds once);
 * <li>relu, reluBackward, dropout, argmaxRows, crossEntropyBackward on exact inputs: exact;
 * <li>gelu: 1e-6 + 1e-5 |ref|; geluBackward: 1e-5 (1 + |ref|) (float tanh and a cancelling 1 - t^2);
 * <li>reductions on small-integer data (all partial sums exact in float): exact; on real data:
 * float32 row sums (sumRows) n u sum|x|, double-accumulated sums (sum, sumSquares, sumCols) 1e-6 sum|x|;
 * <li>softmax: 1e-6 + 1e-5 p, rows sum to 1 within 1e-5; log-softmax: 1e-6 + 1e-6 |ref|, also for
 * logits around +-1000; cross-entropy loss: 1e-6 (1 + loss);
 * <li>adamwStep over 6 steps: m 1e-5 of the same average over |g|, v 1e-5 relative, parameter 1e-6 |p| + 1e-5 lr; sgdStep over 5 steps:
 * 1e-6 (|p| + lr |update|).
 * </ul>
 */
class CpuBackendTest {

    private static final double U = 0x1.0p-24;
    private static final int BIG = 100_003;
    private static CpuBackend be1;
    private static CpuBackend be2;
    private static CpuBackend be3;

    @BeforeAll
    static void start() {
        be1 = new CpuBackend(1);
        be2 = new CpuBackend(2);
        be3 = new CpuBackend(3);
    }

    @AfterAll
    static void stop() {
        be1.close();
        be2.close();
        be3.close();
    }

    static IntStream sizes() {
        return IntStream.of(1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 40_000, BIG);
    }

    // ---- helpers --------------------------------------------------------------------------------

    static float[] uniform(long seed, int n, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (lo + (hi - lo) * r.nextDouble());
        }
        return a;
    }

    /** Small integers in [-k, k]: float sums of these are exact while partial sums stay below 2^24. */
    static float[] ints(long seed, int n, int k) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextInt(-k, k + 1);
        }
        return a;
    }

    /** A tensor over a copy of {@code d}. */
    static Tensor t(float[] d, int... dims) {
        return Tensor.of(d.clone(), dims);
    }

    static float[] concat(float[]... parts) {
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

    /** Runs {@code op} on 1, 2 and 3 threads, requires bit-identical outputs, returns the 1-thread one. */
    static float[] sameOnAllThreadCounts(String what, Function<CpuBackend, float[]> op) {
        float[] r1 = op.apply(be1);
        for (CpuBackend b : List.of(be2, be3)) {
            float[] r = op.apply(b);
            assertEquals(r1.length, r.length);
            for (int i = 0; i < r1.length; i++) {
                if (Float.floatToIntBits(r1[i]) != Float.floatToIntBits(r[i])) {
                    fail(what + ": element " + i + " is " + r1[i] + " on 1 thread but " + r[i] + " on "
                            + b.threads() + " threads");
                }
            }
        }
        return r1;
    }

    static void assertWithin(String what, float[] got, IntToDoubleFunction ref, IntToDoubleFunction tol) {
        for (int i = 0; i < got.length; i++) {
            double r = ref.applyAsDouble(i);
            double e = tol.applyAsDouble(i);
            if (!(Math.abs(got[i] - r) <= e)) {
                fail(what + ": element " + i + " of " + got.length + " is " + got[i] + ", expected " + r
                        + " within " + e);
            }
        }
    }

    static void assertShapeError(Executable call, String shapeA, String shapeB) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(shapeA) && e.getMessage().contains(shapeB),
                "message should name " + shapeA + " and " + shapeB + ": " + e.getMessage());
    }

    // ---- BLAS-like and elementwise -----------------------------------------------------------------

    @ParameterizedTest(name = "n={0}")
    @MethodSource("sizes")
    void axpby(int n) {
        float[] x = uniform(100 + n, n, -2, 2);
        float[] y = uniform(200 + n, n, -2, 2);
        float alpha = 0.7f;
        float beta = -1.3f;
        float[] got = sameOnAllThreadCounts("axpby", b -> {
            Tensor xt = t(x, n);
            Tensor yt = t(y, n);
            b.axpby(alpha, xt, beta, yt);
            assertArrayEquals(x, xt.data(), "x must not change");
            return yt.data();
        });
        assertWithin("axpby", got, i -> (double) alpha * x[i] + (double) beta * y[i],
                i -> 4 * U * (Math.abs((double) alpha * x[i]) + Math.abs((double) beta * y[i])));
    }

    @Test
    void axpbyAcceptsDifferentShapesOfTheSameSize() {
        Tensor x = t(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor y = t(new float[] {1, 1, 1, 1, 1, 1}, 6);
        be1.axpby(2f, x, 0.5f, y);
        assertArrayEquals(new float[] {2.5f, 4.5f, 6.5f, 8.5f, 10.5f, 12.5f}, y.data());
        assertShapeError(() -> be1.axpby(1f, Tensor.zeros(2, 3), 1f, Tensor.zeros(7)), "[2, 3]", "[7]");
    }

    @ParameterizedTest(name = "n={0}")
    @MethodSource("sizes")
    void addAndMul(int n) {
        float[] a = uniform(300 + n, n, -3, 3);
        float[] b = uniform(400 + n, n, -3, 3);
        float[] sum = sameOnAllThreadCounts("add", be -> {
            Tensor out = Tensor.zeros(n);
            be.add(t(a, n), t(b, n), out);
            return out.data();
        });
        assertWithin("add", sum, i -> (double) a[i] + b[i], i -> 4 * U * (Math.abs(a[i]) + Math.abs(b[i])));
        float[] prod = sameOnAllThreadCounts("mul", be -> {
            Tensor out = Tensor.zeros(n);
            be.mul(t(a, n), t(b, n), out);
            return out.data();
        });
        assertWithin("mul", prod, i -> (double) a[i] * b[i], i -> 4 * U * Math.abs((double) a[i] * b[i]));
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {17, BIG})
    void addAndMulMayAliasEitherInput(int n) {
        float[] a = uniform(500 + n, n, -3, 3);
        float[] b = uniform(600 + n, n, -3, 3);
        float[] addRef = new float[n];
        float[] mulRef = new float[n];
        float[] sqRef = new float[n];
        for (int i = 0; i < n; i++) {
            addRef[i] = a[i] + b[i];
            mulRef[i] = a[i] * b[i];
            sqRef[i] = a[i] * a[i];
        }
        for (CpuBackend be : List.of(be1, be2)) {
            Tensor at = t(a, n);
            Tensor bt = t(b, n);
            be.add(at, bt, at);
            assertArrayEquals(addRef, at.data(), "add into a");
            assertArrayEquals(b, bt.data(), "b untouched");
            at = t(a, n);
            be.add(at, bt, bt);
            assertArrayEquals(addRef, bt.data(), "add into b");
            at = t(a, n);
            bt = t(b, n);
            be.mul(at, bt, at);
            assertArrayEquals(mulRef, at.data(), "mul into a");
            at = t(a, n);
            be.mul(at, bt, bt);
            assertArrayEquals(mulRef, bt.data(), "mul into b");
            at = t(a, n);
            be.mul(at, at, at);
            assertArrayEquals(sqRef, at.data(), "mul a*a into a");
        }
    }

    @ParameterizedTest(name = "n={0}")
    @MethodSource("sizes")
    void scaleInPlaceAndOutOfPlace(int n) {
        float[] x = uniform(700 + n, n, -5, 5);
        float alpha = -0.37f;
        float[] got = sameOnAllThreadCounts("scale", be -> {
            Tensor out = Tensor.zeros(n);
            Tensor xt = t(x, n);
            be.scale(xt, alpha, out);
            be.scale(xt, alpha, xt); // aliasing is allowed
            assertArrayEquals(out.data(), xt.data(), "in-place scale must equal out-of-place");
            return out.data();
        });
        assertWithin("scale", got, i -> (double) alpha * x[i], i -> 2 * U * Math.abs((double) alpha * x[i]));
    }

    @ParameterizedTest(name = "{0}x{1}")
    @CsvSource({"1,1", "3,7", "5,15", "4,16", "6,17", "2,33", "7,1000", "4000,17", "100,1000", "3,100003"})
    void addRowVector(int rows, int cols) {
        float[] x = uniform(800 + rows * 7L + cols, rows * cols, -2, 2);
        float[] bias = uniform(900 + cols, cols, -2, 2);
        float[] got = sameOnAllThreadCounts("addRowVector", be -> {
            Tensor out = Tensor.zeros(rows, cols);
            be.addRowVector(t(x, rows, cols), t(bias, cols), out);
            Tensor inPlace = t(x, rows, cols);
            be.addRowVector(inPlace, t(bias, cols), inPlace);
            assertArrayEquals(out.data(), inPlace.data(), "out may alias x");
            return out.data();
        });
        assertWithin("addRowVector", got, i -> (double) x[i] + bias[i % cols],
                i -> 4 * U * (Math.abs(x[i]) + Math.abs(bias[i % cols])));
    }

    @Test
    void addRowVectorUsesTheTwoDimensionalView() {
        float[] x = uniform(1000, 2 * 3 * 5, -1, 1);
        float[] bias = uniform(1001, 5, -1, 1);
        Tensor out = Tensor.zeros(2, 3, 5);
        be1.addRowVector(t(x, 2, 3, 5), t(bias, 5), out);
        float[] got = out.data();
        for (int i = 0; i < x.length; i++) {
            assertEquals(x[i] + bias[i % 5], got[i]);
        }
        assertShapeError(() -> be1.addRowVector(Tensor.zeros(4, 3), Tensor.zeros(4), Tensor.zeros(4, 3)),
                "[4]", "[4, 3]");
        assertShapeError(() -> be1.addRowVector(Tensor.zeros(4, 3), Tensor.zeros(3), Tensor.zeros(3, 4)),
                "[4, 3]", "[3, 4]");
    }

    @ParameterizedTest(name = "n={0}")
    @MethodSource("sizes")
    void reluAndBackward(int n) {
        float[] x = uniform(1100 + n, n, -2, 2);
        for (int i = 0; i < n; i += 5) {
            x[i] = 0f; // the boundary: relu'(0) = 0
        }
        float[] dy = uniform(1200 + n, n, -1, 1);
        float[] y = sameOnAllThreadCounts("relu", be -> {
            Tensor out = Tensor.zeros(n);
            be.relu(t(x, n), out);
            return out.data();
        });
        float[] dx = sameOnAllThreadCounts("reluBackward", be -> {
            Tensor out = Tensor.zeros(n);
            be.reluBackward(t(x, n), t(dy, n), out);
            return out.data();
        });
        for (int i = 0; i < n; i++) {
            assertEquals(x[i] > 0 ? x[i] : 0f, y[i], "relu at " + i);
            assertEquals(x[i] > 0 ? dy[i] : 0f, dx[i], "reluBackward at " + i);
        }
    }

    static double geluRef(double x) {
        double c = Math.sqrt(2 / Math.PI);
        return 0.5 * x * (1 + Math.tanh(c * (x + 0.044715 * x * x * x)));
    }

    static double geluGradRef(double x) {
        double c = Math.sqrt(2 / Math.PI);
        double t = Math.tanh(c * (x + 0.044715 * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }

    @ParameterizedTest(name = "n={0}")
    @MethodSource("sizes")
    void geluAndBackward(int n) {
        float[] x = uniform(1300 + n, n, -6, 6);
        float[] dy = uniform(1400 + n, n, -1, 1);
        float[] y = sameOnAllThreadCounts("gelu", be -> {
            Tensor out = Tensor.zeros(n);
            be.gelu(t(x, n), out);
            return out.data();
        });
        assertWithin("gelu", y, i -> geluRef(x[i]), i -> 1e-6 + 1e-5 * Math.abs(geluRef(x[i])));
        float[] dx = sameOnAllThreadCounts("geluBackward", be -> {
            Tensor out = Tensor.zeros(n);
            be.geluBackward(t(x, n), t(dy, n), out);
            return out.data();
        });
        assertWithin("geluBackward", dx, i -> dy[i] * geluGradRef(x[i]),
                i -> 1e-5 * (1 + Math.abs(dy[i] * geluGradRef(x[i]))));
    }

    @Test
    void geluKnownValues() {
        Tensor out = Tensor.zeros(3);
        be1.gelu(t(new float[] {0f, 1f, -1f}, 3), out);
        // tanh approximation: gelu(1) = 0.5 (1 + tanh(sqrt(2/pi) * 1.044715)) = 0.8411920...
        assertEquals(0f, out.data()[0]);
        assertEquals(0.841192, out.data()[1], 1e-6);
        assertEquals(-0.158808, out.data()[2], 1e-6);
    }

    @ParameterizedTest(name = "p={0}")
    @ValueSource(floats = {0.1f, 0.5f, 0.8f})
    void dropoutMaskValuesAndKeepRate(float p) {
        int n = BIG;
        float[] x = uniform(1500, n, -2, 2);
        float keep = 1f / (1f - p);
        float[] both = sameOnAllThreadCounts("dropout", be -> {
            Tensor mask = Tensor.zeros(n);
            Tensor out = Tensor.zeros(n);
            be.dropout(t(x, n), p, 12345L, mask, out);
            return concat(mask.data(), out.data());
        });
        int kept = 0;
        int keptFirstHalf = 0;
        for (int i = 0; i < n; i++) {
            float m = both[i];
            if (m != 0f && m != keep) {
                fail("mask[" + i + "] = " + m + ", expected 0 or " + keep);
            }
            assertEquals(x[i] * m, both[n + i], "out = x * mask at " + i);
            if (m != 0f) {
                kept++;
                if (i < n / 2) {
                    keptFirstHalf++;
                }
            }
        }
        // Keep count ~ Binomial(n, 1 - p); 6 standard deviations (two-sided false alarm ~2e-9).
        double q = 1 - p;
        assertEquals(q, kept / (double) n, 6 * Math.sqrt(q * (1 - q) / n), "keep rate");
        int half = n / 2;
        assertEquals(q, keptFirstHalf / (double) half, 6 * Math.sqrt(q * (1 - q) / half), "keep rate, first half");
        // Neighbours are independent: over disjoint pairs (i, i + 1), both kept ~ Binomial(pairs, q^2).
        for (int start = 0; start < 2; start++) {
            int pairs = 0;
            int bothKept = 0;
            for (int i = start; i + 1 < n; i += 2) {
                pairs++;
                if (both[i] != 0f && both[i + 1] != 0f) {
                    bothKept++;
                }
            }
            double q2 = q * q;
            assertEquals(q2, bothKept / (double) pairs, 6 * Math.sqrt(q2 * (1 - q2) / pairs),
                    "neighbours kept together, pairs from " + start);
        }
    }

    @Test
    void dropoutSeeds() {
        int n = BIG;
        float p = 0.3f;
        float[] x = uniform(1600, n, -1, 1);
        Tensor m1 = Tensor.zeros(n);
        Tensor m1again = Tensor.zeros(n);
        Tensor m2 = Tensor.zeros(n);
        be2.dropout(t(x, n), p, 7L, m1, Tensor.zeros(n));
        be1.dropout(t(x, n), p, 7L, m1again, Tensor.zeros(n));
        be2.dropout(t(x, n), p, 8L, m2, Tensor.zeros(n));
        assertArrayEquals(m1.data(), m1again.data(), "same seed, same mask");
        int differ = 0;
        for (int i = 0; i < n; i++) {
            if (m1.data()[i] != m2.data()[i]) {
                differ++;
            }
        }
        // Independent masks disagree with probability 2 p (1 - p) per element.
        double d = 2 * p * (1 - p);
        assertEquals(d, differ / (double) n, 6 * Math.sqrt(d * (1 - d) / n), "fraction where seeds 7 and 8 differ");
    }

    @Test
    void dropoutEdgeCases() {
        float[] x = uniform(1700, 33, -1, 1);
        Tensor mask = Tensor.zeros(33);
        Tensor out = Tensor.zeros(33);
        be1.dropout(t(x, 33), 0f, 1L, mask, out);
        for (int i = 0; i < 33; i++) {
            assertEquals(1f, mask.data()[i]);
        }
        assertArrayEquals(x, out.data());
        for (float bad : new float[] {1f, -0.1f, Float.NaN}) {
            assertThrows(IllegalArgumentException.class, () -> be1.dropout(t(x, 33), bad, 1L, mask, out));
        }
        assertShapeError(() -> be1.dropout(Tensor.zeros(3, 11), 0.5f, 1L, Tensor.zeros(33), Tensor.zeros(3, 11)),
                "[3, 11]", "[33]");
    }

    // ---- reductions -----------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}x{1}")
    @CsvSource({"1,1", "1,17", "17,1", "3,15", "5,16", "7,17", "9,33", "33,1000", "50,1000", "2,100003",
            "100003,1", "4000,9"})
    void sumRowsAndSumCols(int rows, int cols) {
        int n = rows * cols;
        // Exact on small integers: catches any skipped or doubled element.
        float[] xi = ints(1800 + n, n, 8);
        float[] sr = sameOnAllThreadCounts("sumRows (ints)", be -> {
            Tensor out = Tensor.zeros(cols);
            be.sumRows(t(xi, rows, cols), out);
            return out.data();
        });
        float[] sc = sameOnAllThreadCounts("sumCols (ints)", be -> {
            Tensor out = Tensor.zeros(rows);
            be.sumCols(t(xi, rows, cols), out);
            return out.data();
        });
        for (int j = 0; j < cols; j++) {
            long s = 0;
            for (int i = 0; i < rows; i++) {
                s += (long) xi[i * cols + j];
            }
            assertEquals((float) s, sr[j], "sumRows column " + j);
        }
        for (int i = 0; i < rows; i++) {
            long s = 0;
            for (int j = 0; j < cols; j++) {
                s += (long) xi[i * cols + j];
            }
            assertEquals((float) s, sc[i], "sumCols row " + i);
        }
        // Real data against double sums.
        float[] x = uniform(1900 + n, n, -1, 1);
        double[] colSum = new double[cols];
        double[] colAbs = new double[cols];
        double[] rowSum = new double[rows];
        double[] rowAbs = new double[rows];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double v = x[i * cols + j];
                colSum[j] += v;
                colAbs[j] += Math.abs(v);
                rowSum[i] += v;
                rowAbs[i] += Math.abs(v);
            }
        }
        float[] srx = sameOnAllThreadCounts("sumRows", be -> {
            Tensor out = Tensor.zeros(cols);
            be.sumRows(t(x, rows, cols), out);
            return out.data();
        });
        float[] scx = sameOnAllThreadCounts("sumCols", be -> {
            Tensor out = Tensor.zeros(rows);
            be.sumCols(t(x, rows, cols), out);
            return out.data();
        });
        assertWithin("sumRows", srx, j -> colSum[j], j -> (rows + 1) * U * colAbs[j]);
        assertWithin("sumCols", scx, i -> rowSum[i], i -> 1e-6 * rowAbs[i] + U * Math.abs(rowSum[i]));
    }

    @Test
    void sumRowsAndSumColsShapeErrors() {
        assertShapeError(() -> be1.sumRows(Tensor.zeros(4, 3), Tensor.zeros(4)), "[4]", "[4, 3]");
        assertShapeError(() -> be1.sumCols(Tensor.zeros(4, 3), Tensor.zeros(3)), "[3]", "[4, 3]");
    }

    static IntStream sumSizes() {
        return IntStream.of(1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 4095, 4096, 4097, 8193, 40_000, BIG);
    }

    @ParameterizedTest(name = "n={0}")
    @MethodSource("sumSizes")
    void sumAndSumSquares(int n) {
        float[] xi = ints(2000 + n, n, 8);
        long s = 0;
        long sq = 0;
        for (float v : xi) {
            s += (long) v;
            sq += (long) v * (long) v;
        }
        for (CpuBackend be : List.of(be1, be2, be3)) {
            assertEquals((double) s, be.sum(t(xi, n)), "sum of integers, " + be.threads() + " threads");
            assertEquals((double) sq, be.sumSquares(t(xi, n)), "sumSquares of integers, " + be.threads() + " threads");
        }
        float[] x = uniform(2100 + n, n, -1, 3);
        double ref = 0;
        double abs = 0;
        double refSq = 0;
        for (float v : x) {
            ref += v;
            abs += Math.abs(v);
            refSq += (double) v * v;
        }
        double got = be1.sum(t(x, n));
        double gotSq = be1.sumSquares(t(x, n));
        assertEquals(ref, got, 1e-6 * abs, "sum");
        assertEquals(refSq, gotSq, 1e-6 * refSq, "sumSquares");
        for (CpuBackend be : List.of(be2, be3)) {
            assertEquals(got, be.sum(t(x, n)), "sum differs on " + be.threads() + " threads");
            assertEquals(gotSq, be.sumSquares(t(x, n)), "sumSquares differs on " + be.threads() + " threads");
        }
    }

    @ParameterizedTest(name = "{0}x{1}")
    @CsvSource({"1,1", "4,1", "3,7", "5,17", "6,1000"})
    void argmaxRowsMatchesNaiveLoop(int rows, int cols) {
        float[] x = uniform(2200 + rows * 31L + cols, rows * cols, -10, 10);
        int[] got = be1.argmaxRows(t(x, rows, cols));
        assertEquals(rows, got.length);
        for (int i = 0; i < rows; i++) {
            int best = 0;
            for (int j = 1; j < cols; j++) {
                if (x[i * cols + j] > x[i * cols + best]) {
                    best = j;
                }
            }
            assertEquals(best, got[i], "row " + i);
        }
    }

    @Test
    void argmaxRowsTiesGoToTheLowestIndex() {
        float inf = Float.POSITIVE_INFINITY;
        float[] x = {
            1, 3, 3, 2, //
            5, 5, 5, 5, //
            -inf, -inf, -inf, -inf, //
            0, -0f, 7, 7, //
            -2, -1, -1, -3, //
            inf, 1, inf, 2};
        assertArrayEquals(new int[] {1, 0, 0, 2, 1, 0}, be1.argmaxRows(t(x, 6, 4)));
        // 3-D input uses the 2-D view
        assertArrayEquals(new int[] {1, 0, 0, 2, 1, 0}, be1.argmaxRows(t(x, 2, 3, 4)));
    }

    // ---- softmax and losses ---------------------------------------------------------------------

    static double[] logSoftmaxRef(float[] x, int rows, int cols) {
        double[] out = new double[x.length];
        for (int i = 0; i < rows; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) {
                max = Math.max(max, x[i * cols + j]);
            }
            double z = 0;
            for (int j = 0; j < cols; j++) {
                z += Math.exp(x[i * cols + j] - max);
            }
            double logZ = max + Math.log(z);
            for (int j = 0; j < cols; j++) {
                out[i * cols + j] = x[i * cols + j] - logZ;
            }
        }
        return out;
    }

    static void checkSoftmaxes(float[] x, int rows, int cols) {
        double[] ref = logSoftmaxRef(x, rows, cols);
        float[] p = sameOnAllThreadCounts("softmaxRows", be -> {
            Tensor out = Tensor.zeros(rows, cols);
            be.softmaxRows(t(x, rows, cols), out);
            return out.data();
        });
        float[] lp = sameOnAllThreadCounts("logSoftmaxRows", be -> {
            Tensor out = Tensor.zeros(rows, cols);
            be.logSoftmaxRows(t(x, rows, cols), out);
            return out.data();
        });
        assertWithin("softmaxRows", p, i -> Math.exp(ref[i]), i -> 1e-6 + 1e-5 * Math.exp(ref[i]));
        assertWithin("logSoftmaxRows", lp, i -> ref[i], i -> 1e-6 + 1e-6 * Math.abs(ref[i]));
        for (int i = 0; i < rows; i++) {
            double s = 0;
            for (int j = 0; j < cols; j++) {
                s += p[i * cols + j];
            }
            assertEquals(1.0, s, 1e-5, "row " + i + " of the softmax sums to 1");
        }
    }

    @ParameterizedTest(name = "{0}x{1}")
    @CsvSource({"1,1", "3,2", "4,10", "5,17", "7,1000", "5000,10", "2,100003"})
    void softmaxAndLogSoftmaxRows(int rows, int cols) {
        checkSoftmaxes(uniform(2300 + rows * 13L + cols, rows * cols, -8, 8), rows, cols);
    }

    @Test
    void softmaxIsStableForLargeLogits() {
        float[] x = {
            1000, 999, 998, 0, //
            -1000, -1000.5f, -999, -1001, //
            1000, -1000, 1000, 500, //
            88.7f, 89, 90, 100, //
            1000, 1000, 1000, 1000};
        checkSoftmaxes(x, 5, 4);
        Tensor lp = Tensor.zeros(5, 4);
        be1.logSoftmaxRows(t(x, 5, 4), lp);
        assertEquals((float) Math.log(0.25), lp.data()[16], 1e-7f);
        assertEquals((float) -Math.log(2), lp.data()[8], 1e-7f);
    }

    @Test
    void softmaxShapeErrors() {
        assertShapeError(() -> be1.softmaxRows(Tensor.zeros(2, 5), Tensor.zeros(5, 2)), "[2, 5]", "[5, 2]");
        assertShapeError(() -> be1.logSoftmaxRows(Tensor.zeros(2, 5), Tensor.zeros(10)), "[2, 5]", "[10]");
    }

    static double crossEntropyRef(float[] logits, int[] labels, int rows, int cols, double eps) {
        double[] lp = logSoftmaxRef(logits, rows, cols);
        double total = 0;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double target = eps / cols + (j == labels[i] ? 1 - eps : 0);
                total -= target * lp[i * cols + j];
            }
        }
        return total / rows;
    }

    @ParameterizedTest(name = "{0}x{1} smoothing={2}")
    @CsvSource({"1,1,0", "1,2,0", "4,10,0", "4,10,0.1", "8,17,0.2", "64,1000,0.1", "5000,10,0", "5000,10,0.1"})
    void crossEntropyAndBackward(int rows, int cols, float eps) {
        float[] x = uniform(2400 + rows * 7L + cols, rows * cols, -6, 6);
        SplittableRandom r = new SplittableRandom(2500 + rows);
        int[] labels = new int[rows];
        for (int i = 0; i < rows; i++) {
            labels[i] = r.nextInt(cols);
        }
        double ref = crossEntropyRef(x, labels, rows, cols, eps);
        double[] lpRef = logSoftmaxRef(x, rows, cols);
        double[] loss = new double[3];
        int k = 0;
        for (CpuBackend be : List.of(be1, be2, be3)) {
            Tensor probs = Tensor.zeros(rows, cols);
            loss[k++] = be.crossEntropy(t(x, rows, cols), labels, eps, probs);
            assertWithin("crossEntropy probs", probs.data(), i -> Math.exp(lpRef[i]),
                    i -> 1e-6 + 1e-5 * Math.exp(lpRef[i]));
            float scale = 0.5f / rows;
            Tensor dl = Tensor.zeros(rows, cols);
            be.crossEntropyBackward(probs, labels, eps, scale, dl);
            float[] ps = probs.data();
            assertWithin("crossEntropyBackward", dl.data(),
                    i -> scale * (ps[i] - (eps / cols + (i % cols == labels[i / cols] ? 1 - eps : 0))),
                    i -> 4 * U * scale * (ps[i] + 1));
        }
        assertEquals(ref, loss[0], 1e-6 * (1 + ref), "mean cross-entropy");
        assertEquals(loss[0], loss[1], 1e-12 * (1 + ref));
        assertEquals(loss[0], loss[2], 1e-12 * (1 + ref));
    }

    @Test
    void crossEntropyIsStableForLargeLogits() {
        float[] x = {1000, 999, -1000, 0, -1000, -1000, 1000, 998};
        int[] labels = {1, 3};
        for (float eps : new float[] {0f, 0.1f}) {
            Tensor probs = Tensor.zeros(2, 4);
            double loss = be1.crossEntropy(t(x, 2, 4), labels, eps, probs);
            assertTrue(Double.isFinite(loss));
            assertEquals(crossEntropyRef(x, labels, 2, 4, eps), loss, 1e-6 * (1 + Math.abs(loss)));
            for (float v : probs.data()) {
                assertTrue(Float.isFinite(v));
            }
        }
    }

    @Test
    void crossEntropyKnownValueAndErrors() {
        // uniform logits: loss = log(classes) whatever the label and smoothing
        Tensor probs = Tensor.zeros(3, 5);
        assertEquals(Math.log(5), be1.crossEntropy(Tensor.zeros(3, 5), new int[] {0, 4, 2}, 0.3f, probs), 1e-6);
        for (float v : probs.data()) {
            assertEquals(0.2f, v, 1e-7f);
        }
        assertThrows(IllegalArgumentException.class,
                () -> be1.crossEntropy(Tensor.zeros(3, 5), new int[] {0, 1}, 0f, Tensor.zeros(3, 5)));
        assertThrows(IllegalArgumentException.class,
                () -> be1.crossEntropy(Tensor.zeros(3, 5), new int[] {0, 5, 1}, 0f, Tensor.zeros(3, 5)));
        assertThrows(IllegalArgumentException.class,
                () -> be1.crossEntropy(Tensor.zeros(3, 5), new int[] {0, -1, 1}, 0f, Tensor.zeros(3, 5)));
        assertThrows(IllegalArgumentException.class,
                () -> be1.crossEntropyBackward(Tensor.zeros(3, 5), new int[] {0, 1}, 0f, 1f, Tensor.zeros(3, 5)));
        assertShapeError(() -> be1.crossEntropy(Tensor.zeros(3, 5), new int[] {0, 1, 2}, 0f, Tensor.zeros(5, 3)),
                "[3, 5]", "[5, 3]");
        assertShapeError(() -> be1.crossEntropyBackward(Tensor.zeros(3, 5), new int[] {0, 1, 2}, 0f, 1f,
                Tensor.zeros(15)), "[3, 5]", "[15]");
    }

    // ---- optimizer updates ----------------------------------------------------------------------

    @ParameterizedTest(name = "n={0} wd={1}")
    @CsvSource({"1,0.1", "17,0", "33,0.01", "1000,0.1", "100003,0.05"})
    void adamwStepMatchesDoubleReference(int n, float wd) {
        float lr = 1e-2f;
        float b1 = 0.9f;
        float b2 = 0.999f;
        float eps = 1e-8f;
        int steps = 6;
        float[] p0 = uniform(2600 + n, n, -1, 1);
        float[][] grads = new float[steps][];
        for (int s = 0; s < steps; s++) {
            grads[s] = uniform(2700 + 31L * n + s, n, -1, 1);
            grads[s][0] = s == 0 ? 0f : grads[s][0]; // a zero gradient on the first step: m = v = 0
        }
        float[] got = sameOnAllThreadCounts("adamwStep", be -> {
            Tensor p = t(p0, n);
            Tensor m = Tensor.zeros(n);
            Tensor v = Tensor.zeros(n);
            for (int s = 0; s < steps; s++) {
                be.adamwStep(p, t(grads[s], n), m, v, lr, b1, b2, eps, wd, s + 1);
            }
            return concat(p.data(), m.data(), v.data());
        });
        double[] p = new double[n];
        double[] m = new double[n];
        double[] v = new double[n];
        double[] mAbs = new double[n]; // m over |g|: the scale of m's rounding errors (m can cancel)
        for (int i = 0; i < n; i++) {
            p[i] = p0[i];
        }
        for (int s = 0; s < steps; s++) {
            int step = s + 1;
            for (int i = 0; i < n; i++) {
                double g = grads[s][i];
                p[i] -= (double) lr * wd * p[i];
                m[i] = b1 * m[i] + (1 - (double) b1) * g;
                mAbs[i] = b1 * mAbs[i] + (1 - (double) b1) * Math.abs(g);
                v[i] = b2 * v[i] + (1 - (double) b2) * g * g;
                double mHat = m[i] / (1 - Math.pow(b1, step));
                double vHat = v[i] / (1 - Math.pow(b2, step));
                p[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
            }
        }
        assertWithin("adamw param", java.util.Arrays.copyOfRange(got, 0, n), i -> p[i],
                i -> 1e-6 * Math.abs(p[i]) + 1e-5 * lr);
        assertWithin("adamw m", java.util.Arrays.copyOfRange(got, n, 2 * n), i -> m[i], i -> 1e-5 * mAbs[i] + 1e-12);
        assertWithin("adamw v", java.util.Arrays.copyOfRange(got, 2 * n, 3 * n), i -> v[i], i -> 1e-5 * Math.abs(v[i]) + 1e-15);
    }

    @Test
    void adamwFirstStepMovesEachCoordinateByLr() {
        // step 1 without decay: mHat = g, vHat = g^2, so the update is lr * sign(g) (up to eps)
        int n = 37;
        float[] p0 = uniform(2800, n, -1, 1);
        float[] g = uniform(2801, n, -1, 1);
        Tensor p = t(p0, n);
        be1.adamwStep(p, t(g, n), Tensor.zeros(n), Tensor.zeros(n), 0.01f, 0.9f, 0.999f, 1e-8f, 0f, 1);
        for (int i = 0; i < n; i++) {
            assertEquals(p0[i] - 0.01 * Math.signum(g[i]), p.data()[i], 1e-6);
        }
        assertThrows(IllegalArgumentException.class, () -> be1.adamwStep(p, t(g, n), Tensor.zeros(n),
                Tensor.zeros(n), 0.01f, 0.9f, 0.999f, 1e-8f, 0f, 0));
        assertShapeError(() -> be1.adamwStep(Tensor.zeros(3, 4), Tensor.zeros(4, 3), Tensor.zeros(3, 4),
                Tensor.zeros(3, 4), 0.01f, 0.9f, 0.999f, 1e-8f, 0f, 1), "[3, 4]", "[4, 3]");
        assertShapeError(() -> be1.adamwStep(Tensor.zeros(3, 4), Tensor.zeros(3, 4), Tensor.zeros(12),
                Tensor.zeros(3, 4), 0.01f, 0.9f, 0.999f, 1e-8f, 0f, 1), "[3, 4]", "[12]");
    }

    @ParameterizedTest(name = "n={0} momentum={1} nesterov={2} wd={3}")
    @CsvSource({"1,0,false,0", "17,0,false,0.1", "33,0.9,false,0", "1000,0.9,false,0.01", "17,0.9,true,0",
            "1000,0.8,true,0.05", "100003,0.9,true,0.01", "100003,0,false,0.01"})
    void sgdStepMatchesDoubleReference(int n, float momentum, boolean nesterov, float wd) {
        float lr = 0.05f;
        int steps = 5;
        float[] p0 = uniform(2900 + n, n, -1, 1);
        float[][] grads = new float[steps][];
        for (int s = 0; s < steps; s++) {
            grads[s] = uniform(3000 + 17L * n + s, n, -1, 1);
        }
        float[] buf0 = uniform(3100, n, 5, 6); // garbage: the first step must ignore it
        float[] firstBuf = new float[n];
        float[] got = sameOnAllThreadCounts("sgdStep", be -> {
            Tensor p = t(p0, n);
            Tensor buf = momentum == 0f ? null : t(buf0, n);
            for (int s = 0; s < steps; s++) {
                be.sgdStep(p, t(grads[s], n), buf, lr, momentum, nesterov, wd, s == 0);
                if (s == 0 && buf != null) {
                    System.arraycopy(buf.data(), 0, firstBuf, 0, n);
                }
            }
            return concat(p.data(), buf == null ? new float[0] : buf.data());
        });
        double[] p = new double[n];
        double[] buf = new double[n];
        double[] firstBufRef = new double[n];
        for (int i = 0; i < n; i++) {
            p[i] = p0[i];
        }
        for (int s = 0; s < steps; s++) {
            for (int i = 0; i < n; i++) {
                double g = grads[s][i] + (double) wd * p[i];
                if (momentum != 0f) {
                    buf[i] = s == 0 ? g : momentum * buf[i] + g;
                    g = nesterov ? g + momentum * buf[i] : buf[i];
                }
                if (s == 0) {
                    firstBufRef[i] = buf[i];
                }
                p[i] -= lr * g;
            }
        }
        double bound = 1 / (1 - momentum) * (1 + momentum) * 2; // a bound on |update|
        assertWithin("sgd param", java.util.Arrays.copyOfRange(got, 0, n), i -> p[i],
                i -> 1e-6 * (Math.abs(p[i]) + lr * bound * steps));
        if (momentum != 0f) {
            assertWithin("sgd buf", java.util.Arrays.copyOfRange(got, n, 2 * n), i -> buf[i],
                    i -> 1e-6 * bound * steps);
            assertWithin("sgd first buf = g", firstBuf, i -> firstBufRef[i], i -> 4 * U * (1 + Math.abs(firstBufRef[i])));
        }
    }

    @Test
    void sgdStepErrors() {
        assertThrows(IllegalArgumentException.class,
                () -> be1.sgdStep(Tensor.zeros(4), Tensor.zeros(4), null, 0.1f, 0.9f, false, 0f, true));
        assertShapeError(() -> be1.sgdStep(Tensor.zeros(2, 2), Tensor.zeros(4), null, 0.1f, 0f, false, 0f, true),
                "[2, 2]", "[4]");
        assertShapeError(() -> be1.sgdStep(Tensor.zeros(2, 2), Tensor.zeros(2, 2), Tensor.zeros(1, 4), 0.1f, 0.5f,
                false, 0f, true), "[2, 2]", "[1, 4]");
    }

    // ---- shape checks ---------------------------------------------------------------------------

    @Test
    void elementwiseShapeMismatchesNameBothShapes() {
        Tensor a = Tensor.zeros(2, 3);
        Tensor b = Tensor.zeros(3, 2);
        assertShapeError(() -> be1.add(a, b, Tensor.zeros(2, 3)), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.add(a, Tensor.zeros(2, 3), b), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.mul(a, b, Tensor.zeros(2, 3)), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.mul(a, Tensor.zeros(2, 3), Tensor.zeros(6)), "[2, 3]", "[6]");
        assertShapeError(() -> be1.scale(a, 2f, b), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.relu(a, b), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.reluBackward(a, b, Tensor.zeros(2, 3)), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.reluBackward(a, Tensor.zeros(2, 3), b), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.gelu(a, b), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.geluBackward(a, b, Tensor.zeros(2, 3)), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.geluBackward(a, Tensor.zeros(2, 3), b), "[2, 3]", "[3, 2]");
        assertShapeError(() -> be1.copy(a, Tensor.zeros(7)), "[2, 3]", "[7]");
    }

    @Test
    void memoryOps() {
        float[] d = uniform(3200, 6, -1, 1);
        Tensor x = be1.fromHost(d, 2, 3);
        d[0] = 99f; // fromHost copies
        assertNotEquals(99f, x.data()[0]);
        float[] back = be1.toHost(x);
        back[1] = 99f; // toHost copies
        assertNotEquals(99f, x.data()[1]);
        Tensor y = be1.zeros(6);
        be1.copy(x, y);
        assertArrayEquals(x.data(), y.data());
        be1.fill(y, 2.5f);
        for (float v : y.data()) {
            assertEquals(2.5f, v);
        }
        assertThrows(IllegalArgumentException.class, () -> be1.fromHost(new float[5], 2, 3));
        assertFalse(be1.name().isEmpty());
    }
}
