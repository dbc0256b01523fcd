package dev.oialr4j.backend;

import static dev.oialr4j.backend.CpuGemmKernel.MR;
import static dev.oialr4j.backend.CpuGemmKernel.NR;

import java.util.Arrays;

/**
 * Single-precision GEMM on host arrays: C = alpha * op(A) * op(B) + beta * C, row-major with leading
 * dimensions.
 *
 * <p>The structure is GotoBLAS/BLIS: for each {@code nc}-wide column block and {@code kc}-deep slice
 * of k, B is packed once into NR-wide column panels (shared by all threads), each thread packs its
 * own {@code mc}-row block of A into MR-high row panels, and the register-tiled
 * {@link CpuGemmKernel#kernel} runs over every (row panel, column panel) pair. Transposes are
 * absorbed by the packing routines, so the micro-kernel never sees them; ragged edges are packed
 * with zero padding and written back through a small tile buffer.
 *
 * <p>Work is split over row blocks (or over column panels when m is too small to give every thread
 * rows). Each C element is produced by exactly one task with the same summation order, so results
 * do not depend on the number of threads.
 */
public final class CpuGemm {

    /**
     * Largest depth of one packed slice. A kc x NR panel of B (96 KiB at kc = 512) stays in L2 while every
     * row panel of A streams past it; deeper slices also mean fewer thread hand-overs per product, which
     * matters for the thin (n of a few hundred) products of low-rank layers. k is cut into equal slices
     * no deeper than this, so no slice is a short remainder (k = 784 runs as 2 x 392, not 512 + 272).
     */
    static final int KC = Integer.getInteger("oialr4j.gemm.kc", 512);
    /** Upper bound on rows of A packed per task: mc x kc floats (128 KiB) sit in a core's L2. */
    static final int MC_MAX = roundUp(Integer.getInteger("oialr4j.gemm.mc", 128), MR);
    /** Columns of B packed per slice: kc x nc floats (4 MiB) live in L3 and are shared by threads. */
    static final int NC_MAX = roundUp(Integer.getInteger("oialr4j.gemm.nc", 4096), NR);
    /** Below this many multiply-adds, waking worker threads costs more than it saves. */
    private static final long PARALLEL_MIN_MACS = 1L << 18;

    private final Parallel parallel;
    /** Packing buffers live per thread and grow on demand, so steady-state calls do not allocate. */
    private final ThreadLocal<Workspace> workspaces = ThreadLocal.withInitial(Workspace::new);

    public CpuGemm(Parallel parallel) {
        this.parallel = parallel;
    }

    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
            float[] a, int offA, int lda, float[] b, int offB, int ldb,
            float beta, float[] c, int offC, int ldc) {
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("sgemm sizes must be >= 0, got m=" + m + " n=" + n + " k=" + k);
        }
        checkMatrix("C", c, offC, ldc, m, n);
        if (m == 0 || n == 0) {
            return;
        }
        if (alpha == 0f || k == 0) {
            // BLAS semantics: A and B are not referenced, C = beta * C (beta == 0 clears NaNs too).
            scale(m, n, beta, c, offC, ldc);
            return;
        }
        checkMatrix("A", a, offA, lda, transA ? k : m, transA ? m : k);
        checkMatrix("B", b, offB, ldb, transB ? n : k, transB ? k : n);

        long macs = (long) m * n * k;
        int threads = macs >= PARALLEL_MIN_MACS ? parallel.threads() : 1;
        // Split rows when there are enough row panels to keep every thread busy; otherwise (thin A)
        // split the column panels, and each task packs the whole (small) A block itself.
        int rowPanels = ceilDiv(m, MR);
        boolean splitRows = threads == 1 || rowPanels >= 2 * threads;
        int mBlocks = ceilDiv(m, MC_MAX);
        if (splitRows && threads > 1) {
            mBlocks = roundUp(mBlocks, threads);
        }
        int mc = Math.min(roundUp(ceilDiv(m, mBlocks), MR), roundUp(m, MR));
        mBlocks = ceilDiv(m, mc);
        int nGroups = splitRows ? 1 : threads;

        int kcMax = ceilDiv(k, ceilDiv(k, KC));
        float[] bPack = workspaces.get().bPack(kcMax * Math.min(roundUp(n, NR), NC_MAX));
        for (int jc = 0; jc < n; jc += NC_MAX) {
            int nc = Math.min(NC_MAX, n - jc);
            int panels = ceilDiv(nc, NR);
            for (int pc = 0; pc < k; pc += kcMax) {
                int kc = Math.min(kcMax, k - pc);
                int jc0 = jc;
                int pc0 = pc;
                // Later k slices accumulate onto what the first slice wrote.
                float betaEff = pc == 0 ? beta : 1f;
                runTasks(threads, panels, (from, to) -> {
                    for (int jr = from; jr < to; jr++) {
                        packB(transB, b, offB, ldb, pc0, kc, jc0 + jr * NR, Math.min(NR, nc - jr * NR),
                                bPack, jr * NR * kc);
                    }
                });
                int tasks = mBlocks * nGroups;
                runTasks(threads, tasks, (from, to) -> {
                    Workspace ws = workspaces.get();
                    float[] aPack = ws.aPack(mc * kc);
                    for (int t = from; t < to; t++) {
                        int ib = t / nGroups;
                        int g = t % nGroups;
                        int i0 = ib * mc;
                        int mcur = Math.min(mc, m - i0);
                        int pFrom = (int) ((long) panels * g / nGroups);
                        int pTo = (int) ((long) panels * (g + 1) / nGroups);
                        if (pFrom == pTo) {
                            continue;
                        }
                        packA(transA, a, offA, lda, i0, mcur, pc0, kc, aPack);
                        macroKernel(aPack, mcur, bPack, pFrom, pTo, nc, kc, alpha, betaEff,
                                c, offC + i0 * ldc + jc0, ldc, ws.tile);
                    }
                });
            }
        }
    }

    /** Runs body over [0, count) on up to {@code threads} threads, one index per chunk. */
    private void runTasks(int threads, int count, Parallel.RangeBody body) {
        if (threads == 1 || count == 1) {
            body.run(0, count);
        } else {
            parallel.forChunks(count, (i, total) -> body.run(i, i + 1));
        }
    }

    /**
     * C block (mcur x nc, at cOff) from a packed A block and column panels [pFrom, pTo) of packed B.
     * The column panel loop is outside so one kc x NR panel of B is reused by every row panel while
     * it is hot in L1/L2, and the A block streams from L2.
     */
    private static void macroKernel(float[] aPack, int mcur, float[] bPack, int pFrom, int pTo, int nc,
            int kc, float alpha, float beta, float[] c, int cOff, int ldc, float[] tile) {
        for (int jr = pFrom; jr < pTo; jr++) {
            int j = jr * NR;
            int ncur = Math.min(NR, nc - j);
            int bOff = jr * NR * kc;
            for (int i = 0; i < mcur; i += MR) {
                int mr = Math.min(MR, mcur - i);
                int aOff = i * kc;
                int co = cOff + i * ldc + j;
                if (mr == MR && ncur == NR) {
                    CpuGemmKernel.kernel(kc, aPack, aOff, bPack, bOff, c, co, ldc, alpha, beta);
                } else {
                    // Ragged edge: compute the full padded tile, then merge only the valid part.
                    CpuGemmKernel.kernel(kc, aPack, aOff, bPack, bOff, tile, 0, NR, 1f, 0f);
                    for (int r = 0; r < mr; r++) {
                        int cr = co + r * ldc;
                        int tr = r * NR;
                        if (beta == 0f) {
                            for (int q = 0; q < ncur; q++) {
                                c[cr + q] = alpha * tile[tr + q];
                            }
                        } else {
                            for (int q = 0; q < ncur; q++) {
                                c[cr + q] = Math.fma(alpha, tile[tr + q], beta * c[cr + q]);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Packs op(B)[pc:pc+kc, j0:j0+ncur] into one NR-wide panel: kc rows of NR contiguous floats,
     * columns past ncur zero. Plain B copies rows; transposed B (stored n x k) gathers columns.
     */
    private static void packB(boolean transB, float[] b, int offB, int ldb, int pc, int kc, int j0,
            int ncur, float[] dst, int dOff) {
        if (!transB) {
            for (int p = 0; p < kc; p++) {
                int src = offB + (pc + p) * ldb + j0;
                int d = dOff + p * NR;
                System.arraycopy(b, src, dst, d, ncur);
                if (ncur < NR) {
                    Arrays.fill(dst, d + ncur, d + NR, 0f);
                }
            }
        } else {
            for (int q = 0; q < ncur; q++) {
                int src = offB + (j0 + q) * ldb + pc;
                int d = dOff + q;
                for (int p = 0; p < kc; p++) {
                    dst[d + p * NR] = b[src + p];
                }
            }
            for (int q = ncur; q < NR; q++) {
                for (int p = 0; p < kc; p++) {
                    dst[dOff + q + p * NR] = 0f;
                }
            }
        }
    }

    /**
     * Packs op(A)[i0:i0+mcur, pc:pc+kc] into MR-high row panels: for each panel, kc groups of MR
     * floats (one column of the panel), rows past mcur zero. Transposed A (stored k x m) copies
     * contiguous runs; plain A gathers with stride MR.
     */
    private static void packA(boolean transA, float[] a, int offA, int lda, int i0, int mcur, int pc,
            int kc, float[] dst) {
        for (int i = 0; i < mcur; i += MR) {
            int mr = Math.min(MR, mcur - i);
            int dOff = i * kc;
            if (transA) {
                for (int p = 0; p < kc; p++) {
                    int src = offA + (pc + p) * lda + i0 + i;
                    int d = dOff + p * MR;
                    // A plain loop, not System.arraycopy: for 8 floats the call overhead dominates.
                    for (int r = 0; r < mr; r++) {
                        dst[d + r] = a[src + r];
                    }
                    for (int r = mr; r < MR; r++) {
                        dst[d + r] = 0f;
                    }
                }
            } else {
                for (int r = 0; r < mr; r++) {
                    int src = offA + (i0 + i + r) * lda + pc;
                    int d = dOff + r;
                    for (int p = 0; p < kc; p++) {
                        dst[d + p * MR] = a[src + p];
                    }
                }
                for (int r = mr; r < MR; r++) {
                    for (int p = 0; p < kc; p++) {
                        dst[dOff + r + p * MR] = 0f;
                    }
                }
            }
        }
    }

    private void scale(int m, int n, float beta, float[] c, int offC, int ldc) {
        for (int i = 0; i < m; i++) {
            int from = offC + i * ldc;
            if (beta == 0f) {
                Arrays.fill(c, from, from + n, 0f);
            } else if (beta != 1f) {
                for (int j = from; j < from + n; j++) {
                    c[j] *= beta;
                }
            }
        }
    }

    /** A rows x cols matrix at off with leading dimension ld must fit inside the array. */
    private static void checkMatrix(String name, float[] x, int off, int ld, int rows, int cols) {
        if (rows == 0 || cols == 0) {
            return;
        }
        if (x == null) {
            throw new IllegalArgumentException("sgemm: " + name + " is null but is " + rows + "x" + cols);
        }
        if (off < 0 || (rows > 1 && ld < cols)) {
            throw new IllegalArgumentException("sgemm: " + name + " is " + rows + "x" + cols
                    + " but offset=" + off + " leading dimension=" + ld);
        }
        long last = off + (long) (rows - 1) * ld + cols;
        if (last > x.length) {
            throw new IllegalArgumentException("sgemm: " + name + " is " + rows + "x" + cols + " with offset="
                    + off + " leading dimension=" + ld + " but its array has only " + x.length + " elements");
        }
    }

    private static int ceilDiv(int x, int y) {
        return (x + y - 1) / y;
    }

    private static int roundUp(int x, int y) {
        return ceilDiv(x, y) * y;
    }

    /** Per-thread packing buffers and the edge tile. */
    private static final class Workspace {
        private float[] aPack = new float[0];
        private float[] bPack = new float[0];
        final float[] tile = new float[MR * NR];

        float[] aPack(int size) {
            if (aPack.length < size) {
                aPack = new float[size];
            }
            return aPack;
        }

        float[] bPack(int size) {
            if (bPack.length < size) {
                bPack = new float[size];
            }
            return bPack;
        }
    }
}
