package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.oialr4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Σ SVDs of an OIALR update round on the GPU, batched across layers, and the basis rotations that
 * follow, all on the {@link CudaBackend}'s stream with one host synchronisation per round (to read the
 * singular values the rank rule needs), not one per layer.
 *
 * <h2>What it computes</h2>
 * For each layer with factors U (m × r), Σ (r × r), V (n × r) as device tensors: {@code Σ = P diag(σ) Qᵀ}
 * (σ descending), and for a new rank r' ≤ r chosen by the caller:
 * {@code U ← U P[:, :r']}, {@code V ← V Q[:, :r']}, {@code Σ ← diag(σ[:r'])}, and optionally an optimizer
 * moment {@code M ← (Pᵀ M Q)[:r', :r']} (the ROTATE state policy). This is the same algebra as
 * {@code Oialr.LayerUpdate.compute()} on the CPU.
 *
 * <h2>How</h2>
 * Layers are grouped by r. Each group with r ≤ 32 is one {@code cusolverDnSgesvdjBatched} call over
 * copies of its Σs laid end to end; each layer with r > 32 gets one {@code cusolverDnSgesvdj} call.
 * Row-major Σ read column-major is Σᵀ = Q diag(σ) Pᵀ, so cuSOLVER's U is Q and its V is P, each stored
 * column-major, i.e. row-major Qᵀ and Pᵀ: the rotation {@code U P[:, :r'] = U (Pᵀ[:r', :])ᵀ} is one
 * row-major GEMM with the second operand transposed and its first r' rows taken (a contiguous block),
 * so nothing is copied or transposed. The σ of all layers and the convergence flags come back in one
 * copy after one stream synchronisation.
 *
 * <h2>Use in the update round</h2>
 * {@link CudaSigmaRound} wraps this class as the {@code DeviceSigmaRound} that {@code Oialr.updateRound}
 * finds on a {@link CudaBackend}; its javadoc and docs/cuda.md say what differs from the host round
 * (fp32 Jacobi SVD, fp32 device bases as masters with a periodic orthogonality check and host QR repair,
 * no shortcut for an already diagonal Σ).
 */
public final class CudaSigmaSvd implements AutoCloseable {

    /** Jacobi tolerance: fp32 machine precision order, as cuSOLVER's default for single precision. */
    static final double TOLERANCE = 1e-7;
    static final int MAX_SWEEPS = 100;

    /** One layer's factors, all device tensors of the backend: U (m × r), Σ (r × r), V (n × r). */
    public record Factors(Tensor u, Tensor sigma, Tensor v) {
        public Factors {
            int r = sigma.rank() == 2 ? sigma.dim(0) : -1;
            if (r < 1 || sigma.dim(1) != r || u.rank() != 2 || v.rank() != 2 || u.dim(1) != r || v.dim(1) != r) {
                throw new IllegalArgumentException("factor shapes do not agree: U " + u.shape() + ", Σ "
                        + sigma.shape() + ", V " + v.shape() + " (expected m×r, r×r, n×r)");
            }
        }

        int r() {
            return sigma.dim(0);
        }
    }

    private final CudaBackend backend;
    private final Cusolver solver;
    private final Cusolver.GesvdjParams params;

    /** Uses the backend's cuSOLVER handle ({@link CudaBackend#solver}); throws {@link CusolverException} without cuSOLVER. */
    public CudaSigmaSvd(CudaBackend backend) {
        this.backend = backend;
        this.solver = backend.solver();
        this.params = Cusolver.GesvdjParams.create(TOLERANCE, MAX_SWEEPS);
    }

    /** The decomposed Σs of one round: σ on the host, P and Q on the device. */
    public final class Round {
        private final List<Factors> layers;
        private final float[][] sigma;
        private final long[] pAddress; // cuSOLVER's V: P column-major = Pᵀ row-major
        private final long[] qAddress; // cuSOLVER's U: Q column-major = Qᵀ row-major
        private final long[] sAddress;
        private final List<Tensor> keepAlive;

        private Round(List<Factors> layers, float[][] sigma, long[] p, long[] q, long[] s, List<Tensor> keepAlive) {
            this.layers = layers;
            this.sigma = sigma;
            this.pAddress = p;
            this.qAddress = q;
            this.sAddress = s;
            this.keepAlive = keepAlive;
        }

        /** σ of layer i, descending. */
        public float[] sigma(int i) {
            return sigma[i].clone();
        }

        /** U P[:, :r'], diag(σ[:r']), V Q[:, :r'] as new device tensors (the inputs are left as they were). */
        public Factors apply(int i, int newRank) {
            Factors f = layers.get(i);
            int r = f.r();
            if (newRank < 1 || newRank > r) {
                throw new IllegalArgumentException("new rank " + newRank + " is outside [1, " + r + "]");
            }
            int m = f.u().dim(0);
            int n = f.v().dim(0);
            Cublas blas = backend.cublas();
            Tensor u = backend.empty(m, newRank);
            Tensor v = backend.empty(n, newRank);
            Tensor s = backend.zeros(newRank, newRank);
            synchronized (backend) {
                blas.rowMajorGemm(false, true, m, newRank, r, 1f, backend.address(f.u()), r, pAddress[i], r, 0f,
                        backend.address(u), newRank, false);
                blas.rowMajorGemm(false, true, n, newRank, r, 1f, backend.address(f.v()), r, qAddress[i], r, 0f,
                        backend.address(v), newRank, false);
                backend.kernels().setDiagonal(sAddress[i], backend.address(s), newRank);
            }
            return new Factors(u, s, v);
        }

        /** {@code (Pᵀ M Q)[:r', :r']} for an r × r device tensor M (an optimizer moment of Σ). */
        public Tensor rotateMoment(int i, Tensor moment, int newRank) {
            int r = layers.get(i).r();
            moment.requireShape("moment", r, r);
            if (newRank < 1 || newRank > r) {
                throw new IllegalArgumentException("new rank " + newRank + " is outside [1, " + r + "]");
            }
            Cublas blas = backend.cublas();
            Tensor t = backend.empty(newRank, r);
            Tensor out = backend.empty(newRank, newRank);
            synchronized (backend) {
                // T = Pᵀ[:r', :] M, then T Q[:, :r'] = T (Qᵀ[:r', :])ᵀ.
                blas.rowMajorGemm(false, false, newRank, r, r, 1f, pAddress[i], r, backend.address(moment), r, 0f,
                        backend.address(t), r, false);
                blas.rowMajorGemm(false, true, newRank, newRank, r, 1f, backend.address(t), r, qAddress[i], r, 0f,
                        backend.address(out), newRank, false);
            }
            return out;
        }

        int buffers() {
            return keepAlive.size();
        }
    }

    /**
     * Decomposes the Σ of every layer: batched SVDs on the stream, then one synchronisation to bring back
     * all σ and the convergence flags. Throws {@link CusolverException} if a Jacobi iteration did not
     * converge.
     */
    public Round decompose(List<Factors> layers) {
        int count = layers.size();
        float[][] sigma = new float[count][];
        long[] p = new long[count];
        long[] q = new long[count];
        long[] s = new long[count];
        List<Tensor> keep = new ArrayList<>();
        // Groups: r ≤ 32 batched by equal r; larger r one by one (gesvdjBatched stops at 32 × 32).
        Map<Integer, List<Integer>> groups = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            int r = layers.get(i).r();
            int key = r <= Cusolver.BATCHED_MAX_DIM ? r : -(i + 1);
            groups.computeIfAbsent(key, k -> new ArrayList<>()).add(i);
        }
        record Pending(List<Integer> members, String call, long sBase, long info, int r) {
        }
        List<Pending> pending = new ArrayList<>();
        synchronized (backend) {
            for (var e : groups.entrySet()) {
                List<Integer> members = e.getValue();
                int r = layers.get(members.getFirst()).r();
                int batch = members.size();
                long rr = (long) r * r;
                Tensor a = backend.empty(batch * (int) rr);
                Tensor sv = backend.empty(batch * r);
                Tensor uq = backend.empty(batch * (int) rr);
                Tensor vp = backend.empty(batch * (int) rr);
                Tensor info = backend.empty(batch); // ints, 4 bytes each like floats
                long aAddr = backend.address(a);
                for (int b = 0; b < batch; b++) {
                    CudaDriver.copyDeviceToDevice(aAddr + 4L * b * rr, backend.address(layers.get(members.get(b)).sigma()),
                            4L * rr, backend.stream());
                }
                long sAddr = backend.address(sv);
                long uAddr = backend.address(uq);
                long vAddr = backend.address(vp);
                long infoAddr = backend.address(info);
                boolean batched = e.getKey() > 0;
                int lwork = batched
                        ? solver.gesvdjBatchedBufferSize(Cusolver.EIG_MODE_VECTOR, r, r, aAddr, r, sAddr, uAddr, r,
                                vAddr, r, params, batch)
                        : solver.gesvdjBufferSize(Cusolver.EIG_MODE_VECTOR, false, r, r, aAddr, r, sAddr, uAddr, r,
                                vAddr, r, params);
                Tensor work = backend.empty(Math.max(1, lwork));
                if (batched) {
                    solver.gesvdjBatched(Cusolver.EIG_MODE_VECTOR, r, r, aAddr, r, sAddr, uAddr, r, vAddr, r,
                            backend.address(work), lwork, infoAddr, params, batch);
                } else {
                    solver.gesvdj(Cusolver.EIG_MODE_VECTOR, false, r, r, aAddr, r, sAddr, uAddr, r, vAddr, r,
                            backend.address(work), lwork, infoAddr, params);
                }
                keep.addAll(List.of(a, sv, uq, vp, info, work));
                for (int b = 0; b < batch; b++) {
                    int i = members.get(b);
                    p[i] = vAddr + 4L * b * rr;
                    q[i] = uAddr + 4L * b * rr;
                    s[i] = sAddr + 4L * b * r;
                }
                pending.add(new Pending(members, batched ? "cusolverDnSgesvdjBatched" : "cusolverDnSgesvdj", sAddr,
                        infoAddr, r));
            }
            // One copy per group into one host buffer, one synchronisation for the round.
            try (Arena arena = Arena.ofConfined()) {
                List<MemorySegment[]> host = new ArrayList<>();
                for (Pending g : pending) {
                    int batch = g.members().size();
                    MemorySegment hs = arena.allocate(JAVA_FLOAT, (long) batch * g.r());
                    MemorySegment hi = arena.allocate(JAVA_INT, batch);
                    CudaDriver.copyDeviceToHost(hs, g.sBase(), 4L * batch * g.r(), backend.stream());
                    CudaDriver.copyDeviceToHost(hi, g.info(), 4L * batch, backend.stream());
                    host.add(new MemorySegment[] {hs, hi});
                }
                CudaDriver.streamSynchronize(backend.stream());
                for (int k = 0; k < pending.size(); k++) {
                    Pending g = pending.get(k);
                    for (int b = 0; b < g.members().size(); b++) {
                        int info = host.get(k)[1].getAtIndex(JAVA_INT, b);
                        int i = g.members().get(b);
                        if (info != 0) {
                            throw new CusolverException(g.call(), CusolverException.INFO_FAILED, "the SVD of Σ of layer "
                                    + i + " (" + g.r() + " × " + g.r() + ") " + (info > 0
                                    ? "did not converge in " + MAX_SWEEPS + " sweeps (info " + info + ")"
                                    : "rejected parameter " + (-info)));
                        }
                        float[] sig = new float[g.r()];
                        MemorySegment.copy(host.get(k)[0], JAVA_FLOAT, 4L * b * g.r(), sig, 0, g.r());
                        sigma[i] = sig;
                    }
                }
            }
        }
        return new Round(List.copyOf(layers), sigma, p, q, s, keep);
    }

    /** Frees the Jacobi parameters; the cuSOLVER handle stays with the backend. */
    @Override
    public void close() {
        params.close();
    }
}
