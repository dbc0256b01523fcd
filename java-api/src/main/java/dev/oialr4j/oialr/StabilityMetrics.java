package dev.oialr4j.oialr;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.linalg.Polar;
import dev.oialr4j.linalg.Qr;
import dev.oialr4j.linalg.Svd;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.train.Trainer;
import dev.oialr4j.train.TrainerCallback;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The paper's two per-layer analysis metrics (OIALR.md §2), between the weights now and a snapshot
 * {@code lag} epochs back, logged into every epoch's metrics line once enough epochs exist.
 *
 * <ul>
 *   <li><b>basis stability</b>: B = U Vᵀ from the reduced SVD of the 2-D weight A (m ≥ n after an
 *       optional transpose); the mean over columns of the cosine between B_prev[:, j] and B_cur[:, j].
 *   <li><b>mixing similarity</b>: thin QR A = Q R with diag(R) ≥ 0; similarity =
 *       1 − ‖R_prev − R_cur‖_F / (‖R_prev‖_F + ‖R_cur‖_F), our stated normalisation of the distance.
 * </ul>
 *
 * For a {@link LowRankLinear} the basis comes from its factors: with Σ = P S Qᵀ, W = (U P) S (V Q)ᵀ is an
 * SVD, so B = (U P)(V Q)ᵀ without a large SVD. Snapshots keep B and R only.
 */
public final class StabilityMetrics implements TrainerCallback {

    /**
     * What is kept of one weight at one epoch, oriented so that rows ≥ columns: {@code basis} = B (m×n)
     * and {@code r} = R (n×n), both row-major.
     */
    public record Snapshot(int m, int n, double[] basis, double[] r) {
    }

    private final int lag;
    private final Deque<Map<String, Snapshot>> history = new ArrayDeque<>();
    private long nanos;

    public StabilityMetrics(int lag) {
        if (lag < 1) {
            throw new IllegalArgumentException("stability lag must be >= 1 epoch, got " + lag);
        }
        this.lag = lag;
    }

    public int lag() {
        return lag;
    }

    /** Seconds spent computing snapshots and metrics so far. */
    public double seconds() {
        return nanos / 1e9;
    }

    @Override
    public void afterEpoch(Trainer trainer, int epoch, Map<String, Object> record) {
        long t0 = System.nanoTime();
        Map<String, Snapshot> now = snapshot(trainer.model(), trainer.backend());
        history.addLast(now);
        if (history.size() > lag) {
            Map<String, Snapshot> then = history.removeFirst();
            Map<String, Object> stability = new LinkedHashMap<>();
            Map<String, Object> similarity = new LinkedHashMap<>();
            double sumStab = 0;
            double sumSim = 0;
            int count = 0;
            for (var e : now.entrySet()) {
                Snapshot prev = then.get(e.getKey());
                if (prev == null || prev.m() != e.getValue().m() || prev.n() != e.getValue().n()) {
                    continue;
                }
                double st = stability(prev.basis(), e.getValue().basis(), prev.m(), prev.n());
                double si = similarity(prev.r(), e.getValue().r());
                stability.put(e.getKey(), st);
                similarity.put(e.getKey(), si);
                sumStab += st;
                sumSim += si;
                count++;
            }
            record.put("stability_lag_epochs", lag);
            record.put("basis_stability", stability);
            record.put("mixing_similarity", similarity);
            record.put("basis_stability_mean", count == 0 ? Double.NaN : sumStab / count);
            record.put("mixing_similarity_mean", count == 0 ? Double.NaN : sumSim / count);
        }
        nanos += System.nanoTime() - t0;
        record.put("metrics_seconds", nanos / 1e9);
    }

    /** B and R of every Linear and LowRankLinear weight of {@code model}, by qualified layer name. */
    public static Map<String, Snapshot> snapshot(Module model, Backend backend) {
        Map<String, Snapshot> out = new LinkedHashMap<>();
        for (var e : model.namedModules().entrySet()) {
            if (e.getValue() instanceof Linear l) {
                out.put(e.getKey(), ofDense(DenseOps.toDouble(backend.toHost(l.weight().value())), l.outFeatures(),
                        l.inFeatures()));
            } else if (e.getValue() instanceof LowRankLinear l) {
                out.put(e.getKey(), lowRankSnapshot(l, backend));
            }
        }
        return out;
    }

    private static Snapshot lowRankSnapshot(LowRankLinear l, Backend backend) {
        return ofFactors(DenseOps.toDouble(backend.toHost(l.u().value())),
                DenseOps.toDouble(backend.toHost(l.sigma().value())), DenseOps.toDouble(backend.toHost(l.v().value())),
                l.outFeatures(), l.inFeatures(), l.rank());
    }

    /**
     * B and R of a dense weight given as a 2-D view {@code w} (m × n, row-major; a convolution kernel
     * viewed as out × in·kh·kw), transposed first when m &lt; n.
     */
    public static Snapshot ofDense(double[] w, int m, int n) {
        if (w.length != (long) m * n) {
            throw new IllegalArgumentException("weight of " + w.length + " values is not " + m + "×" + n);
        }
        double[] a = m < n ? DenseOps.transpose(w, m, n) : w;
        int rows = Math.max(m, n);
        int cols = Math.min(m, n);
        return new Snapshot(rows, cols, Polar.factor(a, rows, cols), Qr.thin(a, rows, cols).r());
    }

    /**
     * B and R of a factored weight W = U Σ Vᵀ (U m×r, Σ r×r, V n×r, row-major): with Σ = P S Qᵀ,
     * B = (U P)(V Q)ᵀ, so only the small Σ is decomposed.
     */
    public static Snapshot ofFactors(double[] u, double[] s, double[] v, int m, int n, int r) {
        if (u.length != (long) m * r || s.length != (long) r * r || v.length != (long) n * r) {
            throw new IllegalArgumentException("factors of " + u.length + ", " + s.length + " and " + v.length
                    + " values do not fit U " + m + "×" + r + ", Σ " + r + "×" + r + ", V " + n + "×" + r);
        }
        Svd.Result svd = Svd.decompose(s, r, r);
        double[] up = DenseOps.multiply(u, m, r, svd.u(), r, r);
        double[] vq = DenseOps.multiply(v, n, r, svd.v(), r, r);
        double[] us = DenseOps.multiply(u, m, r, s, r, r);
        double[] w = DenseOps.multiply(us, m, r, DenseOps.transpose(v, n, r), n, n);
        double[] basis = DenseOps.multiply(up, m, r, DenseOps.transpose(vq, n, r), n, n);
        if (m < n) {
            w = DenseOps.transpose(w, m, n);
            basis = DenseOps.transpose(basis, m, n);
        }
        int rows = Math.max(m, n);
        int cols = Math.min(m, n);
        return new Snapshot(rows, cols, basis, Qr.thin(w, rows, cols).r());
    }

    /** Mean over columns of the cosine between matching columns (columns of zero norm count as 0). */
    public static double stability(double[] prev, double[] cur, int m, int n) {
        double total = 0;
        for (int j = 0; j < n; j++) {
            double dot = 0;
            double np = 0;
            double nc = 0;
            for (int i = 0; i < m; i++) {
                double a = prev[i * n + j];
                double b = cur[i * n + j];
                dot += a * b;
                np += a * a;
                nc += b * b;
            }
            total += np == 0 || nc == 0 ? 0 : dot / Math.sqrt(np * nc);
        }
        return total / n;
    }

    /** 1 − ‖R_prev − R_cur‖_F / (‖R_prev‖_F + ‖R_cur‖_F); 1 when both are zero. */
    public static double similarity(double[] prev, double[] cur) {
        double d = 0;
        double np = 0;
        double nc = 0;
        for (int i = 0; i < prev.length; i++) {
            double x = prev[i] - cur[i];
            d += x * x;
            np += prev[i] * prev[i];
            nc += cur[i] * cur[i];
        }
        double denom = Math.sqrt(np) + Math.sqrt(nc);
        return denom == 0 ? 1.0 : 1.0 - Math.sqrt(d) / denom;
    }

    // ---- checkpoints ----------------------------------------------------------------------------

    @Override
    public String checkpointSection() {
        return "stability_metrics";
    }

    /** Keeps the last {@code lag} epochs' B and R, so a resumed run logs the metrics from its first epoch. */
    @Override
    public void saveState(Trainer trainer, dev.oialr4j.io.Checkpoint.Section out) {
        out.put("lag", lag);
        out.put("nanos", nanos);
        java.util.List<Object> epochs = new java.util.ArrayList<>();
        int h = 0;
        for (Map<String, Snapshot> snap : history) {
            Map<String, Object> layers = new LinkedHashMap<>();
            for (var e : snap.entrySet()) {
                Snapshot s = e.getValue();
                layers.put(e.getKey(), java.util.List.of(s.m(), s.n()));
                out.putTensor(h + "/" + e.getKey() + "/basis",
                        new dev.oialr4j.io.SafeTensors.F64(new int[] {s.m(), s.n()}, s.basis().clone()));
                out.putTensor(h + "/" + e.getKey() + "/r",
                        new dev.oialr4j.io.SafeTensors.F64(new int[] {s.n(), s.n()}, s.r().clone()));
            }
            epochs.add(layers);
            h++;
        }
        out.put("history", epochs);
    }

    @Override
    public void restoreState(Trainer trainer, dev.oialr4j.io.Checkpoint.Section in) {
        if (in.getLong("lag") != lag) {
            throw new dev.oialr4j.io.FormatException("cannot resume: the checkpoint logged stability at a lag of "
                    + in.getLong("lag") + " epochs but this run uses " + lag);
        }
        history.clear();
        nanos = in.getLong("nanos");
        int h = 0;
        for (Object o : (java.util.List<?>) in.get("history")) {
            Map<String, Snapshot> snap = new LinkedHashMap<>();
            for (var e : ((Map<?, ?>) o).entrySet()) {
                String name = (String) e.getKey();
                java.util.List<?> mn = (java.util.List<?>) e.getValue();
                int m = ((Number) mn.get(0)).intValue();
                int n = ((Number) mn.get(1)).intValue();
                snap.put(name, new Snapshot(m, n, in.tensor(h + "/" + name + "/basis", m, n).toDoubles(),
                        in.tensor(h + "/" + name + "/r", n, n).toDoubles()));
            }
            history.addLast(snap);
            h++;
        }
    }
}
