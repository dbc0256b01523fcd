package dev.oialr4j.cuda;

import dev.oialr4j.oialr.DeviceSigmaRound;
import dev.oialr4j.tensor.Tensor;
import java.util.List;

/**
 * {@link DeviceSigmaRound} on a {@link CudaBackend}: the round's Σ SVDs through {@link CudaSigmaSvd}
 * (cuSOLVER gesvdj, batched across layers of equal rank ≤ 32), the rotations U P, V Q and Pᵀ M Q as fp32
 * cuBLAS GEMMs, slices and the orthogonality check on the device. What differs from the host round:
 * <ul>
 * <li>precision: Σ's SVD is single-precision Jacobi (tolerance {@value CudaSigmaSvd#TOLERANCE}, at most
 * {@value CudaSigmaSvd#MAX_SWEEPS} sweeps; non-convergence throws) where the host runs a double SVD, so σ
 * (and the rank rule's decision at its cut-off) carries fp32 rounding, about 1e-7 relative;</li>
 * <li>U and V are rotated in fp32 on the device and are themselves the masters (the host path keeps double
 * masters and rounds them to float for the layer), so orthogonality drifts by fp32 rounding per round; the
 * check {@code max |UᵀU − I|} runs as an fp32 GEMM (never TF32) every few rounds and a basis past the
 * tolerance is repaired by a double QR on the host;</li>
 * <li>the host's shortcut for a Σ that is already diagonal and sorted is not taken: the SVD of such a Σ
 * returns P = Q = a signed permutation, which gives the same product U Σ Vᵀ and rotates the moments
 * consistently with the new bases.</li>
 * </ul>
 */
final class CudaSigmaRound implements DeviceSigmaRound {

    private final CudaBackend backend;
    private final CudaSigmaSvd svd;

    CudaSigmaRound(CudaBackend backend) {
        this.backend = backend;
        this.svd = new CudaSigmaSvd(backend);
    }

    @Override
    public Decomposed decompose(List<Factors> layers) {
        CudaSigmaSvd.Round round = svd.decompose(layers.stream()
                .map(f -> new CudaSigmaSvd.Factors(f.u(), f.sigma(), f.v())).toList());
        return new Decomposed() {
            @Override
            public double[] singularValues(int layer) {
                float[] s = round.sigma(layer);
                double[] d = new double[s.length];
                for (int i = 0; i < s.length; i++) {
                    d[i] = s[i];
                }
                return d;
            }

            @Override
            public Factors truncate(int layer, int newRank) {
                CudaSigmaSvd.Factors f = round.apply(layer, newRank);
                return new Factors(f.u(), f.sigma(), f.v());
            }

            @Override
            public Tensor rotateMoment(int layer, Tensor moment, int newRank) {
                return round.rotateMoment(layer, moment, newRank);
            }
        };
    }

    @Override
    public Tensor sliceMoment(Tensor moment, int newRank) {
        int r = moment.dim(0);
        moment.requireShape("moment", r, r);
        if (newRank < 1 || newRank > r) {
            throw new IllegalArgumentException("new rank " + newRank + " is outside [1, " + r + "]");
        }
        Tensor out = backend.empty(newRank, newRank);
        synchronized (backend) {
            backend.kernels().stridedCopy(backend.address(moment), backend.address(out), 0L,
                    new int[] {newRank, newRank}, new long[] {r, 1});
        }
        return out;
    }

    @Override
    public double orthogonalityError(Tensor basis) {
        if (basis.rank() != 2) {
            throw new IllegalArgumentException("a basis must be a matrix, got " + basis.shape());
        }
        int m = basis.dim(0);
        int r = basis.dim(1);
        Tensor gram = backend.empty(r, r);
        synchronized (backend) {
            long a = backend.address(basis);
            backend.cublas().rowMajorGemm(true, false, r, r, m, 1f, a, r, a, r, 0f, backend.address(gram), r, false);
        }
        float[] g = backend.toHost(gram);
        double worst = 0;
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                worst = Math.max(worst, Math.abs(g[i * r + j] - (i == j ? 1.0 : 0.0)));
            }
        }
        return worst;
    }

    @Override
    public void close() {
        svd.close();
    }
}
