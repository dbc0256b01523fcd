package dev.oialr4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * Checks the analytic backward references the GPU kernels are compared with, against central finite
 * differences of the forward references (double precision, fresh random inputs). Inputs are multiples of
 * 2^-10 and the step is 2^-8, so x ± h is exact in float and the difference quotient has only its
 * O(h²) truncation error; tolerance 1e-4 relative to the largest gradient.
 */
class KernelReferenceTest {

    private static final float H = 0x1p-8f;
    private final Random rng = new Random();

    private float[] grid(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (rng.nextInt(2049) - 1024) * 0x1p-10f;
        }
        return a;
    }

    private static void assertGradient(double[] analytic, float[] x, ToDoubleFunction<float[]> loss) {
        double scale = 0;
        for (double g : analytic) {
            scale = Math.max(scale, Math.abs(g));
        }
        for (int i = 0; i < x.length; i++) {
            float keep = x[i];
            x[i] = keep + H;
            double up = loss.applyAsDouble(x);
            x[i] = keep - H;
            double down = loss.applyAsDouble(x);
            x[i] = keep;
            double fd = (up - down) / (2 * H);
            assertEquals(fd, analytic[i], 1e-4 * Math.max(scale, 1e-6), "element " + i);
        }
    }

    private static double dot(double[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    @Test
    void geluGradient() {
        float[] x = grid(200);
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            g[i] = KernelReference.geluTanhGrad(x[i]);
        }
        // Σ gelu(x_i): its gradient is gelu'(x_i) elementwise.
        assertGradient(g, x, v -> {
            double s = 0;
            for (float f : v) {
                s += KernelReference.geluTanh(f);
            }
            return s;
        });
    }

    @Test
    void layerNormBackward() {
        int rows = 4;
        int cols = 9;
        float[] x = grid(rows * cols);
        float[] gamma = grid(cols);
        float[] beta = grid(cols);
        float[] dy = grid(rows * cols);
        double eps = 1e-5;
        double[][] grads = KernelReference.layerNormBackward(x, gamma, dy, rows, cols, eps);
        assertGradient(grads[0], x, v -> dot(KernelReference.layerNorm(v, gamma, beta, rows, cols, eps,
                new double[rows], new double[rows]), dy));
        assertGradient(grads[1], gamma, v -> dot(KernelReference.layerNorm(x, v, beta, rows, cols, eps,
                new double[rows], new double[rows]), dy));
        assertGradient(grads[2], beta, v -> dot(KernelReference.layerNorm(x, gamma, v, rows, cols, eps,
                new double[rows], new double[rows]), dy));
    }

    @Test
    void batchNormBackward() {
        int n = 3;
        int c = 2;
        int hw = 5;
        float[] x = grid(n * c * hw);
        float[] gamma = grid(c);
        float[] beta = grid(c);
        float[] dy = grid(x.length);
        double eps = 1e-5;
        double[][] grads = KernelReference.batchNormBackward(x, gamma, dy, n, c, hw, eps);
        assertGradient(grads[0], x, v -> dot(KernelReference.batchNorm(v, gamma, beta, n, c, hw, eps, new double[c],
                new double[c]), dy));
        assertGradient(grads[1], gamma, v -> dot(KernelReference.batchNorm(x, v, beta, n, c, hw, eps, new double[c],
                new double[c]), dy));
        assertGradient(grads[2], beta, v -> dot(KernelReference.batchNorm(x, gamma, v, n, c, hw, eps, new double[c],
                new double[c]), dy));
    }

    @Test
    void maskedAttentionSoftmaxBackward() {
        int batch = 2;
        int heads = 2;
        int queries = 3;
        int keys = 5;
        int rows = batch * heads * queries;
        float[] s = grid(rows * keys);
        float[] dy = grid(rows * keys);
        byte[] mask = new byte[batch * keys];
        for (int i = 0; i < mask.length; i++) {
            mask[i] = (byte) (i % keys == 3 ? 0 : 1);
        }
        double scale = 0.5;
        double[] y = KernelReference.attentionSoftmax(s, mask, scale, rows, keys, queries, heads, true);
        for (int r = 0; r < rows; r++) {
            int q = r % queries;
            double sum = 0;
            for (int j = 0; j < keys; j++) {
                boolean hidden = j > q + keys - queries || j == 3;
                assertTrue(!hidden || y[r * keys + j] == 0, "hidden key " + j + " of row " + r + " has weight");
                sum += y[r * keys + j];
            }
            assertEquals(1, sum, 1e-12);
        }
        double[] ds = KernelReference.softmaxBackward(y, dy, rows, keys, scale);
        assertGradient(ds, s, v -> dot(KernelReference.attentionSoftmax(v, mask, scale, rows, keys, queries, heads,
                true), dy));
    }

    @Test
    void crossEntropyGradient() {
        int rows = 5;
        int cols = 7;
        float[] logits = grid(rows * cols);
        int[] labels = rng.ints(rows, 0, cols).toArray();
        double eps = 0.1;
        double[] p = KernelReference.softmax(logits, rows, cols, false);
        double[] g = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double target = eps / cols + (j == labels[i] ? 1 - eps : 0);
                g[i * cols + j] = (p[i * cols + j] - target) / rows;
            }
        }
        assertGradient(g, logits, v -> KernelReference.crossEntropy(v, labels, eps, rows, cols));
    }

    @Test
    void col2imIsTheAdjointOfIm2col() {
        int c = 3;
        int h = 7;
        int w = 6;
        for (int[] conv : new int[][] {{3, 3, 1, 1, 1}, {3, 2, 2, 0, 1}, {3, 3, 2, 2, 2}}) {
            float[] x = grid(c * h * w);
            double[] col = KernelReference.im2col(x, c, h, w, conv[0], conv[1], conv[2], conv[3], conv[4]);
            float[] y = grid(col.length);
            double[] back = KernelReference.col2im(y, c, h, w, conv[0], conv[1], conv[2], conv[3], conv[4]);
            // <im2col(x), y> = <x, col2im(y)>
            assertEquals(dot(col, y), dot(back, x), 1e-9);
        }
    }
}
