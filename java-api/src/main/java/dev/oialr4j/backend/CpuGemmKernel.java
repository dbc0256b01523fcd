package dev.oialr4j.backend;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-tiled micro-kernel of {@link CpuGemm}: an {@link #MR} x {@link #NR} block of C from
 * an MR-row panel of packed A and an NR-column panel of packed B. All edge handling, transposes and
 * cache blocking live in the caller; this class only does the FMAs and the alpha/beta update.
 */
final class CpuGemmKernel {

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Lanes per vector: 16 with AVX-512, 8 with AVX2. */
    static final int VL = S.length();
    /** Rows of the register tile: one broadcast of A per row per k step. */
    static final int MR = 8;
    /** Columns of the register tile: three vectors, so 3 loads of B feed 24 FMAs per k step. */
    static final int NR = 3 * VL;

    private CpuGemmKernel() {
    }

    /**
     * C[0:MR, 0:NR] = alpha * (packed A panel . packed B panel) + beta * C over {@code kc} steps.
     * The 24 accumulators are plain locals so C2 keeps them in zmm registers (32 on AVX-512:
     * 24 accumulators + 3 B vectors + 1 broadcast); an array of vectors would spill to memory.
     * Indices are written as base + p * stride so C2 can hoist the bounds checks out of the loop.
     * beta == 0 never reads C, so stale NaNs there cannot leak into the result.
     */
    static void kernel(int kc, float[] ap, int aOff, float[] bp, int bOff,
            float[] c, int cOff, int ldc, float alpha, float beta) {
        // zero(S) here, not a static final constant: C2 keeps loop-carried vectors in registers only
        // when every value reaching the loop is a vector it built itself.
        FloatVector zero = FloatVector.zero(S);
        FloatVector c00 = zero; FloatVector c01 = zero; FloatVector c02 = zero;
        FloatVector c10 = zero; FloatVector c11 = zero; FloatVector c12 = zero;
        FloatVector c20 = zero; FloatVector c21 = zero; FloatVector c22 = zero;
        FloatVector c30 = zero; FloatVector c31 = zero; FloatVector c32 = zero;
        FloatVector c40 = zero; FloatVector c41 = zero; FloatVector c42 = zero;
        FloatVector c50 = zero; FloatVector c51 = zero; FloatVector c52 = zero;
        FloatVector c60 = zero; FloatVector c61 = zero; FloatVector c62 = zero;
        FloatVector c70 = zero; FloatVector c71 = zero; FloatVector c72 = zero;
        for (int p = 0; p < kc; p++) {
            int bo = bOff + p * NR;
            int ao = aOff + p * MR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bo + 0 * VL);
            FloatVector b1 = FloatVector.fromArray(S, bp, bo + 1 * VL);
            FloatVector b2 = FloatVector.fromArray(S, bp, bo + 2 * VL);
            FloatVector a0 = FloatVector.broadcast(S, ap[ao + 0]);
            c00 = b0.fma(a0, c00);
            c01 = b1.fma(a0, c01);
            c02 = b2.fma(a0, c02);
            FloatVector a1 = FloatVector.broadcast(S, ap[ao + 1]);
            c10 = b0.fma(a1, c10);
            c11 = b1.fma(a1, c11);
            c12 = b2.fma(a1, c12);
            FloatVector a2 = FloatVector.broadcast(S, ap[ao + 2]);
            c20 = b0.fma(a2, c20);
            c21 = b1.fma(a2, c21);
            c22 = b2.fma(a2, c22);
            FloatVector a3 = FloatVector.broadcast(S, ap[ao + 3]);
            c30 = b0.fma(a3, c30);
            c31 = b1.fma(a3, c31);
            c32 = b2.fma(a3, c32);
            FloatVector a4 = FloatVector.broadcast(S, ap[ao + 4]);
            c40 = b0.fma(a4, c40);
            c41 = b1.fma(a4, c41);
            c42 = b2.fma(a4, c42);
            FloatVector a5 = FloatVector.broadcast(S, ap[ao + 5]);
            c50 = b0.fma(a5, c50);
            c51 = b1.fma(a5, c51);
            c52 = b2.fma(a5, c52);
            FloatVector a6 = FloatVector.broadcast(S, ap[ao + 6]);
            c60 = b0.fma(a6, c60);
            c61 = b1.fma(a6, c61);
            c62 = b2.fma(a6, c62);
            FloatVector a7 = FloatVector.broadcast(S, ap[ao + 7]);
            c70 = b0.fma(a7, c70);
            c71 = b1.fma(a7, c71);
            c72 = b2.fma(a7, c72);
        }
        // Stores written out inline: a helper taking vectors as arguments would not be inlined at this
        // cold call site, and passing vectors to a real call forces C2 to box them inside the loop.
        FloatVector av = FloatVector.broadcast(S, alpha);
        if (beta == 0f) {
            c00.mul(av).intoArray(c, cOff + 0 * ldc + 0 * VL);
            c01.mul(av).intoArray(c, cOff + 0 * ldc + 1 * VL);
            c02.mul(av).intoArray(c, cOff + 0 * ldc + 2 * VL);
            c10.mul(av).intoArray(c, cOff + 1 * ldc + 0 * VL);
            c11.mul(av).intoArray(c, cOff + 1 * ldc + 1 * VL);
            c12.mul(av).intoArray(c, cOff + 1 * ldc + 2 * VL);
            c20.mul(av).intoArray(c, cOff + 2 * ldc + 0 * VL);
            c21.mul(av).intoArray(c, cOff + 2 * ldc + 1 * VL);
            c22.mul(av).intoArray(c, cOff + 2 * ldc + 2 * VL);
            c30.mul(av).intoArray(c, cOff + 3 * ldc + 0 * VL);
            c31.mul(av).intoArray(c, cOff + 3 * ldc + 1 * VL);
            c32.mul(av).intoArray(c, cOff + 3 * ldc + 2 * VL);
            c40.mul(av).intoArray(c, cOff + 4 * ldc + 0 * VL);
            c41.mul(av).intoArray(c, cOff + 4 * ldc + 1 * VL);
            c42.mul(av).intoArray(c, cOff + 4 * ldc + 2 * VL);
            c50.mul(av).intoArray(c, cOff + 5 * ldc + 0 * VL);
            c51.mul(av).intoArray(c, cOff + 5 * ldc + 1 * VL);
            c52.mul(av).intoArray(c, cOff + 5 * ldc + 2 * VL);
            c60.mul(av).intoArray(c, cOff + 6 * ldc + 0 * VL);
            c61.mul(av).intoArray(c, cOff + 6 * ldc + 1 * VL);
            c62.mul(av).intoArray(c, cOff + 6 * ldc + 2 * VL);
            c70.mul(av).intoArray(c, cOff + 7 * ldc + 0 * VL);
            c71.mul(av).intoArray(c, cOff + 7 * ldc + 1 * VL);
            c72.mul(av).intoArray(c, cOff + 7 * ldc + 2 * VL);
        } else {
            FloatVector bv = FloatVector.broadcast(S, beta);
            c00.fma(av, FloatVector.fromArray(S, c, cOff + 0 * ldc + 0 * VL).mul(bv))
                    .intoArray(c, cOff + 0 * ldc + 0 * VL);
            c01.fma(av, FloatVector.fromArray(S, c, cOff + 0 * ldc + 1 * VL).mul(bv))
                    .intoArray(c, cOff + 0 * ldc + 1 * VL);
            c02.fma(av, FloatVector.fromArray(S, c, cOff + 0 * ldc + 2 * VL).mul(bv))
                    .intoArray(c, cOff + 0 * ldc + 2 * VL);
            c10.fma(av, FloatVector.fromArray(S, c, cOff + 1 * ldc + 0 * VL).mul(bv))
                    .intoArray(c, cOff + 1 * ldc + 0 * VL);
            c11.fma(av, FloatVector.fromArray(S, c, cOff + 1 * ldc + 1 * VL).mul(bv))
                    .intoArray(c, cOff + 1 * ldc + 1 * VL);
            c12.fma(av, FloatVector.fromArray(S, c, cOff + 1 * ldc + 2 * VL).mul(bv))
                    .intoArray(c, cOff + 1 * ldc + 2 * VL);
            c20.fma(av, FloatVector.fromArray(S, c, cOff + 2 * ldc + 0 * VL).mul(bv))
                    .intoArray(c, cOff + 2 * ldc + 0 * VL);
            c21.fma(av, FloatVector.fromArray(S, c, cOff + 2 * ldc + 1 * VL).mul(bv))
                    .intoArray(c, cOff + 2 * ldc + 1 * VL);
            c22.fma(av, FloatVector.fromArray(S, c, cOff + 2 * ldc + 2 * VL).mul(bv))
                    .intoArray(c, cOff + 2 * ldc + 2 * VL);
            c30.fma(av, FloatVector.fromArray(S, c, cOff + 3 * ldc + 0 * VL).mul(bv))
                    .intoArray(c, cOff + 3 * ldc + 0 * VL);
            c31.fma(av, FloatVector.fromArray(S, c, cOff + 3 * ldc + 1 * VL).mul(bv))
                    .intoArray(c, cOff + 3 * ldc + 1 * VL);
            c32.fma(av, FloatVector.fromArray(S, c, cOff + 3 * ldc + 2 * VL).mul(bv))
                    .intoArray(c, cOff + 3 * ldc + 2 * VL);
            c40.fma(av, FloatVector.fromArray(S, c, cOff + 4 * ldc + 0 * VL).mul(bv))
                    .intoArray(c, cOff + 4 * ldc + 0 * VL);
            c41.fma(av, FloatVector.fromArray(S, c, cOff + 4 * ldc + 1 * VL).mul(bv))
                    .intoArray(c, cOff + 4 * ldc + 1 * VL);
            c42.fma(av, FloatVector.fromArray(S, c, cOff + 4 * ldc + 2 * VL).mul(bv))
                    .intoArray(c, cOff + 4 * ldc + 2 * VL);
            c50.fma(av, FloatVector.fromArray(S, c, cOff + 5 * ldc + 0 * VL).mul(bv))
                    .intoArray(c, cOff + 5 * ldc + 0 * VL);
            c51.fma(av, FloatVector.fromArray(S, c, cOff + 5 * ldc + 1 * VL).mul(bv))
                    .intoArray(c, cOff + 5 * ldc + 1 * VL);
            c52.fma(av, FloatVector.fromArray(S, c, cOff + 5 * ldc + 2 * VL).mul(bv))
                    .intoArray(c, cOff + 5 * ldc + 2 * VL);
            c60.fma(av, FloatVector.fromArray(S, c, cOff + 6 * ldc + 0 * VL).mul(bv))
                    .intoArray(c, cOff + 6 * ldc + 0 * VL);
            c61.fma(av, FloatVector.fromArray(S, c, cOff + 6 * ldc + 1 * VL).mul(bv))
                    .intoArray(c, cOff + 6 * ldc + 1 * VL);
            c62.fma(av, FloatVector.fromArray(S, c, cOff + 6 * ldc + 2 * VL).mul(bv))
                    .intoArray(c, cOff + 6 * ldc + 2 * VL);
            c70.fma(av, FloatVector.fromArray(S, c, cOff + 7 * ldc + 0 * VL).mul(bv))
                    .intoArray(c, cOff + 7 * ldc + 0 * VL);
            c71.fma(av, FloatVector.fromArray(S, c, cOff + 7 * ldc + 1 * VL).mul(bv))
                    .intoArray(c, cOff + 7 * ldc + 1 * VL);
            c72.fma(av, FloatVector.fromArray(S, c, cOff + 7 * ldc + 2 * VL).mul(bv))
                    .intoArray(c, cOff + 7 * ldc + 2 * VL);
        }
    }
}
