package dev.oialr4j.backend;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Host kernels for convolution, pooling and batch normalisation on NCHW float arrays.
 *
 * <p>A convolution runs as im2col + {@link CpuGemm} per group over chunks of images: a chunk's column
 * matrix (patchSize × images·outH·outW) goes into a per-thread buffer that is reused across calls, so a
 * step does not allocate it again. Chunks of small feature maps hold several images so the GEMM has
 * enough columns to fill its register tiles. Chunks run in parallel; the GEMMs inside run on the thread
 * that owns the chunk (nested loops of the same pool run inline). A 1×1 convolution with stride 1 and
 * no padding skips im2col and multiplies the input directly.
 *
 * <p>Determinism: the chunking depends only on the shapes, every output element is produced by one
 * chunk, and the weight gradient is summed over a fixed number of partial sums (each over a fixed run
 * of chunks, in order) that are then added in a fixed order. So results do not depend on the thread
 * count.
 */
final class CpuConv {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Columns a chunk's GEMM should have at least (a few 48-wide register tiles). */
    private static final int TARGET_COLUMNS = 256;
    /** Partial sums of the weight gradient (fixed, so the summation order is too). */
    private static final int WEIGHT_PARTIALS = 8;

    private final Parallel parallel;
    private final CpuGemm gemm;
    private final ThreadLocal<Workspace> workspaces = ThreadLocal.withInitial(Workspace::new);

    CpuConv(Parallel parallel, CpuGemm gemm) {
        this.parallel = parallel;
        this.gemm = gemm;
    }

    /** Grow-only per-thread buffers. */
    private static final class Workspace {
        float[] cols = new float[0];
        float[] tmp = new float[0];

        float[] cols(int n) {
            if (cols.length < n) {
                cols = new float[n];
            }
            return cols;
        }

        float[] tmp(int n) {
            if (tmp.length < n) {
                tmp = new float[n];
            }
            return tmp;
        }
    }

    /**
     * Images per chunk: one for large maps, several for small ones, chosen among the counts that give
     * 1-2× {@link #TARGET_COLUMNS} columns so that the last 48-wide GEMM tile is as full as possible;
     * depends on the shape only.
     */
    static int imagesPerChunk(Conv2dGeometry g) {
        int ohw = g.outHeight() * g.outWidth();
        int least = Math.max(1, Math.min(g.batch(), (TARGET_COLUMNS + ohw - 1) / ohw));
        int best = least;
        double bestFill = 0;
        for (int nb = least; nb <= Math.min(g.batch(), 2 * least); nb++) {
            int cols = nb * ohw;
            double fill = (double) cols / (((cols + CpuGemmKernel.NR - 1) / CpuGemmKernel.NR) * CpuGemmKernel.NR);
            if (fill > bestFill + 1e-9) {
                bestFill = fill;
                best = nb;
            }
        }
        return best;
    }

    private static boolean direct(Conv2dGeometry g) {
        Conv2dOptions o = g.options();
        return g.kernelH() == 1 && g.kernelW() == 1 && o.strideH() == 1 && o.strideW() == 1 && o.padH() == 0
                && o.padW() == 0;
    }

    // ---- im2col / col2im ------------------------------------------------------------------------

    /** Writes the (patchSize × nb·OHW) column matrix of images [i0, i0 + nb), group {@code group}, at cols[off]. */
    static void im2col(float[] x, Conv2dGeometry g, int i0, int nb, int group, float[] cols, int off) {
        Conv2dOptions o = g.options();
        int h = g.height();
        int w = g.width();
        int oh = g.outHeight();
        int ow = g.outWidth();
        int ohw = oh * ow;
        int ld = nb * ohw;
        int cg = g.inPerGroup();
        int kh = g.kernelH();
        int kw = g.kernelW();
        int sh = o.strideH();
        int sw = o.strideW();
        for (int cl = 0; cl < cg; cl++) {
            for (int ki = 0; ki < kh; ki++) {
                for (int kj = 0; kj < kw; kj++) {
                    int rowOff = off + ((cl * kh + ki) * kw + kj) * ld;
                    int iw0 = kj * o.dilationW() - o.padW();
                    // Output columns whose input column lies inside the image: [owLo, owHi).
                    int owLo = iw0 >= 0 ? 0 : Math.min(ow, (-iw0 + sw - 1) / sw);
                    int owHi = Math.max(owLo, Math.min(ow, w - iw0 <= 0 ? 0 : (w - 1 - iw0) / sw + 1));
                    boolean block = sh == 1 && sw == 1 && ow == w;
                    // Output rows whose input row lies inside the image (stride 1): [yLo, yHi).
                    int ih0 = ki * o.dilationH() - o.padH();
                    int yLo = Math.min(oh, Math.max(0, -ih0));
                    int yHi = Math.max(yLo, Math.min(oh, h - ih0));
                    for (int b = 0; b < nb; b++) {
                        int xBase = ((i0 + b) * g.inChannels() + group * cg + cl) * h * w;
                        int dstBase = rowOff + b * ohw;
                        if (block) {
                            // "Same" convolution: each tap is one shifted copy of the whole plane, then the
                            // columns that fell off the left or right edge are cleared row by row.
                            Arrays.fill(cols, dstBase, dstBase + yLo * ow, 0f);
                            Arrays.fill(cols, dstBase + yHi * ow, dstBase + ohw, 0f);
                            if (owLo >= owHi) {
                                Arrays.fill(cols, dstBase + yLo * ow, dstBase + yHi * ow, 0f);
                            } else if (yHi > yLo) {
                                int from = yLo * ow + owLo;
                                int to = (yHi - 1) * ow + owHi;
                                System.arraycopy(x, xBase + (yLo + ih0) * w + owLo + iw0, cols, dstBase + from, to - from);
                                if (owLo > 0 || owHi < ow) {
                                    for (int y = yLo; y < yHi; y++) {
                                        int d = dstBase + y * ow;
                                        Arrays.fill(cols, d, d + owLo, 0f);
                                        Arrays.fill(cols, d + owHi, d + ow, 0f);
                                    }
                                }
                            }
                            continue;
                        }
                        for (int y = 0; y < oh; y++) {
                            int ih = y * sh - o.padH() + ki * o.dilationH();
                            int dst = dstBase + y * ow;
                            if (ih < 0 || ih >= h) {
                                Arrays.fill(cols, dst, dst + ow, 0f);
                                continue;
                            }
                            if (owLo > 0) {
                                Arrays.fill(cols, dst, dst + owLo, 0f);
                            }
                            int src = xBase + ih * w + iw0;
                            if (sw == 1) {
                                System.arraycopy(x, src + owLo, cols, dst + owLo, owHi - owLo);
                            } else {
                                for (int xo = owLo; xo < owHi; xo++) {
                                    cols[dst + xo] = x[src + xo * sw];
                                }
                            }
                            if (owHi < ow) {
                                Arrays.fill(cols, dst + owHi, dst + ow, 0f);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Adds the column matrix at cols[off] back onto images [i0, i0 + nb) of dx, group {@code group}. With
     * {@code scratch} the entries of cols that belong to padding may be overwritten (with zeros), which
     * lets a "same" convolution add each tap as one shifted block.
     */
    static void col2im(float[] cols, int off, Conv2dGeometry g, int i0, int nb, int group, float[] dx,
            boolean scratch) {
        Conv2dOptions o = g.options();
        int h = g.height();
        int w = g.width();
        int oh = g.outHeight();
        int ow = g.outWidth();
        int ohw = oh * ow;
        int ld = nb * ohw;
        int cg = g.inPerGroup();
        int kh = g.kernelH();
        int kw = g.kernelW();
        int sh = o.strideH();
        int sw = o.strideW();
        for (int b = 0; b < nb; b++) {
            for (int cl = 0; cl < cg; cl++) {
                int xBase = ((i0 + b) * g.inChannels() + group * cg + cl) * h * w;
                for (int ki = 0; ki < kh; ki++) {
                    for (int kj = 0; kj < kw; kj++) {
                        int rowOff = off + ((cl * kh + ki) * kw + kj) * ld + b * ohw;
                        int iw0 = kj * o.dilationW() - o.padW();
                        int owLo = iw0 >= 0 ? 0 : Math.min(ow, (-iw0 + sw - 1) / sw);
                        int owHi = Math.max(owLo, Math.min(ow, w - iw0 <= 0 ? 0 : (w - 1 - iw0) / sw + 1));
                        if (scratch && sh == 1 && sw == 1 && ow == w) {
                            int ih0 = ki * o.dilationH() - o.padH();
                            int yLo = Math.min(oh, Math.max(0, -ih0));
                            int yHi = Math.max(yLo, Math.min(oh, h - ih0));
                            if (yHi > yLo && owLo < owHi) {
                                if (owLo > 0 || owHi < ow) {
                                    for (int y = yLo; y < yHi; y++) {
                                        int c0 = rowOff + y * ow;
                                        Arrays.fill(cols, c0, c0 + owLo, 0f);
                                        Arrays.fill(cols, c0 + owHi, c0 + ow, 0f);
                                    }
                                }
                                int from = yLo * ow + owLo;
                                int to = (yHi - 1) * ow + owHi;
                                addInto(cols, rowOff + from, dx, xBase + (yLo + ih0) * w + owLo + iw0, to - from);
                            }
                            continue;
                        }
                        for (int y = 0; y < oh; y++) {
                            int ih = y * sh - o.padH() + ki * o.dilationH();
                            if (ih < 0 || ih >= h) {
                                continue;
                            }
                            int src = rowOff + y * ow;
                            int dst = xBase + ih * w + iw0;
                            if (sw == 1) {
                                addInto(cols, src + owLo, dx, dst + owLo, owHi - owLo);
                            } else {
                                for (int xo = owLo; xo < owHi; xo++) {
                                    dx[dst + xo * sw] += cols[src + xo];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private static void addInto(float[] src, int s, float[] dst, int d, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(S, dst, d + i).add(FloatVector.fromArray(S, src, s + i)).intoArray(dst, d + i);
        }
        for (; i < n; i++) {
            dst[d + i] += src[s + i];
        }
    }

    // ---- convolution ----------------------------------------------------------------------------

    void forward(float[] x, float[] w, float[] bias, Conv2dGeometry g, float[] y) {
        int nb = imagesPerChunk(g);
        int chunks = (g.batch() + nb - 1) / nb;
        int ohw = g.outHeight() * g.outWidth();
        int og = g.outPerGroup();
        int kg = g.patchSize();
        boolean direct = direct(g);
        parallel.forChunks(chunks, (c, count) -> {
            int i0 = c * nb;
            int n = Math.min(nb, g.batch() - i0);
            int cols = n * ohw;
            Workspace ws = workspaces.get();
            for (int grp = 0; grp < g.groups(); grp++) {
                float[] b;
                int bOff;
                int ldb;
                if (direct && n == 1) {
                    b = x;
                    bOff = (i0 * g.inChannels() + grp * g.inPerGroup()) * ohw;
                    ldb = ohw;
                } else {
                    b = ws.cols(kg * cols);
                    im2col(x, g, i0, n, grp, b, 0);
                    bOff = 0;
                    ldb = cols;
                }
                if (n == 1) {
                    gemm.sgemm(false, false, og, cols, kg, 1f, w, grp * og * kg, kg, b, bOff, ldb, 0f, y,
                            (i0 * g.outChannels() + grp * og) * ohw, ohw);
                } else {
                    float[] tmp = ws.tmp(og * cols);
                    gemm.sgemm(false, false, og, cols, kg, 1f, w, grp * og * kg, kg, b, bOff, ldb, 0f, tmp, 0, cols);
                    for (int o = 0; o < og; o++) {
                        for (int im = 0; im < n; im++) {
                            System.arraycopy(tmp, o * cols + im * ohw, y,
                                    ((i0 + im) * g.outChannels() + grp * og + o) * ohw, ohw);
                        }
                    }
                }
            }
            if (bias != null) {
                for (int im = i0; im < i0 + n; im++) {
                    for (int o = 0; o < g.outChannels(); o++) {
                        addScalar(y, (im * g.outChannels() + o) * ohw, ohw, bias[o]);
                    }
                }
            }
        });
    }

    private static void addScalar(float[] a, int off, int n, float v) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(S, a, off + i).add(v).intoArray(a, off + i);
        }
        for (; i < n; i++) {
            a[off + i] += v;
        }
    }

    /** dx (overwritten, may be null) and dw = dwBeta · dw + dW (may be null). */
    void backward(float[] x, float[] w, float[] dy, Conv2dGeometry g, float[] dx, float[] dw, float dwBeta) {
        int nb = imagesPerChunk(g);
        int chunks = (g.batch() + nb - 1) / nb;
        int ohw = g.outHeight() * g.outWidth();
        int og = g.outPerGroup();
        int kg = g.patchSize();
        int inHw = g.height() * g.width();
        boolean direct = direct(g);
        int tasks = Math.min(WEIGHT_PARTIALS, chunks);
        int wSize = g.outChannels() * kg;
        float[][] partial = dw == null ? null : new float[tasks][wSize];
        // A kernel with few columns (the 1×1 convolution of a low-rank layer: kg = r) would leave most of
        // the GEMM's 48-wide register tile empty; its transpose (kg × og, few rows) fits the 8-row side.
        boolean transposed = kg < og && kg < CpuGemmKernel.NR;
        parallel.forChunks(tasks, (t, count) -> {
            int c0 = (int) ((long) chunks * t / count);
            int c1 = (int) ((long) chunks * (t + 1) / count);
            Workspace ws = workspaces.get();
            for (int c = c0; c < c1; c++) {
                int i0 = c * nb;
                int n = Math.min(nb, g.batch() - i0);
                int cols = n * ohw;
                if (dx != null && !(direct && n == 1)) {
                    Arrays.fill(dx, i0 * g.inChannels() * inHw, (i0 + n) * g.inChannels() * inHw, 0f);
                }
                for (int grp = 0; grp < g.groups(); grp++) {
                    // dY of this chunk and group as an og × cols matrix: in place for one image, gathered otherwise.
                    float[] d;
                    int dOff;
                    if (n == 1) {
                        d = dy;
                        dOff = (i0 * g.outChannels() + grp * og) * ohw;
                    } else {
                        d = ws.tmp(og * cols);
                        dOff = 0;
                        for (int o = 0; o < og; o++) {
                            for (int im = 0; im < n; im++) {
                                System.arraycopy(dy, ((i0 + im) * g.outChannels() + grp * og + o) * ohw, d,
                                        o * cols + im * ohw, ohw);
                            }
                        }
                    }
                    if (partial != null) {
                        float[] b;
                        int bOff;
                        if (direct && n == 1) {
                            b = x;
                            bOff = (i0 * g.inChannels() + grp * g.inPerGroup()) * ohw;
                        } else {
                            b = ws.cols(kg * cols);
                            im2col(x, g, i0, n, grp, b, 0);
                            bOff = 0;
                        }
                        // dW_g (og × kg) += dY (og × cols) · colsᵀ, or its transpose kg × og.
                        if (transposed) {
                            gemm.sgemm(false, true, kg, og, cols, 1f, b, bOff, cols, d, dOff, cols,
                                    c == c0 ? 0f : 1f, partial[t], grp * og * kg, og);
                        } else {
                            gemm.sgemm(false, true, og, kg, cols, 1f, d, dOff, cols, b, bOff, cols,
                                    c == c0 ? 0f : 1f, partial[t], grp * og * kg, kg);
                        }
                    }
                    if (dx != null) {
                        if (direct && n == 1) {
                            gemm.sgemm(true, false, kg, cols, og, 1f, w, grp * og * kg, kg, d, dOff, cols, 0f, dx,
                                    (i0 * g.inChannels() + grp * g.inPerGroup()) * inHw, inHw);
                        } else {
                            float[] dcols = ws.cols(kg * cols);
                            gemm.sgemm(true, false, kg, cols, og, 1f, w, grp * og * kg, kg, d, dOff, cols, 0f, dcols,
                                    0, cols);
                            col2im(dcols, 0, g, i0, n, grp, dx, true);
                        }
                    }
                }
            }
        });
        if (dw != null) {
            for (int i = 0; i < wSize; i++) {
                // Element (o, j) of group block grp sits at grp·og·kg + j·og + o in a transposed partial.
                int at = i;
                if (transposed) {
                    int blk = i / (og * kg);
                    int o = i % (og * kg) / kg;
                    int j = i % kg;
                    at = blk * og * kg + j * og + o;
                }
                float s = dwBeta == 0f ? 0f : dwBeta * dw[i];
                for (int t = 0; t < tasks; t++) {
                    s += partial[t][at];
                }
                dw[i] = s;
            }
        }
    }

    // ---- pooling --------------------------------------------------------------------------------

    void maxPool(float[] x, Pool2dGeometry g, float[] y) {
        int planes = g.batch() * g.channels();
        int hw = g.height() * g.width();
        int oh = g.outHeight();
        int ow = g.outWidth();
        parallel.forRange(planes, 16, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        y[(p * oh + i) * ow + j] = x[p * hw + argmax(x, p * hw, g, i, j)];
                    }
                }
            }
        });
    }

    void maxPoolBackward(float[] x, float[] dy, Pool2dGeometry g, float[] dx) {
        int planes = g.batch() * g.channels();
        int hw = g.height() * g.width();
        int oh = g.outHeight();
        int ow = g.outWidth();
        parallel.forRange(planes, 16, (p0, p1) -> {
            Arrays.fill(dx, p0 * hw, p1 * hw, 0f);
            for (int p = p0; p < p1; p++) {
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        dx[p * hw + argmax(x, p * hw, g, i, j)] += dy[(p * oh + i) * ow + j];
                    }
                }
            }
        });
    }

    /** Offset inside the plane of the first maximum of window (i, j); padding is skipped. */
    private static int argmax(float[] x, int base, Pool2dGeometry g, int i, int j) {
        int h0 = i * g.strideH() - g.padH();
        int w0 = j * g.strideW() - g.padW();
        int best = -1;
        float bv = Float.NEGATIVE_INFINITY;
        for (int a = Math.max(0, h0); a < Math.min(g.height(), h0 + g.kernelH()); a++) {
            for (int b = Math.max(0, w0); b < Math.min(g.width(), w0 + g.kernelW()); b++) {
                int off = a * g.width() + b;
                float v = x[base + off];
                if (best < 0 || v > bv || (Float.isNaN(v) && !Float.isNaN(bv))) {
                    bv = v;
                    best = off;
                }
            }
        }
        return best;
    }

    void avgPool(float[] x, Pool2dGeometry g, float[] y) {
        int planes = g.batch() * g.channels();
        int hw = g.height() * g.width();
        int oh = g.outHeight();
        int ow = g.outWidth();
        float inv = 1f / (g.kernelH() * g.kernelW());
        parallel.forRange(planes, 16, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                for (int i = 0; i < oh; i++) {
                    int h0 = i * g.strideH() - g.padH();
                    for (int j = 0; j < ow; j++) {
                        int w0 = j * g.strideW() - g.padW();
                        float s = 0f;
                        for (int a = Math.max(0, h0); a < Math.min(g.height(), h0 + g.kernelH()); a++) {
                            for (int b = Math.max(0, w0); b < Math.min(g.width(), w0 + g.kernelW()); b++) {
                                s += x[p * hw + a * g.width() + b];
                            }
                        }
                        y[(p * oh + i) * ow + j] = s * inv;
                    }
                }
            }
        });
    }

    void avgPoolBackward(float[] dy, Pool2dGeometry g, float[] dx) {
        int planes = g.batch() * g.channels();
        int hw = g.height() * g.width();
        int oh = g.outHeight();
        int ow = g.outWidth();
        float inv = 1f / (g.kernelH() * g.kernelW());
        parallel.forRange(planes, 16, (p0, p1) -> {
            Arrays.fill(dx, p0 * hw, p1 * hw, 0f);
            for (int p = p0; p < p1; p++) {
                for (int i = 0; i < oh; i++) {
                    int h0 = i * g.strideH() - g.padH();
                    for (int j = 0; j < ow; j++) {
                        int w0 = j * g.strideW() - g.padW();
                        float d = dy[(p * oh + i) * ow + j] * inv;
                        for (int a = Math.max(0, h0); a < Math.min(g.height(), h0 + g.kernelH()); a++) {
                            for (int b = Math.max(0, w0); b < Math.min(g.width(), w0 + g.kernelW()); b++) {
                                dx[p * hw + a * g.width() + b] += d;
                            }
                        }
                    }
                }
            }
        });
    }

    void globalAvgPool(float[] x, int planes, int hw, float[] y) {
        parallel.forRange(planes, 64, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                y[p] = (float) (sum(x, p * hw, hw) / hw);
            }
        });
    }

    void globalAvgPoolBackward(float[] dy, int planes, int hw, float[] dx) {
        parallel.forRange(planes, 64, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                Arrays.fill(dx, p * hw, (p + 1) * hw, dy[p] / hw);
            }
        });
    }

    /** Sum of a run in float vector lanes, combined in double; the order is fixed. */
    private static double sum(float[] a, int off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            acc = acc.add(FloatVector.fromArray(S, a, off + i));
        }
        double s = 0;
        for (int l = 0; l < L; l++) {
            s += acc.lane(l);
        }
        for (; i < n; i++) {
            s += a[off + i];
        }
        return s;
    }

    // ---- batch norm -----------------------------------------------------------------------------

    /** Σ (a − mean)² over a run: float lanes (short runs), combined in double; the tail in double. */
    private static double centredSquares(float[] a, int off, int n, float meanF, double mean) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector d = FloatVector.fromArray(S, a, off + i).sub(meanF);
            acc = d.fma(d, acc);
        }
        double s = 0;
        for (int l = 0; l < L; l++) {
            s += acc.lane(l);
        }
        for (; i < n; i++) {
            double d = a[off + i] - mean;
            s += d * d;
        }
        return s;
    }

    /** Σ g · (x − mean) over a run, accumulated like {@link #centredSquares}. */
    private static double centredDot(float[] g, float[] x, int off, int n, float meanF, double mean) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector d = FloatVector.fromArray(S, x, off + i).sub(meanF);
            acc = d.fma(FloatVector.fromArray(S, g, off + i), acc);
        }
        double s = 0;
        for (int l = 0; l < L; l++) {
            s += acc.lane(l);
        }
        for (; i < n; i++) {
            s += g[off + i] * (x[off + i] - mean);
        }
        return s;
    }

    void batchNorm(float[] x, int n, int c, int hw, float[] gamma, float[] beta, float[] runMean, float[] runVar,
            boolean training, float momentum, float eps, float[] y, float[] saveMean, float[] saveInvStd) {
        long count = (long) n * hw;
        parallel.forRange(c, 1, (c0, c1) -> {
            for (int ch = c0; ch < c1; ch++) {
                double mean;
                double var;
                if (training) {
                    double s = 0;
                    for (int i = 0; i < n; i++) {
                        s += sum(x, (i * c + ch) * hw, hw);
                    }
                    mean = s / count;
                    // Second pass around the mean: no cancellation when |mean| >> std.
                    double ss = 0;
                    for (int i = 0; i < n; i++) {
                        ss += centredSquares(x, (i * c + ch) * hw, hw, (float) mean, mean);
                    }
                    var = ss / count;
                    runMean[ch] = (float) ((1 - momentum) * runMean[ch] + momentum * mean);
                    double unbiased = count > 1 ? var * count / (count - 1) : var;
                    runVar[ch] = (float) ((1 - momentum) * runVar[ch] + momentum * unbiased);
                } else {
                    mean = runMean[ch];
                    var = runVar[ch];
                }
                double invStd = 1.0 / Math.sqrt(var + eps);
                saveMean[ch] = (float) mean;
                saveInvStd[ch] = (float) invStd;
                float scale = (float) (gamma[ch] * invStd);
                float shift = (float) (beta[ch] - mean * gamma[ch] * invStd);
                for (int i = 0; i < n; i++) {
                    int off = (i * c + ch) * hw;
                    int k = 0;
                    for (int bound = S.loopBound(hw); k < bound; k += L) {
                        FloatVector.fromArray(S, x, off + k).fma(scale, shift)
                                .intoArray(y, off + k);
                    }
                    for (; k < hw; k++) {
                        y[off + k] = x[off + k] * scale + shift;
                    }
                }
            }
        });
    }

    void batchNormBackward(float[] x, float[] dy, int n, int c, int hw, float[] gamma, float[] saveMean,
            float[] saveInvStd, boolean training, float[] dx, float[] dGamma, float[] dBeta) {
        long count = (long) n * hw;
        parallel.forRange(c, 1, (c0, c1) -> {
            for (int ch = c0; ch < c1; ch++) {
                double mean = saveMean[ch];
                double invStd = saveInvStd[ch];
                double sdy = 0;
                double sdyx = 0;
                for (int i = 0; i < n; i++) {
                    int off = (i * c + ch) * hw;
                    sdy += sum(dy, off, hw);
                    sdyx += centredDot(dy, x, off, hw, (float) mean, mean);
                }
                double dg = sdyx * invStd; // Σ dy · x̂
                dGamma[ch] = (float) dg;
                dBeta[ch] = (float) sdy;
                if (dx == null) {
                    continue;
                }
                double gi = gamma[ch] * invStd;
                // Training: dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)) = a·dy + b·x + shift with x̂ = (x − μ)/σ;
                // evaluation: dx = γ/σ · dy.
                double mdy = sdy / count;
                double mdyx = dg / count;
                float a = (float) gi;
                float b = training ? (float) (-gi * invStd * mdyx) : 0f;
                float shift = training ? (float) (-gi * mdy + gi * invStd * mdyx * mean) : 0f;
                for (int i = 0; i < n; i++) {
                    int off = (i * c + ch) * hw;
                    int k = 0;
                    for (int bound = S.loopBound(hw); k < bound; k += L) {
                        FloatVector.fromArray(S, dy, off + k).mul(a)
                                .add(FloatVector.fromArray(S, x, off + k).fma(b, shift)).intoArray(dx, off + k);
                    }
                    for (; k < hw; k++) {
                        dx[off + k] = dy[off + k] * a + (x[off + k] * b + shift);
                    }
                }
            }
        });
    }
}
