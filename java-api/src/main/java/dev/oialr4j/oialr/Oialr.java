package dev.oialr4j.oialr;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.linalg.Qr;
import dev.oialr4j.linalg.Svd;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamState;
import dev.oialr4j.tensor.Tensor;
import dev.oialr4j.train.Trainer;
import dev.oialr4j.train.TrainerCallback;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The OIALR method as a training callback (OIALR.md §3). After {@code delay} optimizer steps it converts
 * the selected Linear layers to {@link LowRankLinear} (W = U diag(s) Vᵀ, U and V frozen, Σ trainable in
 * the dense weight's optimizer slot) and runs an update round at once; then one round every
 * {@code updateEvery} steps. A round re-diagonalises Σ = P diag(σ) Qᵀ, rotates U ← U P and V ← V Q,
 * cuts the rank and re-shapes Σ's optimizer state by the configured policy.
 *
 * <p>The bases are kept in double on the host (the tensors the layers compute with are float copies),
 * so rounding does not accumulate over rounds; orthonormality is checked each round and restored by QR
 * when it drifts beyond the tolerance.
 */
public final class Oialr implements TrainerCallback {

    /** A layer chosen for conversion, located by its parent so it can be swapped in place. */
    public record Candidate(String name, Module parent, String childName, Linear layer) {
    }

    /** A converted layer with double-precision masters of its bases. */
    private static final class Converted {
        final String name;
        final LowRankLinear layer;
        final int fullRank;
        double[] u; // m × r
        double[] v; // n × r

        Converted(String name, LowRankLinear layer, int fullRank, double[] u, double[] v) {
            this.name = name;
            this.layer = layer;
            this.fullRank = fullRank;
            this.u = u;
            this.v = v;
        }
    }

    private final OialrConfig config;
    private final List<Converted> layers = new ArrayList<>();
    private long denseTrainable = -1;
    private long denseStored = -1;
    private int rounds;
    private long roundNanos;
    private long conversionNanos;
    private int reorthonormalisations;
    private boolean converted;

    public Oialr(OialrConfig config) {
        this.config = config;
    }

    public OialrConfig config() {
        return config;
    }

    // ---- selection ------------------------------------------------------------------------------

    /**
     * The layers the configuration converts, input side first: every Linear whose aspect ratio is below
     * the limit, except the last one (the classifier) and optionally the first, plus explicit includes,
     * minus excludes; a layer that could not save parameters even at its rank floor is refused.
     */
    public static List<Candidate> select(Module model, OialrConfig config) {
        List<Candidate> all = new ArrayList<>();
        collect(model, "", all);
        List<Candidate> out = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            Candidate c = all.get(i);
            boolean included = config.include().contains(c.name());
            boolean eligible = i < all.size() - 1
                    && !(config.keepFirstDense() && i == 0)
                    && aspect(c.layer()) < config.maxAspectRatio();
            if ((eligible || included) && !config.exclude().contains(c.name())
                    && canSave(c.layer(), config.rankRule())) {
                out.add(c);
            }
        }
        for (String name : config.include()) {
            if (all.stream().noneMatch(c -> c.name().equals(name))) {
                throw new IllegalArgumentException("include names no Linear layer: '" + name + "'; Linear layers are "
                        + all.stream().map(Candidate::name).toList());
            }
        }
        return out;
    }

    private static void collect(Module m, String prefix, List<Candidate> out) {
        for (Map.Entry<String, Module> e : m.children().entrySet()) {
            String name = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            if (e.getValue() instanceof Linear l) {
                out.add(new Candidate(name, m, e.getKey(), l));
            } else {
                collect(e.getValue(), name, out);
            }
        }
    }

    private static double aspect(Linear l) {
        int a = l.inFeatures();
        int b = l.outFeatures();
        return (double) Math.max(a, b) / Math.min(a, b);
    }

    /** Whether storing U, Σ, V at the rank floor takes fewer numbers than the dense weight. */
    static boolean canSave(Linear l, RankRule rule) {
        long m = l.outFeatures();
        long n = l.inFeatures();
        long r = rule.floor((int) Math.min(m, n));
        return r * (m + n + r) < m * n;
    }

    // ---- the schedule ---------------------------------------------------------------------------

    @Override
    public void afterOptimizerStep(Trainer trainer, long step) {
        if (denseTrainable < 0) {
            captureDenseCounts(trainer.model());
        }
        if (!converted && step == config.delay()) {
            convert(trainer.model(), trainer.optimizer(), trainer.backend());
            updateRound(trainer.optimizer(), trainer.backend());
        } else if (converted && step > config.delay() && (step - config.delay()) % config.updateEvery() == 0) {
            updateRound(trainer.optimizer(), trainer.backend());
        }
    }

    /** Records the dense model's parameter counts, the denominators of trainable % and stored %. */
    public void captureDenseCounts(Module model) {
        denseTrainable = 0;
        denseStored = 0;
        for (Parameter p : model.parameters()) {
            denseStored += p.value().size();
            if (p.requiresGrad()) {
                denseTrainable += p.value().size();
            }
        }
    }

    // ---- conversion -----------------------------------------------------------------------------

    /**
     * Converts the selected layers: reduced SVD of each weight, U and V frozen, Σ = diag(s) trainable in
     * the weight's optimizer slot with fresh state (moments and Adam's step counter restart together).
     */
    public void convert(Module model, Optimizer optimizer, Backend backend) {
        if (converted) {
            throw new IllegalStateException("OIALR has already converted this model");
        }
        if (denseTrainable < 0) {
            captureDenseCounts(model);
        }
        long t0 = System.nanoTime();
        for (Candidate c : select(model, config)) {
            Linear dense = c.layer();
            int m = dense.outFeatures();
            int n = dense.inFeatures();
            float[] w = backend.toHost(dense.weight().value());
            Svd.Result svd = Svd.decompose(DenseOps.toDouble(w), m, n);
            int k = svd.k();
            double[] sigma = new double[k * k];
            for (int i = 0; i < k; i++) {
                sigma[i * k + i] = svd.s()[i];
            }
            LowRankLinear lr = new LowRankLinear(
                    backend.fromHost(DenseOps.toFloat(svd.u()), m, k),
                    backend.fromHost(DenseOps.toFloat(sigma), k, k),
                    backend.fromHost(DenseOps.toFloat(svd.v()), n, k),
                    dense.bias());
            c.parent().replaceChild(c.childName(), lr);
            optimizer.replaceParameter(dense.weight(), lr.sigma());
            optimizer.setState(lr.sigma(), null);
            dense.weight().setRequiresGrad(false);
            layers.add(new Converted(c.name(), lr, k, svd.u(), svd.v()));
        }
        converted = true;
        conversionNanos += System.nanoTime() - t0;
    }

    // ---- update rounds --------------------------------------------------------------------------

    /** Number of layers taking part in round {@code round} (0-based): ceil(f·L) more each round. */
    public static int activeLayers(int round, int total, double rolloutFraction) {
        int step = RankRule.ceil(rolloutFraction * total);
        return (int) Math.min(total, (long) step * (round + 1));
    }

    /** Runs one update round over the rolled-out layers (the output side first). */
    public void updateRound(Optimizer optimizer, Backend backend) {
        if (!converted) {
            throw new IllegalStateException("update round before conversion");
        }
        long t0 = System.nanoTime();
        int active = activeLayers(rounds, layers.size(), config.rolloutFraction());
        for (int i = layers.size() - active; i < layers.size(); i++) {
            updateLayer(layers.get(i), optimizer, backend);
        }
        rounds++;
        roundNanos += System.nanoTime() - t0;
    }

    private void updateLayer(Converted c, Optimizer optimizer, Backend backend) {
        LowRankLinear layer = c.layer;
        int m = layer.outFeatures();
        int n = layer.inFeatures();
        int r = layer.rank();
        double[] s = DenseOps.toDouble(backend.toHost(layer.sigma().value()));

        // Restore orthonormal bases first, folding the triangular factors into Σ so U Σ Vᵀ is unchanged.
        if (DenseOps.orthogonalityError(c.u, m, r) > config.orthoTolerance()) {
            Qr.Result qr = Qr.thin(c.u, m, r);
            c.u = qr.q();
            s = DenseOps.multiply(qr.r(), r, r, s, r, r);
            reorthonormalisations++;
        }
        if (DenseOps.orthogonalityError(c.v, n, r) > config.orthoTolerance()) {
            Qr.Result qr = Qr.thin(c.v, n, r);
            c.v = qr.q();
            s = DenseOps.multiply(s, r, r, DenseOps.transpose(qr.r(), r, r), r, r);
            reorthonormalisations++;
        }

        Svd.Result svd = Svd.decompose(s, r, r);
        double[] sigma = svd.s();
        int newRank = config.rankRule().newRank(sigma, c.fullRank);
        double[] p = svd.u();
        double[] q = svd.v();
        boolean identity = isIdentity(p, r) && isIdentity(q, r);
        c.u = identity ? sliceColumns(c.u, m, r, newRank) : DenseOps.multiply(c.u, m, r, p, r, newRank);
        c.v = identity ? sliceColumns(c.v, n, r, newRank) : DenseOps.multiply(c.v, n, r, q, r, newRank);
        double[] diag = new double[newRank * newRank];
        for (int i = 0; i < newRank; i++) {
            diag[i * newRank + i] = sigma[i];
        }
        ParamState state = optimizer.state(layer.sigma());
        layer.u().setValue(backend.fromHost(DenseOps.toFloat(c.u), m, newRank));
        layer.v().setValue(backend.fromHost(DenseOps.toFloat(c.v), n, newRank));
        layer.sigma().setValue(backend.fromHost(DenseOps.toFloat(diag), newRank, newRank));
        optimizer.setState(layer.sigma(), reshapeState(state, p, q, r, newRank, identity, backend));
    }

    private static boolean isIdentity(double[] a, int r) {
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                if (a[i * r + j] != (i == j ? 1.0 : 0.0)) {
                    return false;
                }
            }
        }
        return true;
    }

    private static double[] sliceColumns(double[] a, int rows, int cols, int keep) {
        if (keep == cols) {
            return a;
        }
        double[] out = new double[rows * keep];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(a, i * cols, out, i * keep, keep);
        }
        return out;
    }

    /** Σ's optimizer state after Σ' = (Pᵀ Σ Q)[:r', :r'], by the configured policy. */
    private ParamState reshapeState(ParamState state, double[] p, double[] q, int r, int newRank, boolean identity,
            Backend backend) {
        if (state == null) {
            return null;
        }
        StatePolicy policy = config.statePolicy();
        switch (state) {
            case ParamState.Adam adam -> {
                if (policy == StatePolicy.RESET) {
                    return new ParamState.Adam(backend.zeros(newRank, newRank), backend.zeros(newRank, newRank), 0);
                }
                Tensor m1 = transform(adam.m, p, q, r, newRank, policy == StatePolicy.ROTATE && !identity, backend);
                Tensor m2 = transform(adam.v, p, q, r, newRank, false, backend);
                return new ParamState.Adam(m1, m2, adam.step);
            }
            case ParamState.Momentum mom -> {
                if (policy == StatePolicy.RESET || mom.buf == null) {
                    return new ParamState.Momentum(null);
                }
                return new ParamState.Momentum(
                        transform(mom.buf, p, q, r, newRank, policy == StatePolicy.ROTATE && !identity, backend));
            }
        }
    }

    private static Tensor transform(Tensor t, double[] p, double[] q, int r, int newRank, boolean rotate,
            Backend backend) {
        double[] a = DenseOps.toDouble(backend.toHost(t));
        if (rotate) {
            a = DenseOps.rotate(p, a, q, r);
        }
        return backend.fromHost(DenseOps.toFloat(DenseOps.slice(a, r, newRank)), newRank, newRank);
    }

    // ---- reporting ------------------------------------------------------------------------------

    @Override
    public void afterEpoch(Trainer trainer, int epoch, Map<String, Object> record) {
        record.putAll(report(trainer.model()));
    }

    /** Ranks per converted layer, trainable % and stored %, rounds and their time. */
    public Map<String, Object> report(Module model) {
        Map<String, Object> r = new LinkedHashMap<>();
        Map<String, Object> ranks = new LinkedHashMap<>();
        for (Converted c : layers) {
            ranks.put(c.name, c.layer.rank());
        }
        r.put("oialr_converted", converted);
        r.put("ranks", ranks);
        r.put("trainable_pct", trainablePercent(model));
        r.put("stored_pct", storedPercent(model));
        r.put("update_rounds", rounds);
        r.put("update_round_seconds", roundNanos / 1e9);
        r.put("conversion_seconds", conversionNanos / 1e9);
        r.put("reorthonormalisations", reorthonormalisations);
        return r;
    }

    /** Trainable parameters now as a percentage of the dense model's (Σ counts r², U and V nothing). */
    public double trainablePercent(Module model) {
        long now = 0;
        for (Parameter p : model.parameters()) {
            if (p.requiresGrad()) {
                now += p.value().size();
            }
        }
        return denseTrainable <= 0 ? 100.0 : 100.0 * now / denseTrainable;
    }

    /** All parameters now, including U and V, as a percentage of the dense model's. */
    public double storedPercent(Module model) {
        return denseStored <= 0 ? 100.0 : 100.0 * model.parameterCount() / denseStored;
    }

    public boolean converted() {
        return converted;
    }

    public int rounds() {
        return rounds;
    }

    /** Seconds spent in update rounds so far (not counting conversion). */
    public double roundSeconds() {
        return roundNanos / 1e9;
    }

    public double conversionSeconds() {
        return conversionNanos / 1e9;
    }

    /** Current rank of each converted layer, input side first. */
    public Map<String, Integer> ranks() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (Converted c : layers) {
            out.put(c.name, c.layer.rank());
        }
        return Collections.unmodifiableMap(out);
    }

    /** The converted layers, input side first. */
    public List<LowRankLinear> lowRankLayers() {
        return layers.stream().map(c -> c.layer).toList();
    }
}
