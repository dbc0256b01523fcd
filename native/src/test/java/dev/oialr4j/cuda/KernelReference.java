package dev.oialr4j.cuda;

/**
 * Plain-loop references for the CUDA kernels, in double, written from the kernels' stated maths (not
 * from the kernel code). {@link KernelReferenceTest} checks the backward ones against finite
 * differences of the forward ones; {@link CudaKernelsGpuTest} compares each kernel with them.
 * Matrices are row-major float arrays as on the device.
 */
final class KernelReference {

    static final double GELU_C = Math.sqrt(2.0 / Math.PI);
    static final double GELU_A = 0.044715;

    private KernelReference() {
    }

    static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(GELU_C * (x + GELU_A * x * x * x)));
    }

    static double geluTanhGrad(double x) {
        double t = Math.tanh(GELU_C * (x + GELU_A * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x);
    }

    /** out = act(x + bias) per row; act 0 = ReLU, 1 = GELU (tanh). */
    static double[] biasActivation(float[] x, float[] bias, int rows, int cols, int act) {
        double[] out = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double v = (double) x[i * cols + j] + bias[j];
                out[i * cols + j] = act == 0 ? Math.max(v, 0) : geluTanh(v);
            }
        }
        return out;
    }

    static double[] sumCols(float[] x, int rows, int cols) {
        double[] out = new double[rows];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[i] += x[i * cols + j];
            }
        }
        return out;
    }

    static double[] sumRows(float[] x, int rows, int cols) {
        double[] out = new double[cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[j] += x[i * cols + j];
            }
        }
        return out;
    }

    static double[] transpose(float[] x, int rows, int cols) {
        double[] out = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[j * rows + i] = x[i * cols + j];
            }
        }
        return out;
    }

    static double[] softmax(float[] x, int rows, int cols, boolean log) {
        double[] out = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) {
                max = Math.max(max, x[i * cols + j]);
            }
            double z = 0;
            for (int j = 0; j < cols; j++) {
                z += Math.exp(x[i * cols + j] - max);
            }
            for (int j = 0; j < cols; j++) {
                double lp = x[i * cols + j] - max - Math.log(z);
                out[i * cols + j] = log ? lp : Math.exp(lp);
            }
        }
        return out;
    }

    /** Mean over rows of -Σ_j target_j log p_j with target = (1 - eps) onehot + eps / cols. */
    static double crossEntropy(float[] logits, int[] labels, double eps, int rows, int cols) {
        double[] lp = softmax(logits, rows, cols, true);
        double total = 0;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double target = eps / cols + (j == labels[i] ? 1 - eps : 0);
                total -= target * lp[i * cols + j];
            }
        }
        return total / rows;
    }

    /** dx = y (dy - Σ_j dy_j y_j) per row, scaled. */
    static double[] softmaxBackward(double[] y, float[] dy, int rows, int cols, double scale) {
        double[] dx = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            double dot = 0;
            for (int j = 0; j < cols; j++) {
                dot += dy[i * cols + j] * y[i * cols + j];
            }
            for (int j = 0; j < cols; j++) {
                dx[i * cols + j] = scale * y[i * cols + j] * (dy[i * cols + j] - dot);
            }
        }
        return dx;
    }

    /** Masked, scaled softmax of attention scores (see attention_softmax in softmax.cu). */
    static double[] attentionSoftmax(float[] scores, byte[] keyMask, double scale, int rows, int keys, int queries,
            int heads, boolean causal) {
        double[] out = new double[rows * keys];
        for (int r = 0; r < rows; r++) {
            int q = r % queries;
            int b = r / (heads * queries);
            int last = causal ? q + keys - queries : keys - 1;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j <= last && j < keys; j++) {
                if (keyMask == null || keyMask[b * keys + j] != 0) {
                    max = Math.max(max, scale * scores[r * keys + j]);
                }
            }
            double z = 0;
            for (int j = 0; j <= last && j < keys; j++) {
                if (keyMask == null || keyMask[b * keys + j] != 0) {
                    z += Math.exp(scale * scores[r * keys + j] - max);
                }
            }
            for (int j = 0; j <= last && j < keys; j++) {
                if (keyMask == null || keyMask[b * keys + j] != 0) {
                    out[r * keys + j] = Math.exp(scale * scores[r * keys + j] - max) / z;
                }
            }
        }
        return out;
    }

    /** LayerNorm over rows: returns y; mean and rstd (biased variance) go to the given arrays. */
    static double[] layerNorm(float[] x, float[] gamma, float[] beta, int rows, int cols, double eps, double[] mean,
            double[] rstd) {
        double[] y = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            double mu = 0;
            for (int j = 0; j < cols; j++) {
                mu += x[i * cols + j];
            }
            mu /= cols;
            double var = 0;
            for (int j = 0; j < cols; j++) {
                var += (x[i * cols + j] - mu) * (x[i * cols + j] - mu);
            }
            var /= cols;
            double rs = 1 / Math.sqrt(var + eps);
            mean[i] = mu;
            rstd[i] = rs;
            for (int j = 0; j < cols; j++) {
                y[i * cols + j] = (x[i * cols + j] - mu) * rs * gamma[j] + beta[j];
            }
        }
        return y;
    }

    /** Gradients of Σ dy ⊙ LayerNorm(x): {dx, dgamma, dbeta}, from the analytic formula. */
    static double[][] layerNormBackward(float[] x, float[] gamma, float[] dy, int rows, int cols, double eps) {
        double[] mean = new double[rows];
        double[] rstd = new double[rows];
        layerNorm(x, gamma, new float[cols], rows, cols, eps, mean, rstd);
        double[] dx = new double[rows * cols];
        double[] dg = new double[cols];
        double[] db = new double[cols];
        for (int i = 0; i < rows; i++) {
            double sg = 0;
            double sgx = 0;
            for (int j = 0; j < cols; j++) {
                double xh = (x[i * cols + j] - mean[i]) * rstd[i];
                double g = dy[i * cols + j] * gamma[j];
                sg += g;
                sgx += g * xh;
                dg[j] += dy[i * cols + j] * xh;
                db[j] += dy[i * cols + j];
            }
            for (int j = 0; j < cols; j++) {
                double xh = (x[i * cols + j] - mean[i]) * rstd[i];
                double g = dy[i * cols + j] * gamma[j];
                dx[i * cols + j] = rstd[i] * (g - sg / cols - xh * sgx / cols);
            }
        }
        return new double[][] {dx, dg, db};
    }

    /** BatchNorm (training mode) on NCHW with hw = H·W; mean and invstd per channel go to the arrays. */
    static double[] batchNorm(float[] x, float[] gamma, float[] beta, int n, int c, int hw, double eps, double[] mean,
            double[] invstd) {
        double[] y = new double[x.length];
        int count = n * hw;
        for (int ch = 0; ch < c; ch++) {
            double mu = 0;
            for (int b = 0; b < n; b++) {
                for (int k = 0; k < hw; k++) {
                    mu += x[(b * c + ch) * hw + k];
                }
            }
            mu /= count;
            double var = 0;
            for (int b = 0; b < n; b++) {
                for (int k = 0; k < hw; k++) {
                    double d = x[(b * c + ch) * hw + k] - mu;
                    var += d * d;
                }
            }
            var /= count;
            double is = 1 / Math.sqrt(var + eps);
            mean[ch] = mu;
            invstd[ch] = is;
            for (int b = 0; b < n; b++) {
                for (int k = 0; k < hw; k++) {
                    int i = (b * c + ch) * hw + k;
                    y[i] = (x[i] - mu) * is * gamma[ch] + beta[ch];
                }
            }
        }
        return y;
    }

    /** {dx, dgamma, dbeta} of Σ dy ⊙ BatchNorm(x), analytic. */
    static double[][] batchNormBackward(float[] x, float[] gamma, float[] dy, int n, int c, int hw, double eps) {
        double[] mean = new double[c];
        double[] is = new double[c];
        batchNorm(x, gamma, new float[c], n, c, hw, eps, mean, is);
        double[] dx = new double[x.length];
        double[] dg = new double[c];
        double[] db = new double[c];
        int count = n * hw;
        for (int ch = 0; ch < c; ch++) {
            for (int b = 0; b < n; b++) {
                for (int k = 0; k < hw; k++) {
                    int i = (b * c + ch) * hw + k;
                    db[ch] += dy[i];
                    dg[ch] += dy[i] * (x[i] - mean[ch]) * is[ch];
                }
            }
            for (int b = 0; b < n; b++) {
                for (int k = 0; k < hw; k++) {
                    int i = (b * c + ch) * hw + k;
                    double xh = (x[i] - mean[ch]) * is[ch];
                    dx[i] = gamma[ch] * is[ch] * (dy[i] - db[ch] / count - xh * dg[ch] / count);
                }
            }
        }
        return new double[][] {dx, dg, db};
    }

    static int outSize(int in, int k, int stride, int pad, int dilation) {
        return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
    }

    /** col[(c, ky, kx), (oy, ox)] as documented in conv.cu. */
    static double[] im2col(float[] x, int c, int h, int w, int kh, int kw, int stride, int pad, int dil) {
        int oh = outSize(h, kh, stride, pad, dil);
        int ow = outSize(w, kw, stride, pad, dil);
        double[] col = new double[c * kh * kw * oh * ow];
        for (int ch = 0; ch < c; ch++) {
            for (int ky = 0; ky < kh; ky++) {
                for (int kx = 0; kx < kw; kx++) {
                    int row = (ch * kh + ky) * kw + kx;
                    for (int oy = 0; oy < oh; oy++) {
                        for (int ox = 0; ox < ow; ox++) {
                            int iy = oy * stride - pad + ky * dil;
                            int ix = ox * stride - pad + kx * dil;
                            col[row * oh * ow + oy * ow + ox] =
                                    iy >= 0 && iy < h && ix >= 0 && ix < w ? x[(ch * h + iy) * w + ix] : 0;
                        }
                    }
                }
            }
        }
        return col;
    }

    /** The adjoint of im2col: scatter-add. */
    static double[] col2im(float[] col, int c, int h, int w, int kh, int kw, int stride, int pad, int dil) {
        int oh = outSize(h, kh, stride, pad, dil);
        int ow = outSize(w, kw, stride, pad, dil);
        double[] x = new double[c * h * w];
        for (int ch = 0; ch < c; ch++) {
            for (int ky = 0; ky < kh; ky++) {
                for (int kx = 0; kx < kw; kx++) {
                    int row = (ch * kh + ky) * kw + kx;
                    for (int oy = 0; oy < oh; oy++) {
                        for (int ox = 0; ox < ow; ox++) {
                            int iy = oy * stride - pad + ky * dil;
                            int ix = ox * stride - pad + kx * dil;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
                                x[(ch * h + iy) * w + ix] += col[row * oh * ow + oy * ow + ox];
                            }
                        }
                    }
                }
            }
        }
        return x;
    }
}
